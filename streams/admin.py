"""Topic administration with kafka-python: `python -m streams topics create`."""
from __future__ import annotations

import sys

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from . import topics as names
from .config import Config


def _new_topic(name: str, logical: str, partitions: int, replication: int) -> NewTopic:
    special = names.SINGLE_PARTITION.get(logical)
    if special is not None:
        return NewTopic(name, 1, replication, topic_configs=dict(special))
    if name.endswith("-changelog"):  # a table's: one record per key is all recovery needs
        return NewTopic(name, partitions, replication, topic_configs={"cleanup.policy": "compact"})
    return NewTopic(name, partitions, replication, topic_configs=dict(names.TOPIC_CONFIGS.get(logical, {})))


# The app's tables (streams.app); Faust names their changelogs "<app id>-<table>-changelog".
TABLES = ("users", "scores")


def changelog_topics(app_id: str) -> list[str]:
    return [f"{app_id}-{table}-changelog" for table in TABLES]


def create_topics(bootstrap: str, config: Config, *, app_id: str | None = None, quiet: bool = False) -> list[str]:
    """Create every topic of CONTRACT 3, the internal ones and, given the app id, the tables'
    changelogs, if missing; returns those created.

    Changelogs are made here, before any worker joins, because Faust makes them only after
    its consumer's first assignment: a worker that wrote to one before then failed with
    PartitionsMismatch ("has 0 partitions") until it restarted.
    Existing topics are left as they are, but a partition count other than the config's is
    reported: all user-keyed topics must be co-partitioned with the `users` table.
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
