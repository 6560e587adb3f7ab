"""Surveys config versions on Kafka: the records `python -m streams surveys apply|show|diff`
(streams.cli.surveys) writes and reads (docs/reference.md#live-config).

`surveys apply FILE` validates the file exactly as a worker does at start, then publishes it
to the app's compacted one-partition config topic, `<app id>-config` (key "surveys"):

    {"version": "<sha-256 of the text, 12 hex>.<applied at, epoch s>", "appliedAt": ISO,
     "source": "<file>", "text": "<the YAML>"}

The latest valid record is the active version. Workers read it at start and follow the
topic while running (streams.agents.configwatch): they switch whole, between two batches,
and re-decide every user they hold (docs/configuration.md, "The life of a config version").

Anyone who can write to the topic can put anything on it, so a record is trusted only once
it parses and validates whole (Version.parse, the same validation as at start); any other
record is skipped: an error log naming its offset and the reason, and
survey_streams_config_records_skipped_total, once per record and process. Workers, `surveys
show|diff|apply` all read past such records to the latest valid version.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import orjson
from kafka import KafkaProducer

from streams.core import configdiff
from streams.core.config import Config, ConfigError, content_hash, parse_config_text
from streams.core.timeutil import iso
from streams.runtime import topicread
from streams.runtime.metrics import registry

KEY = b"surveys"
# "redecided/<partition>" -> {"version"}: every user of that partition was re-decided under
# that version (streams.agents.configwatch); a partition without one for the active version
# is re-decided by whichever worker holds it.
MARKER_PREFIX = b"redecided/"
READ_TIMEOUT_S = 30.0
DRY_RUN_READ_S = 900.0  # the users changelog, read whole by `surveys apply --dry-run`
SKIPPED_METRIC = "survey_streams_config_records_skipped_total"
MAX_VERSION_CHARS = 200  # `surveys apply` writes ~23 ("<12 hex>.<epoch s>")
_FIELDS = (("version", "version"), ("applied_at", "appliedAt"), ("source", "source"), ("text", "text"))
log = logging.getLogger(__name__)
_reported: set = set()  # (topic, offset) of the skipped records already logged and counted


@dataclass(frozen=True)
class Version:
    version: str
    applied_at: str
    source: str
    text: str
    parsed: Config | None = field(default=None, compare=False, repr=False)  # set by parse()

    def config(self) -> Config:
        if self.parsed is not None:
            return self.parsed
        return parse_config_text(self.text, self.source, version=self.version)

    @classmethod
    def of(cls, raw: bytes | None, where: str = "a config record") -> "Version | None":
        """The valid version a record holds, else None (for readers that only copy or look:
        `topics migrate`, tests; workers and `surveys` log what they skip, through classify)."""
        try:
            return cls.parse(raw, where)
        except ConfigError:
            return None

    @classmethod
    def parse(cls, raw: bytes | None, where: str) -> "Version":
        """The version a `surveys` record holds, validated whole: its JSON fields and its
        YAML, as at start. Else a ConfigError naming `where` ("<topic>@<offset>")."""
        def refuse(field_name: str, value, message: str) -> ConfigError:
            return ConfigError(where, None, field_name, value, message)

        if raw is None:
            raise refuse("(record)", None, "is empty (a tombstone), not a config version")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise refuse("(record)", raw[:80], f"is not JSON: {error}") from None
        if not isinstance(data, dict):
            raise refuse("(record)", data, "must be a JSON object")
        for name, key in _FIELDS:
            value = data.get(key)
            if not isinstance(value, str) or (not value and name != "text"):  # empty text: no surveys
                raise refuse(key, value, "must be a non-empty string" if name != "text" else "must be a string")
        if len(data["version"]) > MAX_VERSION_CHARS:  # it goes into every decision record and a metric label
            raise refuse("version", data["version"], f"must be at most {MAX_VERSION_CHARS} characters")
        version = cls(**{name: data[key] for name, key in _FIELDS})
        try:
            config = parse_config_text(version.text, version.source, version=version.version)
        except ConfigError as error:  # the same message as at start, and where the record is
            raise ConfigError(f"{where} (version {version.version} from {error.file})", error.survey, error.field,
                              error.value, error.message) from None
        return dataclasses.replace(version, parsed=config)


def skipped(topic: str, offset: int, error: ConfigError) -> None:
    """Log and count a record that is no valid config version, once per record and process
    (a worker reads the topic at start and again when it follows it)."""
    if (topic, offset) in _reported:
        return
    _reported.add((topic, offset))
    registry.inc(SKIPPED_METRIC)
    log.error("config topic record skipped: it does not parse or validate",
              extra={"topic": topic, "offset": offset, "reason": str(error)})


def classify(topic: str, offset: int, key: bytes | None, value: bytes | None):
    """What a config topic record is: ("version", Version), ("marker", (partition, version)),
    or ("skipped", ConfigError) for anything else (logged and counted by skipped())."""
    where = f"{topic}@{offset}"
    if key == KEY:
        try:
            return "version", Version.parse(value, where)
        except ConfigError as error:
            skipped(topic, offset, error)
            return "skipped", error
    marker = marker_of(key, value)
    if marker is not None:
        return "marker", marker
    error = ConfigError(where, None, "(key)", key, "is neither a config version (key 'surveys') "
                        "nor a re-decision marker ('redecided/<partition>' -> {\"version\"})")
    skipped(topic, offset, error)
    return "skipped", error


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


@dataclass(frozen=True)
class Active:
    """What the config topic says, read to its end."""

    version: Version | None  # the latest valid version: the active one (None: none published)
    skipped: tuple = ()  # ConfigError of each record skipped, oldest first
    on_top: bool = True  # no `surveys` record after `version` (compaction keeps the last one only)


def read_active(bootstrap: str, topic: str, timeout_s: float = READ_TIMEOUT_S) -> Active:
    """The config topic to its end: the latest valid version, and what was skipped.
    TopicReadTimeout when the end is not reached in time."""
    active, skips, on_top = None, [], True
    for record in topicread.read_to_end(bootstrap, topic, timeout_s=timeout_s, missing_ok=True,
                                        client_id="survey-streams-config"):
        kind, value = classify(topic, record.offset, record.key, record.value)
        if kind == "version":
            active, on_top = value, True
        elif kind == "skipped":
            skips.append(value)
            on_top = on_top and record.key != KEY
    return Active(active, tuple(skips), on_top)


def latest(bootstrap: str, topic: str) -> Version | None:
    """The active version: the last valid one published, or None."""
    return read_active(bootstrap, topic).version


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
    still hold older states of a key: callers keep the last). Read committed, to its end
    offsets at the start, within DRY_RUN_READ_S (a table of millions of users)."""
    for record in topicread.read_to_end(bootstrap, topic, timeout_s=DRY_RUN_READ_S, missing_ok=True,
                                        client_id="survey-streams-dry-run"):
        if record.key is not None and record.value is not None:
            yield record.key.decode("utf-8", "surrogatepass"), orjson.loads(record.value)


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
