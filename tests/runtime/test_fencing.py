"""The zombie fence's lease (streams/runtime/fencing.py), on a clock the test moves."""
from __future__ import annotations

import asyncio

import pytest

from streams.runtime.fencing import MARGIN_S, Fence, Lease


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("renewals, at, holds", [
    ([], 0.0, False),                      # never vouched for: before the first join
    ([0.0], 0.0, True),
    ([0.0], 10.0 - MARGIN_S - 0.01, True),
    ([0.0], 10.0 - MARGIN_S, False),       # the margin before the broker's session ends
    ([0.0], 30.0, False),                  # a SIGSTOP past the session timeout
    ([0.0, 5.0], 12.0, True),              # a later heartbeat extends it
    ([5.0, 0.0], 12.0, True),              # a late answer to an older one never shortens it
])
def test_the_lease_runs_a_session_timeout_from_the_last_vouched_request(renewals, at, holds):
    clock = Clock()
    lease = Lease(10.0, clock)
    for sent in renewals:
        lease.renew(clock.now + sent)
    clock.now += at
    assert lease.holds() is holds


def test_eviction_ends_the_lease_for_good_and_stops():
    clock, stops = Clock(), []
    fence = Fence("app", Lease(10.0, clock), lambda topic: topic.endswith("-changelog"), stops.append)
    fence.lease.renew(clock.now)
    fence.evicted("heartbeat refused")
    assert stops and "app" in stops[0]
    fence.lease.renew(clock.now + 1)
    assert not fence.lease.holds()


def test_only_fenced_topics_are_guarded():
    fence = Fence("app", Lease(10.0, Clock()), lambda topic: topic.endswith("-changelog"), print)
    assert fence.guards(["segment.identify", "app-users-changelog"])
    assert not fence.guards(["segment.identify", "streams.deadletter"])


async def test_a_fenced_request_waits_until_a_heartbeat_renews_the_lease():
    clock = Clock()
    fence = Fence("app", Lease(10.0, clock), lambda topic: True, print)
    waiting = asyncio.create_task(fence.wait_for_lease())
    await asyncio.sleep(0.2)
    assert not waiting.done()
    fence.lease.renew(clock.now)
    await asyncio.wait_for(waiting, 1.0)
