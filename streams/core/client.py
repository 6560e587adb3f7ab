"""What the user's client says about them: the page, the device, the locale
(docs/configuration.md, "Pages and devices"; streams.core.locales).

Pure. Kept in the state as

    state["client"] = {
      "url": str | None,        # context.page.url, else properties.url, of the latest page/screen message
      "userAgent": str | None,  # context.userAgent of that message (cut at devices.MAX_USER_AGENT_CHARS)
      "deviceType": str | None, # context.device.type of that message (Segment's mobile libraries)
      "device": str | None,     # desktop | mobile | tablet, parsed when a survey has a device rule
      "pageAt": ms | None,      # its event time: the page view a delay without a trigger counts from
      "locale": str | None,     # context.locale of the latest message carrying one (a language tag)
      "localeAt": ms | None,
    }
    state["cancels"] = {surveyId: [ms, ...]}  # the latest CANCELS_MAX cancel_on events, by time

"Latest" is by event time, so a message arriving late does not roll them back. A request
to /v1/eligibility may say it all itself (`Request`): `?url=`, `?device=` or its
User-Agent, `?locale=`; what it leaves out comes from the state.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streams.core import devices, filters, locales
from streams.core.pages import MAX_URL_CHARS

CANCELS_MAX = 8
_PAGE_TYPES = frozenset(("page", "screen"))


@dataclass(frozen=True)
class Request:
    """What an eligibility request says about the client (each None when it says nothing)."""

    url: str | None = None
    device: str | None = None  # desktop | mobile | tablet: ?device=, else the parsed User-Agent
    locale: str | None = None


NO_REQUEST = Request()


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def page_url(message: dict) -> str | None:
    context = message.get("context") or {}
    page = context.get("page") if isinstance(context, dict) else None
    url = page.get("url") if isinstance(page, dict) else None
    if not isinstance(url, str) or not url:
        url = (message.get("properties") or {}).get("url")
    return _text(url, MAX_URL_CHARS)


def observe(state: dict, message: dict, at: int, parse_devices: bool) -> bool:
    """Keep what a validated Segment message says about the client; True if anything changed.
    `parse_devices`: parse the User-Agent now (a survey has a device rule), else later on demand."""
    context = message.get("context")
    context = context if isinstance(context, dict) else {}
    changed = False
    client = state.get("client") or {}
    locale = locales.normalize(context.get("locale"))
    if locale is not None and (client.get("localeAt") is None or at >= client["localeAt"]) \
            and (client.get("locale"), client.get("localeAt")) != (locale, at):
        client = {**client, "locale": locale, "localeAt": at}
        changed = True
    if message.get("type") in _PAGE_TYPES and (client.get("pageAt") is None or at >= client["pageAt"]):
        device_info = context.get("device")
        device_type = device_info.get("type") if isinstance(device_info, dict) else None
        user_agent = _text(context.get("userAgent"), devices.MAX_USER_AGENT_CHARS)
        page = {"url": page_url(message), "userAgent": user_agent,
                "deviceType": _text(device_type, 32), "pageAt": at}
        same_agent = user_agent == client.get("userAgent") and page["deviceType"] == client.get("deviceType")
        page["device"] = client.get("device") if same_agent else (
            device_from(user_agent, page["deviceType"]) if parse_devices else None)
        if any(client.get(key) != value for key, value in page.items()):
            client = {**client, **page}
            changed = True
    if changed:
        state["client"] = client
    return changed


def device_from(user_agent: str | None, device_type: str | None) -> str | None:
    """The device of a User-Agent, else of a `context.device.type`."""
    return devices.device_of(user_agent) or devices.from_context(device_type)


def stored_device(client: dict) -> str | None:
    """The device of the state's latest page message: parsed then, or now (cached)."""
    return client.get("device") or device_from(client.get("userAgent"), client.get("deviceType"))


def count_cancels(state: dict, message: dict, config, at: int, now: int) -> bool:
    """Record a track event that some survey's `cancel_on` names; True if recorded."""
    event = message.get("event")
    changed = False
    for survey in config.surveys:
        for cancel in survey.targeting.cancel_on:
            if cancel.event != event or (cancel.where and not filters.matches_all(
                    cancel.where, message.get("properties") or {}, now)):
                continue
            cancels = state.setdefault("cancels", {})
            times = cancels.get(survey.id) or []
            if at not in times:
                cancels[survey.id] = sorted([*times, at])[-CANCELS_MAX:]
                changed = True
            break
    return changed


def fold(user: dict, other: dict) -> None:
    """Merge another id's client and cancel history into the user's (latest wins)."""
    mine, theirs = user.get("client") or {}, other.get("client") or {}
    merged = dict(mine)
    if theirs.get("pageAt") is not None and (mine.get("pageAt") is None or theirs["pageAt"] > mine["pageAt"]):
        merged.update({key: theirs.get(key) for key in ("url", "userAgent", "deviceType", "device", "pageAt")})
    if theirs.get("localeAt") is not None and (mine.get("localeAt") is None or theirs["localeAt"] > mine["localeAt"]):
        merged.update(locale=theirs.get("locale"), localeAt=theirs["localeAt"])
    if merged:
        user["client"] = merged
    for survey_id, times in (other.get("cancels") or {}).items():
        cancels = user.setdefault("cancels", {})
        cancels[survey_id] = sorted(set(cancels.get(survey_id) or []) | set(times))[-CANCELS_MAX:]
