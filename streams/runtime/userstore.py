"""The `users` table, read and written a batch at a time (issue 14, docs/processing.md).

A UserBatch applies the inputs of one partition's fetched batch: it reads each user's
state from the local store once, lets every input of the batch change it in memory, and
writes each changed user once. `commit` then makes the batch durable in the order the
crash argument of docs/processing.md needs:

1. every output of the batch (decisions, lifecycle events, responses, commands) is
   acknowledged by the broker;
2. one changelog record per changed user, on the partition's own changelog partition, is
   acknowledged;
3. one RocksDB write batch stores the states and the changelog offset together.

Only then does the agent acknowledge the batch's event, and Faust commits its offsets
later. A kill anywhere before that replays the batch (docs/processing.md).

Commits run in the background, one partition's one after the other (PartitionWriter), so
the agent applies the next batches while the broker acknowledges the last: a batch reads
what earlier batches of its partition wrote from the writer's `pending` states until they
are in the store. At most MAX_COMMITS_IN_FLIGHT batches wait for their commit.

The memory store (tests only) keeps Faust's own table writes, committed inline.
"""
from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import orjson
import rocksdict
from faust.stores.memory import Store as MemoryStore

from streams.runtime.app import app, users
from streams.runtime.partitioning import positive_hash


@lru_cache(maxsize=65536)
def partition_of(key: str) -> int:
    """The partition a producer's default partitioner (murmur2, as Java's and aiokafka's)
    puts `key` on: where the user's state lives. Cached: every input asks, most about
    users seen a moment ago."""
    return positive_hash(key.encode("utf-8", "surrogatepass")) % users.partitions


def _memory() -> bool:
    return isinstance(users.data, MemoryStore)


def read_raw(user: str, partition: int | None = None) -> bytes | None:
    """A user's stored state (JSON bytes), from its partition's store; None if absent.

    Reads the partition's RocksDB directly: Faust's lookup without an event scans every
    open partition and remembers every key it ever found (a dict that grows with users).
    The partition's database is opened if it is not yet: Faust opens a partition's database
    when it is newly assigned, not when a standby becomes active or a kept partition comes
    back, and reading "no such user" from a database nobody opened reset users to nothing
    (their next input then overwrote them: found by the fault suite)."""
    if _memory():
        state = users.data.get(user)
        return orjson.dumps(state) if state is not None else None
    db = users.data._db_for_partition(partition_of(user) if partition is None else partition)
    return db.get(user.encode("utf-8", "surrogatepass"))


def read_state(user: str) -> dict | None:
    """A user's latest state as a fresh object (the bridge reads this way): a batch's
    write still waiting for its commit if there is one, else the store's."""
    writer = _writers.get(partition_of(user)) if not _memory() else None
    raw = writer.pending.get(user) if writer is not None else None
    if raw is None:
        raw = read_raw(user)
    return orjson.loads(raw) if raw is not None else None


MAX_COMMITS_IN_FLIGHT = 16


class PartitionWriter:
    """One partition's batches: states written by a batch whose commit is not done yet, and
    the last commit, which the next one waits for (writes reach the store in order)."""

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.pending: dict[str, bytes] = {}
        self.tail: asyncio.Task | None = None


_writers: dict[int, PartitionWriter] = {}
_in_flight = asyncio.Semaphore(MAX_COMMITS_IN_FLIGHT)
# Batches applied under each config version and not yet durable: a re-decision under a new
# version waits for those of older ones, whose decisions would otherwise land after it.
_open_batches: Counter = Counter()


async def settled(version: str, poll_s: float = 0.05) -> None:
    """Return once every batch applied under a version other than `version` is durable."""
    while any(count for other, count in _open_batches.items() if other != version):
        await asyncio.sleep(poll_s)


def writer_for(partition: int) -> PartitionWriter:
    writer = _writers.get(partition)
    if writer is None:
        writer = _writers[partition] = PartitionWriter(partition)
    return writer


@dataclass
class Consumed:
    """The record being applied: where it was read (replays are found by its offset,
    streams.core.seen), the end of its partition's log when fetched, and the time the input
    carries (its receivedAt, else the record's timestamp; a command's `at`), which its
    processing uses in place of a clock. `nonce`: a user command's (streams.runtime.signing)."""

    topic: str
    partition: int
    offset: int
    end_offset: int | None
    at: int
    nonce: str | None = None


class UserBatch:
    """The states one batch of inputs of `partition` reads and writes (see the module doc)."""

    current: Consumed  # set by the agent for each record before it is applied

    def __init__(self, partition: int, config) -> None:
        self.partition = partition
        self.config = config  # one surveys version for the whole batch (streams.runtime.liveconfig)
        self.writer = writer_for(partition)
        self.states: dict[str, dict | None] = {}
        self._good: dict[str, bytes | None] = {}  # the last good encoding of each user read
        self.dirty: dict[str, bytes] = {}  # user -> the state to write, encoded
        self.deliveries: list = []  # the broker's acknowledgements of the batch's outputs
        # user -> the time of its last input applied in this batch, while its decision is
        # owed (streams.agents.userinputs.decide_owed: once per user per batch)
        self.owed: dict[str, int] = {}
        _open_batches[config.version] += 1

    def _closed(self) -> None:
        _open_batches[self.config.version] -= 1
        if not _open_batches[self.config.version]:
            del _open_batches[self.config.version]

    def abandon(self) -> None:
        """Never committed (the worker stops): its inputs are processed again."""
        self._closed()

    def load(self, user: str) -> dict | None:
        if user in self.states:
            return self.states[user]
        raw = self.writer.pending.get(user)
        if raw is None:
            raw = read_raw(user, self.partition)
        self._good[user] = raw
        state = self.states[user] = orjson.loads(raw) if raw is not None else None
        return state

    def revert(self, user: str) -> None:
        """Back to the user's last good state: an input failed half-way through changing it."""
        raw = self._good.get(user)
        self.states[user] = orjson.loads(raw) if raw is not None else None

    def save(self, user: str, state: dict, encoded: bytes) -> None:
        self.states[user] = state
        self._good[user] = self.dirty[user] = encoded

    async def commit_in_background(self, on_durable, on_failure) -> None:
        """Commit after the partition's previous commit, in the background: `await
        on_durable()` (the event's ack) once the batch is durable, `on_failure(error)` if it
        cannot be. Waits while MAX_COMMITS_IN_FLIGHT commits are pending."""
        if _memory():
            try:
                await self.commit()
            except Exception as error:
                on_failure(error)
                return
            finally:
                self._closed()
            await on_durable()
            return
        await _in_flight.acquire()
        writer, previous, written = self.writer, self.writer.tail, dict(self.dirty)
        writer.pending.update(written)

        async def commit_after_previous() -> None:
            try:
                if previous is not None:
                    await previous
                await self.commit()
                for user, encoded in written.items():
                    if writer.pending.get(user) is encoded:  # not rewritten by a later batch
                        del writer.pending[user]
                await on_durable()
            except Exception as error:
                on_failure(error)
            finally:
                self._closed()
                _in_flight.release()

        writer.tail = asyncio.get_running_loop().create_task(commit_after_previous())

    async def commit(self) -> None:
        """Outputs acknowledged, then the changelog, then the local store (module doc)."""
        if self.deliveries:
            await asyncio.gather(*self.deliveries)
            self.deliveries.clear()
        if not self.dirty:
            return
        if _memory():
            for user, encoded in self.dirty.items():
                users[user] = orjson.loads(encoded)
            self.dirty.clear()
            return
        producer = app.producer._ensure_producer()
        changelog = users.changelog_topic.get_topic_name()
        keys = [user.encode("utf-8", "surrogatepass") for user in self.dirty]
        sent = [await producer.send(changelog, encoded, key=key, partition=self.partition)
                for key, encoded in zip(keys, self.dirty.values())]
        written = await asyncio.gather(*sent)
        store = users.data
        batch = rocksdict.WriteBatch(raw_mode=True)
        for key, encoded in zip(keys, self.dirty.values()):
            batch.put(key, encoded)
        batch.put(store.offset_key, str(max(metadata.offset for metadata in written)).encode())
        store._db_for_partition(self.partition).write(batch)
        self.dirty.clear()
