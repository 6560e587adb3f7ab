"""The demo's own Kafka access (kafka-python, blocking): offsets and reads of the output
topics for the summary, and the producer of the history import (streams.demo.sessions)."""
from __future__ import annotations

import socket

import orjson

from streams.runtime import topicread
from streams.runtime.topicread import servers

CLIENT_ID = "survey-streams-demo"


def reachable(address: str, timeout_s: float = 1.0) -> bool:
    """Whether something accepts TCP connections at any host:port of a bootstrap list."""
    for server in address.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
                return True
        except (OSError, ValueError):
            continue
    return False


def end_offsets(bootstrap: str, topics: list[str]) -> dict:
    """{TopicPartition: end offset} of every partition of `topics`."""
    return topicread.end_offsets(bootstrap, topics, CLIENT_ID)


def read_topic(bootstrap: str, topic: str, since: dict | None = None, timeout_s: float = 30.0) -> list[tuple]:
    """(key, value) of every JSON record of `topic` from `since` (else the start) to its end now."""
    records = []
    for message in topicread.read_to_end(bootstrap, topic, since=since, timeout_s=timeout_s, missing_ok=True,
                                         client_id=CLIENT_ID):
        try:
            value = orjson.loads(message.value)
        except (TypeError, ValueError):
            continue
        records.append((message.key.decode("utf-8", "replace") if message.key else None, value))
    return records


def latest_decisions(bootstrap: str, topic: str) -> dict[str, dict]:
    """{userId: the user's latest decision} from the decisions topic."""
    latest = {}
    for key, value in read_topic(bootstrap, topic):
        user = value.get("userId") or key
        if user:
            latest[user] = value
    return latest


def committed_offsets(bootstrap: str, group: str) -> dict:
    """{TopicPartition: committed offset} of a consumer group (kafka-python 2.x and 3.x)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id=CLIENT_ID)
    try:
        if hasattr(admin, "list_group_offsets"):  # kafka-python >= 3
            offsets = admin.list_group_offsets({group: None}).get(group, {})
        else:
            offsets = admin.list_consumer_group_offsets(group)
        return {tp: meta.offset for tp, meta in offsets.items() if meta.offset is not None and meta.offset >= 0}
    finally:
        admin.close()


def cluster_id(bootstrap: str) -> str | None:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id=CLIENT_ID)
    try:
        return admin.describe_cluster().get("cluster_id")
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, records: list[tuple[str, dict]]) -> None:
    """Write (key, JSON value) records onto `topic` and wait until the broker has them all.

    The default partitioner (murmur2, as Java's and the worker's) puts each user's records
    on the user's partition, in the order given. Raises if the broker refused one.
    """
    from kafka import KafkaProducer

    # One request in flight: a retried batch cannot overtake the next, so order holds. The
    # linger sends each partition's records as one batch, so the worker reads a user's
    # records together (an imported display is past its timeout: the worker's timer must
    # not end it between its events).
    producer = KafkaProducer(bootstrap_servers=servers(bootstrap), acks="all", client_id=CLIENT_ID,
                             max_in_flight_requests_per_connection=1, linger_ms=100, batch_size=256 * 1024)
    try:
        sent = [producer.send(topic, key=key.encode("utf-8"), value=orjson.dumps(value)) for key, value in records]
        producer.flush(timeout=30)
        for delivery in sent:
            delivery.get(timeout=1)  # raises the error of a record the broker did not take
    finally:
        producer.close(timeout=10)
