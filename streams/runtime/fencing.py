"""Zombie fencing: a worker writes its partitions' state and outputs only while the group
still counts it as a member (docs/processing.md, "Zombies").

A worker stalled past its session timeout (SIGSTOP, a GC or VM pause, an event loop held)
is dropped from the group and its partitions move. Resumed, it does not know yet: records
it had in hand would go out after its successor's, and a users-changelog record older than
the successor's would win at the next recovery. Kafka transactions fence such a producer;
this engine runs at-least-once (docs/processing.md, "Processing guarantee"), so it fences
itself with a lease:

- the group coordinator extends the lease on every successful heartbeat and SyncGroup, from
  the instant the request was *sent* (the broker's session clock starts later than that);
- a produce request holding a fenced record (a changelog, a decision, a lifecycle output, a
  response, a score) is sent only while the lease has more than `MARGIN_S` left; otherwise
  it waits for the next heartbeat to renew the lease;
- a heartbeat answered "unknown member" or "illegal generation" (the group moved on without
  this worker) stops the process at once: what it had not committed is processed again by
  the partitions' new owner, and its own restart recovers from the changelog.

The clock is CLOCK_BOOTTIME, which also runs while the machine or the process is suspended.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Iterable

from aiokafka.consumer import group_coordinator
from aiokafka.producer import sender as aiokafka_sender
from aiokafka.protocol.group import JoinGroupRequest

log = logging.getLogger(__name__)

# A fenced record must reach the broker this long before the lease ends.
MARGIN_S = 1.0
WAIT_STEP_S = 0.05
_UNKNOWN_MEMBER = JoinGroupRequest.UNKNOWN_MEMBER_ID


def _boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


class Lease:
    """Until when the group coordinator has vouched for this worker's membership.

    Pure bookkeeping with an injected clock (tests/runtime/test_fencing.py)."""

    def __init__(self, session_timeout_s: float, clock: Callable[[], float] = _boottime) -> None:
        self.session_timeout_s = session_timeout_s
        self.clock = clock
        self.until = float("-inf")  # nothing vouched for before the first join
        self.evicted = False

    def renew(self, request_sent_at: float) -> None:
        self.until = max(self.until, request_sent_at + self.session_timeout_s)

    def holds(self) -> bool:
        return not self.evicted and self.clock() < self.until - MARGIN_S

    def left_s(self) -> float:
        return self.until - self.clock()


class Fence:
    """The lease of one consumer group, and which topics it guards."""

    def __init__(self, group_id: str, lease: Lease, fenced_topic: Callable[[str], bool],
                 stop: Callable[[str], None]) -> None:
        self.group_id = group_id
        self.lease = lease
        self.fenced_topic = fenced_topic
        self.stop = stop

    def guards(self, topics: Iterable[str]) -> bool:
        return any(self.fenced_topic(topic) for topic in topics)

    def evicted(self, why: str) -> None:
        self.lease.evicted = True
        self.stop(f"the group {self.group_id} dropped this worker ({why}); "
                  "its partitions have another owner: stopping before it writes stale state")

    async def wait_for_lease(self) -> None:
        """Hold a fenced produce request until the lease holds again (a heartbeat renews it);
        eviction stops the process meanwhile."""
        waited = 0.0
        while not self.lease.holds():
            if waited == 0.0:
                log.warning("membership not confirmed: fenced records wait for the next heartbeat",
                            extra={"group": self.group_id, "lease_left_s": round(self.lease.left_s(), 2)})
            await asyncio.sleep(WAIT_STEP_S)
            waited += WAIT_STEP_S


_fence: Fence | None = None
_originals: dict = {}


def install(group_id: str, session_timeout_s: float, fenced_topic: Callable[[str], bool],
            stop: Callable[[str], None]) -> Fence:
    """Patch aiokafka's group coordinator (to keep the lease) and sender (to hold fenced
    requests). Only the group `group_id` keeps the lease: the forwarder's own group does not."""
    global _fence
    _fence = Fence(group_id, Lease(session_timeout_s), fenced_topic, stop)
    coordinator = group_coordinator.GroupCoordinator
    rebalance = group_coordinator.CoordinatorGroupRebalance
    if not _originals:
        _originals["heartbeat"] = coordinator._do_heartbeat
        _originals["sync"] = rebalance._send_sync_group_request
        _originals["produce"] = aiokafka_sender.Sender._send_produce_req
    coordinator._do_heartbeat = _do_heartbeat
    rebalance._send_sync_group_request = _send_sync_group_request
    aiokafka_sender.Sender._send_produce_req = _send_produce_req
    return _fence


def _ours(group_id: str) -> Fence | None:
    return _fence if _fence is not None and group_id == _fence.group_id else None


async def _do_heartbeat(self):
    fence = _ours(self.group_id)
    sent_at = fence.lease.clock() if fence else 0.0
    generation, was_member = self.generation, self.member_id != _UNKNOWN_MEMBER
    ok = await _originals["heartbeat"](self)
    if fence is not None:
        if ok:
            fence.lease.renew(sent_at)
        elif was_member and self.member_id == _UNKNOWN_MEMBER:
            # aiokafka forgets its membership on "unknown member" / "illegal generation". The
            # heartbeat task is stopped during a rejoin, so this is never a race with our own
            # join: the group moved on without this worker.
            fence.evicted(f"heartbeat of generation {generation} refused")
    return ok


async def _send_sync_group_request(self, request):
    fence = _ours(self.group_id)
    sent_at = fence.lease.clock() if fence else 0.0
    assignment = await _originals["sync"](self, request)
    if fence is not None and assignment is not None:
        fence.lease.renew(sent_at)
    return assignment


async def _send_produce_req(self, node_id, batches):
    fence = _fence
    if fence is not None and not fence.lease.holds() and fence.guards(tp.topic for tp in batches):
        await fence.wait_for_lease()
    return await _originals["produce"](self, node_id, batches)
