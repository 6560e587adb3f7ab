"""Inbound Segment messages (docs/reference.md#inbound-segment-messages): decode, validate, pick the key.

Hot path: every inbound message passes here, so the checks are plain isinstance tests,
in the order a broken message most often fails. Every failure is an InvalidInput naming
the field and the offending value; the caller turns it into a dead-letter record.

A field present with the value null is treated as absent (Segment libraries send
`"userId": null` for anonymous users and may send null `properties`/`context`).
"""
from __future__ import annotations

import re
from typing import Any

import orjson

from streams.core.errors import (
    INVALID_FIELD,
    INVALID_JSON,
    MISSING_FIELD,
    NOT_AN_OBJECT,
    TOO_LARGE,
    UNKNOWN_TYPE,
    InvalidInput,
)
from streams.core.timeutil import parse_iso

MAX_MESSAGE_BYTES = 32 * 1024
# One size rule (docs/reference.md#inbound-segment-messages): a message is measured as its client sent it, 32 KB. The
# bridge then adds `receivedAt` (and a batch's context and sentAt) before it produces the
# record, so an inbound record may carry up to this much; the bridge refuses any message
# whose record would be larger, so nothing it answered 200 for is refused here.
MAX_RECORD_BYTES = 64 * 1024
# An id longer than this in UTF-8 is refused (it would become a key or a part of the user's
# state): docs/reference.md#inbound-segment-messages.
MAX_ID_BYTES = 256
# JSON nesting a message may have. orjson reads up to 1024 levels but writes only 254, and
# every message is written again (re-keyed, stored in traits, dead-lettered): deeper
# input would fail later, where it cannot be refused cleanly. Real traits nest a few levels.
MAX_DEPTH = 32

KNOWN_TYPES = frozenset(("identify", "track", "page", "screen", "group", "alias"))
_USER_TYPES = frozenset(("identify", "track", "page", "screen", "group"))
_OBJECT_FIELDS = ("traits", "properties", "context")
_TIME_FIELDS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
_ID_FIELDS = ("userId", "anonymousId")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# UTF-8 needs at most 4 bytes per code point: shorter strings cannot be too large.
_MAX_CHARS_WITHOUT_ENCODING = MAX_RECORD_BYTES // 4


def _nesting_exceeds(value: Any, limit: int) -> bool:
    """Whether `value` nests JSON containers deeper than `limit` (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values() if isinstance(child, (dict, list)))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return False


def check_depth(value: Any, raw: bytes | str | None = None, limit: int = MAX_DEPTH, field: str | None = None) -> None:
    """InvalidInput `invalid_field` if `value` nests deeper than `limit`.

    With the raw text at hand, a count of brackets (done in C) clears almost every message
    without walking it: fewer opening brackets than the limit cannot nest deeper.
    """
    if raw is not None:
        text = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
        if text.count(b"{") + text.count(b"[") <= limit:
            return
    if _nesting_exceeds(value, limit):
        raise InvalidInput(INVALID_FIELD, field, None, f"JSON nested deeper than {limit} levels")


def check_id(field: str, value: str) -> str:
    """`value` if it is at most MAX_ID_BYTES in UTF-8 and has no control characters, else
    InvalidInput on `field`. (Internal input ids start with a control character, so no
    messageId can pass for one: streams.agents.users.)"""
    # A character is at most 4 bytes in UTF-8: short strings need no encoding to tell.
    if len(value) > MAX_ID_BYTES // 4 and len(value.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        raise InvalidInput(INVALID_FIELD, field, f"{value[:32]}...",
                           f"'{field}' is over {MAX_ID_BYTES} bytes in UTF-8")
    if _CONTROL.search(value):
        raise InvalidInput(INVALID_FIELD, field, None, f"'{field}' has a control character")
    return value


def decode_object(raw: bytes | str | None) -> dict:
    """Raw payload -> JSON object, with the size, syntax and nesting checks only (any inbound topic)."""
    if raw is None:
        raise InvalidInput(INVALID_JSON, None, None, "empty message (no payload)")
    size = len(raw)
    if isinstance(raw, str) and size > _MAX_CHARS_WITHOUT_ENCODING:
        size = len(raw.encode("utf-8", "surrogatepass"))
    if size > MAX_RECORD_BYTES:
        raise InvalidInput(TOO_LARGE, None, size, f"message is {size} bytes, the limit is {MAX_RECORD_BYTES}")
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(INVALID_JSON, None, None, f"not valid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise InvalidInput(NOT_AN_OBJECT, None, type(message).__name__, "a message must be a JSON object")
    check_depth(message, raw)
    return message


def decode(raw: bytes | str | None) -> dict:
    """Raw Kafka/HTTP payload -> validated Segment message (ids normalised to str)."""
    return validate(decode_object(raw))


def _id(message: dict, field: str) -> str | None:
    """The id in `field` as a non-empty string (numbers converted), None when absent."""
    value = message.get(field)
    if value is None:
        return None
    if isinstance(value, str):
        if value:
            return check_id(field, value)
    elif isinstance(value, int) and not isinstance(value, bool):
        value = message[field] = str(value)
        return value
    elif isinstance(value, float):
        # 42.0 and 42 must name the same user; orjson never yields nan/inf.
        value = message[field] = str(int(value)) if value.is_integer() else repr(value)
        return value
    raise InvalidInput(INVALID_FIELD, field, value, f"'{field}' must be a non-empty string or a number")


def _missing(field: str) -> InvalidInput:
    return InvalidInput(MISSING_FIELD, field, None, f"'{field}' is required")


def validate(message: Any) -> dict:
    """Check a decoded message against docs/reference.md#inbound-segment-messages; returns it with
    ids normalised in place."""
    if not isinstance(message, dict):
        raise InvalidInput(NOT_AN_OBJECT, None, type(message).__name__, "a Segment message must be a JSON object")
    kind = message.get("type")
    if kind is None:
        raise _missing("type")
    if not isinstance(kind, str):
        raise InvalidInput(INVALID_FIELD, "type", kind, "'type' must be a string")
    if kind not in KNOWN_TYPES:
        raise InvalidInput(UNKNOWN_TYPE, "type", kind, f"unknown message type '{kind}'")

    user_id = _id(message, "userId")
    anonymous_id = _id(message, "anonymousId")
    if kind in _USER_TYPES:
        if user_id is None and anonymous_id is None:
            raise InvalidInput(MISSING_FIELD, "userId", None, "'userId' or 'anonymousId' is required")
        if kind == "track":
            event = message.get("event")
            if event is None:
                raise _missing("event")
            if not isinstance(event, str) or not event:
                raise InvalidInput(INVALID_FIELD, "event", event, "'event' must be a non-empty string")
        elif kind == "group":
            _id(message, "groupId")
    else:  # alias
        if _id(message, "previousId") is None:
            raise _missing("previousId")
        if user_id is None:
            raise _missing("userId")

    for field in _OBJECT_FIELDS:
        value = message.get(field)
        if value is not None and not isinstance(value, dict):
            raise InvalidInput(INVALID_FIELD, field, value, f"'{field}' must be an object")
    context = message.get("context")
    if context:
        context_traits = context.get("traits")
        if context_traits is not None and not isinstance(context_traits, dict):
            raise InvalidInput(INVALID_FIELD, "context.traits", context_traits, "'context.traits' must be an object")

    for field in _TIME_FIELDS:
        value = message.get(field)
        if value is not None and parse_iso(value) is None:
            raise InvalidInput(INVALID_FIELD, field, value, f"'{field}' must be an ISO 8601 date-time string")

    message_id = message.get("messageId")
    # An empty messageId would make every such message a duplicate of the first one.
    if message_id is not None:
        if not isinstance(message_id, str) or not message_id:
            raise InvalidInput(INVALID_FIELD, "messageId", message_id, "'messageId' must be a non-empty string")
        check_id("messageId", message_id)
    return message


def user_key(message: dict) -> str:
    """The Kafka key of a validated message: userId, else anonymousId (alias always has userId)."""
    return message.get("userId") or message["anonymousId"]
