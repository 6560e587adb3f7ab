"""The Segment forwarder on a real broker: `segment.outbound` reaches Segment's HTTP API.

A stand-in for Segment (http.server in a thread) records what the official client posts to
/v1/batch, and can refuse with 503 (retried with backoff, nothing lost) or 400 (the batch
is dead-lettered with code `segment_rejected`). A worker killed while Segment is down is
replaced by a new one with the same app id and topics: it resumes from the forwarder's
committed offset. Delivery is at-least-once, so a message may reach Segment twice (the
messageIds are deterministic and Segment drops repeats): the assertions compare the sets
of messageIds, deduplicated.
"""
from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from streams.core.timeutil import iso

pytestmark = pytest.mark.integration

WRITE_KEY = "test-segment-key"
SURVEY = "nps-fwd"
CONFIG = {
    "project": {"partitions": 4},
    "surveys": [{"id": SURVEY, "type": "nps", "name": "Would you recommend us?",
                 "targeting": {"min_days_since_signup": 0},
                 "segment": {"properties": {"plan": "trait:plan"}}}],
}
# Test-only: a killed worker's consumer-group membership expires after 10 s instead of
# Faust's 60 s default, so its replacement joins quickly (Faust reads these from the env).
FAST_REJOIN = {"BROKER_SESSION_TIMEOUT": "10", "BROKER_HEARTBEAT_INTERVAL": "1", "BROKER_REBALANCE_TIMEOUT": "20"}


class SegmentStub:
    """Records every POST; answers 200 unless told to refuse with some status."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict] = []  # {"at", "path", "status", "headers", "body"}
        self._refuse_status: int | None = None
        self._refuse_until = 0.0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                status = stub._status()
                with stub.lock:
                    stub.requests.append({"at": time.monotonic(), "path": self.path, "status": status,
                                          "headers": dict(self.headers), "body": json.loads(raw)})
                reply = {"success": True} if status == 200 else {"code": f"http_{status}", "message": "refused by test"}
                payload = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _status(self) -> int:
        with self.lock:
            if self._refuse_status is not None and time.monotonic() < self._refuse_until:
                return self._refuse_status
            return 200

    def refuse(self, status: int, seconds: float = 3600.0) -> float:
        """Answer `status` for `seconds` from now; returns when that ends (monotonic)."""
        with self.lock:
            self._refuse_status, self._refuse_until = status, time.monotonic() + seconds
            return self._refuse_until

    def accept(self) -> None:
        with self.lock:
            self._refuse_status = None

    def snapshot(self) -> list[dict]:
        with self.lock:
            return list(self.requests)

    def delivered(self) -> dict:
        """messageId -> [message, ...] over the accepted batches (one entry per delivery)."""
        result: dict = {}
        for request in self.snapshot():
            if request["status"] == 200:
                for message in request["body"]["batch"]:
                    result.setdefault(message["messageId"], []).append(message)
        return result

    def refused_ids(self, status: int) -> set:
        return {m["messageId"] for r in self.snapshot() if r["status"] == status for m in r["body"]["batch"]}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def segment():
    stub = SegmentStub()
    yield stub
    stub.close()


def segment_env(stub: SegmentStub) -> dict:
    return {"SEGMENT_WRITE_KEY": WRITE_KEY, "SEGMENT_HOST": stub.url, **FAST_REJOIN}


def now_ms() -> int:
    return int(time.time() * 1000)


def identify(worker, user: str) -> None:
    worker.produce("segment.identify", {"type": "identify", "userId": user, "messageId": f"{user}-id",
                                        "timestamp": iso(now_ms()), "traits": {"plan": "team"}}, key=user)
    assert worker.read("surveys.eligibility", count=1, where=lambda v: v["userId"] == user), worker.log_tail()
    DISPLAYS[user] = worker.display(user)


DISPLAYS: dict = {}  # user -> the display the bridge opened for them


def event(user: str, kind: str, n: int, question: str | None = None, value=None) -> dict:
    display = DISPLAYS[user]
    body = {"messageId": f"{user}-w{n}", "userId": user, "surveyId": SURVEY, "displayId": display["id"],
            "displayToken": display["token"], "type": kind, "timestamp": iso(now_ms())}
    if question:
        body["questionId"], body["value"] = question, value
    return body


def answered_flow(user: str) -> list[dict]:
    """Viewed, Answered, Answered, Completed and an identify on segment.outbound: 5 messages."""
    return [event(user, "shown", 1), event(user, "answered", 2, "score", 10),
            event(user, "answered", 3, "comment", "Fast exports"), event(user, "closed", 4)]


def post_all(worker, events: list[dict]) -> None:
    for body in events:
        status, reply = worker.post("/v1/widget/events", body)
        assert status == 202, reply


def outbound(worker, count: int | None = None, user: str | None = None, timeout_s: float = 30.0) -> list[dict]:
    where = None if user is None else (lambda v: v["userId"] == user)
    return [value for _, value in worker.read("segment.outbound", count=count, timeout_s=timeout_s, where=where)]


def wait_delivered(stub: SegmentStub, ids: set, timeout_s: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        delivered = stub.delivered()
        if ids <= delivered.keys():
            return delivered
        time.sleep(0.3)
    missing = ids - stub.delivered().keys()
    raise AssertionError(f"{len(missing)} of {len(ids)} messages never reached Segment: {sorted(missing)}")


def wait_until(check, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_forwarder_delivers_everything_through_an_outage_and_a_crash(start_worker, segment):
    env = segment_env(segment)
    first = start_worker(CONFIG, env)

    # 1. Segment up: every outbound message is delivered, as it is on the topic.
    identify(first, "fw-1")
    post_all(first, answered_flow("fw-1"))
    on_topic = outbound(first, 5, user="fw-1")
    assert len(on_topic) == 5, first.log_tail()
    delivered = wait_delivered(segment, {m["messageId"] for m in on_topic})
    for message in on_topic:
        assert delivered[message["messageId"]][0] == message  # forwarded untouched
    request = next(r for r in segment.snapshot() if r["status"] == 200)
    assert request["path"] == "/v1/batch"
    assert request["headers"]["Content-Encoding"] == "gzip"
    assert request["headers"]["Authorization"] == "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    assert request["body"]["writeKey"] == WRITE_KEY

    # 2. Segment answers 503 for 5 s: delivery waits for it, nothing is lost.
    refused_until = segment.refuse(503, seconds=5.0)
    identify(first, "fw-2")
    post_all(first, [event("fw-2", "shown", 1), event("fw-2", "closed", 2)])  # Viewed, Dismissed
    on_topic = outbound(first, 2, user="fw-2")
    assert len(on_topic) == 2
    ids = {m["messageId"] for m in on_topic}
    wait_delivered(segment, ids, timeout_s=60)
    refused = ids & segment.refused_ids(503)
    assert refused, "the outage was not hit: the test proves nothing"
    first_ok = min(r["at"] for r in segment.snapshot() if r["status"] == 200
                   and refused & {m["messageId"] for m in r["body"]["batch"]})
    assert first_ok >= refused_until

    # 3. Segment down again; the worker is killed while it retries; a new worker (same app id
    #    and topics) takes over from the forwarder's last committed offset.
    segment.refuse(503)
    identify(first, "fw-3")
    post_all(first, answered_flow("fw-3"))
    pending = {m["messageId"] for m in outbound(first, 5, user="fw-3")}
    assert len(pending) == 5
    # The forwarder has fetched (some of) them and keeps retrying: nothing of fw-3 is committed.
    assert wait_until(lambda: pending & segment.refused_ids(503), timeout_s=30), \
        "the forwarder never tried to send the messages of fw-3"
    first.stop(kill=True)
    assert not pending & segment.delivered().keys()
    segment.accept()

    second = start_worker(CONFIG, env, name=first.name)
    assert second.topic("segment.outbound") == first.topic("segment.outbound")
    # And the new worker is a working one: a widget session through its bridge is forwarded too.
    identify(second, "fw-4")
    post_all(second, answered_flow("fw-4"))
    assert len(outbound(second, 5, user="fw-4")) == 5, second.log_tail()
    everything = outbound(second)
    all_ids = {m["messageId"] for m in everything}
    assert len(all_ids) == 5 + 2 + 5 + 5
    delivered = wait_delivered(segment, all_ids, timeout_s=90)
    assert set(delivered) == all_ids  # nothing lost, nothing invented (duplicates allowed)
    by_id = {m["messageId"]: m for m in everything}
    for message_id, copies in delivered.items():
        assert all(copy == by_id[message_id] for copy in copies)
    assert second.alive()


def test_a_batch_segment_rejects_is_dead_lettered(start_worker, segment):
    segment.refuse(400)
    worker = start_worker(CONFIG, segment_env(segment))
    identify(worker, "rej-1")
    post_all(worker, [event("rej-1", "shown", 1), event("rej-1", "closed", 2)])
    found = worker.read("segment.outbound", count=2, where=lambda v: v["userId"] == "rej-1")
    assert len(found) == 2
    rejected = {m["messageId"]: m for _, m in found}

    letters = [value for _, value in worker.read("streams.deadletter", count=2, timeout_s=30,
                                                  where=lambda v: v.get("error") == "segment_rejected")]
    assert len(letters) == 2, worker.log_tail()
    outbound_topic = worker.topic("segment.outbound")
    for letter in letters:
        assert letter["source"]["topic"] == outbound_topic
        assert isinstance(letter["source"]["partition"], int) and isinstance(letter["source"]["offset"], int)
        assert "400" in letter["detail"]
        payload = json.loads(letter["payload"])
        assert rejected[payload["messageId"]] == payload
    assert {json.loads(letter["payload"])["messageId"] for letter in letters} == set(rejected)
    assert set(rejected) <= segment.refused_ids(400)

    # The forwarder moved past the rejected batch: later messages go through, the rejected are not retried.
    segment.accept()
    identify(worker, "rej-2")
    post_all(worker, [event("rej-2", "shown", 1)])
    [viewed] = [m for _, m in worker.read("segment.outbound", count=1, where=lambda v: v["userId"] == "rej-2")]
    wait_delivered(segment, {viewed["messageId"]})
    time.sleep(1.0)
    assert not set(rejected) & segment.delivered().keys()
    assert worker.alive()


def test_a_record_the_forwarder_cannot_read_is_dead_lettered_and_forwarding_goes_on(start_worker, segment):
    """Issue 11 #8: whatever is on segment.outbound, the forwarder never takes the worker down."""
    worker = start_worker(CONFIG, segment_env(segment))
    worker.produce("segment.outbound", b"not json at all", key="junk")
    worker.produce("segment.outbound", b"[1, 2, 3]", key="junk")
    letters = [v for _, v in worker.read("streams.deadletter", count=2, timeout_s=30,
                                         where=lambda v: v["source"].get("topic") == worker.topic("segment.outbound"))]
    assert sorted(letter["error"] for letter in letters) == ["invalid_json", "not_an_object"], letters
    identify(worker, "after-junk")
    post_all(worker, [event("after-junk", "shown", 1)])
    [viewed] = [m for _, m in worker.read("segment.outbound", count=1, where=lambda v: isinstance(v, dict) and v.get("userId") == "after-junk")]
    wait_delivered(segment, {viewed["messageId"]})
    assert worker.alive()
    _, metrics = worker.get("/metrics")
    assert not [line for line in metrics.splitlines() if line.startswith("survey_streams_forwarder_restarts_total ")]
