"""Inbound Segment messages: decoding, validation and event time
(docs/reference.md#inbound-segment-messages, docs/reference.md#dead-letter)."""
from __future__ import annotations

import orjson
import pytest

from streams.core.errors import (
    INVALID_FIELD,
    INVALID_JSON,
    MISSING_FIELD,
    NOT_AN_OBJECT,
    TOO_LARGE,
    UNKNOWN_TYPE,
    InvalidInput,
)
from streams.schemas.segment import MAX_RECORD_BYTES, check_depth, decode, decode_object, user_key, validate
from streams.core.timeutil import event_time, parse_iso

T0 = "2024-05-01T12:00:00.000Z"
T0_MS = parse_iso(T0)


def track(**fields) -> dict:
    return {"type": "track", "userId": "u1", "event": "Signed Up", **fields}


def padded_to(size: int) -> bytes:
    """A valid track message of exactly `size` bytes."""
    base = orjson.dumps(track(properties={"pad": ""}))
    return orjson.dumps(track(properties={"pad": "x" * (size - len(base))}))


# --- decode --------------------------------------------------------------------------

def test_decode_returns_the_validated_message():
    message = decode(b'{"type":"identify","userId":7,"traits":{"plan":"pro"}}')
    assert message == {"type": "identify", "userId": "7", "traits": {"plan": "pro"}}


def test_decode_accepts_str():
    assert decode('{"type":"page","anonymousId":"a1"}')["anonymousId"] == "a1"


def test_record_of_exactly_the_limit_is_accepted():
    """Records on the inbound topics may be up to 64 KB: a 32 KB message as its client sent
    it plus what the bridge adds: what the bridge accepted is never refused
    (docs/reference.md#inbound-segment-messages)."""
    raw = padded_to(MAX_RECORD_BYTES)
    assert len(raw) == MAX_RECORD_BYTES
    assert decode(raw)["event"] == "Signed Up"


@pytest.mark.parametrize("raw", [
    padded_to(MAX_RECORD_BYTES + 1),
    padded_to(MAX_RECORD_BYTES + 1).decode(),
    # 22000 characters, 3 bytes each: the limit is in bytes, not characters.
    orjson.dumps(track(properties={"pad": "€" * 22000})).decode(),
    b"not even json" * 6000,  # size is checked before parsing
])
def test_too_large(raw):
    with pytest.raises(InvalidInput) as caught:
        decode(raw)
    size = len(raw.encode() if isinstance(raw, str) else raw)
    assert (caught.value.code, caught.value.field, caught.value.value) == (TOO_LARGE, None, size)


@pytest.mark.parametrize("raw, code", [
    (None, INVALID_JSON),
    (b"", INVALID_JSON),
    (b"{", INVALID_JSON),
    (b"{'type': 'track'}", INVALID_JSON),
    (b"\xff\xfe", INVALID_JSON),
    (b"[]", NOT_AN_OBJECT),
    (b'[{"type":"track"}]', NOT_AN_OBJECT),
    (b"null", NOT_AN_OBJECT),
    (b"42", NOT_AN_OBJECT),
    (b'"identify"', NOT_AN_OBJECT),
])
def test_decode_rejects_what_is_not_an_object(raw, code):
    with pytest.raises(InvalidInput) as caught:
        decode(raw)
    assert caught.value.code == code
    assert caught.value.as_dict()["error"] == code


def test_decode_object_checks_only_size_and_syntax():
    assert decode_object(b'{"kind":"shown","userId":[]}') == {"kind": "shown", "userId": []}
    with pytest.raises(InvalidInput) as caught:
        decode_object(b"[1]")
    assert (caught.value.code, caught.value.value) == (NOT_AN_OBJECT, "list")
    with pytest.raises(InvalidInput) as caught:
        decode_object(padded_to(MAX_RECORD_BYTES + 1))
    assert caught.value.code == TOO_LARGE


# --- validate: every error code names the field and carries the value -----------------

INVALID = [
    # type
    ({"userId": "u1"}, MISSING_FIELD, "type", None),
    ({"type": None, "userId": "u1"}, MISSING_FIELD, "type", None),
    ({"type": 3, "userId": "u1"}, INVALID_FIELD, "type", 3),
    ({"type": ["track"], "userId": "u1"}, INVALID_FIELD, "type", ["track"]),
    ({"type": "scream", "userId": "u1"}, UNKNOWN_TYPE, "type", "scream"),
    ({"type": "Track", "userId": "u1", "event": "x"}, UNKNOWN_TYPE, "type", "Track"),
    ({"type": "", "userId": "u1"}, UNKNOWN_TYPE, "type", ""),
    # ids
    ({"type": "identify"}, MISSING_FIELD, "userId", None),
    ({"type": "page", "userId": None, "anonymousId": None}, MISSING_FIELD, "userId", None),
    ({"type": "group", "groupId": "g1"}, MISSING_FIELD, "userId", None),
    ({"type": "identify", "userId": ""}, INVALID_FIELD, "userId", ""),
    ({"type": "identify", "userId": True}, INVALID_FIELD, "userId", True),
    ({"type": "identify", "userId": {"id": 1}}, INVALID_FIELD, "userId", {"id": 1}),
    ({"type": "identify", "userId": ["u1"]}, INVALID_FIELD, "userId", ["u1"]),
    ({"type": "identify", "anonymousId": ""}, INVALID_FIELD, "anonymousId", ""),
    ({"type": "identify", "userId": "u1", "anonymousId": False}, INVALID_FIELD, "anonymousId", False),
    ({"type": "group", "userId": "u1", "groupId": ""}, INVALID_FIELD, "groupId", ""),
    # track event
    ({"type": "track", "userId": "u1"}, MISSING_FIELD, "event", None),
    ({"type": "track", "userId": "u1", "event": None}, MISSING_FIELD, "event", None),
    ({"type": "track", "userId": "u1", "event": ""}, INVALID_FIELD, "event", ""),
    ({"type": "track", "userId": "u1", "event": 5}, INVALID_FIELD, "event", 5),
    # alias
    ({"type": "alias", "userId": "u1"}, MISSING_FIELD, "previousId", None),
    ({"type": "alias", "previousId": "a1"}, MISSING_FIELD, "userId", None),
    ({"type": "alias", "previousId": "a1", "anonymousId": "a1"}, MISSING_FIELD, "userId", None),
    ({"type": "alias", "previousId": "", "userId": "u1"}, INVALID_FIELD, "previousId", ""),
    ({"type": "alias", "previousId": "a1", "userId": []}, INVALID_FIELD, "userId", []),
    # objects
    ({"type": "identify", "userId": "u1", "traits": []}, INVALID_FIELD, "traits", []),
    ({"type": "identify", "userId": "u1", "traits": "plan=pro"}, INVALID_FIELD, "traits", "plan=pro"),
    (track(properties=[1, 2]), INVALID_FIELD, "properties", [1, 2]),
    (track(context="web"), INVALID_FIELD, "context", "web"),
    (track(context={"traits": ["a"]}), INVALID_FIELD, "context.traits", ["a"]),
    # times
    (track(timestamp="yesterday"), INVALID_FIELD, "timestamp", "yesterday"),
    (track(timestamp=1714564800000), INVALID_FIELD, "timestamp", 1714564800000),
    (track(originalTimestamp="2024-13-01T00:00:00Z"), INVALID_FIELD, "originalTimestamp", "2024-13-01T00:00:00Z"),
    (track(sentAt=""), INVALID_FIELD, "sentAt", ""),
    (track(receivedAt={"at": T0}), INVALID_FIELD, "receivedAt", {"at": T0}),
    # messageId
    (track(messageId=12), INVALID_FIELD, "messageId", 12),
    (track(messageId=""), INVALID_FIELD, "messageId", ""),
]


@pytest.mark.parametrize("message, code, field, value", INVALID)
def test_validate_rejects(message, code, field, value):
    with pytest.raises(InvalidInput) as caught:
        validate(message)
    error = caught.value
    assert (error.code, error.field, error.value) == (code, field, value)
    assert error.detail
    assert error.as_dict() == {"error": code, "field": field, "detail": error.detail}


@pytest.mark.parametrize("message", [
    {"type": "identify", "userId": "u1"},
    {"type": "identify", "anonymousId": "a1", "traits": {"email": "x@y.z"}},
    {"type": "identify", "userId": "u1", "anonymousId": None, "traits": None, "context": None},
    {"type": "track", "anonymousId": "a1", "event": "Clicked", "properties": {}},
    {"type": "page", "userId": "u1", "name": "Home"},
    {"type": "group", "userId": "u1", "groupId": "g1", "traits": {"name": "Acme"}},
    {"type": "alias", "previousId": "a1", "userId": "u1"},
    track(timestamp=T0, originalTimestamp=T0, sentAt=T0, receivedAt=T0, messageId="m1"),
    track(timestamp="2024-05-01", context={"traits": {"plan": "pro"}, "ip": "1.2.3.4"}),
    track(timestamp="2024-05-01T14:00:00+02:00", context={}),
])
def test_validate_accepts(message):
    expected = dict(message)
    assert validate(message) is message
    assert message == expected


@pytest.mark.parametrize("field", ["userId", "anonymousId", "previousId", "groupId"])
@pytest.mark.parametrize("number, text", [(42, "42"), (0, "0"), (-7, "-7"), (42.0, "42"), (1.5, "1.5"),
                                          (12345678901234567890, "12345678901234567890")])
def test_numeric_ids_become_strings(field, number, text):
    kind = {"previousId": "alias", "groupId": "group"}.get(field, "identify")
    message = {"type": kind, "userId": "u1", "previousId": "p1", field: number}
    assert validate(message)[field] == text


def test_decoded_numeric_id_is_a_string_key():
    assert user_key(decode(b'{"type":"track","userId":1001,"event":"x"}')) == "1001"


@pytest.mark.parametrize("message, key", [
    ({"type": "identify", "userId": "u1", "anonymousId": "a1"}, "u1"),
    ({"type": "track", "anonymousId": "a1", "event": "x"}, "a1"),
    ({"type": "track", "userId": None, "anonymousId": "a1", "event": "x"}, "a1"),
    ({"type": "alias", "previousId": "a1", "userId": "u1", "anonymousId": "a2"}, "u1"),
])
def test_user_key(message, key):
    assert user_key(validate(message)) == key


# --- event time (docs/reference.md#inbound-segment-messages) ------------------------------------------------

NOW = 1_800_000_000_000
MINUTE = 60_000


@pytest.mark.parametrize("fields, expected", [
    ({"timestamp": T0, "receivedAt": "2024-05-02T00:00:00Z", "sentAt": T0, "originalTimestamp": T0}, T0_MS),
    # Device clock 10 min fast: sent 12:10 by its clock, event at 12:05 by its clock, received
    # at 12:00 real time -> the event happened 5 min before receipt.
    ({"receivedAt": T0, "sentAt": "2024-05-01T12:10:00Z", "originalTimestamp": "2024-05-01T12:05:00Z"},
     T0_MS - 5 * MINUTE),
    ({"receivedAt": T0, "sentAt": "2024-05-01T12:10:00Z"}, T0_MS),
    ({"receivedAt": T0, "originalTimestamp": "2024-05-01T11:00:00Z"}, T0_MS),
    ({"receivedAt": T0}, T0_MS),
    ({"originalTimestamp": T0, "sentAt": "2024-05-01T13:00:00Z"}, T0_MS),
    ({"originalTimestamp": T0}, T0_MS),
    ({"sentAt": T0}, NOW),
    ({}, NOW),
    ({"timestamp": "2024-05-01T14:00:00+02:00"}, T0_MS),
    ({"timestamp": "2024-05-01T12:00:00"}, T0_MS),  # naive = UTC
])
def test_event_time(fields, expected):
    assert event_time(track(**fields), NOW) == (expected, False)


RECEIVED = "2026-11-29T10:00:00Z"
RECEIVED_MS = parse_iso(RECEIVED)


@pytest.mark.parametrize("fields, expected", [
    # Before 2000-01-01, or more than 24 h after receipt: the receipt time
    # (docs/reference.md#inbound-segment-messages).
    ({"timestamp": "0001-01-01T00:00:00Z", "receivedAt": RECEIVED}, RECEIVED_MS),
    ({"timestamp": "1999-12-31T23:59:59.999Z", "receivedAt": RECEIVED}, RECEIVED_MS),
    ({"timestamp": "9999-12-31T23:59:59Z", "receivedAt": RECEIVED}, RECEIVED_MS),
    ({"timestamp": "2026-11-30T10:00:00.001Z", "receivedAt": RECEIVED}, RECEIVED_MS),
    ({"originalTimestamp": "1970-01-01T00:00:00Z"}, NOW),
    ({"receivedAt": RECEIVED, "sentAt": "9999-01-01T00:00:00Z", "originalTimestamp": RECEIVED}, RECEIVED_MS),
    # no receivedAt (a record straight on Kafka): judged against, and replaced by, now
    ({"timestamp": "0001-01-01T00:00:00Z"}, NOW),
    ({"timestamp": "2027-01-20T00:00:00Z"}, NOW),
])
def test_implausible_event_times_are_replaced_by_the_receipt_time(fields, expected):
    assert event_time(track(**fields), NOW) == (expected, True)


@pytest.mark.parametrize("fields, expected", [
    ({"timestamp": "2000-01-01T00:00:00Z", "receivedAt": RECEIVED}, parse_iso("2000-01-01T00:00:00Z")),
    ({"timestamp": "2026-11-30T10:00:00Z", "receivedAt": RECEIVED}, parse_iso("2026-11-30T10:00:00Z")),
])
def test_event_times_at_the_bounds_are_kept(fields, expected):
    assert event_time(track(**fields), NOW) == (expected, False)


# --- ids and nesting (docs/reference.md#inbound-segment-messages) ------------------------

@pytest.mark.parametrize("field, kind", [
    ("userId", "identify"), ("anonymousId", "identify"), ("messageId", "identify"),
    ("groupId", "group"), ("previousId", "alias"),
])
def test_ids_over_256_utf8_bytes_are_invalid(field, kind):
    message = {"type": kind, "userId": "u1", "previousId": "p1", "groupId": "g1"}
    message[field] = "é" * 128  # 128 characters, 256 bytes: at the limit
    assert validate(dict(message))[field] == "é" * 128
    message[field] = "é" * 128 + "x"  # 257 bytes, though only 129 characters
    with pytest.raises(InvalidInput) as caught:
        validate(dict(message))
    assert (caught.value.code, caught.value.field) == (INVALID_FIELD, field)


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_traits_nested_too_deep_are_refused_before_they_are_stored():
    ok = {"type": "identify", "userId": "u1", "traits": nested(30)}
    assert decode(orjson.dumps(ok))["userId"] == "u1"
    # orjson reads 300 levels but cannot write them back: refused here, not failed later
    deep = b'{"type": "identify", "userId": "u1", "traits": ' + b'{"a": ' * 299 + b'{}' + b'}' * 299 + b'}'
    with pytest.raises(InvalidInput) as caught:
        decode(deep)
    assert caught.value.code == INVALID_FIELD and "nested deeper" in caught.value.detail


def test_check_depth_counts_lists_and_objects():
    check_depth([[[]]], limit=3)
    with pytest.raises(InvalidInput):
        check_depth([[[[]]]], limit=3)
    check_depth({"a": [{"b": 1}]}, raw=b'{"a":[{"b":1}]}', limit=3)


@pytest.mark.parametrize("value", ["a\x00b", "line\nbreak", "\x7f", "tab\there"])
def test_ids_with_control_characters_are_invalid(value):
    with pytest.raises(InvalidInput) as caught:
        validate({"type": "identify", "userId": value})
    assert (caught.value.code, caught.value.field) == (INVALID_FIELD, "userId")
