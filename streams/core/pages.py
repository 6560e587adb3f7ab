"""Page rules (docs/configuration.md, "Pages and devices"): does the page URL match a survey's `pages`.

Pure. `regex` patterns run on RE2 (google-re2): linear time in the URL whatever the
pattern, so no pattern can backtrack; patterns are compiled once per config (`compile`,
called by the config's validation) and bounded in length (MAX_PATTERN_CHARS).

Positive rules (`eq`, `contains`, `starts_with`, `regex`) are alternatives: the URL must
match one of them, if any is given. `not_contains` rules must all hold. No URL known: no
match (`page_mismatch`).
"""
from __future__ import annotations

from functools import lru_cache

import re2

PAGE_OPERATORS = ("eq", "contains", "starts_with", "regex", "not_contains")
NEGATIVE_OPERATORS = frozenset(("not_contains",))
MAX_PATTERN_CHARS = 512
MAX_URL_CHARS = 2048  # longer URLs are cut when kept in the state (streams.core.client)
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a bad pattern is the config's error, not a log line
_OPTIONS.max_mem = 1 << 20  # a pattern whose program needs more is refused (RE2's own bound)


class PatternError(ValueError):
    pass


@lru_cache(maxsize=512)
def compile_pattern(pattern: str):
    """The RE2 program of a `regex` rule; PatternError when it does not compile."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"is longer than {MAX_PATTERN_CHARS} characters")
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error as error:
        detail = error.args[0].decode("utf-8", "replace") if error.args and isinstance(error.args[0], bytes) else str(error)
        raise PatternError(f"does not compile: {detail}") from None


def rule_holds(op: str, value: str, url: str) -> bool:
    if op == "eq":
        return url == value
    if op == "contains":
        return value in url
    if op == "not_contains":
        return value not in url
    if op == "starts_with":
        return url.startswith(value)
    if op == "regex":
        return compile_pattern(value).search(url) is not None
    return False


def matches(rules, url: str | None) -> bool:
    """Whether `url` satisfies the page rules (the module doc); `rules` are PageRule(op, value)."""
    if not rules:
        return True
    if not url:
        return False
    positive = False
    for rule in rules:
        if rule.op in NEGATIVE_OPERATORS:
            if not rule_holds(rule.op, rule.value, url):
                return False
        else:
            positive = True
    return not positive or any(rule_holds(rule.op, rule.value, url) for rule in rules
                               if rule.op not in NEGATIVE_OPERATORS)
