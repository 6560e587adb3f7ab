"""The event loop's stalls (streams/runtime/loopwatch.py): longest, last minute, counted over thresholds."""
from __future__ import annotations

from streams.runtime.loopwatch import StallWatch
from streams.runtime.metrics import registry


def test_stalls_are_kept_longest_and_for_the_last_minute():
    watch = StallWatch()
    before = registry.value("survey_streams_event_loop_stalls_total", over="0.1s")
    watch.saw(0.0, 0.25)
    watch.saw(30.0, 0.03)
    assert watch.longest == 0.25 and watch.recent_longest() == 0.25
    watch.saw(70.0, 0.001)  # the 0.25 s stall is over a minute old now
    assert watch.longest == 0.25 and watch.recent_longest() == 0.03
    assert registry.value("survey_streams_event_loop_stalls_total", over="0.1s") == before + 1
