"""Locales (docs/configuration.md, "Locales"): language tags, and which of a survey's locales a user gets.

Pure. A tag is checked and written in its usual case (`de-at` → `de-AT`, `zh-hans-cn` →
`zh-Hans-CN`); what the widget sends (`navigator.language`) may use `_` (`de_AT`).

The user's locale, first found wins (docs/reference.md#eligibility):
1. `?locale=` of the eligibility request (the widget sends the browser's language);
2. the user's `locale` trait;
3. `context.locale` of the user's latest message (kept in the state's `client`).
It is matched to the survey's `locales`: the same tag; else the same language (`de-AT` →
`de`, and `de` → `de-AT` when the survey has only that); else the survey's first locale.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Iterable

# BCP 47's common shapes: language (2-3 letters), an optional script (4 letters), an
# optional region (2 letters or 3 digits), optional variants (5-8 alphanumerics, or a
# digit and 3). Extensions and private use are not survey languages.
_TAG = re.compile(r"^([a-z]{2,3})(?:-([a-z]{4}))?(?:-([a-z]{2}|[0-9]{3}))?((?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*)$")
MAX_TAG_CHARS = 35
RTL_LANGUAGES = frozenset(("ar", "arc", "dv", "fa", "ha", "he", "iw", "ks", "ku", "ps", "sd", "ug", "ur", "yi"))


@lru_cache(maxsize=1024)
def normalize(tag: Any, lenient: bool = True) -> str | None:
    """The tag in its usual case, or None when it is not a language tag. `lenient` (what
    clients send) also reads `_` for `-` and surrounding spaces; the config is strict."""
    if not isinstance(tag, str) or not tag or len(tag) > MAX_TAG_CHARS:
        return None
    if lenient:
        tag = tag.strip().replace("_", "-")
    match = _TAG.match(tag.lower())
    if match is None:
        return None
    language, script, region, variants = match.groups()
    parts = [language]
    if script:
        parts.append(script.title())
    if region:
        parts.append(region.upper())
    return "-".join(parts) + (variants or "")


def language(tag: str) -> str:
    return tag.split("-", 1)[0]


def direction(tag: str) -> str:
    """"rtl" for a right-to-left language, else "ltr" (for the widget's `dir`)."""
    return "rtl" if language(tag.lower()) in RTL_LANGUAGES else "ltr"


def match(requested: Any, available: tuple[str, ...]) -> str | None:
    """The survey locale for a requested tag: the same tag, else the same language; None
    when neither (or the request is no tag)."""
    tag = normalize(requested)
    if tag is None or not available:
        return None
    if tag in available:
        return tag
    wanted = language(tag)
    # The bare language first (de-AT → de), then any locale of that language, in file order.
    if wanted in available:
        return wanted
    return next((locale for locale in available if language(locale) == wanted), None)


def choose(candidates: Iterable[Any], available: tuple[str, ...]) -> str:
    """The first candidate (request, trait, context) that matches a survey locale, else the
    survey's first locale."""
    for candidate in candidates:
        if candidate is None:
            continue
        found = match(candidate, available)
        if found is not None:
            return found
    return available[0]


def user_candidates(state: dict | None, requested: Any = None) -> tuple:
    """What the user's locale is chosen from, in order: the request's, the `locale` trait,
    the latest message's `context.locale`."""
    state = state or {}
    traits = state.get("traits") or {}
    client = state.get("client") or {}
    return requested, traits.get("locale"), client.get("locale")
