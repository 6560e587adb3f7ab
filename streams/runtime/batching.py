"""One Faust event per fetched batch of one partition (issue 14, docs/processing.md).

Faust hands an agent one event per record: consumer drain, conductor, stream iterator, an
ack per record, a changelog record per table write. That machinery costs about ten times
the survey logic itself. The users agent instead receives, for each partition of each
fetch, ONE event whose value is the list of that partition's records (a RecordBatch), and
applies them in one turn (streams.agents.users). Faust still does everything else:
subscriptions, assignment, table recovery and standbys, routing, the commit loop.

How the batch fits Faust's offset bookkeeping: the batch event carries the offset of its
last record, and the offsets before it are registered as a gap, which Faust's commit
treats as acknowledged once the event is (the mechanism Faust uses for transaction
markers). So the batch's offsets are committed together, after the whole batch is applied
and the event acknowledged, never before.

The consumer also bounds aiokafka's fetch wait (FETCH_MAX_WAIT_MS, see below), and it
refuses holes: a fetch of a stream topic that starts past the next offset expected (the
committed offset after a seek, the offset after the last record read otherwise) means
records were skipped, not absent. Faust would record the hole as a gap and commit past it
(records fetched in a generation dropped at a rebalance, then a fetch position beyond
them: inputs lost for good, seen by the fault suite). The consumer seeks back to the
expected offset and drops the fetch instead; a hole that is still there on the next fetch
is a real one (transaction markers, compaction) and is read past.
"""
from __future__ import annotations

from typing import Callable

from faust.serializers import codecs
from faust.types import TP, ConsumerMessage

# Faust builds its aiokafka consumer with fetch_max_wait_ms=1500, not a setting. aiokafka
# keeps one fetch in flight per broker and leaves out of it the partitions whose records
# are still buffered; records that arrive on those once drained wait for the parked fetch
# to come back, up to 1.5 s with idle partitions in the request (measured: stalls of 1-1.5 s
# and a third fewer decisions per second at 1k identify/s). 100 ms bounds the stall and
# costs an idle worker about 2% of a core in empty fetches.
FETCH_MAX_WAIT_MS = 100
BATCH_CODEC = "streams-batch"


class RecordBatch(list):
    """The records (aiokafka ConsumerRecords) of one partition from one fetch, in offset order.
    `end_offset`: the partition's high watermark when they were fetched (streams.core.seen)."""

    end_offset: int | None = None


class ChangelogRecord:
    """A record of a batched changelog, shaped as the Faust event a store's
    apply_changelog_batch reads (event.message.tp / offset / partition / key / value)."""

    __slots__ = ("tp", "partition", "offset", "key", "value")

    def __init__(self, record) -> None:
        self.tp = TP(record.topic, record.partition)
        self.partition, self.offset, self.key, self.value = record.partition, record.offset, record.key, record.value

    @property
    def message(self) -> "ChangelogRecord":
        return self


class _Passthrough(codecs.Codec):
    """The batched channel's value codec: the value is already a RecordBatch."""

    def _dumps(self, obj):
        raise TypeError("record batches are read, never produced")

    def _loads(self, s):
        return s


codecs.register(BATCH_CODEC, _Passthrough())


def paused_since_fetch(tp, active_partitions, buffered_partitions) -> bool:
    """Whether `tp` was paused (a rebalance, recovery, a standby waiting for the actives)
    after its records were fetched: Faust then drops them, and the fetch position is past."""
    return active_partitions is not None and tp not in active_partitions and tp not in buffered_partitions


def seek_back_to(tp_records: list) -> int | None:
    """Where a partition whose fetched records are dropped must be sought back to: the first
    of them, so that they are read once it is resumed, not skipped. For every topic: a
    changelog partition read by a standby skipped this way lost states for good, because
    the standby's persisted offset then moved past them and, once active, it saw nothing
    to recover (chaos3-u153 in docs/reliability.md)."""
    return tp_records[0].offset if tp_records else None


def install(app, batched_topics: Callable[[], frozenset], fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS) -> None:
    """Make `app`'s worker consumer batch the records of `batched_topics()` per partition and
    fetch with `fetch_max_wait_ms` (aiokafka transport only; others are left as they are)."""
    from faust.transport.drivers import aiokafka as driver

    if not isinstance(app.transport, driver.Transport):
        return

    class ConsumerThread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport):
            consumer = super()._create_worker_consumer(transport)
            if hasattr(consumer, "_fetch_max_wait_ms"):  # read by start() to build the Fetcher
                consumer._fetch_max_wait_ms = fetch_max_wait_ms
            return consumer

    class Consumer(driver.Consumer):
        def _new_consumer_thread(self):
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

        @property
        def _expected(self) -> dict:
            try:
                return self.__dict__["_streams_expected"]
            except KeyError:
                expected = self.__dict__["_streams_expected"] = {}
                self.__dict__["_streams_holes"] = {}
                return expected

        async def seek_to_committed(self):
            committed = await super().seek_to_committed()
            for tp, offset in committed.items():
                self._expected[tp] = offset if offset is not None and offset >= 0 else None
            return committed

        async def seek(self, partition, offset: int) -> None:
            await super().seek(partition, offset)
            self._expected[partition] = offset

        async def _fresh(self, tp, tp_records: list) -> list:
            """The records of `tp` not read yet; [] and a seek back when the fetch skipped some."""
            expected = self._expected.get(tp)
            if expected is None:  # no seek seen for it: the offset Faust last committed, if any
                committed = self._committed_offset.get(tp)
                expected = committed if committed else None
            if expected is None or tp.topic.endswith("-changelog"):  # compacted: holes are normal
                if tp_records:
                    self._expected[tp] = tp_records[-1].offset + 1
                return tp_records
            fresh = [r for r in tp_records if r.offset >= expected]
            if fresh and fresh[0].offset > expected:
                holes = self.__dict__["_streams_holes"]
                if holes.get(tp) != (expected, fresh[0].offset):  # first time: skipped records
                    holes[tp] = (expected, fresh[0].offset)
                    self.log.warning(f"fetch of {tp} starts at {fresh[0].offset}, past {expected}: "
                                     f"seeking back instead of skipping {fresh[0].offset - expected} records")
                    await super().seek(tp, expected)
                    return []
                # the same hole twice: offsets with no record (transaction markers, compaction)
            if fresh:
                self._expected[tp] = fresh[-1].offset + 1
            return fresh

        async def getmany(self, timeout: float):
            """Faust's getmany, but the records of a batched topic come as one message per
            partition (offsets before its last registered as a gap, see the module doc)."""
            records, active_partitions = await self._wait_next_records(timeout)
            if records is None or self.should_stop:
                return
            if not self.flow_active:
                try:
                    await self.perform_seek()  # as Faust does: back to the committed offsets
                except Exception as exc:
                    self.log.warning(f"exception performing seek when flow not active {exc}")
                return
            generation_id = self.app.consumer_generation_id
            batched = batched_topics()
            for tp, tp_records in records.items():
                if not self.flow_active or self.app.consumer_generation_id != generation_id:
                    break
                if paused_since_fetch(tp, active_partitions, self._buffered_partitions):
                    back_to = seek_back_to(tp_records)
                    if back_to is not None:
                        self.log.info(f"records of paused {tp} from {back_to} dropped: seeking back")
                        try:
                            await super().seek(tp, back_to)
                        except Exception as exc:  # revoked meanwhile: its next owner starts from the commit
                            self.log.info(f"no seek back for {tp}: {exc!r}")
                    continue
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                tp_records = await self._fresh(tp, tp_records)
                if tp.topic not in batched:
                    for record in tp_records:
                        yield tp, self._to_message(tp, record)
                    continue
                fresh = RecordBatch(tp_records)
                if not fresh:
                    continue
                fresh.end_offset = self.highwater(tp)
                if len(fresh) > 1:
                    await self._add_gap(tp, fresh[0].offset, fresh[-1].offset - 1)
                yield tp, self._batch_message(tp, fresh)

        def _batch_message(self, tp, batch: RecordBatch) -> ConsumerMessage:
            last = batch[-1]
            return ConsumerMessage(
                tp.topic, tp.partition, last.offset,
                last.timestamp / 1000.0 if last.timestamp is not None else None, last.timestamp_type,
                None, None, batch, None, None, None, tp, generation_id=self.app.consumer_generation_id)

    app.transport.Consumer = Consumer
