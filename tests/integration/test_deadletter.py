"""Malformed messages put straight on the inbound topics (docs/reference.md#inbound-segment-messages,
docs/reference.md#dead-letter, docs/reference.md#service).

Each lands on `streams.deadletter` with its code, where it came from and the payload; the
worker keeps going; /metrics accounts for every inbound message.
"""
from __future__ import annotations

import re
import uuid
from collections import defaultdict

import orjson
import pytest

from streams.schemas.segment import MAX_RECORD_BYTES

from streams.runtime.deadletter import PAYLOAD_MAX
from tests.harness import Worker

pytestmark = pytest.mark.integration

INBOUND = ("segment.identify", "segment.track", "segment.alias")


class Feed:
    """A worker plus a tally of every message this module put on each inbound topic."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.sent: dict = defaultdict(int)

    def put(self, logical: str, value, key: str | None = None):
        """Produce raw bytes (or JSON) and return (partition, offset) as the broker assigned them."""
        raw = value if isinstance(value, bytes) else orjson.dumps(value)
        metadata = self.worker.producer.send(self.worker.topic(logical), key=key.encode() if key is not None else None,
                                             value=raw).get(timeout=30)
        self.sent[logical] += 1
        return metadata.partition, metadata.offset


@pytest.fixture(scope="module")
def feed(kafka_bootstrap, tmp_path_factory):
    worker = Worker(kafka_bootstrap, tmp_path_factory.mktemp("deadletter"))
    try:
        worker.start()
        yield Feed(worker)
    finally:
        worker.stop()


def big_track(size: int) -> bytes:
    message = {"type": "track", "userId": "big", "event": "Clicked", "properties": {"pad": ""}}
    message["properties"]["pad"] = "x" * (size - len(orjson.dumps(message)))
    raw = orjson.dumps(message)
    assert len(raw) == size
    return raw


# (case, inbound topic, payload, code); every payload carries a unique token to find it by
MALFORMED = [
    ("bad json", "segment.identify", b'{"type": "identify", "userId": "TOKEN", ', "invalid_json"),
    ("json array", "segment.identify", b'[{"type": "identify", "userId": "TOKEN"}]', "not_an_object"),
    ("json string", "segment.track", b'"TOKEN"', "not_an_object"),
    ("no ids", "segment.identify", b'{"type": "identify", "traits": {"t": "TOKEN"}}', "missing_field"),
    ("no type", "segment.track", b'{"userId": "TOKEN", "event": "E"}', "missing_field"),
    ("track without event", "segment.track", b'{"type": "track", "userId": "TOKEN"}', "missing_field"),
    ("alias without previousId", "segment.alias", b'{"type": "alias", "userId": "TOKEN"}', "missing_field"),
    ("userId an object", "segment.identify", b'{"type": "identify", "userId": {"id": "TOKEN"}}', "invalid_field"),
    ("traits a string", "segment.identify", b'{"type": "identify", "userId": "u", "traits": "TOKEN"}', "invalid_field"),
    ("bad timestamp", "segment.track",
     b'{"type": "track", "userId": "u", "event": "TOKEN", "timestamp": "last tuesday"}', "invalid_field"),
    ("unknown type", "segment.track", b'{"type": "scream", "userId": "u", "name": "TOKEN"}', "unknown_type"),
]


def test_malformed_messages_land_on_the_dead_letter(feed):
    worker = feed.worker
    token = uuid.uuid4().hex
    expected = {}
    for case, topic, raw, code in MALFORMED:
        payload = raw.replace(b"TOKEN", f"{token}-{len(expected)}".encode())
        partition, offset = feed.put(topic, payload, key=f"key-{len(expected)}")
        expected[payload.decode()] = (case, code, {"topic": worker.topic(topic), "partition": partition,
                                                   "offset": offset})

    records = worker.read("streams.deadletter", count=len(expected), timeout_s=60,
                          where=lambda v: token in v.get("payload", ""))
    assert len(records) == len(expected), f"{records}\n{worker.log_tail()}"
    seen = set()
    for _, record in records:
        case, code, source = expected[record["payload"]]
        assert record["error"] == code, case
        assert record["source"] == source, case
        assert record["detail"], case
        seen.add(case)
    assert seen == {case for case, *_ in MALFORMED}


def test_oversized_messages_are_too_large_and_the_payload_is_cut_at_64kb(feed):
    worker = feed.worker
    # A record on an inbound topic may be 64 KB: a 32 KB message as its client sent it plus
    # what the bridge adds: what the bridge answered 200 for is never refused
    # (docs/reference.md#inbound-segment-messages).
    over = big_track(MAX_RECORD_BYTES + 1)
    huge = big_track(PAYLOAD_MAX + 5000)
    over_at = feed.put("segment.track", over, key="big")
    huge_at = feed.put("segment.track", huge, key="big")
    exact = big_track(MAX_RECORD_BYTES)  # exactly at the limit: accepted
    feed.put("segment.track", exact, key="big")

    def too_large(value):
        return value["error"] == "too_large" and value["source"].get("topic") == worker.topic("segment.track")

    records = [v for _, v in worker.read("streams.deadletter", count=2, timeout_s=60, where=too_large)]
    by_offset = {(r["source"]["partition"], r["source"]["offset"]): r for r in records}
    assert set(by_offset) == {over_at, huge_at}, records
    assert by_offset[over_at]["payload"] == over[:PAYLOAD_MAX].decode()
    assert by_offset[huge_at]["payload"] == huge[:PAYLOAD_MAX].decode()
    assert len(by_offset[huge_at]["payload"]) == PAYLOAD_MAX


def test_a_valid_identify_after_the_bad_ones_still_updates_state(feed):
    worker = feed.worker
    user = f"after-{uuid.uuid4().hex[:8]}"
    feed.put("segment.identify", b"{broken", key=user)  # same key, same partition: just before it
    feed.put("segment.identify", {"type": "identify", "userId": user, "messageId": f"{user}-1",
                                  "timestamp": "2026-01-05T10:00:00Z", "traits": {"plan": "pro"}}, key=user)

    def state():
        status, body = worker.user(user)
        return body if status == 200 else None

    body = worker.wait_for(state, timeout_s=30)
    assert body, worker.log_tail()
    assert body["traits"] == {"plan": "pro"}
    assert body["firstSeen"] == "2026-01-05T10:00:00.000Z"
    assert worker.alive()


_SAMPLE = re.compile(r'^(\w+)\{([^}]*)\} (\S+)$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list:
    """[(name, {label: value}, number)] of the Prometheus text's samples."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match:
            samples.append((match[1], dict(_LABEL.findall(match[2])), float(match[3])))
        else:
            name, value = line.split(" ")
            samples.append((name, {}, float(value)))
    return samples


def per_topic(samples, name: str, label: str = "topic") -> dict:
    totals: dict = defaultdict(float)
    for sample_name, labels, value in samples:
        if sample_name == name and label in labels:
            totals[labels[label]] += value
    return totals


def test_metrics_account_for_every_inbound_message(feed):
    worker = feed.worker
    user = f"metrics-{uuid.uuid4().hex[:8]}"
    identify = {"type": "identify", "userId": user, "messageId": f"{user}-1", "timestamp": "2026-01-05T10:00:00Z",
                "traits": {"plan": "pro"}}
    feed.put("segment.identify", identify, key=user)
    feed.put("segment.identify", identify, key=user)  # a duplicate
    feed.put("segment.track", {"type": "track", "userId": user, "messageId": f"{user}-2", "event": "Clicked"},
             key=None)  # produced without a key: re-keyed to the user's partition
    feed.put("segment.alias", {"type": "alias", "userId": user, "previousId": f"{user}-anon",
                               "messageId": f"{user}-3"}, key=user)
    feed.put("segment.alias", b"not json", key=user)

    topics = {worker.topic(t): t for t in INBOUND}
    last = {}

    def balanced():
        status, text = worker.get("/metrics")
        assert status == 200
        samples = parse_metrics(text)
        messages_in = per_topic(samples, "survey_streams_messages_in_total")
        processed = per_topic(samples, "survey_streams_processed_total")
        duplicates = per_topic(samples, "survey_streams_duplicates_skipped_total")
        dead = per_topic(samples, "survey_streams_deadlettered_total", label="source")
        last.update(counts={topic: (messages_in[topic], processed[topic], duplicates[topic], dead[topic])
                            for topic in topics})
        return all(messages_in[physical] == feed.sent[logical]
                   and messages_in[physical] == processed[physical] + duplicates[physical] + dead[physical]
                   for physical, logical in topics.items())

    assert worker.wait_for(balanced, timeout_s=60), f"sent {dict(feed.sent)}, (in, processed, dup, dead) {last}"
    counts = last["counts"]
    # every kind of outcome happened, so the sum is not trivially right
    assert counts[worker.topic("segment.identify")][1] >= 1 and counts[worker.topic("segment.identify")][2] >= 1
    assert counts[worker.topic("segment.track")][1] >= 1 and counts[worker.topic("segment.track")][3] >= 1
    assert counts[worker.topic("segment.alias")][3] >= 1
    assert worker.alive()
