"""A revoked partition's users leave this worker's due index (issue M.8): their new owner
ticks them; kept here they were ticked by a worker that no longer holds them and held in
memory across every rebalance."""
from __future__ import annotations

from aiokafka import TopicPartition

from streams.agents import timers
from streams.runtime.app import user_channel, users
from streams.runtime.dueindex import DueIndex
from streams.runtime.userstore import partition_of


async def test_revoking_a_partition_prunes_its_users_from_the_due_index(monkeypatch):
    index = DueIndex()
    monkeypatch.setattr(timers, "due", index)
    names = [f"user-{i}" for i in range(200)]
    for name in names:
        index.schedule(name, 1_000)
    lost = partition_of(names[0])
    some_input = sorted(user_channel.topics)[0]
    await timers._revoked(None, revoked={TopicPartition(some_input, lost), TopicPartition("elsewhere", 99)})
    kept = index.pop_due(2_000)
    assert kept and all(partition_of(name) != lost for name in kept)
    assert set(kept) == {name for name in names if partition_of(name) != lost}


def test_the_changelog_partition_counts_as_a_users_partition():
    changelog = users.changelog_topic.get_topic_name()
    assert timers.revoked_user_partitions({TopicPartition(changelog, 3)}, changelog) == {3}
    assert timers.revoked_user_partitions({TopicPartition("other", 3)}, changelog) == frozenset()
