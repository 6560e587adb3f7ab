"""Device types from User-Agent strings (docs/configuration.md, "Pages and devices").

The parser is `device-detector` (a port of Matomo's Device Detector, maintained, with the
device lists Matomo keeps): it tells desktops, smartphones, phablets, tablets, TVs and
the rest apart itself, where ua-parser names a device family and leaves the type to
hand-written rules. It is slow (tens of ms for a new User-Agent, seconds for the first
one, which loads its rules), so results are cached per User-Agent (`device_of`, an LRU):
a user sends the same one on every page and poll. Surveys name three types:

    desktop: desktop (and a desktop OS with no device found, as Matomo counts it)
    mobile:  smartphone, feature phone, phablet
    tablet:  tablet
    None:    anything else (TV, console, car, bot, unknown): no device rule matches it
"""
from __future__ import annotations

from functools import lru_cache

DEVICE_TYPES = ("desktop", "mobile", "tablet")
MAX_USER_AGENT_CHARS = 512  # longer ones are cut before parsing and when kept in the state
_BY_PARSER_TYPE = {"desktop": "desktop", "smartphone": "mobile", "feature phone": "mobile", "phablet": "mobile",
                   "tablet": "tablet"}
# Segment's `context.device.type` (its mobile libraries send the platform) and our own words.
_BY_CONTEXT_TYPE = {"desktop": "desktop", "mobile": "mobile", "tablet": "tablet", "smartphone": "mobile",
                    "phone": "mobile", "ios": "mobile", "android": "mobile", "ipados": "tablet"}


@lru_cache(maxsize=8192)
def device_of(user_agent: str | None) -> str | None:
    """desktop | mobile | tablet for a User-Agent, or None (the module doc)."""
    if not user_agent or not isinstance(user_agent, str):
        return None
    from device_detector import DeviceDetector  # imported on first use: it loads its rules then
    from device_detector.parser.settings import DESKTOP_OS

    try:
        parsed = DeviceDetector(user_agent[:MAX_USER_AGENT_CHARS], skip_bot_detection=True).parse()
        found = _BY_PARSER_TYPE.get(str(getattr(parsed.device_type(), "value", parsed.device_type()) or ""))
        if found is None and not parsed.uses_mobile_browser():
            family = (parsed.all_details.get("os") or {}).get("family") or parsed.os_name()
            if family in DESKTOP_OS:
                found = "desktop"
        return found
    except Exception:  # a User-Agent is anyone's text: an unparseable one is no device
        return None


def from_context(device_type) -> str | None:
    """A `context.device.type` (or `?device=`) in the surveys' words, or None."""
    if not isinstance(device_type, str):
        return None
    return _BY_CONTEXT_TYPE.get(device_type.strip().lower())


def warm_up() -> None:
    """Load the parser's rules (seconds of CPU) before the first request needs them."""
    device_of("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")
