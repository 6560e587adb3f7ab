"""The event loop's stalls (streams/runtime/loopwatch.py): longest, last minute, counted over thresholds."""
from __future__ import annotations

from streams.runtime.loopwatch import StallWatch, held_part
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


def test_the_held_part_of_a_stall_is_the_loops_cpu_time_within_it():
    assert held_part(0.030, 0.004) == 0.004  # 26 ms waiting for a core: not held
    assert held_part(0.030, 0.045) == 0.030  # the thread ran the whole stall (and the tick)
    assert held_part(0.0, 0.002) == 0.0  # on time: nothing held
    watch = StallWatch("survey_streams_event_loop_held_total")
    before = registry.value("survey_streams_event_loop_held_total", over="0.02s")
    watch.saw(1.0, held_part(0.030, 0.025))
    assert registry.value("survey_streams_event_loop_held_total", over="0.02s") == before + 1
