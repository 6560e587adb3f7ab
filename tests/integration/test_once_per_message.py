"""Once per message and the input's own time, on the real broker (docs/processing.md, "Once
per message" and "Time").

- A replay of any length (a kill, a rebalance, offsets reset) applies nothing twice: 10,000
  inputs of one user read again from the start after a SIGKILL.
- A client retrying a batch (what Segment and every SDK do after a timeout) counts each once.
- Two apps fed the same records at different times end with the same states.
"""
from __future__ import annotations

import time
import uuid

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import OffsetSpec

from streams.core.timeutil import DAY_MS, HOUR_MS, iso
from tests.harness import basic_auth

pytestmark = pytest.mark.integration

EXPORT = {"format": "pdf"}


def exports(worker, user: str) -> int:
    status, state = worker.user(user)
    return ((state.get("triggers") or {}).get("csat-export") or {}).get("count", 0) if status == 200 else 0


def export(user: str, n: int) -> dict:
    return {"type": "track", "userId": user, "messageId": f"{user}-{n}", "event": "Report Exported",
            "properties": EXPORT}


def reset_to_earliest(worker, topic: str, timeout_s: float = 60.0) -> None:
    """Commit the beginning of every partition of `topic` for the worker's group: all of it is
    read again at the next start. The group must be empty: a killed member lingers until its
    session times out."""
    admin = KafkaAdminClient(bootstrap_servers=worker.bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in range(8)]
        deadline = time.monotonic() + timeout_s
        while True:
            results = admin.reset_group_offsets(worker.env["STREAMS_APP_ID"], {tp: OffsetSpec.EARLIEST for tp in partitions})
            if all(r["error"] is None or r["error"].__name__ == "NoError" for r in results.values()):
                return
            assert time.monotonic() < deadline, results
            time.sleep(1)
    finally:
        admin.close()


def test_a_replay_of_10000_inputs_after_a_kill_applies_each_once(start_worker):
    worker = start_worker()
    user = f"replay-{uuid.uuid4().hex[:8]}"
    worker.ingest("identify", {"userId": user, "traits": {"plan": "pro"}})
    topic = worker.topic("segment.track")
    for n in range(10_000):
        worker.producer.send(topic, key=user.encode(), value=orjson.dumps({**export(user, n), "receivedAt": iso(
            int(time.time() * 1000))}))
    worker.producer.flush()
    started = time.monotonic()
    worker.state_when(user, lambda s: s["triggers"].get("csat-export", {}).get("count") == 10_000, timeout_s=120)
    print(f"10,000 applied in {time.monotonic() - started:.1f}s")

    worker.stop(kill=True)
    reset_to_earliest(worker, topic)
    worker.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until the replay is read to its end: every record skipped
        if skipped(worker, topic) >= 10_000:
            break
        time.sleep(0.5)
    assert skipped(worker, topic) >= 10_000  # read again, once or (a rebalance at start) more
    assert exports(worker, user) == 10_000


def skipped(worker, topic: str) -> float:
    _, metrics = worker.get("/metrics")
    prefix = f'survey_streams_duplicates_skipped_total{{topic="{topic}"}} '
    return next((float(line[len(prefix):]) for line in metrics.splitlines() if line.startswith(prefix)), 0.0)


def test_a_client_retrying_a_batch_of_400_counts_each_once(start_worker):
    worker = start_worker()
    user = f"retry-{uuid.uuid4().hex[:8]}"
    batch = {"batch": [export(user, n) for n in range(400)]}
    for _ in range(2):  # the SDK's request, then its retry after a timeout
        status, body = worker.post("/v1/batch", batch, basic_auth("test-write-key"))
        assert status == 200, body
    worker.ingest("track", {**export(user, "last"), "event": "Marker"})
    state = worker.state_when(user, lambda s: s["lastSeen"] is not None and s["triggers"].get("csat-export"))
    time.sleep(1)  # the marker came after both attempts: let it be applied
    assert exports(worker, user) == 400, state


def _changelog_states(worker) -> dict:
    """Every user's last state on the worker's `users` changelog."""
    topic = f"{worker.env['STREAMS_APP_ID']}-users-changelog"
    consumer = KafkaConsumer(bootstrap_servers=worker.bootstrap, enable_auto_commit=False,
                             isolation_level="read_committed", consumer_timeout_ms=1000)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        states = {}
        for record in consumer:
            states[record.key.decode()] = orjson.loads(record.value) if record.value is not None else None
        return states
    finally:
        consumer.close()


def test_the_same_records_give_the_same_states_whenever_they_are_processed(start_worker):
    """Two apps, the same records (key, value and timestamp) on their inputs, the second one
    processing them seconds later. The far-future identify is the one that made which trait
    won depend on how far behind the worker was (a correction against its clock)."""
    now = int(time.time() * 1000)
    user = f"same-{uuid.uuid4().hex[:8]}"
    records = [
        ("segment.identify", {"type": "identify", "userId": user, "messageId": "i1", "traits": {"tier": "first"},
                              "timestamp": iso(now), "receivedAt": iso(now)}),
        # receivedAt an hour after its record, timestamp 24 h and 3 s after that record
        ("segment.identify", {"type": "identify", "userId": user, "messageId": "i2", "traits": {"tier": "ahead"},
                              "timestamp": iso(now + DAY_MS + 3000), "receivedAt": iso(now + HOUR_MS)}),
        ("segment.identify", {"type": "identify", "userId": user, "messageId": "i3", "traits": {"tier": "now"},
                              "timestamp": iso(now + 2000)}),
        ("segment.track", {**export(user, 1), "timestamp": iso(now)}),
    ]
    apps = [start_worker(), start_worker()]
    states = []
    for index, worker in enumerate(apps):
        if index:
            time.sleep(8)  # the second app sees the same records 8 s later by its clock
        for logical, value in records:
            worker.producer.send(worker.topic(logical), key=user.encode(), value=orjson.dumps(value), timestamp_ms=now)
        worker.producer.flush()
        worker.state_when(user, lambda s: s["triggers"].get("csat-export", {}).get("count") == 1
                          and s["traits"].get("tier") is not None)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = _changelog_states(worker).get(user)
            if state and state.get("triggers", {}).get("csat-export"):
                break
            time.sleep(0.5)
        text = orjson.dumps(state).replace(worker.prefix.encode(), b"<app>")
        states.append(orjson.loads(text))
    assert states[0] == states[1]
    assert states[0]["traits"]["tier"] == "now"  # the far-future identify was bounded by its record's time
