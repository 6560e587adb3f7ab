"""Segment in over HTTP (docs/reference.md#inbound-segment-messages,
docs/reference.md#user-state, docs/reference.md#ingestion) on a real broker, with the official
`segment-analytics-python` client pointed at the worker.

One worker for the module; every test uses its own user ids.
"""
from __future__ import annotations

import gzip
import uuid
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from segment.analytics import Client

from tests.harness import Worker, basic_auth, ms_iso

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer test-admin-key"}
SIGNUP = datetime(2020, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def worker(kafka_bootstrap, tmp_path_factory):
    w = Worker(kafka_bootstrap, tmp_path_factory.mktemp("ingestion-api"))
    try:
        w.start()
        yield w
    finally:
        w.stop()


@pytest.fixture(scope="module")
def segment(worker) -> Client:
    """The official library, as a browser-side or backend app would configure it."""
    return Client("test-write-key", host=worker.url, sync_mode=True, max_retries=0)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def at(hours_ago: float) -> datetime:
    """A recent instant, whole seconds (so its ISO form round-trips exactly)."""
    return (datetime.now(timezone.utc) - timedelta(hours=hours_ago)).replace(microsecond=0)


AUTH = basic_auth("test-write-key")


# --- the official client: identify, track, alias, history merge ------------------------------

def test_official_client_identify_merges_anonymous_history(worker, segment):
    user, anonymous = new_id("u"), new_id("anon")
    exported, identified = at(3), at(1)
    segment.track(anonymous_id=anonymous, event="Report Exported", properties={"format": "pdf"}, timestamp=exported)
    segment.track(anonymous_id=anonymous, event="Report Exported", properties={"format": "xlsx"}, timestamp=exported)
    segment.identify(user_id=user, anonymous_id=anonymous, timestamp=identified,
                     traits={"plan": "pro", "email": "a@example.com", "createdAt": SIGNUP})

    state = worker.state_when(user, lambda s: s["anonymousIds"] == [anonymous] and s["triggers"])
    assert state["userId"] == user
    assert state["traits"]["plan"] == "pro" and state["traits"]["email"] == "a@example.com"
    assert state["createdAt"] == "2020-01-01T00:00:00.000Z"
    assert state["firstSeen"] == ms_iso(exported)   # from the anonymous event
    assert state["lastSeen"] == ms_iso(identified)
    # only the pdf export matches the trigger's `where`
    assert state["triggers"] == {"csat-export": {"count": 1, "last": ms_iso(exported)}}

    # what the API put on the topics: stamped, keyed by userId (else anonymousId)
    [(key, message)] = worker.read("segment.identify", count=1, where=lambda v: v.get("userId") == user)
    assert key == user
    assert message["anonymousId"] == anonymous
    assert message["receivedAt"].endswith("Z") and message["sentAt"]
    assert message["context"]["library"]["name"] == "analytics-python"
    tracks = worker.read("segment.track", count=2, where=lambda v: v.get("anonymousId") == anonymous)
    assert [k for k, _ in tracks] == [anonymous, anonymous]


def test_server_side_identify_adds_traits_to_the_same_user(worker, segment):
    user, anonymous = new_id("u"), new_id("anon")
    segment.identify(user_id=user, anonymous_id=anonymous, traits={"plan": "pro"}, timestamp=at(2))
    worker.state_when(user, lambda s: s["traits"].get("plan") == "pro")

    backend = Client("test-write-key", host=worker.url, sync_mode=True, gzip=True, max_retries=0)
    backend.identify(user_id=user, traits={"company": "Acme", "seats": 12}, timestamp=at(1))
    state = worker.state_when(user, lambda s: "company" in s["traits"])
    assert state["traits"]["plan"] == "pro"
    assert state["traits"]["company"] == "Acme" and state["traits"]["seats"] == 12
    assert state["anonymousIds"] == [anonymous]


def test_alias_folds_the_previous_id(worker, segment):
    user, previous = new_id("u"), new_id("anon")
    segment.identify(user_id=user, traits={"plan": "team"}, timestamp=at(1))
    worker.state_when(user, lambda s: s["traits"].get("plan") == "team")
    exported = at(5)
    segment.track(anonymous_id=previous, event="Report Exported", properties={"format": "pdf"}, timestamp=exported)
    segment.alias(previous_id=previous, user_id=user, timestamp=at(0.5))

    state = worker.state_when(user, lambda s: previous in s["anonymousIds"] and s["triggers"])
    assert state["triggers"]["csat-export"] == {"count": 1, "last": ms_iso(exported)}
    assert state["firstSeen"] == ms_iso(exported)  # the previous id's history came along
    assert state["traits"]["plan"] == "team"
    [(key, _)] = worker.read("segment.alias", count=1, where=lambda v: v.get("previousId") == previous)
    assert key == user


def test_out_of_order_identify_does_not_roll_a_trait_back(worker, segment):
    user = new_id("u")
    segment.identify(user_id=user, traits={"plan": "pro"}, timestamp=at(1))
    worker.state_when(user, lambda s: s["traits"].get("plan") == "pro")
    # an identify from two days before, arriving late: new keys are taken, plan is not rolled back
    late = at(48)
    segment.identify(user_id=user, traits={"plan": "free", "region": "eu"}, timestamp=late)
    state = worker.state_when(user, lambda s: "region" in s["traits"])
    assert state["traits"]["plan"] == "pro"
    assert state["firstSeen"] == ms_iso(late)
    # and a newer one does change it
    segment.identify(user_id=user, traits={"plan": "team"}, timestamp=at(0.1))
    worker.state_when(user, lambda s: s["traits"]["plan"] == "team")


def test_duplicate_message_id_is_skipped(worker, segment):
    user = new_id("u")
    segment.identify(user_id=user, traits={"plan": "pro"}, timestamp=at(2), message_id=f"{user}-m1")
    worker.state_when(user, lambda s: s["traits"].get("plan") == "pro")
    # a retry with the same messageId (here with other content) is skipped ...
    segment.identify(user_id=user, traits={"plan": "free"}, timestamp=at(1), message_id=f"{user}-m1")
    # ... while the next message (same user, so same partition, handled after it) is applied
    segment.identify(user_id=user, traits={"marker": 1}, timestamp=at(1), message_id=f"{user}-m2")
    state = worker.state_when(user, lambda s: "marker" in s["traits"])
    assert state["traits"]["plan"] == "pro"


# --- the ingestion API's answers --------------------------------------------------------------

@pytest.mark.parametrize("path, raw, code", [
    ("/v1/identify", b"{\"userId\": ", "invalid_json"),
    ("/v1/track", b"[{\"type\": \"track\"}]", "not_an_object"),
    ("/v1/batch", b"{\"batch\": \"not a list\"}", "invalid_field"),
    ("/v1/batch", b"{\"sentAt\": \"2026-01-01T00:00:00Z\"}", "missing_field"),
    ("/v1/identify", b"{\"traits\": {\"plan\": \"pro\"}}", "missing_field"),
    ("/v1/track", b"{\"type\": \"identify\", \"userId\": \"u\"}", "invalid_field"),
])
def test_malformed_body_is_400(worker, path, raw, code):
    status, body = worker.post(path, raw, AUTH)
    assert status == 400, body
    assert body["error"] == code


def test_corrupt_gzip_is_400(worker):
    status, body = worker.post("/v1/identify", b"\x1f\x8b\x08\x00 not really gzip",
                            {**AUTH, "Content-Encoding": "gzip"})
    assert status == 400, body
    assert body["error"] == "invalid_json" and body["field"] == "body"


@pytest.mark.parametrize("headers", [
    {},
    basic_auth("wrong-key"),
    basic_auth(""),
    {"Authorization": "Bearer test-write-key"},
    {"Authorization": "Basic not-base64!"},
], ids=["no-key", "wrong-key", "empty-key", "bearer", "garbage"])
def test_bad_write_key_is_401(worker, headers):
    status, body = worker.post("/v1/identify", orjson.dumps({"userId": new_id("u")}), headers)
    assert status == 401, body
    assert body["error"] == "unauthorized"


def test_oversized_single_message_is_413(worker):
    message = {"userId": new_id("u"), "event": "Big", "properties": {"pad": "x" * (32 * 1024)}}
    status, body = worker.post("/v1/track", orjson.dumps(message), AUTH)
    assert status == 413, body
    assert body["error"] == "too_large"


def test_oversized_batch_is_413(worker):
    item = {"type": "track", "userId": new_id("u"), "event": "Big", "properties": {"pad": "x" * (20 * 1024)}}
    status, body = worker.post("/v1/batch", orjson.dumps({"batch": [item] * 26}), AUTH)
    assert status == 413, body
    assert body["error"] == "too_large"


@pytest.mark.parametrize("inflated", [100 * 1024, 50 * 1024 * 1024], ids=["100KB", "50MB"])
def test_gzip_bomb_is_413(worker, inflated):
    """Small on the wire, over the limit once inflated (and never inflated whole)."""
    bomb = gzip.compress(b"{\"userId\": \"u\", \"traits\": {\"pad\": \"" + b"x" * inflated + b"\"}}")
    assert len(bomb) < 32 * 1024 + inflated // 500
    status, body = worker.post("/v1/identify", bomb, {**AUTH, "Content-Encoding": "gzip"})
    assert status == 413, body
    assert body["error"] == "too_large"


def test_gzip_bodies_are_accepted(worker):
    user, last = new_id("u"), at(0.5)
    single = gzip.compress(orjson.dumps({"userId": user, "traits": {"plan": "pro"}, "timestamp": ms_iso(at(2))}))
    status, body = worker.post("/v1/identify", single, {**AUTH, "Content-Encoding": "gzip"})
    assert (status, body) == (200, {"success": True})
    batch = gzip.compress(orjson.dumps({"batch": [
        {"type": "group", "userId": user, "groupId": "g1", "traits": {"name": "Acme"}, "timestamp": ms_iso(at(1))},
        {"type": "page", "userId": user, "name": "Pricing", "timestamp": ms_iso(last)},
    ]}))
    status, body = worker.post("/v1/batch", batch, {**AUTH, "Content-Encoding": "gzip"})
    assert (status, body) == (200, {"success": True})
    state = worker.state_when(user, lambda s: s["lastSeen"] == ms_iso(last))
    assert state["traits"] == {"plan": "pro"}  # group traits describe the group, not the user
    # group goes to segment.identify, page to segment.track
    assert worker.read("segment.identify", count=1, where=lambda v: v.get("type") == "group" and v["userId"] == user)
    assert worker.read("segment.track", count=1, where=lambda v: v.get("type") == "page" and v["userId"] == user)


def test_invalid_items_of_a_valid_batch_go_to_the_dead_letter(worker):
    user, token = new_id("u"), uuid.uuid4().hex
    items = [
        {"type": "identify", "userId": user, "traits": {"plan": "pro"}, "messageId": f"{token}-ok"},
        {"type": "identify", "traits": {"plan": "pro"}, "messageId": f"{token}-noid"},
        {"type": "scream", "userId": user, "messageId": f"{token}-scream"},
        {"type": "track", "userId": user, "event": "Big", "messageId": f"{token}-big",
         "properties": {"pad": "x" * (33 * 1024)}},
        f"{token}-not-an-object",
    ]
    status, body = worker.post("/v1/batch", orjson.dumps({"batch": items}), AUTH)
    assert (status, body) == (200, {"success": True})

    records = worker.read("streams.deadletter", count=4, timeout_s=30, where=lambda v: token in v.get("payload", ""))
    assert len(records) == 4, records
    by_code = {value["error"]: value for _, value in records}
    assert set(by_code) == {"missing_field", "unknown_type", "too_large", "not_an_object"}
    for value in by_code.values():
        assert value["source"] == {"http": "/v1/batch"}
        assert value["detail"]
    assert orjson.loads(by_code["missing_field"]["payload"])["messageId"] == f"{token}-noid"
    assert orjson.loads(by_code["not_an_object"]["payload"]) == f"{token}-not-an-object"
    # the valid item of the same batch is applied
    worker.state_when(user, lambda s: s["traits"].get("plan") == "pro")


def test_admin_endpoint_needs_the_key(worker, segment):
    user = new_id("u")
    segment.identify(user_id=user, traits={"plan": "pro"})
    worker.state_when(user, lambda s: True)
    assert worker.get(f"/v1/users/{user}")[0] == 401
    assert worker.get(f"/v1/users/{user}", {"Authorization": "Bearer wrong"})[0] == 401
    assert worker.user(new_id("nobody"))[0] == 404
    assert worker.alive()
