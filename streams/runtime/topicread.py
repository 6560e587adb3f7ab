"""Reading a topic to its end: the one reader every command, the worker's start and the tests use.

Partitions are assigned directly (no consumer group: nothing is committed, any number of
readers can run beside the workers), read `read_committed` (records of aborted or open
transactions are never seen) from the beginning, or from given offsets, up to the end offsets
taken when the read starts. Whoever reads gets every record up to that end, or a typed error:
TopicNotFound, or TopicReadTimeout when the end is not reached in time.
"""
from __future__ import annotations

import time
from typing import Iterator

from kafka import KafkaConsumer, TopicPartition

READ_TIMEOUT_S = 30.0


class TopicNotFound(LookupError):
    def __init__(self, topic: str):
        super().__init__(f"topic {topic} does not exist (run `python -m streams topics create`)")
        self.topic = topic


class TopicReadTimeout(TimeoutError):
    def __init__(self, topic: str, timeout_s: float, behind: dict):
        super().__init__(f"{topic}: end offsets not reached within {timeout_s:g} s (behind: {behind})")
        self.topic, self.timeout_s, self.behind = topic, timeout_s, behind


def servers(bootstrap: str) -> list[str]:
    return [server.strip() for server in bootstrap.split(",") if server.strip()]


def consumer(bootstrap: str, client_id: str = "survey-streams-reader", timeout_s: float = READ_TIMEOUT_S,
             group_id: str | None = None) -> KafkaConsumer:
    """A read_committed consumer that commits nothing by itself; `group_id` only names a
    group to commit to by hand (partitions are assigned, never subscribed)."""
    wanted = {
        "bootstrap_servers": servers(bootstrap),
        "group_id": group_id,
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
        # An offset no longer on the broker (retention, a topic made anew): from the oldest
        # record kept, never silently from the end.
        "auto_offset_reset": "earliest",
        "allow_auto_create_topics": False,  # a reader must not create the topic it reads
        "client_id": client_id,
        "bootstrap_timeout_ms": int(timeout_s * 1000),  # kafka-python >= 3
    }
    # kafka-python refuses configs it does not know, and 2.x lacks some of the above.
    return KafkaConsumer(**{k: v for k, v in wanted.items() if k in KafkaConsumer.DEFAULT_CONFIG})


def end_offsets(bootstrap: str, topics: list[str], client_id: str = "survey-streams-reader") -> dict:
    """{TopicPartition: end offset} of every partition of `topics` (missing topics: none)."""
    reader = consumer(bootstrap, client_id)
    try:
        tps = [TopicPartition(t, p) for t in topics for p in sorted(reader.partitions_for_topic(t) or ())]
        return dict(reader.end_offsets(tps)) if tps else {}
    finally:
        reader.close()


def read_to_end(bootstrap: str, topic: str, *, since: dict | None = None, partitions: list[int] | None = None,
                timeout_s: float = READ_TIMEOUT_S, wait_for_topic_s: float = 0.0, missing_ok: bool = False,
                client_id: str = "survey-streams-reader") -> Iterator:
    """kafka-python's records of `topic` (all partitions, or `partitions`), from `since`
    ({TopicPartition or partition: offset}; else the beginning) to the end offsets now.
    A missing topic: TopicNotFound, or nothing when `missing_ok`; it is waited for up to
    `wait_for_topic_s` first (a topic a worker is creating)."""
    deadline = time.monotonic() + timeout_s

    def remaining_ms() -> int:
        return max(int((deadline - time.monotonic()) * 1000), 1)

    reader = consumer(bootstrap, client_id, timeout_s)
    try:
        found = reader.partitions_for_topic(topic)
        topic_deadline = time.monotonic() + wait_for_topic_s
        while not found and time.monotonic() < topic_deadline:
            time.sleep(0.2)
            found = reader.partitions_for_topic(topic)
        if not found:
            if missing_ok:
                return
            raise TopicNotFound(topic)
        assigned = [TopicPartition(topic, p) for p in sorted(found) if partitions is None or p in partitions]
        reader.assign(assigned)
        reader.seek_to_beginning(*assigned)
        for tp in assigned:
            start = (since or {}).get(tp, (since or {}).get(tp.partition))
            if start:
                reader.seek(tp, start)
        end = reader.end_offsets(assigned)

        def unfinished(tps) -> set:
            # position() is the next offset to fetch, past transaction markers too,
            # which the offsets of the records themselves never reach.
            return {tp for tp in tps if (reader.position(tp, timeout_ms=remaining_ms()) or 0) < end[tp]}

        pending = unfinished(assigned)
        while pending:
            if time.monotonic() >= deadline:
                raise TopicReadTimeout(topic, timeout_s, {tp.partition: end[tp] - (reader.position(tp) or 0)
                                                          for tp in pending})
            for tp, records in reader.poll(timeout_ms=min(remaining_ms(), 500), max_records=5000).items():
                for record in records:
                    if record.offset < end[tp]:
                        yield record
            pending = unfinished(pending)
    finally:
        reader.close()
