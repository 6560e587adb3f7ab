"""The due index (streams/runtime/dueindex.py): each key once, at its latest due time."""
from __future__ import annotations

import pytest

from streams.runtime.dueindex import DueIndex


@pytest.mark.parametrize("schedules, now, expected", [
    ([("a", 10), ("b", 20)], 15, ["a"]),
    ([("a", 10), ("a", 30)], 15, []),            # rescheduled later: the old entry is stale
    ([("a", 30), ("a", 10)], 15, ["a"]),          # rescheduled earlier
    ([("a", 10), ("a", None)], 15, []),           # cleared
    ([("a", 10), ("b", 10), ("a", 10)], 10, ["a", "b"]),
])
def test_pop_due_gives_each_key_once_at_its_latest_time(schedules, now, expected):
    due = DueIndex()
    for key, when in schedules:
        due.schedule(key, when)
    assert sorted(due.pop_due(now)) == expected
    assert due.pop_due(now) == []


def test_prune_forgets_the_dropped_keys_and_keeps_the_others():
    due = DueIndex()
    for i in range(100):
        due.schedule(f"u{i}", i)
    assert due.prune(lambda key: int(key[1:]) % 2 == 0) == 50
    assert len(due) == 50
    assert sorted(due.pop_due(1_000), key=lambda k: int(k[1:])) == [f"u{i}" for i in range(1, 100, 2)]
    assert due.next_due() is None
