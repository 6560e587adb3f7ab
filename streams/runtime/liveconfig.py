"""Surveys config versions on Kafka: `python -m streams surveys apply|show|diff` (docs/reference.md#live-config).

`surveys apply FILE` validates the file exactly as a worker does at start, then publishes it
to the compacted one-partition topic `streams.config` (key "surveys"):

    {"version": "<sha-256 of the text, 12 hex>.<applied at, epoch s>", "appliedAt": ISO,
     "source": "<file>", "text": "<the YAML>"}

The latest record is the active version. Workers read it at start and follow the topic
while running (streams.agents.configwatch): they switch whole, between two batches, and
re-decide every user they hold (docs/configuration.md, "The life of a config version").
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams.core import configdiff
from streams.runtime import topics as names
from streams.core.config import Config, ConfigError, content_hash, load_config, parse_config_text
from streams.core.timeutil import iso

KEY = b"surveys"
# "redecided/<partition>" -> {"version"}: every user of that partition was re-decided under
# that version (streams.agents.configwatch); a partition without one for the active version
# is re-decided by whichever worker holds it.
MARKER_PREFIX = b"redecided/"
READ_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Version:
    version: str
    applied_at: str
    source: str
    text: str

    def config(self) -> Config:
        return parse_config_text(self.text, self.source, version=self.version)

    @classmethod
    def of(cls, raw: bytes) -> "Version | None":
        try:
            data = orjson.loads(raw)
            return cls(data["version"], data["appliedAt"], data["source"], data["text"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None  # not ours: ignored


def marker_key(partition: int) -> str:
    return f"{MARKER_PREFIX.decode()}{partition}"


def marker_of(key: bytes | None, raw: bytes | None) -> tuple[int, str] | None:
    """(partition, version) of a re-decision marker record; None for any other record."""
    if not key or not key.startswith(MARKER_PREFIX) or not raw:
        return None
    try:
        partition, version = int(key[len(MARKER_PREFIX):]), orjson.loads(raw)["version"]
    except (ValueError, orjson.JSONDecodeError, KeyError, TypeError):
        return None
    return (partition, version) if partition >= 0 and isinstance(version, str) else None


def published(version: str) -> bool:
    """Whether a config version came from `surveys apply` (not a worker's own file)."""
    return version != "unversioned" and not version.endswith(".file")


def _read_all(bootstrap: str, topic: str, timeout_s: float = READ_TIMEOUT_S) -> list[Version]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        partition = TopicPartition(topic, 0)
        if not consumer.partitions_for_topic(topic):
            return []
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        end = consumer.end_offsets([partition])[partition]
        deadline = time.monotonic() + timeout_s
        found = []
        while consumer.position(partition) < end and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                found.extend(v for v in (Version.of(r.value) for r in records if r.key == KEY) if v is not None)
        return found
    finally:
        consumer.close()


def latest(bootstrap: str, topic: str) -> Version | None:
    """The active version: the last one published, or None."""
    versions = _read_all(bootstrap, topic)
    return versions[-1] if versions else None


def publish(bootstrap: str, topic: str, text: str, source: str, now_ms: int) -> Version:
    version = Version(f"{content_hash(text)}.{now_ms // 1000}", iso(now_ms), source, text)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        value = orjson.dumps({"version": version.version, "appliedAt": version.applied_at,
                              "source": version.source, "text": version.text})
        producer.send(topic, key=KEY, value=value, partition=0).get(timeout=READ_TIMEOUT_S)
    finally:
        producer.close()
    return version


def _changelog_states(bootstrap: str, topic: str):
    """(user, state) of the users table's changelog, oldest first (a compacted topic may
    still hold older states of a key: callers keep the last)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=500, max_records=5000).values():
                for record in records:
                    if record.key is not None and record.value is not None:
                        yield record.key.decode("utf-8", "surrogatepass"), orjson.loads(record.value)
    finally:
        consumer.close()


def dry_run(bootstrap: str, changelog: str, candidate: Config, now_ms: int) -> tuple[int, dict]:
    """(users read, {user: (from, to)}) for the users whose decision `candidate` would change."""
    moves: dict = {}
    users: set = set()
    for user, state in _changelog_states(bootstrap, changelog):
        users.add(user)
        move = configdiff.moved(user, state, candidate, now_ms)
        if move is None:
            moves.pop(user, None)
        else:
            moves[user] = move
    return len(users), moves


# --- the command ----------------------------------------------------------------------------

def main(args, settings) -> int:
    """`python -m streams surveys apply [--dry-run] [FILE] | show | diff [FILE]`."""
    path = args.file or settings.config_path
    try:
        candidate = load_config(path) if args.action != "show" else load_config(settings.config_path)
    except ConfigError as error:
        print(f"error: invalid config: {error}", file=sys.stderr)
        print("nothing published", file=sys.stderr)
        return 2
    topic = candidate.topics[names.CONFIG]
    active = latest(settings.bootstrap_servers, topic)
    # What workers run: the active version, else (none ever published) their STREAMS_CONFIG file.
    active_config = active.config() if active is not None else load_config(settings.config_path)
    active_name = active.version if active is not None else f"{settings.config_path} (no version published yet)"
    if args.action == "show":
        if active is None:
            print(f"no version published on {topic}: workers use their STREAMS_CONFIG file")
            return 0
        print(f"active version {active.version}, applied {active.applied_at} from {active.source}")
        for survey in active_config.surveys:
            print(f"  {survey.id:24s} {survey.type:5s} {'active' if survey.active else 'inactive':8s} priority {survey.priority}")
        return 0
    lines = configdiff.diff(active_config, candidate)
    if args.action == "diff":
        print(f"{path} against {active_name}:")
        print("\n".join(f"  {line}" for line in lines) if lines else "  no change")
        return 0
    problems = configdiff.structural_changes(active_config, candidate)
    if problems:
        print("error: a running app cannot switch partitions or topics (deploy a new app for that): "
              + "; ".join(problems), file=sys.stderr)
        print("nothing published", file=sys.stderr)
        return 2
    if args.dry_run:
        changelog = f"{settings.app_id}-users-changelog"
        users, moves = dry_run(settings.bootstrap_servers, changelog, candidate, int(time.time() * 1000))
        print(f"dry run of {path} against {active_name}: "
              f"{len(moves)} of {users} users would change decision")
        for (before, after), count in sorted(configdiff.count_moves(moves.values()).items(), key=lambda i: -i[1]):
            print(f"  {count:8d}  {before} → {after}")
        print("nothing published (dry run)")
        return 0
    if active is not None and content_hash(active.text) == content_hash(Path(path).read_text(encoding="utf-8")):
        print(f"{path} is the active version already ({active.version}): nothing published")
        return 0
    version = publish(settings.bootstrap_servers, topic, Path(path).read_text(encoding="utf-8"), str(path),
                      int(time.time() * 1000))
    print(f"published version {version.version} to {topic}")
    print("\n".join(f"  {line}" for line in lines) if lines else "  (no change in the surveys)")
    return 0
