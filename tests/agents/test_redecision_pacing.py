"""The re-decision scan after a config switch (streams/agents/configwatch.py) keeps few of
its ticks waiting: a tick is a whole input, and live inputs queue behind the waiting ones.
Unbounded, a switch that changed 770k of 1M users queued them all at once and live
decisions took 40 s (docs/benchmarks.md, live config)."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

from streams.agents import configwatch, timers
from streams.runtime import userstore

USERS = [f"u{i}" for i in range(400)]


async def test_a_scan_sends_ticks_only_as_fast_as_the_agent_applies_them(monkeypatch):
    sent: list = []

    async def send_command(key, command):
        sent.append(key)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def no_marker(partition, version):
        return None

    monkeypatch.setattr(configwatch, "send_command", send_command)
    monkeypatch.setattr(configwatch, "_mark", no_marker)
    monkeypatch.setattr(configwatch, "stored_states", lambda: ((user, {"userId": user}) for user in USERS))
    monkeypatch.setattr(configwatch.configdiff, "moved", lambda user, state, config, now, counts=None: "changed")
    monkeypatch.setattr(userstore, "partition_of", lambda user: 0)
    monkeypatch.setattr(configwatch, "TICKS_WAIT_S", 30.0)
    monkeypatch.setattr(timers, "applied_ticks", timers.AppliedTicks())

    scan = asyncio.create_task(configwatch.redecide(SimpleNamespace(version="v2"), frozenset({0})))
    await asyncio.sleep(0.3)
    # Nothing applied yet: the scan stops at the bound instead of queueing every tick.
    assert len(sent) == configwatch.TICKS_IN_FLIGHT
    # The agent applies ticks: the scan goes on, never more than the bound ahead.
    while not scan.done():
        for _ in range(10):
            timers.applied_ticks.add()
        await asyncio.sleep(0.01)
        assert len(sent) - timers.applied_ticks.count <= configwatch.TICKS_IN_FLIGHT
    await scan
    assert sorted(sent) == sorted(USERS)
