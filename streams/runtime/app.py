"""The Faust application: settings, config, topics and tables.

Agents (streams/agents/) and HTTP views (streams/web/) register themselves on `app` when
imported; `streams.cli.worker` imports them all. Importing this module loads and validates the
surveys config, so a bad config stops the worker before it joins the group.
"""
from __future__ import annotations

import logging

import faust

from streams.runtime import batching, faustfixes
from streams.runtime import codecs  # noqa: F401  (registers the orjson codec)
from streams.core import topics as names
from streams.core.config import load_config
from streams.runtime.partitioning import DefaultPartitioner
from streams.runtime.settings import Settings

faustfixes.apply()
settings = Settings.from_env()
config = load_config(settings.config_path)
# The app's topic names: the config's renames, the internal topics named from the app id (or
# the legacy shared names, which `python -m streams worker` finds before it imports this).
# They stay for the process: a config version may not change `topics:` (configdiff).
topic_names = config.topics.for_app(settings.app_id, legacy=settings.legacy_topics)

app = faust.App(
    settings.app_id,
    broker=settings.broker_url,
    store=settings.store,
    datadir=settings.data_dir,
    topic_partitions=config.project.partitions,
    processing_guarantee=settings.processing_guarantee,
    web_bind=settings.web_host,
    web_host=settings.web_host,
    web_port=settings.web_port,
    canonical_url=settings.canonical_url,
    consumer_auto_offset_reset="earliest",
    key_serializer="raw",
    value_serializer="raw",
    table_cleanup_interval=30.0,
    # Flush offsets (and, with exactly_once, commit the transaction) often: outputs of a
    # widget click should reach the topics in well under a second.
    broker_commit_every=1000,
    broker_commit_interval=0.5,
    # A killed worker's partitions move when the group notices it is gone: after the session
    # timeout (Faust's default 60 s; docs/operations.md has the measurements behind 10 s).
    broker_session_timeout=settings.session_timeout_s,
    table_standby_replicas=settings.standby_replicas,
    # A batch's changelog records (~2 KB each) and outputs go out in one producer batch per
    # partition, not 8 at a time (Faust's 16 KiB default): +15% events/s measured, the
    # same latency (docs/benchmarks.md). Under the broker's 1 MiB record batch limit.
    producer_max_batch_size=512 * 1024,
    # Kafka's default partitioning, without aiokafka's byte-by-byte murmur2 (streams.runtime.partitioning).
    producer_partitioner=DefaultPartitioner(),
    broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
    web_cors_options=None,
    # Faust's own /table/{name}/{key}/ served any user's whole state to anyone (no key) and
    # routed from the Host header to any advertised URL; /router/ listed every worker's URL.
    # The bridge routes with app.router itself and needs neither (docs/security.md).
    web_tables_enabled=False,
    web_router_enabled=False,
    autodiscover=False,
    logging_config=None,
)


def topic(logical: str, **kwargs) -> faust.TopicT:
    """A Faust topic for a logical name of streams.core.topics, under its configured physical name."""
    return app.topic(names_of(logical), key_type=bytes, value_type=bytes, key_serializer="raw",
                     value_serializer="raw", partitions=config.project.partitions, **kwargs)


def names_of(logical: str) -> str:
    return topic_names[logical]


inbound_topics = [names_of(n) for n in names.INBOUND]
# The users agent's inputs, handed over one batch per partition per fetch (streams.runtime.batching).
user_channel = app.topic(
    *(inbound_topics + [names_of(names.LIFECYCLE), names_of(names.USER_COMMANDS)]),
    key_type=bytes, key_serializer="raw", value_serializer=batching.BATCH_CODEC,
)


def _batched_topics() -> frozenset:
    """The topics read a batch per partition per fetch: the users agent's inputs and, with
    RocksDB, the users table's changelog while it is restored (the memory store, for tests,
    restores record by record)."""
    topics = set(user_channel.topics)
    if settings.store.startswith("rocksdb"):
        topics.add(users.changelog_topic.get_topic_name())
    return frozenset(topics)
eligibility_topic = topic(names.ELIGIBILITY)
outbound_topic = topic(names.OUTBOUND)
responses_topic = topic(names.RESPONSES)
scores_topic = topic(names.SCORES)
deadletter_topic = topic(names.DEADLETTER)
lifecycle_topic = topic(names.LIFECYCLE)
user_commands_topic = topic(names.USER_COMMANDS, internal=True)
segment_topics = {n: topic(n) for n in names.INBOUND}

class JsonTable(faust.Table):
    """A table of str keys stored raw (UTF-8, so routing hashes a key as the producers do)
    and orjson values. Faust derives serializers from key_type/value_type in __init__ and
    builds the changelog topic from them, so the choice must be made there.

    Its changelog may arrive in batches (streams.runtime.batching: one event per partition per
    fetch while recovering): they are written record by record into the store's batch."""

    def _serializer_from_type(self, typ):
        return "raw" if typ is str else "orjson"

    def apply_changelog_batch(self, batch) -> None:
        events = []
        for event in batch:
            value = event.message.value
            if isinstance(value, batching.RecordBatch):
                events.extend(batching.ChangelogRecord(record) for record in value)
            else:
                events.append(event)
        super().apply_changelog_batch(events)


def json_table(name: str, help: str) -> faust.Table:
    return app.tables.add(JsonTable(app, name=name, key_type=str, beacon=app.tables.beacon,
                                    partitions=config.project.partitions, help=help))


users = json_table("users", "Per-user state (streams/core/state.py).")
scores = json_table("scores", "Score accumulators per survey per day, key '<surveyId>|<YYYY-MM-DD>'.")
# Every worker reads its changelog whole (streams.runtime.responsecounts): the response limits.
response_counts = json_table("response_counts", "Responses per survey (streams/core/quotas.py tally), key surveyId.")
batched_topics = _batched_topics()

log = logging.getLogger(__name__)

# The app's secret (streams.runtime.signing): STREAMS_DISPLAY_SECRET, else read from the
# app's secrets topic (`<app id>-secrets`) by the worker before it starts
# (streams.cli.worker.run calls use_secret). It signs display tokens and user commands and
# makes display ids, each with a key of its own.
display_secret: bytes = b""
display_id_key: bytes = b""
command_key: bytes = b""


def use_secret(secret: bytes) -> None:
    global display_secret, display_id_key, command_key
    from streams.runtime.signing import derived_key

    display_secret = derived_key(secret, "display-token") if secret else b""
    display_id_key = derived_key(secret, "display-id") if secret else b""
    command_key = derived_key(secret, "user-command") if secret else b""


use_secret(settings.display_secret.encode("utf-8"))
