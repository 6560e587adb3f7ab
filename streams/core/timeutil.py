"""Time as integers: every instant inside survey-streams is epoch milliseconds (UTC).

Parsing and formatting live here so that the pure modules never touch a clock:
they receive `now` as an argument.
"""
from __future__ import annotations

import re
from functools import lru_cache
from datetime import date, datetime, timedelta, timezone
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
    if type(value) is not str:  # noqa: E721 (a str subclass takes the slow path, uncached)
        return _parse_text(value) if isinstance(value, str) else None
    return _parse_cached(value)


@lru_cache(maxsize=1024)
def _parse_cached(value: str) -> int | None:
    """An input's times are read several times on its way (validation, event time, input
    time): each string is parsed once."""
    return _parse_text(value)


def _parse_text(value: str) -> int | None:
    if len(value) < 10 or len(value) > 40:
        return None
    text = value.strip()
    try:
        if len(text) == 10 and _DATE_ONLY.match(text):
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
    """The `createdAt` trait in any of the forms of docs/reference.md#inbound-segment-messages, or None
    if unparseable."""
    parsed = parse_iso(value)
    if parsed is not None:
        return parsed
    return parse_epoch(value)


# The instants a formatter can write: datetime's range, years 1 to 9999.
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
FORMAT_MIN_MS = -62135596800000  # 0001-01-01T00:00:00.000Z
FORMAT_MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999Z
# docs/reference.md#inbound-segment-messages: an event time before this is a broken clock, not history.
EVENT_TIME_MIN_MS = 946684800000  # 2000-01-01T00:00:00Z
# ... and one more than this after receipt is a clock running ahead.
EVENT_TIME_AHEAD_MS = DAY_MS
CREATED_AT_MIN_MS = 0  # 1970-01-01: createdAt outside [this, now + 1 day] is ignored


def _moment(ms: int) -> datetime:
    """Epoch ms as a datetime, clamped into the range a datetime can hold (total)."""
    clamped = min(max(int(ms), FORMAT_MIN_MS), FORMAT_MAX_MS)
    return _EPOCH + timedelta(milliseconds=clamped)


def iso(ms: int | None) -> str | None:
    """Epoch ms to an ISO 8601 UTC string with `Z` (millisecond precision).

    Total: an instant outside years 1-9999 is written as the nearest end of that range,
    so no stored or computed time can make a formatter (and an HTTP answer) fail.
    """
    if ms is None:
        return None
    m = _moment(ms)
    # Not strftime: its %Y writes year 999 as "999" (glibc), which no ISO parser reads.
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond // 1000:03d}Z"


def day_of(ms: int) -> str:
    """The UTC calendar day of an instant, `YYYY-MM-DD` (total, as iso)."""
    return iso(ms)[:10]


def plausible_created_at(ms: int | None, now: int) -> int | None:
    """A parsed createdAt if it lies in [1970-01-01, now + 1 day], else None
    (docs/reference.md#inbound-segment-messages)."""
    if ms is None or ms < CREATED_AT_MIN_MS or ms > now + DAY_MS:
        return None
    return ms


# How much later than its Kafka record an input's receivedAt may be: the clock of whoever
# stamped receivedAt (the bridge) against the producer's or the broker's.
RECEIPT_SKEW_MS = MINUTE_MS


def input_time(received_at, record_ms) -> int | None:
    """The time an input carries, which every time correction and window of its processing
    uses in place of a clock (docs/processing.md, "Time"): its `receivedAt`, else the Kafka
    record's timestamp; None when it has neither. receivedAt is anyone's to write on Kafka,
    and a record cannot have been received after it was produced: it is bounded by the
    record's timestamp (plus RECEIPT_SKEW_MS)."""
    if isinstance(record_ms, bool) or not isinstance(record_ms, int) or record_ms < 0:
        record_ms = None
    received = parse_iso(received_at)
    if received is None:
        return record_ms
    if record_ms is not None and received > record_ms + RECEIPT_SKEW_MS:
        return record_ms
    return received


def event_time(message: dict, now: int) -> tuple[int, bool]:
    """Segment's corrected event time (docs/reference.md#inbound-segment-messages), and whether it was replaced.

    `timestamp`; else `receivedAt - (sentAt - originalTimestamp)` (clock-skew corrected);
    else `receivedAt`; else `originalTimestamp`; else `now`. A result before 2000-01-01 or
    more than 24 h after receipt (`receivedAt`, no later than `now`; else `now`) is replaced
    by the receipt time. `now` is the time the input carries (input_time: receivedAt bounded
    by its record's timestamp), never a clock: the outcome is the same whenever the message
    is processed.
    """
    received = parse_iso(message.get("receivedAt"))
    if received is not None and received > now:
        received = now  # whoever writes to Kafka sets receivedAt: no later than its record
    at = parse_iso(message.get("timestamp"))
    if at is None:
        sent = parse_iso(message.get("sentAt"))
        original = parse_iso(message.get("originalTimestamp"))
        if received is not None and sent is not None and original is not None:
            at = received - (sent - original)
        elif received is not None:
            at = received
        elif original is not None:
            at = original
        else:
            return now, False
    return bounded_event_time(at, received if received is not None else now)


def bounded_event_time(at: int, received: int) -> tuple[int, bool]:
    """(`at`, False) when plausible; else (`received`, True): before 2000 or over 24 h ahead."""
    if at < EVENT_TIME_MIN_MS or at > received + EVENT_TIME_AHEAD_MS:
        return received, True
    return at, False
