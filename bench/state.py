"""Benchmark 4: state size per user and the recovery of a worker from its changelog.

The users table's changelog (`<app id>-users-changelog`, compacted, `partitions` of the
config) is filled directly with realistic user states keyed by user id, in the partition
the default (murmur2) partitioner picks, which is where Faust puts a key of a topic keyed
the same way. The states are made by the real pure logic (userstate.apply over ~10
Segment messages per user, then targeting.decide), under fresh ids, message ids and
traits for every user.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

from streams.config import load_config

from .common import Run, dir_bytes, files_bytes, produce, say
from .gen import state_templates, states_from_templates

TEMPLATES = 2000
SETTLE_S = 3.0  # after /health, before reading RSS: let the first commit and timers run


def fill_changelog(run: Run, users: int) -> dict:
    config = load_config(str(run.config_path))
    templates = state_templates(min(TEMPLATES, users), seed=11, config=config)
    sizes = {"bytes": 0}

    def records():
        for user_id, value in states_from_templates(templates, users, seed=12, tag=run.tag):
            sizes["bytes"] += len(value)
            yield run.changelog, user_id.encode(), value

    seconds = asyncio.run(produce(run.bootstrap, records(), users, "changelog fill", linger_ms=50))
    say(f"  changelog: {users:,} user states ({sizes['bytes'] / 2**20:.0f} MiB) produced in {seconds:.1f}s")
    return {"users": users, "value_bytes": sizes["bytes"], "avg_state_bytes": sizes["bytes"] / users,
            "fill_seconds": seconds}


def _start_and_time(run: Run, index: int, data_dir: Path, label: str, profile: Path | None = None) -> dict:
    worker = run.worker(index, data_dir=data_dir, profile=profile).start()
    seconds = worker.wait_ready(timeout_s=1800, label=label)
    time.sleep(SETTLE_S)
    result = {"seconds": seconds, "rss": worker.rss(), "cpu_seconds": worker.cpu_seconds()}
    worker.stop()
    result["store_bytes"] = dir_bytes(data_dir)
    result["store_sst_bytes"] = files_bytes(data_dir, "*.sst")
    result["store_wal_bytes"] = files_bytes(data_dir, "*.log")
    say(f"  {label}: /health 200 after {seconds:.1f}s, RSS {result['rss'] / 2**20:.0f} MiB, "
        f"store {result['store_bytes'] / 2**20:.0f} MiB on disk")
    return result


def recovery(run: Run, users: int, profile: Path | None = None) -> dict:
    run.create_topics()
    run.create_changelog()
    say("  empty table: start a worker, time /health")
    empty = _start_and_time(run, 0, run.workdir / "data-empty", "empty worker")
    fill = fill_changelog(run, users)
    say(f"  cold recovery of {users:,} users: fresh local store, everything from the changelog")
    cold = _start_and_time(run, 1, run.workdir / "data-restore", "cold recovery")
    say("  warm restart: the same local store, the changelog already applied")
    warm = _start_and_time(run, 2, run.workdir / "data-restore", "warm restart")
    result = {"users": users, "fill": fill, "empty": empty, "cold": cold, "warm": warm,
              "rss_per_user": (cold["rss"] - empty["rss"]) / users,
              "store_per_user": cold["store_bytes"] / users}
    if profile is not None:
        say("  cold recovery again, under pyinstrument")
        result["profiled"] = _start_and_time(run, 3, run.workdir / "data-profile", "cold recovery (profiled)",
                                             profile=profile)
    return result
