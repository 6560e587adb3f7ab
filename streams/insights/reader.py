"""The insights reader: `surveys.responses` and `segment.outbound` from the start into the
store, exactly once (streams.insights.store).

Every partition of both topics is assigned to this reader (not shared through the group:
each instance builds a whole copy of its own), read `read_committed` (records of aborted or
open transactions are never seen), from the offsets the store holds, else the beginning.
The consumer group (`STREAMS_INSIGHTS_GROUP`, default `<app id>-insights`) is its own and
only a mirror: the offsets are committed there after the store has them, so that lag tools
show how far behind the copy is, and never read back.

Runs in a thread of its own (kafka-python blocks); `stop()` ends it after the batch in hand.
"""
from __future__ import annotations

import logging
import threading
import time

from kafka import TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from streams.core.config import Config
from streams.insights.records import Batch, EventKinds, add_event, add_response
from streams.insights.store import Store
from streams.runtime import topicread
from streams.core import topics as names

log = logging.getLogger(__name__)
POLL_MS = 500
BATCH_MAX = 5000
REFRESH_S = 30.0  # how often partitions added to the topics are looked for
LAG_EVERY_S = 2.0


class Reader:
    def __init__(self, store: Store, config: Config, bootstrap: str, group_id: str, batch_max: int = BATCH_MAX):
        self.store = store
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.batch_max = batch_max
        self.responses_topic = config.topics[names.RESPONSES]
        self.outbound_topic = config.topics[names.OUTBOUND]
        self.kinds = EventKinds(config)
        self.ready = threading.Event()  # partitions assigned and positioned
        self.error: BaseException | None = None
        self.lag: int | None = None  # records between the store's offsets and the ends, last looked
        self.skipped = 0
        self.read = 0  # records polled by this process (a restart resumes: it reads only the rest)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._assigned: set = set()

    # --- thread ---------------------------------------------------------------------
    def start(self) -> "Reader":
        self._thread = threading.Thread(target=self._run, name="insights-reader", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._read()
            except Exception as error:  # noqa: BLE001 (broker gone, metadata errors: start again from the store)
                self.error = error
                log.warning("insights reader failed; starting again from the store's offsets",
                            extra={"error": repr(error)})
                self._stop.wait(2.0)

    # --- reading --------------------------------------------------------------------
    def _read(self) -> None:
        consumer = topicread.consumer(self.bootstrap, client_id="survey-streams-insights", group_id=self.group_id,
                                      timeout_s=30.0)
        self._assigned = set()
        try:
            last_refresh = last_lag = 0.0
            while not self._stop.is_set():
                now = time.monotonic()
                if now - last_refresh >= REFRESH_S or not self._assigned:
                    self._assign(consumer)
                    last_refresh = now
                    if not self._assigned:
                        self._stop.wait(1.0)  # the topics do not exist yet
                        continue
                polled = consumer.poll(timeout_ms=POLL_MS, max_records=self.batch_max)
                if polled:
                    self._ingest(consumer, polled)
                    self.error = None
                if time.monotonic() - last_lag >= LAG_EVERY_S:
                    self._measure_lag(consumer)
                    last_lag = time.monotonic()
        finally:
            consumer.close(autocommit=False)

    def _assign(self, consumer) -> None:
        """Every partition of both topics, each positioned at the store's offset (or the
        beginning); already assigned ones are positioned again as well, since the store's
        offsets are where this reader is (every polled record is stored before the next poll)."""
        partitions = set()
        for topic in (self.responses_topic, self.outbound_topic):
            for partition in consumer.partitions_for_topic(topic) or ():
                partitions.add(TopicPartition(topic, partition))
        if partitions == self._assigned:
            return
        consumer.assign(sorted(partitions))
        stored = self.store.offsets()
        for tp in sorted(partitions):
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset)
        log.info("insights reader assigned", extra={"partitions": len(partitions),
                                                    "from_store": sum(1 for tp in partitions
                                                                      if (tp.topic, tp.partition) in stored)})
        self._assigned = partitions
        self.ready.set()

    def _ingest(self, consumer, polled: dict) -> None:
        batch, offsets = Batch(), {}
        for tp, records in polled.items():
            for record in records:
                if tp.topic == self.responses_topic:
                    add_response(batch, record.value, tp.partition, record.offset)
                else:
                    add_event(batch, self.kinds, record.value, tp.partition, record.offset,
                              record.timestamp if record.timestamp and record.timestamp > 0 else None)
            if records:
                offsets[(tp.topic, tp.partition)] = records[-1].offset + 1
        inserted = self.store.ingest(batch, offsets)
        self.read += sum(len(records) for records in polled.values())
        self.skipped += batch.skipped
        if batch.skipped:  # one line a batch, not one a record: a flood of junk must not flood the log
            log.warning("records that are not responses or outbound messages skipped",
                        extra={"skipped": batch.skipped, "offsets": {f"{t}/{p}": o for (t, p), o in offsets.items()}})
        log.debug("insights batch stored", extra={"responses": inserted[0], "events": inserted[1]})
        self._mirror_to_group(consumer, offsets)

    def _mirror_to_group(self, consumer, offsets: dict) -> None:
        """The stored offsets into the consumer group, for lag tools only (best effort)."""
        try:
            consumer.commit({TopicPartition(t, p): _offset_and_metadata(o) for (t, p), o in offsets.items()})
        except KafkaError as error:
            log.info("could not mirror offsets to the consumer group", extra={"error": repr(error)})

    def _measure_lag(self, consumer) -> None:
        try:
            ends = consumer.end_offsets(sorted(self._assigned))
        except KafkaError:
            return
        lag = 0
        for tp, end in ends.items():
            position = consumer.position(tp)
            lag += max(0, (end or 0) - (position or 0))
        self.lag = lag

    def status(self) -> dict:
        return {"ready": self.ready.is_set(), "lag": self.lag, "read": self.read, "skipped": self.skipped,
                "error": repr(self.error) if self.error else None}


def _offset_and_metadata(offset: int) -> OffsetAndMetadata:
    # kafka-python 2.1+ takes (offset, metadata, leader_epoch); older ones (offset, metadata).
    try:
        return OffsetAndMetadata(offset, "", -1)
    except TypeError:
        return OffsetAndMetadata(offset, "")
