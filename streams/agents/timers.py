"""Time alone changes users: a decision's eligibleAt passes, an open display times out.

An in-memory index of users by due time (a heap, rebuilt from the local table after
recovery, then kept on every write) lets a one-second timer find the due users without
scanning the table; each gets a `tick` command, processed like any input on the worker
that owns the user (docs/processing.md, "Timers").
"""
from __future__ import annotations

import asyncio
import logging
import time

import orjson

from streams.core import lifecycle
from streams.runtime import topics as names
from streams.runtime.app import app, user_channel, users
from streams.runtime.dueindex import DueIndex
from streams.runtime.emit import send_command
from streams.runtime.userstore import partition_of

log = logging.getLogger(__name__)

# Keys that need a look again at a given instant. Rebuilt from the local table after recovery.
due = DueIndex()


class AppliedTicks:
    """How many `tick` commands this worker's users agent has applied. A re-decision scan
    (streams.agents.configwatch) waits on it so that few of the ticks it sent are still
    queued: a tick is a whole input to apply, and live inputs wait behind queued ones."""

    def __init__(self) -> None:
        self.count = 0
        self._changed: asyncio.Event | None = None

    def add(self) -> None:
        self.count += 1
        if self._changed is not None:
            self._changed.set()

    async def wait_for(self, count: int, timeout_s: float) -> bool:
        """Until `count` ticks are applied (True), or `timeout_s` passed (False)."""
        deadline = time.monotonic() + timeout_s
        while self.count < count:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._changed = self._changed or asyncio.Event()
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                return self.count >= count
        return True


applied_ticks = AppliedTicks()


def next_due(state: dict) -> int | None:
    """When time alone may change this user: the stored decision's eligibleAt or an open
    display's timeout, whichever comes first."""
    decided = (state.get("decision") or {}).get("eligibleAt")
    deadlines = [t for t in (decided, lifecycle.next_deadline(state)) if t is not None]
    return min(deadlines) if deadlines else None


def stored_states():
    """(user, state) for every key of the local table: what `users.items()` yields.

    The table's keys are raw UTF-8 and its values orjson (streams.runtime.app.json_table), so the
    store's raw items are decoded here directly: Table.items() passes each key and value
    through Faust's serializer registry, which costs more than the JSON parse itself
    (this scan reads every user at start-up). Stores without raw items (memory://) and
    other serializers go through items() as before.
    """
    raw_items = getattr(users.data, "_iteritems", None)
    if raw_items is None or users.key_serializer != "raw" or users.value_serializer != "orjson":
        yield from users.items()
        return
    loads = orjson.loads
    for key, value in raw_items():
        if key == users.data.offset_key:
            continue
        yield key.decode("utf-8", "surrogatepass"), (loads(value) if value is not None else None)


_rebuilding: asyncio.Task | None = None


@users.on_recover
async def on_recover() -> None:
    """After recovery, index the due times of the users this worker holds: in the
    background, so the worker is ready at once (a due time found late only fires late)."""
    global _rebuilding
    if _rebuilding is not None and not _rebuilding.done():
        _rebuilding.cancel()
    _rebuilding = asyncio.get_running_loop().create_task(rebuild_due_index())


@app.on_partitions_revoked.connect
async def _revoked(sender, revoked, **kwargs) -> None:
    """Forget the due times of users whose partitions left this worker: their new owner
    indexes them after its recovery, and a kept partition is indexed again by on_recover."""
    lost = revoked_user_partitions(revoked, users.changelog_topic.get_topic_name())
    if lost:
        dropped = due.prune(lambda user: partition_of(user) in lost)
        log.debug("due index pruned", extra={"partitions": sorted(lost), "users": dropped})


def revoked_user_partitions(revoked, changelog: str) -> frozenset[int]:
    """The users table's partitions among `revoked`: its changelog's, and those of the
    inputs co-partitioned with it (the users agent's topics)."""
    topics = set(user_channel.topics) | {changelog}
    return frozenset(tp.partition for tp in revoked if tp.topic in topics)


async def rebuild_due_index() -> None:
    """Index the due times of the users this worker holds (one scan of the local table)."""
    started, count = time.monotonic(), 0
    for scanned, (user, state) in enumerate(stored_states()):
        if scanned % 2_000 == 1_999:
            await asyncio.sleep(0)  # a big table: let the bridge and the timers run
        if not state or state.get("aliasOf"):
            continue
        when = next_due(state)
        if when is not None:
            due.schedule(user, when)
            count += 1
    log.info("due index rebuilt", extra={"users": count, "seconds": round(time.monotonic() - started, 2)})


@app.timer(1.0)
async def send_due_ticks() -> None:
    for user in due.pop_due(int(time.time() * 1000)):
        await send_command(user, {"kind": "tick"})
