"""`python -m streams topics migrate`: move an app off the internal topics every app shared.

Internal topics used to have one name per cluster (`streams.user-commands`, `streams.config`,
`streams.secrets`), so every app on a cluster shared them. An app that ran then keeps them
(streams.core.topics.keeps_legacy_names) until this moves it onto its own, `<app id>-...`,
with every worker of the app stopped:

1. create the app's own internal topics (from then on its workers start on them);
2. copy the app secret (the first one of the legacy topic, the one workers use), unless the
   app's own topic holds one: display tokens handed out and signed commands stay valid;
3. copy the active config version (the last `surveys` record, as it is), unless the app's
   own topic holds one; re-decision markers are not copied (each partition is re-decided
   once more, which changes nothing);
4. copy the user commands the app's consumer group has not processed yet (from its committed
   offset to the end of each partition, to the same partition, with a fresh expiry and signed
   again, their nonce kept), then commit the group's offsets on the legacy topic at that end.

A failed run is run again: each step copies only what is still missing, and a command copied
twice is applied once (its nonce). An app that is not on the legacy topics (a new one, or one
moved already whose group never read a legacy command) has nothing to migrate: nothing is
copied into it. Internal topics the config's `topics:` renames stay.
"""
from __future__ import annotations

import sys
import time

from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from streams.runtime.topics import create_topics
from streams.core import topics as names
from streams.core.config import Config
from streams.runtime import liveconfig, signing, topicread

TIMEOUT_S = 30.0


class MigrationRefused(RuntimeError):
    """The app cannot be moved now: what stops it, and what to do."""


def migrate(bootstrap: str, config: Config, app_id: str, display_secret: str = "") -> int:
    """The command: 0 moved (or nothing to move), 2 refused."""
    try:
        lines = move(bootstrap, config, app_id, display_secret)
    except MigrationRefused as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


def move(bootstrap: str, config: Config, app_id: str, display_secret: str = "") -> list[str]:
    """Move `app_id` onto its own internal topics; returns what was done, line by line."""
    legacy = config.topics.for_app(app_id, legacy=True)
    own = config.topics.for_app(app_id)
    moving = [logical for logical in names.INTERNAL if legacy[logical] != own[logical]]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="survey-streams-admin")
    try:
        existing = set(admin.list_topics())
        moving = [logical for logical in moving if legacy[logical] in existing]
        committed = admin.list_group_offsets({app_id: None}).get(app_id, {})
        # On the legacy names now, or moved by a run that may have stopped half-way (its group
        # read the legacy commands): an app that never was must not take another's version.
        if not moving or not (names.keeps_legacy_names(config.topics, app_id, existing)
                              or any(tp.topic == legacy[names.USER_COMMANDS] for tp in committed)):
            return [f"nothing to migrate: app {app_id} is not on the legacy internal topics"]
        members = admin.describe_groups([app_id])[app_id].get("members") or []
        if members:
            raise MigrationRefused(f"{len(members)} worker(s) of app {app_id} are running: stop every worker, "
                                   "then run `python -m streams topics migrate` again")
    finally:
        admin.close()
    create_topics(bootstrap, config, own, quiet=True)
    lines = [f"app {app_id}: internal topics " + ", ".join(f"{legacy[n]} -> {own[n]}" for n in moving)]
    if names.SECRETS in moving:
        lines.append(_copy_secret(bootstrap, legacy[names.SECRETS], own[names.SECRETS]))
    if names.CONFIG in moving:
        lines.append(_copy_config(bootstrap, legacy[names.CONFIG], own[names.CONFIG]))
    if names.USER_COMMANDS in moving:
        # Checked with the secret the workers signed them with (streams.runtime.app.use_secret),
        # signed with the one they will use (the same, unless the app's own topic held another).
        before = display_secret.encode("utf-8") or signing.first_secret(bootstrap, legacy[names.SECRETS], TIMEOUT_S)
        after = display_secret.encode("utf-8") or signing.shared_secret(bootstrap, own[names.SECRETS], TIMEOUT_S)
        lines.append(_copy_commands(bootstrap, app_id, legacy[names.USER_COMMANDS], own[names.USER_COMMANDS],
                                    committed, before or b"", after))
    lines.append("the app's workers now start on its own internal topics")
    return lines


def _produce(bootstrap: str, topic: str, records: list) -> None:
    """(partition, key, value, headers) records, each acknowledged by every replica."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", client_id="survey-streams-migrate")
    try:
        for future in [producer.send(topic, key=key, value=value, partition=partition, headers=headers or None)
                       for partition, key, value, headers in records]:
            future.get(timeout=TIMEOUT_S)
    finally:
        producer.close()


def _copy_secret(bootstrap: str, source: str, target: str) -> str:
    if signing.first_secret(bootstrap, target, TIMEOUT_S) is not None:
        return f"secret: {target} holds one already, kept"
    found = signing.first_secret(bootstrap, source, TIMEOUT_S)
    if found is None:
        return f"secret: none in {source}; the first worker makes one"
    # A key of its own, as signing.shared_secret writes it: compaction never merges two.
    _produce(bootstrap, target, [(0, b"migrated", found, None)])
    return f"secret: copied from {source}"


def _copy_config(bootstrap: str, source: str, target: str) -> str:
    if liveconfig.latest(bootstrap, target) is not None:
        return f"config: {target} holds a version already, kept"
    last = None
    for record in topicread.read_to_end(bootstrap, source, timeout_s=TIMEOUT_S, missing_ok=True):
        if record.key == liveconfig.KEY and liveconfig.Version.of(record.value) is not None:
            last = record
    if last is None:
        return f"config: no version in {source}; workers use their STREAMS_CONFIG file"
    _produce(bootstrap, target, [(0, last.key, last.value, None)])
    return f"config: version {liveconfig.Version.of(last.value).version} copied from {source}"


def _copy_commands(bootstrap: str, app_id: str, source: str, target: str, committed: dict, before: bytes,
                   after: bytes) -> str:
    since = {tp.partition: meta.offset for tp, meta in committed.items() if tp.topic == source and meta.offset >= 0}
    if not since:
        return f"user commands: app {app_id} has processed none from {source}, none to copy"
    ends = {tp.partition: end for tp, end in topicread.end_offsets(bootstrap, [source]).items()}
    checked, signed = (signing.derived_key(secret, "user-command") if secret else b"" for secret in (before, after))
    now_ms = int(time.time() * 1000)
    records, unsigned, done = [], 0, dict(ends)
    for record in topicread.read_to_end(bootstrap, source, since=since, partitions=sorted(since), timeout_s=TIMEOUT_S):
        moved = signing.resealed(checked, signed, record.key, record.value, record.headers, now_ms)
        if moved is None:
            unsigned += 1
        else:
            records.append((record.partition, record.key, moved[0], moved[1]))
        done[record.partition] = max(done.get(record.partition, 0), record.offset + 1)
    _produce(bootstrap, target, records)
    # Marked processed on the legacy topic: a run after this one copies none of them again.
    offsets = {TopicPartition(source, p): OffsetAndMetadata(max(done.get(p, 0), start), "", -1)
               for p, start in since.items()}
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="survey-streams-admin")
    try:
        failed = {tp: error for tp, error in admin.alter_group_offsets(app_id, offsets).items()
                  if getattr(error, "errno", 0)}
    finally:
        admin.close()
    if failed:
        raise MigrationRefused(f"copied {len(records)} user commands, but could not mark them processed on "
                               f"{source} ({failed}): run the command again before starting a worker")
    skipped = f"; {unsigned} no worker of this app signed, not copied" if unsigned else ""
    return f"user commands: {len(records)} not processed yet copied from {source}{skipped}"
