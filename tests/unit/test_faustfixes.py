"""The start-up seek fix: partitions without a usable commit start where `earliest` says."""
from collections import namedtuple

from streams import faustfixes

TP = namedtuple("TP", "topic partition")


class FakeConsumer:
    def __init__(self, committed):
        self.committed = committed
        self.seeks, self.to_beginning = [], []

    async def seek_to_committed(self):
        return dict(self.committed)

    def seek(self, tp, offset):
        self.seeks.append((tp, offset))

    async def seek_to_beginning(self, *tps):
        self.to_beginning.extend(tps)


async def test_uncommitted_partitions_go_to_the_beginning_and_zero_commits_to_zero():
    none, zero, five = TP("surveys.lifecycle", 0), TP("surveys.lifecycle", 1), TP("surveys.lifecycle", 2)
    changelog = TP("survey-streams-users-changelog", 0)
    consumer = FakeConsumer({none: None, zero: 0, five: 5, changelog: None})
    committed = await faustfixes._seek_to_committed_exactly(consumer)
    assert committed[five] == 5
    assert consumer.to_beginning == [none]  # not the changelog: recovery positions it
    assert consumer.seeks == [(zero, 0)]  # aiokafka itself seeks only offsets > 0


def test_the_fix_replaces_faust_seek_to_committed():
    from faust.transport.drivers import aiokafka as faust_aiokafka

    faustfixes.apply()
    assert faust_aiokafka.AIOKafkaConsumerThread.seek_to_committed is faustfixes.seek_to_committed
