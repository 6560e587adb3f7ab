"""The one place that names every topic (docs/reference.md#3-topics): pure names, no Kafka.

Each topic has a logical name that code refers to; `topics:` in the config may map a
logical name to another physical name. Kafka-level settings of the topics (partitions,
compaction, timestamps) are streams.runtime.topics'.
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
# Internal: the surveys config versions `surveys apply` publishes (streams.cli.surveys, streams.runtime.liveconfig).
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
INTERNAL = (USER_COMMANDS, SECRETS, CONFIG)
ALL = PUBLIC + INTERNAL

# Which inbound topic each Segment message type is produced to (docs/reference.md#3-topics).
TOPIC_FOR_TYPE = {
    "identify": SEGMENT_IDENTIFY,
    "group": SEGMENT_IDENTIFY,
    "track": SEGMENT_TRACK,
    "page": SEGMENT_TRACK,
    "screen": SEGMENT_TRACK,  # mobile SDKs' page (docs/reference.md#inbound-segment-messages)
    "alias": SEGMENT_ALIAS,
}


# The app's tables (streams.runtime.app); Faust names their changelogs "<app id>-<table>-changelog".
TABLES = ("users", "scores", "response_counts")


def changelog(app_id: str, table: str) -> str:
    return f"{app_id}-{table}-changelog"


def own_name(app_id: str, logical: str) -> str:
    """An internal topic's name for one app: `<app id>-user-commands`, `<app id>-config`,
    `<app id>-secrets`, beside the app's changelogs (Kafka Streams names its internal topics
    `<application.id>-...` too), so that all of an app's topics share the prefix `<app id>-`."""
    return f"{app_id}-{logical.removeprefix('streams.')}"


class UnboundTopicName(LookupError):
    """An internal topic asked of names not bound to an app id (TopicNames.for_app)."""

    def __init__(self, logical: str):
        super().__init__(f"topic {logical!r} is named from the app id: bind the names with for_app(app_id)")
        self.logical = logical


@dataclass(frozen=True)
class TopicNames:
    """Logical name -> physical name: the config's `topics:` renames first; else a public
    topic keeps its logical name and an internal one (INTERNAL) is the app's own
    (own_name), once the names are bound to an app id (for_app)."""

    renames: dict
    app_id: str | None = None
    # The internal topics under their logical names, the names every app shared before they
    # were named from the app id: kept by an app that ran then and has not moved yet
    # (keeps_legacy_names; docs/operations.md, "Upgrading").
    legacy: bool = False

    def for_app(self, app_id: str, *, legacy: bool = False) -> "TopicNames":
        return TopicNames(dict(self.renames), app_id, legacy)

    def __getitem__(self, logical: str) -> str:
        renamed = self.renames.get(logical)
        if renamed is not None:
            return renamed
        if logical not in INTERNAL or self.legacy:
            return logical
        if self.app_id is None:
            raise UnboundTopicName(logical)
        return own_name(self.app_id, logical)

    def logical(self, physical: str) -> str:
        """Physical name -> logical name (called per event: a dict lookup)."""
        return self._by_physical.get(physical, physical)

    @cached_property
    def _by_physical(self) -> dict:
        named = [n for n in ALL if self.app_id is not None or self.legacy or n not in INTERNAL or n in self.renames]
        # Reversed so that the first logical name wins if two map to one topic.
        return {self[name]: name for name in reversed(named)}


def keeps_legacy_names(configured: TopicNames, app_id: str, existing) -> bool:
    """Whether the app keeps the shared legacy names of its internal topics, given the topics
    that exist on the cluster: it ran before they were named from the app id (its users
    changelog exists), it has none of its own yet, and a legacy one exists. Internal topics
    the config renames (`configured`) are not concerned. An app that never ran, or that moved (`python -m
    streams topics migrate` makes its own), gets its own names."""
    concerned = [logical for logical in INTERNAL if logical not in configured.renames]
    return (bool(concerned) and changelog(app_id, "users") in existing
            and not any(own_name(app_id, logical) in existing for logical in concerned)
            and any(logical in existing for logical in concerned))
