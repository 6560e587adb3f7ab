"""Fixes to faust-streaming, applied when streams.runtime.app is imported.

1. The start-up seek (below).
2. The producer buffer's flush, which let offsets be committed before the changelog
   records of their inputs were sent (further down).
3. A sensor that stops the process when an output of processing cannot be sent, instead
   of committing past it (further down).
4. aiokafka's producer metadata, which could forget a topic with records waiting to be
   sent (at the end).
5. The RocksDB store's revoke, which ran a full garbage collection on the event loop at
   every rebalance, per table, whether a partition was closed or not; now only when one
   was (at the end).

The start-up seek.

Faust positions its stream partitions with aiokafka's `seek_to_committed`, which moves a
partition only when its committed offset is > 0. A partition with no commit (None) or a
commit at 0 keeps the fetch position it already had. When the worker had fetched records
of that partition in an earlier generation of the same start-up (a rebalance while the
group was forming) and dropped them at the revoke, that position is past them: Faust then
processes the next record and commits beyond the skipped ones, and they are lost. Seen in
about 1 restart in 8 (tools/probes/restart_loss_probe.py).

The fix: after `seek_to_committed`, put such partitions where a fresh consumer with
`auto_offset_reset=earliest` would start: offset 0 when 0 is committed, the beginning of
the log when nothing is. Changelog partitions are left alone: table recovery positions them.
"""
from __future__ import annotations

import asyncio
import gc
import os

from aiokafka import client as aiokafka_client
from faust import Sensor
from faust.stores import rocksdb as faust_rocksdb
from faust.transport import producer as faust_producer
from faust.transport.drivers import aiokafka as faust_aiokafka

_CHANGELOG_SUFFIX = "-changelog"


async def _seek_to_committed_exactly(consumer) -> dict:
    committed = await consumer.seek_to_committed()
    to_beginning = []
    for tp, offset in committed.items():
        if tp.topic.endswith(_CHANGELOG_SUFFIX):
            continue
        if offset == 0:
            consumer.seek(tp, 0)
        elif offset is None or offset < 0:
            to_beginning.append(tp)
    if to_beginning:
        # One offset reset for all of them: each call waits for the fetcher's next round
        # (up to fetch_max_wait_ms), so one call per partition made a fresh group's start
        # wait partitions x fetch_max_wait_ms (5 s with 49 partitions at 100 ms).
        await consumer.seek_to_beginning(*to_beginning)
    return committed


async def seek_to_committed(self) -> dict:
    return await self.call_thread(_seek_to_committed_exactly, self._ensure_consumer())


# --- The producer buffer's flush ---------------------------------------------------------
#
# Faust commits offsets after `producer.flush()`, which first drains its ProducerBuffer (the
# queue that table changelog records go through, `send_soon`) and then aiokafka's. But
# ProducerBuffer.flush gives up as soon as one message takes longer than 0.1 s to hand
# over (`flush_atmost`: on the timeout it returns), and it does not count the message it
# is handing over at that moment. A slow broker (metadata refresh, a restart, load) then
# lets the offsets of inputs be committed while their changelog records are still in the
# buffer: a kill then loses the state change for good (seen as trigger counts of 1 where
# 2 were sent, issue 12). The fix: count the message in hand, and flush until nothing is
# queued or in hand, however long each hand-over takes.

async def _send_pending_counted(self, fut) -> None:
    self._streams_in_hand = getattr(self, "_streams_in_hand", 0) + 1
    try:
        await _original_send_pending(self, fut)
    finally:
        self._streams_in_hand -= 1


async def _flush_everything(self) -> None:
    while self.size or getattr(self, "_streams_in_hand", 0):
        if self.state != "running" and self.size:
            raise RuntimeError("Cannot flush: Producer not Running")
        self.message_sent.clear()
        try:
            await asyncio.wait_for(self.message_sent.wait(), timeout=0.1)
        except asyncio.TimeoutError:
            continue


_original_send_pending = faust_producer.ProducerBuffer._send_pending


# --- Failed sends of processing outputs ---------------------------------------------------
#
# aiokafka retries a produce until its request timeout and then fails the record's future;
# Faust only logs that (`_on_published`) and goes on to commit the inputs whose outputs
# were dropped. A record whose loss would lose data (a changelog record, a decision, a
# lifecycle output, a response, a score, a user command) that fails to send must instead
# stop the process before the next commit: the uncommitted inputs are then processed again
# by whichever worker takes their partitions. Records whose sender awaits the broker's
# acknowledgement itself (the bridge's inbound records, dead letters) are left to it.

class StopOnLostOutput(Sensor):
    def __init__(self, fatal_topics, stop) -> None:
        super().__init__()
        self._fatal_topics = fatal_topics
        self._stop = stop

    def on_send_initiated(self, producer, topic, message, keysize, valsize):
        return topic

    def on_send_error(self, producer, exc, state) -> None:
        topic = state
        if topic is not None and (topic in self._fatal_topics() or topic.endswith(_CHANGELOG_SUFFIX)):
            self._stop(f"a record for {topic} could not be sent: {type(exc).__name__}: {exc}")


# --- Topics sent to stay in the producer's metadata ----------------------------------------
#
# An aiokafka client refreshes metadata for the topics it tracks (`_topics`) only, and a
# refresh replaces what it knew. `send()` tracks a topic only when it does not know its
# partitions yet, so a topic known from an all-topics fetch (what a client tracking nothing
# asks for, as after Faust's topic creation) is sent to untracked. The next refresh forgets
# it, and a batch of it still in the accumulator never finds its leader again: the sender
# asks for metadata in a tight loop (a core at 100%) and the records are never sent. Seen as
# the bridge's first POST /v1/widget/events never answering (about 1 `make demo` in 8). The
# fix: track every topic sent to.

async def _wait_on_metadata_tracked(self, topic):
    # Tracked before the lookup: a refresh from now on keeps the topic. Unknown partitions
    # are fetched by the original as before.
    self._topics.add(topic)
    return await _original_wait_on_metadata(self, topic)


_original_wait_on_metadata = aiokafka_client.AIOKafkaClient._wait_on_metadata


def _revoke_partitions_quietly(self, table, tps) -> None:
    """Faust's Store.revoke_partitions, its gc.collect() only when a partition's database was
    closed. A full collection holds the event loop for as long as the heap is big (seconds
    with a large one), and Faust ran it at every rebalance, for every table, even when this
    worker gave nothing up. When a database is dropped, the collection stays: it makes sure
    nothing cyclic keeps the database (and its lock) open for the next owner."""
    closed = False
    for tp in tps:
        if tp.topic in table.changelog_topic.topics:
            if self._dbs.pop(tp.partition, None) is not None:
                self.logger.info(f"closing db {tp.topic} partition {tp.partition}")
                closed = True
    if closed:
        gc.collect()


def apply() -> None:
    # STREAMS_FAUST_SEEK_FIX=off exists only to reproduce the loss with the probe.
    if os.environ.get("STREAMS_FAUST_SEEK_FIX", "on") != "off":
        faust_aiokafka.AIOKafkaConsumerThread.seek_to_committed = seek_to_committed
    if os.environ.get("STREAMS_FAUST_FLUSH_FIX", "on") != "off":
        faust_producer.ProducerBuffer._send_pending = _send_pending_counted
        faust_producer.ProducerBuffer.flush = _flush_everything
    aiokafka_client.AIOKafkaClient._wait_on_metadata = _wait_on_metadata_tracked
    faust_rocksdb.Store.revoke_partitions = _revoke_partitions_quietly
