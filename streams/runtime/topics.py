"""The one place that names every topic (docs/reference.md#3-topics).

Each topic has a logical name (the default) that code refers to; `topics:` in the
config may map a logical name to another physical name.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

SEGMENT_IDENTIFY = "segment.identify"
SEGMENT_TRACK = "segment.track"
SEGMENT_ALIAS = "segment.alias"
LIFECYCLE = "surveys.lifecycle"
ELIGIBILITY = "surveys.eligibility"
OUTBOUND = "segment.outbound"
RESPONSES = "surveys.responses"
SCORES = "surveys.scores"
DEADLETTER = "streams.deadletter"
# Internal: every user-keyed command (re-keyed Segment messages, identity folds, timer
# ticks) goes through this one topic so that a single agent owns all writes to `users`.
USER_COMMANDS = "streams.user-commands"
# Internal: the display-token signing secret (streams.runtime.signing), one partition, compacted.
SECRETS = "streams.secrets"
# Internal: the surveys config versions `surveys apply` publishes (streams.runtime.liveconfig).
CONFIG = "streams.config"

INBOUND = (SEGMENT_IDENTIFY, SEGMENT_TRACK, SEGMENT_ALIAS)
PUBLIC = (
    SEGMENT_IDENTIFY,
    SEGMENT_TRACK,
    SEGMENT_ALIAS,
    LIFECYCLE,
    ELIGIBILITY,
    OUTBOUND,
    RESPONSES,
    SCORES,
    DEADLETTER,
)
ALL = PUBLIC + (USER_COMMANDS, SECRETS, CONFIG)
# Topics that are not user-keyed: their own partition count and settings.
SINGLE_PARTITION = {SECRETS: {"cleanup.policy": "compact"}, CONFIG: {"cleanup.policy": "compact"}}
# Settings of user-keyed topics. The lifecycle and user-commands topics keep the broker's
# append time, which no writer to the topic sets: the receipt time of a widget event, which
# nobody can backdate (streams.core.displays), and when a command reached the broker, which its
# expiry is checked against (streams.runtime.signing).
TOPIC_CONFIGS = {LIFECYCLE: {"message.timestamp.type": "LogAppendTime"},
                 USER_COMMANDS: {"message.timestamp.type": "LogAppendTime"}}

# Which inbound topic each Segment message type is produced to (docs/reference.md#3-topics).
TOPIC_FOR_TYPE = {
    "identify": SEGMENT_IDENTIFY,
    "group": SEGMENT_IDENTIFY,
    "track": SEGMENT_TRACK,
    "page": SEGMENT_TRACK,
    "screen": SEGMENT_TRACK,  # mobile SDKs' page (docs/reference.md#inbound-segment-messages)
    "alias": SEGMENT_ALIAS,
}


@dataclass(frozen=True)
class TopicNames:
    """Logical name -> physical name, after the config's `topics:` renames."""

    renames: dict

    def __getitem__(self, logical: str) -> str:
        return self.renames.get(logical, logical)

    def logical(self, physical: str) -> str:
        """Physical name -> logical name (called per event: a dict lookup)."""
        return self._by_physical.get(physical, physical)

    @cached_property
    def _by_physical(self) -> dict:
        # Reversed so that the first logical name wins if two map to one topic.
        return {self[name]: name for name in reversed(ALL)}
