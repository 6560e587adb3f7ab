"""Segment as it is really wired (docs/reference.md#ingestion), proved from outside with clients nobody here
wrote: Segment's official Python library (`segment-analytics-python`), RudderStack's Python SDK
(`rudder-sdk-python`), Segment's Node library (`@segment/analytics-node`, run with node),
kafka-python writing what Segment's Kafka destination writes, and request bodies shaped and
signed as Segment's Webhooks destination sends them.

One worker for the module (a survey targeted on `group.plan`, the webhook secret set); the
mixed-topic test starts its own. Every test uses its own user ids.
"""
from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from rudderstack.analytics import Client as RudderClient
from rudderstack.analytics.request import APIError as RudderAPIError
from segment.analytics import Client as SegmentClient
from segment.analytics.request import APIError as SegmentAPIError

from streams.web.ingestion import MAX_REJECTED_ITEMS
from streams.schemas.segment import MAX_MESSAGE_BYTES
from tests.harness import Worker, basic_auth, ms_iso

pytestmark = pytest.mark.integration

WRITE_KEY = "test-write-key"
AUTH = basic_auth(WRITE_KEY)
ADMIN = {"Authorization": "Bearer test-admin-key"}
WEBHOOK_SECRET = "test-webhook-secret"
SURVEY = "nps-enterprise"
CONFIG = {
    "project": {"recontact_days": 7, "display_timeout_minutes": 30, "partitions": 4},
    "surveys": [{
        "id": SURVEY, "type": "nps", "name": "How likely are you to recommend us?",
        "questions": [
            {"id": "score", "kind": "scale", "text": "How likely are you to recommend us?", "min": 0, "max": 10},
            {"id": "comment", "kind": "text", "text": "What is the main reason for your score?"},
        ],
        "targeting": {"min_days_since_signup": 0,
                      "traits": [{"trait": "group.plan", "op": "eq", "value": "enterprise"}]},
    }],
}
NODE_CLIENT = Path(__file__).resolve().parents[1] / "clients" / "node"


@pytest.fixture(scope="module")
def worker(kafka_bootstrap, tmp_path_factory):
    w = Worker(kafka_bootstrap, tmp_path_factory.mktemp("segment-wiring"), CONFIG,
               {"STREAMS_WEBHOOK_SECRET": WEBHOOK_SECRET})
    try:
        w.start()
        yield w
    finally:
        w.stop()


@pytest.fixture(scope="module")
def segment(worker) -> SegmentClient:
    """Segment's official Python library, as a backend would configure it (host=the worker)."""
    return SegmentClient(WRITE_KEY, host=worker.url, sync_mode=True, max_retries=0)


@pytest.fixture(scope="module")
def rudder(worker) -> RudderClient:
    """RudderStack's Python SDK with the worker as its data plane (it gzips by default)."""
    return RudderClient(WRITE_KEY, host=worker.url, sync_mode=True, max_retries=0)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def clock():
    """at(hours) -> the instant that many hours before now (fixed when clock() is called),
    in whole seconds so that its ISO form round-trips exactly."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return lambda hours_ago: now - timedelta(hours=hours_ago)


def dead_letters(worker: Worker, needle: str, timeout_s: float = 3.0) -> list:
    return worker.read("streams.deadletter", timeout_s=timeout_s, where=lambda v: needle in v.get("payload", ""))


# --- a. screen ---------------------------------------------------------------------------------

def test_screen_updates_last_seen_from_every_client(worker, segment, rudder):
    """`screen` is activity like `page` (docs/reference.md#inbound-segment-messages): Segment's
    library, RudderStack's SDK, POST /v1/screen and a raw record on segment.track each move lastSeen."""
    at = clock()
    user = new_id("u-screen")
    segment.identify(user_id=user, traits={"plan": "pro"}, timestamp=at(10))
    worker.state_when(user, lambda s: s["traits"].get("plan") == "pro")

    steps = [
        ("analytics-python", at(8), lambda t: segment.screen(user_id=user, name="Home", timestamp=t,
                                                             properties={"tab": "feed"})),
        ("rudder-sdk-python", at(6), lambda t: rudder.screen(user_id=user, name="Settings", timestamp=t)),
        ("/v1/screen", at(4), lambda t: _expect_ok(worker.ingest("screen", {
            "userId": user, "name": "Billing", "timestamp": ms_iso(t)}))),
        ("segment.track record", at(2), lambda t: worker.produce("segment.track", {
            "type": "screen", "userId": user, "name": "Reports", "messageId": new_id("m"),
            "timestamp": ms_iso(t)}, key=user)),
    ]
    for client, moment, send in steps:
        send(moment)
        state = worker.state_when(user, lambda s: s["lastSeen"] == ms_iso(moment))
        assert state["firstSeen"] == ms_iso(at(10)), client
    assert not dead_letters(worker, user)
    # what the libraries put on the topic: screen messages, on segment.track
    screens = worker.read("segment.track", count=3, where=lambda v: v.get("userId") == user and v["type"] == "screen")
    libraries = {v["context"]["library"]["name"] for _, v in screens if "library" in v.get("context", {})}
    assert libraries == {"analytics-python"}  # both Python SDKs call themselves analytics-python
    assert {v.get("channel") for _, v in screens} >= {"server"}  # RudderStack's marks itself


def _expect_ok(answer) -> None:
    assert answer == (200, {"success": True}), answer


# --- b. error bodies as the SDKs read them -----------------------------------------------------

def _same_error(reported_code, reported_message, body: dict) -> None:
    assert body["code"] == body["error"] and body["message"] == body["detail"], body
    assert (reported_code, reported_message) == (body["code"], body["message"])


def test_sdks_read_code_and_message_of_401_and_400(worker):
    """Both SDKs raise APIError(status, payload["code"], payload["message"]) on a 4xx: the
    fields are there (RudderStack's SDK used to die with KeyError: 'code')."""
    user = new_id("u-err")
    # 401: a wrong write key, in sync mode the error is raised to the caller.
    raw_status, raw_body = worker.post("/v1/batch", orjson.dumps({"batch": []}), basic_auth("wrong-key"))
    assert raw_status == 401
    wrong_segment = SegmentClient("wrong-key", host=worker.url, sync_mode=True, max_retries=0)
    with pytest.raises(SegmentAPIError) as segment_error:
        wrong_segment.identify(user_id=user, traits={"plan": "pro"})
    assert segment_error.value.status == 401
    _same_error(segment_error.value.code, segment_error.value.message, segment_error.value.response.json())
    _same_error(segment_error.value.code, segment_error.value.message, raw_body)

    wrong_rudder = RudderClient("wrong-key", host=worker.url, sync_mode=True, max_retries=0)
    with pytest.raises(RudderAPIError) as rudder_error:
        wrong_rudder.identify(user_id=user, traits={"plan": "pro"})
    assert rudder_error.value.status == 401
    _same_error(rudder_error.value.code, rudder_error.value.message, raw_body)

    # 400: a batch of more invalid items than one request may dead-letter (empty event names:
    # both SDKs let them through, the API refuses them), sent by each SDK's own consumer thread
    # as one batch, the error handed to on_error.
    for name, make in (("analytics-python", SegmentClient), ("rudder-sdk-python", RudderClient)):
        failures, done = [], threading.Event()

        def on_error(error, batch, failures=failures, done=done):
            failures.append((error, batch))
            done.set()

        count = MAX_REJECTED_ITEMS + 1
        client = make(WRITE_KEY, host=worker.url, sync_mode=False, max_retries=0, on_error=on_error,
                      upload_size=count, upload_interval=3)
        for i in range(count):
            client.track(user_id=user, event="", properties={"i": i})
        assert done.wait(60), f"{name}: no answer to the batch"
        client.join()
        [(error, batch)] = failures
        assert len(batch) == count, name
        assert error.status == 400, (name, error)
        # The same request again, raw: the body the SDK read.
        status, body = worker.post("/v1/batch", orjson.dumps({"batch": batch}), AUTH)
        assert status == 400 and body["code"] == "invalid_field", body
        _same_error(error.code, error.message, body)
        assert body["message"].startswith(f"more than {MAX_REJECTED_ITEMS} invalid items")
    assert worker.user(user)[0] == 404  # nothing of either refused request was applied


# --- c. the size rule --------------------------------------------------------------------------

def _padded_to(measure, target: int, build):
    """build(n) with the largest n whose measure(build(n)) <= target."""
    base = measure(build(0))
    message = build(target - base)
    overshoot = measure(message) - target
    return build(target - base - max(overshoot, 0))


def test_message_just_under_32kb_is_applied_not_dead_lettered(worker, segment):
    """A message is measured as the client sent it (docs/reference.md#ingestion): what the official library
    sends at just under 32 KB, and a batch item just under 32 KB with an envelope context
    copied into it, are answered 200 and applied; no worker refuses them later."""
    at = clock()
    user, moment, message_id = new_id("u-big"), at(1), new_id("m-big")
    target = MAX_MESSAGE_BYTES - 16

    def library_message(n: int) -> dict:
        dry = SegmentClient(WRITE_KEY, host=worker.url, send=False)
        return dry.identify(user_id=user, traits={"bio": "x" * n}, timestamp=moment, message_id=message_id)[1]

    def library_size(message: dict) -> int:  # the library's own measure (analytics/client.py)
        return len(json.dumps(message).encode())

    message = _padded_to(library_size, target, library_message)
    assert target - 8 <= library_size(message) <= target
    bio = message["traits"]["bio"]
    segment.identify(user_id=user, traits={"bio": bio}, timestamp=moment, message_id=message_id)
    state = worker.state_when(user, lambda s: "bio" in s["traits"])
    assert state["traits"]["bio"] == bio and state["lastSeen"] == ms_iso(moment)

    # /v1/batch: an item just under 32 KB as sent, with a 16 KB envelope context copied into it.
    other = new_id("u-big")
    context = {"library": {"name": "custom-batcher", "version": "1.0"}, "page": {"path": "/" + "p" * 16000}}

    def item(n: int) -> dict:
        return {"type": "track", "userId": other, "event": "Report Exported", "messageId": f"{other}-m",
                "timestamp": ms_iso(moment), "properties": {"format": "pdf", "pad": "y" * n}}

    big = _padded_to(lambda m: len(orjson.dumps(m)), target, item)
    body = {"batch": [big], "context": context, "sentAt": ms_iso(moment)}
    _expect_ok(worker.post("/v1/batch", orjson.dumps(body), AUTH))
    state = worker.state_when(other, lambda s: s["lastSeen"] == ms_iso(moment))
    assert state["firstSeen"] == ms_iso(moment)
    [(_, record)] = worker.read("segment.track", count=1, where=lambda v: v.get("userId") == other)
    assert record["context"] == context  # the envelope's, copied in
    assert len(orjson.dumps(record)) > MAX_MESSAGE_BYTES  # bigger than 32 KB as produced, and accepted

    # Nothing of either was dead-lettered, by the bridge or by a worker.
    assert not dead_letters(worker, user) and not dead_letters(worker, other)


def test_message_over_32kb_as_sent_is_refused_by_the_bridge_not_later(worker):
    """The other side of the rule: a batch item over 32 KB as sent is dead-lettered by the
    bridge itself (source http), and a single one is 413; neither reaches a worker."""
    user = new_id("u-over")
    item = {"type": "track", "userId": user, "event": "Big", "messageId": f"{user}-m",
            "properties": {"pad": "z" * MAX_MESSAGE_BYTES}}
    _expect_ok(worker.post("/v1/import", orjson.dumps({"batch": [item]}), AUTH))
    [(_, letter)] = worker.read("streams.deadletter", count=1, timeout_s=30, where=lambda v: user in v.get("payload", ""))
    assert letter["error"] == "too_large" and letter["source"] == {"http": "/v1/import"}
    status, body = worker.post("/v1/track", orjson.dumps(item), AUTH)
    assert status == 413 and body["code"] == "too_large", body
    assert worker.user(user)[0] == 404


# --- d. the Webhooks destination ---------------------------------------------------------------

def _signed(body: bytes, secret: str = WEBHOOK_SECRET) -> dict:
    return {"X-Signature": hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()}


def _webhook_body(message: dict) -> bytes:
    """The event as Segment's Webhooks destination posts it: the whole message, as
    JSON.stringify writes it (no spaces), signed over exactly these bytes."""
    return json.dumps(message, separators=(",", ":")).encode()


def _as_delivered(message: dict, moment: datetime) -> dict:
    """A message as Segment stores and forwards it (fields a destination receives)."""
    sent = ms_iso(moment + timedelta(seconds=1))
    return {"userId": None,  # Segment writes it out as null for an anonymous visitor
            "channel": "server", "context": {"library": {"name": "analytics-node-next", "version": "latest"}},
            "integrations": {}, "messageId": new_id("api"), "originalTimestamp": ms_iso(moment),
            "receivedAt": sent, "sentAt": sent, "timestamp": ms_iso(moment), "version": 2,
            "projectId": "aBcDeFgH12", **message}


def test_webhook_destination_each_type_signed(worker):
    at = clock()
    user, anonymous, previous = new_id("u-hook"), new_id("anon"), new_id("prev")
    signup = "2021-03-01T00:00:00.000Z"
    messages = [
        _as_delivered({"type": "page", "anonymousId": anonymous, "name": "Pricing"}, at(9)),
        _as_delivered({"type": "track", "anonymousId": anonymous, "event": "Report Exported",
                       "properties": {"format": "pdf"}}, at(8)),
        _as_delivered({"type": "identify", "userId": user, "anonymousId": anonymous,
                       "traits": {"plan": "team", "createdAt": signup}}, at(7)),
        _as_delivered({"type": "group", "userId": user, "groupId": "acme", "traits": {"plan": "enterprise"}}, at(6)),
        _as_delivered({"type": "track", "anonymousId": previous, "event": "Signed Up"}, at(5)),
        _as_delivered({"type": "alias", "previousId": previous, "userId": user}, at(4)),
        _as_delivered({"type": "screen", "userId": user, "name": "Dashboard"}, at(3)),
    ]
    for message in messages:
        body = _webhook_body(message)
        assert worker.post("/v1/webhook", body, _signed(body)) == (200, {"success": True}), message["type"]

    state = worker.state_when(user, lambda s: s["lastSeen"] == ms_iso(at(3))
                      and set(s["anonymousIds"]) == {anonymous, previous} and s["groups"])
    assert state["traits"] == {"plan": "team", "createdAt": signup}
    assert state["createdAt"] == signup
    assert state["firstSeen"] == ms_iso(at(9))  # the anonymous page, folded in
    assert state["groups"] == {"acme": {"traits": {"plan": "enterprise"}, "lastSeen": ms_iso(at(6))}}
    # each went to its topic, keyed by its user
    kinds = {v["type"]: k for topic in ("segment.identify", "segment.track", "segment.alias")
             for k, v in worker.read(topic, where=lambda v: v.get("messageId") in {m["messageId"] for m in messages})}
    assert set(kinds) == {"page", "track", "identify", "group", "alias", "screen"}
    assert kinds["alias"] == user and kinds["page"] == anonymous


def test_webhook_refuses_bad_signatures_and_takes_write_keys_and_batches(worker):
    at = clock()
    user = new_id("u-hook")
    refused = _webhook_body(_as_delivered({"type": "identify", "userId": user, "traits": {"refused": True}}, at(2)))
    for headers in ({}, {"X-Signature": "0" * 40}, _signed(refused, "another-secret"),
                    _signed(refused + b" "), {"X-Signature": ""}, basic_auth("wrong-key")):
        status, body = worker.post("/v1/webhook", refused, headers)
        assert status == 401, (headers, body)
        assert body["code"] == "unauthorized" and body["message"], body
    # altered after signing: the signature no longer matches the body
    tampered = refused.replace(b'"refused":true', b'"refused":false')
    assert worker.post("/v1/webhook", tampered, _signed(refused))[0] == 401

    # A write key (HTTP Basic) instead of a signature.
    by_key = _webhook_body(_as_delivered({"type": "identify", "userId": user, "traits": {"plan": "pro"}}, at(1.5)))
    _expect_ok(worker.post("/v1/webhook", by_key, AUTH))
    # A batch body, signed; every type in one request.
    batch = _webhook_body({"batch": [
        _as_delivered({"type": "track", "userId": user, "event": "Report Exported"}, at(1.2)),
        _as_delivered({"type": "group", "userId": user, "groupId": "g-1", "traits": {"seats": 9}}, at(1.1)),
        _as_delivered({"type": "page", "userId": user, "name": "Docs"}, at(1)),
    ]})
    _expect_ok(worker.post("/v1/webhook", batch, _signed(batch)))
    # A batch by write key, gzip'd.
    zipped = gzip.compress(_webhook_body({"batch": [
        _as_delivered({"type": "screen", "userId": user, "name": "Inbox"}, at(0.5))]}))
    _expect_ok(worker.post("/v1/webhook", zipped, {**AUTH, "Content-Encoding": "gzip"}))
    # Webhooks (Actions) with batching on posts a JSON array of events (and signs only the
    # first one, so such requests carry a write key in a mapped Authorization header).
    array = _webhook_body([_as_delivered({"type": "group", "userId": user, "groupId": "g-2",
                                          "traits": {"plan": "enterprise"}}, at(0.4)),
                           _as_delivered({"type": "page", "userId": user, "name": "Team"}, at(0.3))])
    _expect_ok(worker.post("/v1/webhook", array, AUTH))
    assert worker.post("/v1/webhook", array, _signed(orjson.dumps(orjson.loads(array)[0])))[0] == 401
    signed_array = _webhook_body([_as_delivered({"type": "screen", "userId": user, "name": "Last"}, at(0.2))])
    _expect_ok(worker.post("/v1/webhook", signed_array, _signed(signed_array)))

    state = worker.state_when(user, lambda s: s["lastSeen"] == ms_iso(at(0.2)) and len(s["groups"]) == 2)
    assert state["traits"] == {"plan": "pro"}  # the refused identify never arrived
    assert state["groups"]["g-1"]["traits"] == {"seats": 9}
    assert state["groups"]["g-2"] == {"traits": {"plan": "enterprise"}, "lastSeen": ms_iso(at(0.4))}
    # an invalid item of a batch is dead-lettered, like /v1/batch's
    token = uuid.uuid4().hex
    bad = _webhook_body({"batch": [{"type": "track", "userId": user, "messageId": token}]})
    _expect_ok(worker.post("/v1/webhook", bad, _signed(bad)))
    [(_, letter)] = worker.read("streams.deadletter", count=1, timeout_s=30, where=lambda v: token in v.get("payload", ""))
    assert letter["error"] == "missing_field" and letter["source"] == {"http": "/v1/webhook"}


# --- e. group traits ---------------------------------------------------------------------------

def _eligibility(worker: Worker, user: str) -> dict:
    status, body = worker.get(f"/v1/eligibility/{user}", ADMIN)
    assert status == 200, body
    return body


def _eligible_when(worker: Worker, user: str, eligible: bool, reason: str) -> dict:
    body = worker.wait_for(lambda: (b := _eligibility(worker, user))["eligible"] is eligible
                           and b["reason"] == reason and b, timeout_s=45)
    assert body, f"{user}: never {reason}: {_eligibility(worker, user)}\n{worker.log_tail()}"
    return body


def test_group_traits_target_the_most_recent_group_and_reach_responses(worker, segment):
    at = clock()
    user = new_id("u-group")
    segment.identify(user_id=user, traits={"plan": "free", "email": "g@example.com"}, timestamp=at(10))
    worker.state_when(user, lambda s: s["traits"].get("plan") == "free")
    _eligible_when(worker, user, False, "traits_mismatch")  # no group yet

    segment.group(user_id=user, group_id="acme", traits={"plan": "enterprise", "name": "Acme"}, timestamp=at(8))
    state = worker.state_when(user, lambda s: "acme" in s["groups"])
    assert state["groups"] == {"acme": {"traits": {"plan": "enterprise", "name": "Acme"}, "lastSeen": ms_iso(at(8))}}
    assert state["traits"] == {"plan": "free", "email": "g@example.com"}  # the user's own, untouched
    _eligible_when(worker, user, True, "eligible")

    # A later group call in another group: that one is the most recent now.
    segment.group(user_id=user, group_id="startup", traits={"plan": "startup"}, timestamp=at(6))
    worker.state_when(user, lambda s: "startup" in s["groups"])
    _eligible_when(worker, user, False, "traits_mismatch")
    # A call for acme from before the startup one, arriving late: the most recent group is
    # the one of the latest group call by event time, not by arrival (startup still).
    segment.group(user_id=user, group_id="acme", traits={"industry": "retail"}, timestamp=at(7))
    state = worker.state_when(user, lambda s: "industry" in s["groups"]["acme"]["traits"])
    assert state["groups"]["acme"]["lastSeen"] == ms_iso(at(7))
    assert _eligibility(worker, user)["reason"] == "traits_mismatch"
    # Back in acme, now: eligible again, with the traits of acme merged.
    segment.group(user_id=user, group_id="acme", traits={"seats": 50}, timestamp=at(4))
    state = worker.state_when(user, lambda s: s["groups"]["acme"]["lastSeen"] == ms_iso(at(4)))
    assert state["groups"]["acme"]["traits"] == {"plan": "enterprise", "name": "Acme", "industry": "retail", "seats": 50}
    assert state["groups"]["startup"] == {"traits": {"plan": "startup"}, "lastSeen": ms_iso(at(6))}
    _eligible_when(worker, user, True, "eligible")

    # A widget session: the completed response carries the most recent group's traits.
    display = worker.display(user)
    events = [{"messageId": f"{user}-{i}", "userId": user, "surveyId": SURVEY, "displayId": display["id"],
               "displayToken": display["token"], **event}
              for i, event in enumerate([{"type": "shown"},
                                         {"type": "answered", "questionId": "score", "value": 10},
                                         {"type": "submitted"}])]
    assert worker.post("/v1/widget/events", {"batch": events}) == (202, {"accepted": 3})
    found = worker.read("surveys.responses", count=1, timeout_s=45, where=lambda v: v.get("userId") == user)
    assert found, worker.log_tail()
    [(key, response)] = found
    assert key == SURVEY and response["score"] == 10
    assert response["traits"] == {"plan": "free", "email": "g@example.com", "group.plan": "enterprise",
                                  "group.name": "Acme", "group.industry": "retail", "group.seats": 50}


# --- f. one mixed topic, unkeyed, as Segment's Kafka destination writes it ---------------------

def test_kafka_destination_one_topic_unkeyed_every_type(start_worker):
    """Segment's Kafka destination writes the whole event (payload `$.`) to the topic of its
    mapping, with no key unless one is mapped. One topic for identify, track and alias."""
    at = clock()
    worker = start_worker(CONFIG, topics={name: "segment.events" for name in
                                          ("segment.identify", "segment.track", "segment.alias")})
    mixed = worker.topic("segment.identify")
    assert worker.topic("segment.track") == worker.topic("segment.alias") == mixed
    user, anonymous, previous = new_id("u-kafka"), new_id("anon"), new_id("prev")
    messages = [
        _as_delivered({"type": "page", "anonymousId": anonymous, "name": "Home"}, at(9)),
        _as_delivered({"type": "screen", "anonymousId": anonymous, "name": "Onboarding"}, at(8.5)),
        _as_delivered({"type": "track", "anonymousId": anonymous, "event": "Report Exported",
                       "properties": {"format": "pdf"}}, at(8)),
        _as_delivered({"type": "group", "anonymousId": anonymous, "groupId": "trial-co",
                       "traits": {"plan": "trial"}}, at(7.5)),
        _as_delivered({"type": "identify", "userId": user, "anonymousId": anonymous,
                       "traits": {"plan": "pro", "createdAt": "2022-05-01T00:00:00Z"}}, at(7)),
        _as_delivered({"type": "group", "userId": user, "groupId": "acme", "traits": {"plan": "enterprise"}}, at(6)),
        _as_delivered({"type": "track", "anonymousId": previous, "event": "Opened App"}, at(10)),
        _as_delivered({"type": "alias", "previousId": previous, "userId": user}, at(5)),
        _as_delivered({"type": "screen", "userId": user, "name": "Dashboard"}, at(2)),
    ]
    for message in messages:
        worker.producer.send(mixed, key=None, value=json.dumps(message, separators=(",", ":")).encode())
    worker.producer.flush()

    state = worker.state_when(user, lambda s: s["lastSeen"] == ms_iso(at(2)) and len(s["groups"]) == 2
                      and set(s["anonymousIds"]) == {anonymous, previous}, timeout_s=60)
    assert state["traits"] == {"plan": "pro", "createdAt": "2022-05-01T00:00:00Z"}
    assert state["firstSeen"] == ms_iso(at(10))  # the aliased id's track, folded in
    assert state["groups"] == {"acme": {"traits": {"plan": "enterprise"}, "lastSeen": ms_iso(at(6))},
                               # the anonymous visitor's group, folded in when identified
                               "trial-co": {"traits": {"plan": "trial"}, "lastSeen": ms_iso(at(7.5))}}
    _eligible_when(worker, user, True, "eligible")  # group.plan targeting works from Kafka too
    assert not worker.read("streams.deadletter", timeout_s=3)
    # one record per message on the topic, unkeyed, and each read once (not once per logical name)
    records = worker.read("segment.track", count=len(messages), where=lambda v: v.get("projectId"))
    assert len(records) == len(messages) and all(key is None for key, _ in records)
    assert _counter(worker, "survey_streams_messages_in_total", mixed) == len(messages)
    assert _counter(worker, "survey_streams_duplicates_skipped_total", mixed) == 0


def _counter(worker: Worker, name: str, topic: str) -> float:
    """A counter of GET /metrics for one topic label."""
    _, text = worker.get("/metrics")
    for line in text.splitlines():
        if line.startswith(name + "{") and f'topic="{topic}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# --- g. Segment's Node library -----------------------------------------------------------------

@pytest.fixture(scope="session")
def node_client() -> Path:
    """tests/clients/node with its packages installed (npm, cached in node_modules)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed for Segment's Node library (@segment/analytics-node)")
    wanted = json.loads((NODE_CLIENT / "package.json").read_text())["dependencies"]["@segment/analytics-node"]
    installed = NODE_CLIENT / "node_modules" / "@segment" / "analytics-node" / "package.json"
    if not installed.exists() or json.loads(installed.read_text())["version"] != wanted:
        done = subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=NODE_CLIENT, capture_output=True,
                              text=True, timeout=600, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, f"npm install failed:\n{done.stdout}\n{done.stderr}"
    return NODE_CLIENT


def run_node(client_dir: Path, spec: dict) -> dict:
    done = subprocess.run([shutil.which("node"), "send.mjs", json.dumps(spec)], cwd=client_dir, capture_output=True,
                          text=True, timeout=180, stdin=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
    assert done.stdout.strip(), f"node printed nothing (exit {done.returncode}):\n{done.stderr}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["returncode"] = done.returncode
    return result


def test_segment_node_library(worker, node_client):
    at = clock()
    user, anonymous = new_id("u-node"), new_id("anon")
    calls = [
        {"method": "track", "args": {"anonymousId": anonymous, "event": "Report Exported",
                                     "properties": {"format": "pdf"}, "timestamp": ms_iso(at(9))}},
        {"method": "identify", "args": {"userId": user, "anonymousId": anonymous, "timestamp": ms_iso(at(8)),
                                        "traits": {"plan": "team", "createdAt": "2020-01-01T00:00:00Z"}}},
        {"method": "group", "args": {"userId": user, "groupId": "acme", "traits": {"plan": "enterprise"},
                                     "timestamp": ms_iso(at(7))}},
        {"method": "page", "args": {"userId": user, "name": "Pricing", "timestamp": ms_iso(at(6))}},
        {"method": "screen", "args": {"userId": user, "name": "Dashboard", "timestamp": ms_iso(at(5))}},
    ]
    result = run_node(node_client, {"host": worker.url, "writeKey": WRITE_KEY, "maxEventsInBatch": 2, "calls": calls})
    assert result["returncode"] == 0 and not result["errors"], result
    assert result["version"].startswith("3.")
    # at most 2 events a request (maxEventsInBatch), every one answered 200
    assert {r["status"] for r in result["responses"]} == {200}, result
    assert sum(r["events"] for r in result["responses"]) == len(calls) and len(result["responses"]) >= 3, result
    assert {r["url"] for r in result["responses"]} == {f"{worker.url}/v1/batch"}

    # the anonymous history comes with the fold (a command to the anonymous id's partition and back)
    state = worker.state_when(user, lambda s: s["lastSeen"] == ms_iso(at(5)) and s["groups"]
                      and s["firstSeen"] == ms_iso(at(9)))
    assert state["traits"] == {"plan": "team", "createdAt": "2020-01-01T00:00:00Z"}
    assert state["anonymousIds"] == [anonymous] and state["firstSeen"] == ms_iso(at(9))
    assert state["groups"]["acme"]["traits"] == {"plan": "enterprise"}
    [(_, screen)] = worker.read("segment.track", count=1, where=lambda v: v.get("userId") == user and v["type"] == "screen")
    assert screen["context"]["library"]["name"] == "@segment/analytics-node"

    # A wrong write key: the library reports the 401 and the events are not applied.
    other = new_id("u-node")
    refused = run_node(node_client, {"host": worker.url, "writeKey": "wrong-key", "calls": [
        {"method": "identify", "args": {"userId": other, "traits": {"plan": "pro"}}}]})
    assert refused["returncode"] == 1 and [r["status"] for r in refused["responses"]] == [401], refused
    assert worker.user(other)[0] == 404


def test_analytics_js_endpoints_with_the_write_key_in_a_text_plain_body(worker):
    """analytics.js posts to <apiHost>/t, /i, /p, ... and /b, the write key in the body as
    text/plain: with apiHost "<worker>/v1" it reaches the same endpoints."""
    user = new_id("ajs")
    plain = {"Content-Type": "text/plain"}
    identify = {"type": "identify", "userId": user, "traits": {"plan": "pro"}, "writeKey": "test-write-key",
                "messageId": new_id("m")}
    assert worker.post("/v1/i", orjson.dumps(identify), plain) == (200, {"success": True})
    page = {"type": "page", "userId": user, "name": "Home", "writeKey": "test-write-key", "messageId": new_id("m")}
    batch = {"batch": [page], "writeKey": "test-write-key"}
    assert worker.post("/v1/b", orjson.dumps(batch), plain) == (200, {"success": True})
    status, body = worker.post("/v1/t", orjson.dumps({**page, "type": "track", "event": "E", "writeKey": "wrong"}), plain)
    assert status == 401 and body["code"] == "unauthorized"
    worker.state_when(user, lambda s: s["traits"].get("plan") == "pro")
    records = worker.read("segment.identify", count=1, where=lambda v: v.get("userId") == user)
    assert records and "writeKey" not in records[0][1]  # the credential is never produced
