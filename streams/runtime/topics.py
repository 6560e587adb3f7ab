"""Kafka-level settings of the topics streams.core.topics names, by logical name."""
from __future__ import annotations

from streams.core import topics as names

# Topics that are not user-keyed: their own partition count and settings.
SINGLE_PARTITION = {names.SECRETS: {"cleanup.policy": "compact"}, names.CONFIG: {"cleanup.policy": "compact"}}
# Settings of user-keyed topics. The lifecycle and user-commands topics keep the broker's
# append time, which no writer to the topic sets: the receipt time of a widget event, which
# nobody can backdate (streams.core.displays), and when a command reached the broker, which its
# expiry is checked against (streams.runtime.signing).
TOPIC_CONFIGS = {names.LIFECYCLE: {"message.timestamp.type": "LogAppendTime"},
                 names.USER_COMMANDS: {"message.timestamp.type": "LogAppendTime"}}
