"""How long the event loop is held: every input and every HTTP answer waits behind a stall.

A task asks to wake every `TICK_S`; how late it wakes is how long something held the loop.
/metrics shows the longest stall since start, the longest of the last minute, and how many
went past 20 ms, 100 ms and 1 s (docs/benchmarks.md reports them for a load run).

On a shared machine a late wake-up is also the process waiting for a core. The part of a
stall the loop's thread spent on the CPU (its thread time over the interval, at most the
stall) is kept apart as "held": code that kept the loop, which only this process can fix.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque

from streams.runtime.app import app
from streams.runtime.metrics import registry

TICK_S = 0.005
WINDOW_S = 60.0
THRESHOLDS_S = (0.02, 0.1, 1.0)


class StallWatch:
    """The stalls seen, kept as (when, seconds) for the last WINDOW_S (pure bookkeeping)."""

    def __init__(self, counter: str = "survey_streams_event_loop_stalls_total") -> None:
        self.longest = 0.0
        self._recent: deque = deque()
        self.counter = counter

    def saw(self, now: float, stall_s: float) -> None:
        if stall_s > self.longest:
            self.longest = stall_s
        for threshold in THRESHOLDS_S:
            if stall_s > threshold:
                registry.inc(self.counter, over=f"{threshold:g}s")
        if stall_s >= THRESHOLDS_S[0] / 4:  # short lateness is the timer's own granularity
            self._recent.append((now, stall_s))
        while self._recent and self._recent[0][0] < now - WINDOW_S:
            self._recent.popleft()

    def recent_longest(self) -> float:
        return max((stall for _, stall in self._recent), default=0.0)


watch = StallWatch()
held = StallWatch("survey_streams_event_loop_held_total")


def held_part(stall_s: float, cpu_s: float) -> float:
    """How much of a stall the loop's thread ran for: its CPU time over the interval, at most the stall."""
    return max(0.0, min(stall_s, cpu_s))


@app.task
async def watch_the_loop() -> None:
    expected = time.monotonic() + TICK_S
    cpu = time.thread_time()
    while True:
        await asyncio.sleep(TICK_S)
        now, cpu_now = time.monotonic(), time.thread_time()
        stall = max(0.0, now - expected)
        watch.saw(now, stall)
        held.saw(now, held_part(stall, cpu_now - cpu))
        registry.replace("survey_streams_event_loop_stall_seconds_max", watch.longest)
        registry.replace("survey_streams_event_loop_stall_recent_seconds_max", watch.recent_longest())
        registry.replace("survey_streams_event_loop_held_seconds_max", held.longest)
        registry.replace("survey_streams_event_loop_held_recent_seconds_max", held.recent_longest())
        expected, cpu = now + TICK_S, cpu_now
