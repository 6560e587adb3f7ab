"""The topics streams.core.topics names, on Kafka: their settings by logical name, their
creation (`python -m streams topics create`, and every worker at start) and the app's names
on a cluster (app_names: its own internal topics, or the legacy shared ones).
"""
from __future__ import annotations

import sys

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.core import topics as names
from streams.core.config import Config

# Topics that are not user-keyed: their own partition count and settings.
SINGLE_PARTITION = {names.SECRETS: {"cleanup.policy": "compact"}, names.CONFIG: {"cleanup.policy": "compact"}}
# Settings of user-keyed topics. The lifecycle and user-commands topics keep the broker's
# append time, which no writer to the topic sets: the receipt time of a widget event, which
# nobody can backdate (streams.core.displays), and when a command reached the broker, which its
# expiry is checked against (streams.runtime.signing).
TOPIC_CONFIGS = {names.LIFECYCLE: {"message.timestamp.type": "LogAppendTime"},
                 names.USER_COMMANDS: {"message.timestamp.type": "LogAppendTime"}}


def existing_topics(bootstrap: str) -> set:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="survey-streams-admin")
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def app_names(bootstrap: str, configured: names.TopicNames, app_id: str) -> names.TopicNames:
    """The app's topic names on this cluster: `configured` (the config's renames) bound to
    the app id, on the legacy shared names when names.keeps_legacy_names says so (which
    this says on stderr). Asks the cluster only when an internal topic is not renamed."""
    if all(logical in configured.renames for logical in names.INTERNAL):
        return configured.for_app(app_id)
    legacy = names.keeps_legacy_names(configured, app_id, existing_topics(bootstrap))
    bound = configured.for_app(app_id, legacy=legacy)
    if legacy:
        kept = ", ".join(bound[logical] for logical in names.INTERNAL)
        print(f"warning: app {app_id} keeps the internal topics every app on this cluster shares ({kept}), "
              f"as it ran before they were named from the app id; `python -m streams topics migrate` "
              f"(with every worker stopped) moves it to its own (docs/operations.md, \"Upgrading\")",
              file=sys.stderr)
    return bound


def _new_topic(name: str, logical: str, partitions: int, replication: int) -> NewTopic:
    special = SINGLE_PARTITION.get(logical)
    if special is not None:
        return NewTopic(name, 1, replication, topic_configs=dict(special))
    if name.endswith("-changelog"):  # a table's: one record per key is all recovery needs
        return NewTopic(name, partitions, replication, topic_configs={"cleanup.policy": "compact"})
    return NewTopic(name, partitions, replication, topic_configs=dict(TOPIC_CONFIGS.get(logical, {})))


def create_topics(bootstrap: str, config: Config, topic_names: names.TopicNames, *, changelogs: bool = False,
                  quiet: bool = False) -> list[str]:
    """Create every topic of docs/reference.md#3-topics and the internal ones under `topic_names` (the
    config's, bound to the app id) and, with `changelogs`, the tables' changelogs, if
    missing; returns those created.

    Changelogs are made here, before any worker joins, because Faust makes them only after
    its consumer's first assignment: a worker that wrote to one before then failed with
    PartitionsMismatch ("has 0 partitions") until it restarted. They are made after the
    internal topics: whoever sees an app's changelog sees its own internal topics too, so
    no worker of a new app takes it for one on the legacy names (names.keeps_legacy_names).
    Existing topics keep their partitions (a count other than the config's is reported: all
    user-keyed topics must be co-partitioned with the `users` table); a setting the engine
    relies on (TOPIC_CONFIGS) is set on them if it differs (align_settings).
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="survey-streams-admin")
    try:
        brokers = len(admin.describe_cluster().get("brokers", [])) or 1
        replication = min(3, brokers)
        wanted = {topic_names[logical]: logical for logical in names.ALL}
        tables = [names.changelog(topic_names.app_id, table) for table in names.TABLES] if changelogs else []
        wanted.update({name: name for name in tables})
        existing = {t.get("name", t.get("topic")): len(t["partitions"]) for t in admin.describe_topics(list(set(wanted) & set(admin.list_topics())))}
        missing = [name for name in wanted if name not in existing]
        for group in ([name for name in missing if name not in tables], [name for name in missing if name in tables]):
            try:
                if group:
                    admin.create_topics([_new_topic(name, wanted[name], config.project.partitions, replication)
                                         for name in group])
            except TopicAlreadyExistsError:
                pass  # created concurrently by another worker
        align_settings(admin, {name: wanted[name] for name in existing})
        for name, partitions in existing.items():
            if wanted[name] not in SINGLE_PARTITION and partitions != config.project.partitions:
                print(f"warning: topic {name} has {partitions} partitions, config says {config.project.partitions}; "
                      "user-keyed topics must all have the same count", file=sys.stderr)
        if not quiet:
            for name in wanted:
                state = "created" if name in missing else "exists"
                print(f"{name:32s} {state}")
        return missing
    finally:
        admin.close()


def align_settings(admin: KafkaAdminClient, logical_of: dict) -> list[str]:
    """Set, on existing topics, the settings of TOPIC_CONFIGS they lack (one key at a
    time, incrementally: other settings are kept); returns the topics changed.

    Topics made before a setting was introduced keep the old one otherwise: a lifecycle
    topic with the producer's timestamps lets a harvested display token open a display
    later (docs/security.md). Without the right to alter configs it says what to run.
    """
    required = {name: TOPIC_CONFIGS[logical] for name, logical in logical_of.items()
                if logical in TOPIC_CONFIGS}
    if not required:
        return []
    changed = []
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name, list(settings))
                                            for name, settings in required.items()], config_filter="all")
        current = described.get("topic", {})
        for name, settings in required.items():
            differs = {key: value for key, value in settings.items()
                       if (current.get(name, {}).get(key) or {}).get("value") != value}
            if not differs:
                continue
            result = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, differs)], incremental=True)
            outcome = result.get("topic", {}).get(name)
            if outcome != "OK":
                raise KafkaError(outcome)
            print(f"topic {name}: set {differs}", file=sys.stderr)
            changed.append(name)
    except KafkaError as error:  # e.g. not authorised to alter topic configs
        wanted = "; ".join(f"{name}: {settings}" for name, settings in required.items())
        print(f"warning: could not check or set required topic settings ({error!r}); set them with "
              f"kafka-configs --alter --entity-type topics --add-config: {wanted}", file=sys.stderr)
    return changed
