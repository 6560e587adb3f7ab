"""The topics streams.core.topics names, on Kafka: their settings by logical name, and the
app's names on a cluster (app_names: its own internal topics, or the legacy shared ones)."""
from __future__ import annotations

import sys

from kafka import KafkaAdminClient

from streams.core import topics as names

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
