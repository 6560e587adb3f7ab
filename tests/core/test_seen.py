"""The messageId window and the applied offsets (streams/core/seen.py, docs/processing.md "Once per message")."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core import seen
from streams.core.state import message_key

NOW = 1_800_000_000_000
DAY = seen.WINDOW_MS


@pytest.mark.parametrize("handled_at, asked_after, expected", [
    (NOW, 0, True), (NOW, DAY - 1, True), (NOW, DAY, False), (NOW, 2 * DAY, False),
    # kept to the second, rounded up: an id is held for 24 h to 24 h + 1 s
    (NOW + 1, DAY - 1, True), (NOW + 1, DAY + 998, True), (NOW + 1, DAY + 999, False),
])
def test_an_id_is_a_duplicate_for_24_hours(handled_at, asked_after, expected):
    window, _ = seen.remember({}, "m1", handled_at)
    assert seen.handled_within(window, "m1", handled_at + asked_after) is expected
    assert not seen.handled_within(window, "m2", handled_at + asked_after)


def test_a_full_window_drops_the_oldest_and_says_so():
    keep = seen.WINDOW_CHARS // seen.ENTRY_CHARS
    window, shortened = {}, []
    for i in range(keep + 3):
        window, cut = seen.remember(window, f"m{i}", NOW + i)
        shortened.append(cut)
    assert shortened.count(True) == 3 and not any(shortened[:keep])
    assert seen.size(window) == keep and len(window["ids"]) == seen.WINDOW_CHARS
    assert not seen.handled_within(window, "m2", NOW + keep) and seen.handled_within(window, "m3", NOW + keep)


def test_a_window_from_before_this_format_is_read_and_rewritten():
    legacy = {message_key("old-1"): NOW - 1000, message_key("old-2"): NOW - DAY - 1}
    assert seen.handled_within(legacy, "old-1", NOW) and not seen.handled_within(legacy, "old-2", NOW)
    window, _ = seen.remember(legacy, "new", NOW)
    assert set(window) == {"base", "ids"} and seen.size(window) == 2  # old-2 was past 24 h
    assert seen.handled_within(window, "old-1", NOW) and seen.handled_within(window, "new", NOW)


def test_times_out_of_order_and_far_apart_are_kept_right():
    window, _ = seen.remember({}, "a", NOW)
    window, _ = seen.remember(window, "b", NOW - 5000)  # earlier than the base: rebuilt
    window, _ = seen.remember(window, "c", NOW + 300 * DAY)  # past 194 days of offsets: rebuilt
    assert seen.size(window) == 1 and seen.handled_within(window, "c", NOW + 300 * DAY)
    assert not seen.handled_within(window, "a", NOW + 300 * DAY)


def test_merge_keeps_the_last_24h_of_both_newest_first():
    one, _ = seen.remember({}, "a", NOW)
    one, _ = seen.remember(one, "b", NOW + DAY // 2)
    other, _ = seen.remember({}, "c", NOW + DAY // 4)
    merged = seen.merge(one, other, NOW + DAY + 5000)
    assert [seen.handled_within(merged, i, NOW + DAY + 5000) for i in "abc"] == [False, True, True]


# A reference model: the latest handled second of each id.
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([f"id{i}" for i in range(12)]), st.integers(0, 3 * DAY)),
                min_size=1, max_size=60))
def test_the_window_agrees_with_a_plain_model(inputs):
    window, model = {}, {}
    for input_id, after in sorted(inputs, key=lambda pair: pair[1]):  # in time order, as one user's inputs
        now = NOW + after
        expected = input_id in model and now - model[input_id] < DAY
        assert seen.handled_within(window, input_id, now) is expected
        if not expected:
            window, _ = seen.remember(window, input_id, now)
            model[input_id] = -(-now // 1000) * 1000  # kept to the second, rounded up
    assert seen.size(window) <= len({i for i, _ in inputs})


@pytest.mark.parametrize("applied, offset, end, replayed", [
    (None, 0, None, False),        # nothing applied from this partition yet
    (10, 11, None, False),         # the next record
    (10, 10, None, True),          # the last one applied, read again
    (10, 3, 50, True),             # an older one, the log longer than what was applied
    (10, 3, 5, False),             # the log ends before what was applied: a topic made again
    (10, 10, 10, False),
])
def test_a_record_at_or_below_the_last_applied_offset_is_a_replay(applied, offset, end, replayed):
    state = {}
    if applied is not None:
        seen.mark_applied(state, "segment.identify", 3, applied)
    assert seen.replayed(state, "segment.identify", 3, offset, end) is replayed
    assert not seen.replayed(state, "segment.identify", 4, offset, end)  # another partition
    assert not seen.replayed(state, "segment.track", 3, offset, end)  # another topic
