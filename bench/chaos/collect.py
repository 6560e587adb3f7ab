"""After a pass: wait until the workers have applied everything, then read what they made.

Settled = every worker answers /health 200, the app's consumer group has no lag on any
topic it reads, and the ends of the output topics stay still for a few seconds. Topics
are read to their end offsets (not until a timeout), so nothing is missed for being late.
"""
from __future__ import annotations

import time

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from streams.core import topics as names

from .cluster import Group
from .driver import ADMIN, call
from .report import say

READ = (names.SEGMENT_IDENTIFY, names.SEGMENT_TRACK, names.SEGMENT_ALIAS, names.LIFECYCLE,
        names.USER_COMMANDS, names.RESPONSES)
OUTPUTS = (names.ELIGIBILITY, names.OUTBOUND, names.RESPONSES, names.SCORES, names.DEADLETTER, names.USER_COMMANDS)


def _partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


def lag_and_ends(group: Group) -> tuple[int, dict]:
    consumer = KafkaConsumer(bootstrap_servers=group.bootstrap, enable_auto_commit=False)
    admin = KafkaAdminClient(bootstrap_servers=group.bootstrap, client_id="chaos-lag")
    try:
        committed = admin.list_group_offsets({group.app_id: None}).get(group.app_id, {})
        read = [tp for logical in READ for tp in _partitions(consumer, group.topic(logical))]
        ends = consumer.end_offsets(read)
        lag = sum(max(0, end - (max(0, committed[tp].offset) if tp in committed else 0)) for tp, end in ends.items())
        out = [tp for logical in OUTPUTS for tp in _partitions(consumer, group.topic(logical))]
        return lag, consumer.end_offsets(out)
    finally:
        consumer.close()
        admin.close()


def settle(group: Group, timeout_s: float = 300.0, quiet_s: float = 6.0) -> dict:
    """Wait until the pass is fully processed; says (never hides) when it was not."""
    t0 = time.monotonic()
    unhealthy_since: dict = {}
    last_ends, still_since, lag = None, None, None
    while time.monotonic() - t0 < timeout_s:
        health = group.healthy()
        for index, ok in enumerate(health):
            if ok:
                unhealthy_since.pop(index, None)
            elif time.monotonic() - unhealthy_since.setdefault(index, time.monotonic()) > 120:
                group.restart(index, "not healthy for 120 s while settling")
                unhealthy_since.pop(index, None)
        if all(health):
            try:
                lag, ends = lag_and_ends(group)
            except Exception as error:  # the broker may be busy: try again
                say(f"  settle: {error!r}")
                time.sleep(1)
                continue
            if lag == 0 and ends == last_ends:
                if time.monotonic() - still_since >= quiet_s:
                    return {"settled": True, "seconds": time.monotonic() - t0}
            else:
                last_ends, still_since = ends, time.monotonic()
        time.sleep(1.0)
    return {"settled": False, "seconds": time.monotonic() - t0, "lag": lag, "healthy": group.healthy()}


def read_topic(bootstrap: str, topic: str, timeout_s: float = 120.0) -> list[tuple]:
    """Every record of a topic: (key, value dict or raw text, partition, offset), to the end."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             isolation_level="read_committed")
    try:
        tps = _partitions(consumer, topic)
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not read {topic} to its end within {timeout_s:.0f}s")
            for tp, batch in consumer.poll(timeout_ms=500).items():
                for message in batch:
                    if message.offset >= ends[tp]:
                        continue
                    try:
                        value = orjson.loads(message.value)
                    except orjson.JSONDecodeError:
                        value = message.value.decode(errors="replace")
                    records.append((message.key.decode() if message.key else None, value, tp.partition,
                                    message.offset))
        return records
    finally:
        consumer.close()


def states(group: Group, ids: list[str]) -> dict:
    """id -> (status, body) of GET /v1/users/{id}; retried while owners are unavailable."""
    found = {}
    for user in ids:
        found[user] = call(group, "GET", f"/v1/users/{user}", headers=ADMIN, timeout_s=120,
                           done=lambda s, b: s in (200, 404))
    bad = [u for u, (s, _) in found.items() if s not in (200, 404)]
    if bad:
        raise RuntimeError(f"chaos: no answer for the state of {len(bad)} users, e.g. {bad[0]}: {found[bad[0]]}")
    return found


def collect(group: Group, ids: list[str]) -> dict:
    topics = {}
    for logical in (names.OUTBOUND, names.RESPONSES, names.SCORES, names.ELIGIBILITY, names.DEADLETTER):
        topics[logical] = read_topic(group.bootstrap, group.topic(logical))
    return {"topics": topics, "states": states(group, ids)}
