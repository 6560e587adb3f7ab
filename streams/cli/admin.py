"""Topic administration with kafka-python: `python -m streams topics create`."""
from __future__ import annotations

import sys

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.runtime import topics as names
from streams.core.config import Config


def _new_topic(name: str, logical: str, partitions: int, replication: int) -> NewTopic:
    special = names.SINGLE_PARTITION.get(logical)
    if special is not None:
        return NewTopic(name, 1, replication, topic_configs=dict(special))
    if name.endswith("-changelog"):  # a table's: one record per key is all recovery needs
        return NewTopic(name, partitions, replication, topic_configs={"cleanup.policy": "compact"})
    return NewTopic(name, partitions, replication, topic_configs=dict(names.TOPIC_CONFIGS.get(logical, {})))


# The app's tables (streams.runtime.app); Faust names their changelogs "<app id>-<table>-changelog".
TABLES = ("users", "scores")


def changelog_topics(app_id: str) -> list[str]:
    return [f"{app_id}-{table}-changelog" for table in TABLES]


def create_topics(bootstrap: str, config: Config, *, app_id: str | None = None, quiet: bool = False) -> list[str]:
    """Create every topic of docs/reference.md#3-topics, the internal ones and, given the app id, the tables'
    changelogs, if missing; returns those created.

    Changelogs are made here, before any worker joins, because Faust makes them only after
    its consumer's first assignment: a worker that wrote to one before then failed with
    PartitionsMismatch ("has 0 partitions") until it restarted.
    Existing topics keep their partitions (a count other than the config's is reported: all
    user-keyed topics must be co-partitioned with the `users` table); a setting the engine
    relies on (names.TOPIC_CONFIGS) is set on them if it differs (align_settings).
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="survey-streams-admin")
    try:
        brokers = len(admin.describe_cluster().get("brokers", [])) or 1
        replication = min(3, brokers)
        wanted = {config.topics[logical]: logical for logical in names.ALL}
        changelogs = changelog_topics(app_id) if app_id else []
        wanted.update({name: name for name in changelogs})
        existing = {t.get("name", t.get("topic")): len(t["partitions"]) for t in admin.describe_topics(list(set(wanted) & set(admin.list_topics())))}
        missing = [name for name in wanted if name not in existing]
        if missing:
            try:
                admin.create_topics([_new_topic(name, wanted[name], config.project.partitions, replication)
                                     for name in missing])
            except TopicAlreadyExistsError:
                pass  # created concurrently by another worker
        align_settings(admin, {name: wanted[name] for name in existing})
        for name, partitions in existing.items():
            if wanted[name] not in names.SINGLE_PARTITION and partitions != config.project.partitions:
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
    """Set, on existing topics, the settings of names.TOPIC_CONFIGS they lack (one key at a
    time, incrementally: other settings are kept); returns the topics changed.

    Topics made before a setting was introduced keep the old one otherwise: a lifecycle
    topic with the producer's timestamps lets a harvested display token open a display
    later (docs/security.md). Without the right to alter configs it says what to run.
    """
    required = {name: names.TOPIC_CONFIGS[logical] for name, logical in logical_of.items()
                if logical in names.TOPIC_CONFIGS}
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
