"""Topic set-up on the real broker: settings the engine relies on reach topics made before them."""
from __future__ import annotations

import time
import uuid

import pytest
import yaml
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from streams.core import topics as names
from streams.runtime.topics import align_settings, create_topics
from streams.core.config import parse_config
from tests.harness import DEFAULT_CONFIG


def _settings(admin: KafkaAdminClient, topic: str, keys: list[str]) -> dict:
    described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic, keys)], config_filter="all")
    return {key: data["value"] for key, data in described["topic"][topic].items()}


def _settings_when(admin: KafkaAdminClient, topic: str, wanted: dict, timeout_s: float = 15.0) -> dict:
    """The topic's settings once they equal `wanted` (a change reaches the broker's metadata
    a moment after it is acknowledged), else the last read."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = _settings(admin, topic, list(wanted))
        if found == wanted or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.mark.parametrize("logical", [names.LIFECYCLE, names.USER_COMMANDS])
def test_a_topic_made_before_log_append_time_gets_it_and_keeps_its_other_settings(kafka_bootstrap, logical):
    """A lifecycle topic with the producer's timestamps lets a token harvested once open a
    display later, a user-commands topic lets a copy of a command pass its expiry
    (docs/security.md); the worker's topic set-up now sets LogAppendTime on them."""
    prefix = f"old{uuid.uuid4().hex[:8]}"
    document = yaml.safe_load(DEFAULT_CONFIG.read_text())
    document["topics"] = {logical: f"{prefix}.{logical}" for logical in names.ALL}
    config = parse_config(document)
    lifecycle = config.topics[logical]
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(lifecycle, config.project.partitions, 1, topic_configs={
            "message.timestamp.type": "CreateTime", "retention.ms": "123456789"})])
        assert _settings(admin, lifecycle, ["message.timestamp.type"]) == {"message.timestamp.type": "CreateTime"}

        created = create_topics(kafka_bootstrap, config, config.topics.for_app(f"survey-streams-{prefix}"), quiet=True)

        assert lifecycle not in created
        wanted = {"message.timestamp.type": "LogAppendTime", "retention.ms": "123456789"}
        assert _settings_when(admin, lifecycle, wanted) == wanted
        # Once aligned, nothing is changed again.
        assert align_settings(admin, {lifecycle: logical}) == []
    finally:
        admin.close()
