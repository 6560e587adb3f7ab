"""The start-up seek fix: partitions without a usable commit start where `earliest` says.
The producer-metadata fix: every topic sent to is tracked."""
from collections import namedtuple

from streams.runtime import faustfixes

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


class FakeCluster:
    def __init__(self, known):
        self.known = known

    def partitions_for_topic(self, topic):
        return self.known.get(topic)


class FakeClient:
    """What aiokafka's _wait_on_metadata reads when the topic is known: `cluster`."""

    def __init__(self, known):
        self._topics = set()
        self.cluster = FakeCluster(known)


async def test_a_topic_known_from_an_all_topics_fetch_is_tracked_when_sent_to():
    client = FakeClient({"surveys.lifecycle": {0, 1}})
    partitions = await faustfixes._wait_on_metadata_tracked(client, "surveys.lifecycle")
    assert partitions == {0, 1}
    assert client._topics == {"surveys.lifecycle"}  # the next refresh keeps it


def test_the_fix_replaces_aiokafka_wait_on_metadata():
    from aiokafka.client import AIOKafkaClient

    faustfixes.apply()
    assert AIOKafkaClient._wait_on_metadata is faustfixes._wait_on_metadata_tracked


def test_a_revoke_collects_garbage_only_when_it_closed_a_partitions_database(monkeypatch):
    """Faust ran gc.collect() on the event loop at every rebalance, per table (seconds with a
    large heap), even when nothing of this worker's was revoked."""
    from types import SimpleNamespace

    collections = []
    monkeypatch.setattr(faustfixes.gc, "collect", lambda: collections.append(1))
    changelog = "app-users-changelog"
    table = SimpleNamespace(changelog_topic=SimpleNamespace(topics={changelog}))
    store = SimpleNamespace(_dbs={0: object(), 1: object()}, logger=SimpleNamespace(info=lambda *_: None))
    faustfixes._revoke_partitions_quietly(store, table, set())
    faustfixes._revoke_partitions_quietly(store, table, {TP("surveys.lifecycle", 0), TP(changelog, 5)})
    assert collections == [] and set(store._dbs) == {0, 1}
    faustfixes._revoke_partitions_quietly(store, table, {TP(changelog, 1)})
    assert collections == [1] and set(store._dbs) == {0}
    from faust.stores import rocksdb
    assert rocksdb.Store.revoke_partitions is faustfixes._revoke_partitions_quietly
