"""Time as integers: every instant inside survey-streams is epoch milliseconds (UTC).

Parsing and formatting live here so that the pure modules never touch a clock:
they receive `now` as an argument.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

# Epoch values below this are seconds, at or above it milliseconds (1e11 s is year 5138,
# 1e11 ms is 1973-03-03: no real signup date is ambiguous).
_EPOCH_MS_THRESHOLD = 100_000_000_000
_NUMERIC = re.compile(r"^-?\d+(\.\d+)?$")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_iso(value: Any) -> int | None:
    """ISO 8601 date or date-time (offset, `Z` or naive = UTC) to epoch ms; None if not one."""
    if not isinstance(value, str) or len(value) < 10 or len(value) > 40:
        return None
    text = value.strip()
    try:
        if _DATE_ONLY.match(text):
            d = date.fromisoformat(text)
            return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()) * SECOND_MS
        if text[0:4].isdigit() and text[4:5] == "-":
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
        else:
            return None
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return round(parsed.timestamp() * SECOND_MS)


def parse_epoch(value: Any) -> int | None:
    """Epoch seconds or milliseconds, as a number or a numeric string, to epoch ms."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not _NUMERIC.match(text):
            return None
        number = float(text)
    elif isinstance(value, (int, float)):
        number = float(value)
    else:
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    if abs(number) >= _EPOCH_MS_THRESHOLD:
        return round(number)
    return round(number * SECOND_MS)


def parse_created_at(value: Any) -> int | None:
    """The `createdAt` trait in any of the forms of CONTRACT 4.1, or None if unparseable."""
    parsed = parse_iso(value)
    if parsed is not None:
        return parsed
    return parse_epoch(value)


def iso(ms: int | None) -> str | None:
    """Epoch ms to an ISO 8601 UTC string with `Z` (millisecond precision)."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / SECOND_MS, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % SECOND_MS:03d}Z"


def day_of(ms: int) -> str:
    """The UTC calendar day of an instant, `YYYY-MM-DD`."""
    return datetime.fromtimestamp(ms / SECOND_MS, tz=timezone.utc).strftime("%Y-%m-%d")


def event_time(message: dict, now: int) -> int:
    """Segment's corrected event time (CONTRACT 4.1).

    `timestamp`; else `receivedAt - (sentAt - originalTimestamp)` (clock-skew corrected);
    else `receivedAt`; else `originalTimestamp`; else `now`.
    """
    timestamp = parse_iso(message.get("timestamp"))
    if timestamp is not None:
        return timestamp
    received = parse_iso(message.get("receivedAt"))
    sent = parse_iso(message.get("sentAt"))
    original = parse_iso(message.get("originalTimestamp"))
    if received is not None and sent is not None and original is not None:
        return received - (sent - original)
    if received is not None:
        return received
    if original is not None:
        return original
    return now
