"""The Segment-compatible ingestion API's pure logic (docs/reference.md#ingestion): no HTTP, no Kafka."""
from __future__ import annotations

import base64
import gzip

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
from streams.web.ingestion import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, TooLarge, decompress, unpack, write_key
from streams.schemas.segment import MAX_RECORD_BYTES

RECEIVED = "2026-01-02T03:04:05.678Z"


def basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def body(document) -> bytes:
    return orjson.dumps(document)


def sized_track(size: int, **fields) -> dict:
    """A valid track message whose JSON is exactly `size` bytes."""
    message = {"type": "track", "userId": "u1", "event": "Clicked", "properties": {"pad": ""}, **fields}
    message["properties"]["pad"] = "x" * (size - len(orjson.dumps(message)))
    assert len(orjson.dumps(message)) == size
    return message


# --- write key -------------------------------------------------------------------------------

@pytest.mark.parametrize("header, expected", [
    (basic("wk-1"), "wk-1"),                                  # Segment libraries: key as user, empty password
    (basic("wk-1", "ignored"), "wk-1"),                       # a password is ignored
    ("Basic " + base64.b64encode(b"wk-2").decode(), "wk-2"),  # no colon at all
    ("basic " + base64.b64encode(b"wk-3:").decode(), "wk-3"),  # scheme is case-insensitive
    ("Basic  " + base64.b64encode(b"wk-4:").decode() + " ", "wk-4"),  # stray spaces
    (basic("key:with", "colon"), "key"),                      # the user name ends at the first colon
    (None, None),
    ("", None),
    ("Bearer wk-1", None),                                    # not Basic
    ("Basic", None),
    ("Basic !!!not-base64!!!", None),
    ("Basic " + base64.b64encode(b":password").decode(), None),  # empty user name
    ("Basic " + base64.b64encode(b"\xff\xfe:").decode(), None),  # not UTF-8
])
def test_write_key(header, expected):
    assert write_key(header) == expected


# --- gzip ---------------------------------------------------------------------------------

def test_decompress_passes_plain_bodies_through():
    assert decompress(b"{}", None, 100) == b"{}"
    assert decompress(b"{}", "", 100) == b"{}"
    assert decompress(b"{}", "identity", 100) == b"{}"


@pytest.mark.parametrize("encoding", ["gzip", "GZIP", " gzip "])
def test_decompress_valid_gzip(encoding):
    raw = body({"type": "track", "userId": "u1", "event": "Clicked"})
    assert decompress(gzip.compress(raw), encoding, MAX_MESSAGE_BYTES) == raw


def test_decompress_refuses_other_encodings():
    with pytest.raises(InvalidInput) as caught:
        decompress(b"{}", "br", 100)
    assert caught.value.code == INVALID_FIELD and caught.value.field == "Content-Encoding"


@pytest.mark.parametrize("payload", [
    b"{\"type\": \"track\"}",                              # not gzip at all
    b"\x1f\x8b\x08\x00garbage-after-the-magic-bytes",      # a gzip header, then garbage
])
def test_decompress_corrupt_gzip_is_a_400(payload):
    with pytest.raises(InvalidInput) as caught:
        decompress(payload, "gzip", MAX_MESSAGE_BYTES)
    assert not isinstance(caught.value, TooLarge)
    assert caught.value.field == "body"


def test_decompress_truncated_gzip_is_refused():
    """A stream cut before its end (and CRC) is not a valid body, even if what came is JSON."""
    raw = body({"type": "track", "userId": "u1", "event": "Clicked"})
    compressed = gzip.compress(raw)
    with pytest.raises(InvalidInput):
        decompress(compressed[:-8], "gzip", MAX_MESSAGE_BYTES)  # no CRC32/ISIZE trailer


def test_gzip_bomb_stops_at_the_limit():
    bomb = gzip.compress(b"[" + b" " * (50 * 1024 * 1024) + b"]")  # 50 MB of spaces, ~50 KB compressed
    assert len(bomb) < MAX_BATCH_BYTES
    data = decompress(bomb, "gzip", MAX_BATCH_BYTES)
    assert len(data) == MAX_BATCH_BYTES + 1  # inflated no further than needed to know
    with pytest.raises(TooLarge) as caught:
        unpack("batch", data, RECEIVED)
    assert caught.value.code == TOO_LARGE


def test_gzip_body_just_under_the_limit_is_whole():
    raw = body(sized_track(MAX_MESSAGE_BYTES))
    data = decompress(gzip.compress(raw), "gzip", MAX_MESSAGE_BYTES)
    assert data == raw
    assert len(unpack("track", data, RECEIVED)[0]) == 1


# --- single messages ----------------------------------------------------------------------

@pytest.mark.parametrize("kind, message, topic, key", [
    ("identify", {"userId": "u1", "traits": {"plan": "pro"}}, "segment.identify", "u1"),
    ("identify", {"anonymousId": "a1", "traits": {"plan": "pro"}}, "segment.identify", "a1"),
    ("group", {"userId": "u1", "groupId": "g1", "traits": {"name": "Acme"}}, "segment.identify", "u1"),
    ("track", {"userId": "u1", "event": "Report Exported", "properties": {"format": "pdf"}}, "segment.track", "u1"),
    ("track", {"userId": None, "anonymousId": "a1", "event": "Clicked"}, "segment.track", "a1"),
    ("page", {"userId": "u1", "name": "Pricing"}, "segment.track", "u1"),
    ("alias", {"previousId": "a1", "userId": "u1"}, "segment.alias", "u1"),
])
def test_unpack_each_kind(kind, message, topic, key):
    accepted, rejected = unpack(kind, body(message), RECEIVED)
    assert rejected == []
    assert len(accepted) == 1
    got_topic, got_key, got = accepted[0]
    assert (got_topic, got_key) == (topic, key)
    assert got["type"] == kind  # filled in from the path when left out
    assert got["receivedAt"] == RECEIVED
    for field, value in message.items():
        assert got[field] == value


def test_unpack_numeric_user_id_becomes_a_string_key():
    [(topic, key, message)], _ = unpack("identify", body({"userId": 42}), RECEIVED)
    assert key == "42" and message["userId"] == "42"


def test_received_at_is_the_servers_not_the_clients():
    [(_, _, message)], _ = unpack("track", body({"userId": "u1", "event": "E", "receivedAt": "2001-01-01T00:00:00Z",
                                                  "sentAt": "2026-01-02T03:04:00Z"}), RECEIVED)
    assert message["receivedAt"] == RECEIVED
    assert message["sentAt"] == "2026-01-02T03:04:00Z"  # kept for the clock-skew correction


def test_type_in_the_body_must_match_the_path():
    with pytest.raises(InvalidInput) as caught:
        unpack("identify", body({"type": "track", "userId": "u1", "event": "E"}), RECEIVED)
    assert (caught.value.code, caught.value.field) == (INVALID_FIELD, "type")


@pytest.mark.parametrize("kind, raw, code, field", [
    ("identify", b"{not json", INVALID_JSON, "body"),
    ("identify", b"", INVALID_JSON, "body"),
    ("identify", b"[1, 2]", NOT_AN_OBJECT, "body"),
    ("identify", b"\"text\"", NOT_AN_OBJECT, "body"),
    ("identify", b"{\"traits\": {}}", MISSING_FIELD, "userId"),
    ("track", b"{\"userId\": \"u1\"}", MISSING_FIELD, "event"),
    ("track", b"{\"userId\": {\"id\": 1}, \"event\": \"E\"}", INVALID_FIELD, "userId"),
    ("alias", b"{\"userId\": \"u1\"}", MISSING_FIELD, "previousId"),
    ("batch", b"{not json", INVALID_JSON, "body"),
    ("batch", b"[]", NOT_AN_OBJECT, "body"),
    ("batch", b"{}", MISSING_FIELD, "batch"),
    ("batch", b"{\"batch\": {\"type\": \"track\"}}", INVALID_FIELD, "batch"),
    ("batch", b"{\"batch\": null}", MISSING_FIELD, "batch"),
])
def test_malformed_bodies_are_400s(kind, raw, code, field):
    with pytest.raises(InvalidInput) as caught:
        unpack(kind, raw, RECEIVED)
    assert not isinstance(caught.value, TooLarge)
    assert (caught.value.code, caught.value.field) == (code, field)


def test_single_message_size_limit():
    exact = body(sized_track(MAX_MESSAGE_BYTES))
    assert len(unpack("track", exact, RECEIVED)[0]) == 1
    over = body(sized_track(MAX_MESSAGE_BYTES + 1))
    with pytest.raises(TooLarge) as caught:
        unpack("track", over, RECEIVED)
    assert caught.value.code == TOO_LARGE
    assert caught.value.value == MAX_MESSAGE_BYTES + 1


def test_batch_size_limit():
    item = sized_track(20 * 1024)
    items = [dict(item, messageId=f"m{i}") for i in range(26)]  # ~520 KB
    raw = body({"batch": items})
    assert len(raw) > MAX_BATCH_BYTES
    with pytest.raises(TooLarge) as caught:
        unpack("batch", raw, RECEIVED)
    assert caught.value.field == "batch"
    # the same items in a batch under the limit are all accepted
    accepted, rejected = unpack("batch", body({"batch": items[:20]}), RECEIVED)
    assert (len(accepted), rejected) == (20, [])


# --- batches --------------------------------------------------------------------------------

def test_batch_routes_each_item_to_the_topic_of_its_type():
    items = [
        {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}},
        {"type": "group", "userId": "u1", "groupId": "g1"},
        {"type": "track", "userId": "u1", "event": "Clicked"},
        {"type": "page", "anonymousId": "a9", "name": "Home"},
        {"type": "alias", "previousId": "a9", "userId": "u1"},
    ]
    accepted, rejected = unpack("batch", body({"batch": items}), RECEIVED)
    assert rejected == []
    assert [(topic, key) for topic, key, _ in accepted] == [
        ("segment.identify", "u1"), ("segment.identify", "u1"), ("segment.track", "u1"),
        ("segment.track", "a9"), ("segment.alias", "u1")]
    assert all(message["receivedAt"] == RECEIVED for _, _, message in accepted)


def test_batch_envelope_applies_context_and_sent_at_to_items():
    envelope_context = {"library": {"name": "analytics-python", "version": "2.4.0"}}
    own_context = {"library": {"name": "analytics.js"}, "traits": {"plan": "pro"}}
    document = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "A"},
            {"type": "track", "userId": "u1", "event": "B", "context": own_context, "sentAt": "2026-01-02T03:04:01Z"},
        ],
        "context": envelope_context,
        "integrations": {"All": True},
        "sentAt": "2026-01-02T03:04:00Z",
        "writeKey": "wk-1",  # analytics-python puts it in the body: never copied onto messages
    }
    accepted, _ = unpack("batch", body(document), RECEIVED)
    first, second = (message for _, _, message in accepted)
    assert first["context"] == envelope_context
    assert first["sentAt"] == "2026-01-02T03:04:00Z"
    assert first["integrations"] == {"All": True}
    assert second["context"] == own_context            # an item's own field wins
    assert second["sentAt"] == "2026-01-02T03:04:01Z"
    assert "writeKey" not in first and "writeKey" not in second


def test_invalid_items_of_a_valid_batch_are_rejected_not_dropped():
    big = sized_track(MAX_MESSAGE_BYTES + 100)
    items = [
        {"type": "identify", "userId": "ok-1"},
        "not an object",
        {"type": "track", "userId": "u1"},                 # no event
        big,
        {"type": "scream", "userId": "u1"},                # unknown type
        {"type": "identify", "userId": "u1", "traits": "plan=pro"},
        {"type": "track", "anonymousId": "ok-2", "event": "Clicked"},
    ]
    accepted, rejected = unpack("batch", body({"batch": items}), RECEIVED)
    assert [key for _, key, _ in accepted] == ["ok-1", "ok-2"]
    assert [(error.code, error.field) for error, _ in rejected] == [
        (NOT_AN_OBJECT, "batch[1]"),
        (MISSING_FIELD, "event"),
        (TOO_LARGE, "batch[3]"),
        (UNKNOWN_TYPE, "type"),
        (INVALID_FIELD, "traits"),
    ]
    payloads = [orjson.loads(raw) for _, raw in rejected]
    assert payloads[0] == "not an object"
    assert payloads[1] == {"type": "track", "userId": "u1"}
    assert payloads[3]["type"] == "scream"
    assert len(rejected[2][1]) > MAX_MESSAGE_BYTES  # the whole item, for the dead letter


def test_a_batch_item_is_measured_as_the_client_sent_it():
    """docs/reference.md#ingestion: 32 KB as sent; the envelope fields the bridge copies in do not count..."""
    item = sized_track(MAX_MESSAGE_BYTES - 50)
    accepted, rejected = unpack("batch", body({"batch": [item], "context": {"pad": "y" * 200}}), RECEIVED)
    assert rejected == [] and len(accepted) == 1
    assert len(orjson.dumps(accepted[0][2])) > MAX_MESSAGE_BYTES


def test_a_batch_item_whose_record_would_pass_the_worker_limit_is_refused_here():
    """... but the record the bridge produces must fit what a worker accepts (64 KB), so
    that nothing answered 200 is dead-lettered later for its size."""
    item = sized_track(MAX_MESSAGE_BYTES - 50)
    envelope = {"pad": "y" * (MAX_RECORD_BYTES - MAX_MESSAGE_BYTES + 100)}
    accepted, rejected = unpack("batch", body({"batch": [item], "context": envelope}), RECEIVED)
    assert accepted == []
    assert (rejected[0][0].code, rejected[0][0].field) == (TOO_LARGE, "batch[0]")


def test_empty_batch_is_accepted():
    assert unpack("batch", body({"batch": []}), RECEIVED) == ([], [])


# --- /v1/webhook (docs/reference.md#ingestion): what Segment's Webhooks destinations post ---------------------

@pytest.mark.parametrize("message, topic, key", [
    ({"type": "identify", "userId": "u1", "traits": {"plan": "pro"}}, "segment.identify", "u1"),
    ({"type": "group", "userId": "u1", "groupId": "g1", "traits": {"plan": "pro"}}, "segment.identify", "u1"),
    ({"type": "track", "anonymousId": "a1", "event": "E"}, "segment.track", "a1"),
    ({"type": "page", "userId": "u1", "name": "Pricing"}, "segment.track", "u1"),
    ({"type": "screen", "userId": "u1", "name": "Home"}, "segment.track", "u1"),
    ({"type": "alias", "previousId": "a1", "userId": "u1"}, "segment.alias", "u1"),
])
def test_webhook_takes_one_message_of_any_type(message, topic, key):
    [(got_topic, got_key, got)], rejected = unpack("webhook", body(message), RECEIVED)
    assert (got_topic, got_key, rejected) == (topic, key, [])
    assert got["type"] == message["type"] and got["receivedAt"] == RECEIVED


@pytest.mark.parametrize("shape", ["object", "array"])
def test_webhook_takes_a_batch_object_or_the_array_webhooks_actions_posts(shape):
    items = [{"type": "identify", "userId": "u1", "traits": {"plan": "pro"}},
             {"type": "screen", "userId": "u1", "name": "Home"},
             {"type": "track", "userId": "u1"}]  # no event: dead-lettered, not the request
    document = {"batch": items} if shape == "object" else items
    accepted, rejected = unpack("webhook", body(document), RECEIVED)
    assert [(topic, key) for topic, key, _ in accepted] == [("segment.identify", "u1"), ("segment.track", "u1")]
    [(error, item)] = rejected
    assert (error.code, error.field) == (MISSING_FIELD, "event") and orjson.loads(item) == items[2]


@pytest.mark.parametrize("raw, code", [
    (b"[1, 2]", NOT_AN_OBJECT),   # array items that are not objects: each dead-lettered ...
    (b"\"text\"", NOT_AN_OBJECT),
    (b"{\"type\": \"scream\", \"userId\": \"u1\"}", UNKNOWN_TYPE),
    (b"{\"userId\": \"u1\"}", MISSING_FIELD),
])
def test_webhook_refusals(raw, code):
    if raw.startswith(b"["):
        accepted, rejected = unpack("webhook", raw, RECEIVED)
        assert accepted == [] and [error.code for error, _ in rejected] == [code, code]
        return
    with pytest.raises(InvalidInput) as caught:
        unpack("webhook", raw, RECEIVED)
    assert caught.value.code == code


def test_arrays_are_a_webhook_shape_only():
    with pytest.raises(InvalidInput) as caught:
        unpack("batch", body([{"type": "identify", "userId": "u1"}]), RECEIVED)
    assert caught.value.code == NOT_AN_OBJECT
