"""The worker's consumer (streams.runtime.batching): what it does with records fetched for a
partition that was paused before they were delivered (a rebalance, recovery, a standby
waiting while the actives recover). Faust drops such records, and the fetch position has
moved past them: unless the partition is sought back, they are never read."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import faust
import pytest
from faust.transport.drivers import aiokafka as driver
from faust.types import TP

from streams.runtime import batching

STREAM = TP("app.segment.identify", 2)
CHANGELOG = TP("survey-streams-users-changelog", 2)


def _records(tp: TP, first: int, count: int) -> list:
    return [SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=offset, key=b"u", value=b"{}",
                            timestamp=0, timestamp_type=0, headers=[]) for offset in range(first, first + count)]


@pytest.fixture
def consumer(monkeypatch):
    """The batching consumer with only what getmany touches; seeks recorded."""
    app = faust.App("test-batching", broker="kafka://127.0.0.1:1")
    batching.install(app, lambda: frozenset({STREAM.topic, CHANGELOG.topic}))

    class Probe(app.transport.Consumer):
        should_stop = False

    probe = Probe.__new__(Probe)
    probe.flow_active = True
    probe.app = SimpleNamespace(consumer_generation_id=7, monitor=SimpleNamespace(track_tp_end_offset=lambda *a: None))
    probe._buffered_partitions = set()
    probe._committed_offset = {}
    probe.gaps = []

    async def add_gap(tp, first, last):  # Faust commits the batch as a whole: offsets before its last
        probe.gaps.append((tp, first, last))
    probe._add_gap = add_gap
    probe.log = logging.getLogger("test-batching")
    probe.highwater = lambda tp: 100
    probe.seeks = []

    async def seek(self, tp, offset):
        self.seeks.append((tp, offset))
    monkeypatch.setattr(driver.Consumer, "seek", seek)
    return probe


async def _deliver(consumer, fetched: dict, active: set) -> list:
    async def wait_next_records(timeout):
        return fetched, active
    consumer._wait_next_records = wait_next_records
    return [message async for message in consumer.getmany(0.1)]


@pytest.mark.parametrize("tp", [STREAM, CHANGELOG], ids=["stream topic", "changelog (standby)"])
async def test_records_of_a_partition_paused_since_the_fetch_are_sought_back_to(consumer, tp):
    delivered = await _deliver(consumer, {tp: _records(tp, 88, 20)}, active={TP("other", 0)})
    assert delivered == []
    assert consumer.seeks == [(tp, 88)]  # read again once resumed, not skipped


async def test_records_of_an_active_partition_are_delivered_as_one_batch(consumer):
    delivered = await _deliver(consumer, {CHANGELOG: _records(CHANGELOG, 88, 3)}, active={CHANGELOG})
    assert consumer.seeks == []
    assert [[r.offset for r in message.value] for _, message in delivered] == [[88, 89, 90]]
    assert [message.offset for _, message in delivered] == [90] and consumer.gaps == [(CHANGELOG, 88, 89)]


def test_nothing_to_seek_back_to_without_records():
    assert batching.seek_back_to([]) is None
    assert not batching.paused_since_fetch(STREAM, None, set())  # no pause information: delivered
    assert not batching.paused_since_fetch(STREAM, set(), {STREAM})  # buffered by Faust: kept
