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
import random
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import orjson

from streams.core.config import load_config

from .common import Run, dir_bytes, files_bytes, produce, say
from .cpu import quiet_window
from .gen import state_templates, states_from_templates

TEMPLATES = 2000
SETTLE_S = 3.0  # after the due index is rebuilt, before reading RSS: let the first commit and timers run
ADMIN_KEY = "bench-admin-key"
READ_BACK = 200  # users read back through GET /v1/users/{id} after each recovery


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


def read_back(url: str, tag: str, users: int, sample: int = READ_BACK) -> dict:
    """GET /v1/users/{id} (admin key) for a sample of the users the changelog holds, spread
    over the whole range and including the last one written, each compared with what the
    fill wrote (userId, email, name: states_from_templates); plus one id never written,
    which must be a 404. A recovery that did nothing, or half, cannot pass this."""
    rng = random.Random(users)
    ids = sorted(set(rng.sample(range(users), min(sample, users) - 1)) | {users - 1}) if users else []
    ok, failures = 0, []
    for i in ids:
        user_id = f"{tag}-u{i}"
        status, body = _admin_get(url, user_id)
        try:
            data = orjson.loads(body) if status == 200 else {}
        except orjson.JSONDecodeError:
            data = {}
        traits = data.get("traits") or {}
        if (status == 200 and data.get("userId") == user_id and traits.get("name") == f"User {i}"
                and traits.get("email") == f"user{i}@example-{i % 997}.com"):
            ok += 1
        elif len(failures) < 5:
            failures.append(f"{user_id}: HTTP {status} {body[:120]!r}")
    unknown_status, _ = _admin_get(url, f"{tag}-never-written")
    return {"sampled": len(ids), "ok": ok, "unknown_status": unknown_status, "failures": failures,
            "passed": bool(ids) and ok == len(ids) and unknown_status == 404}


def _admin_get(url: str, user_id: str) -> tuple[int, bytes]:
    request = urllib.request.Request(f"{url}/v1/users/{quote(user_id, safe='')}",
                                     headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError as error:
        return 0, repr(error).encode()


_DUE_INDEX = re.compile(r"due index rebuilt users=(\d+) seconds=([0-9.]+)")


def wait_due_index(worker, timeout_s: float = 600.0) -> dict | None:
    """The due-time index is rebuilt in the background after recovery (streams.agents.timers),
    after /health answers: wait for its log line (the worker logs at INFO here)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and worker.proc.poll() is None:
        match = _DUE_INDEX.search(worker.log_path.read_text(errors="replace"))
        if match:
            return {"users": int(match[1]), "seconds": float(match[2]),
                    "done_after_health_s": time.monotonic() - worker.ready_at}
        time.sleep(0.2)
    return None


def start_and_time(run: Run, index: int, data_dir: Path, label: str, profile: Path | None = None,
                   check_users: int = 0) -> dict:
    worker = run.worker(index, data_dir=data_dir, profile=profile,
                        env={"STREAMS_ADMIN_KEY": ADMIN_KEY, "STREAMS_LOG_LEVEL": "INFO"}).start()
    seconds = worker.wait_ready(timeout_s=1800, label=label)
    due_index = wait_due_index(worker)
    time.sleep(SETTLE_S)
    result = {"seconds": seconds, "rss": worker.rss(), "cpu_seconds": worker.cpu_seconds(), "due_index": due_index}
    if due_index:
        say(f"  {label}: due index of {due_index['users']:,} users rebuilt in {due_index['seconds']:.1f}s, "
            f"done {due_index['done_after_health_s']:.1f}s after /health")
    if check_users:
        result["read_back"] = check = read_back(worker.url, run.tag, check_users)
        say(f"  {label}: {check['ok']}/{check['sampled']} sampled users read back through GET /v1/users/{{id}}, "
            f"an unknown id answered {check['unknown_status']}"
            + (f"; failures: {'; '.join(check['failures'])}" if check["failures"] else ""))
    worker.stop()
    result["store_bytes"] = dir_bytes(data_dir)
    result["store_sst_bytes"] = files_bytes(data_dir, "*.sst")
    result["store_wal_bytes"] = files_bytes(data_dir, "*.log")
    say(f"  {label}: /health 200 after {seconds:.1f}s, RSS {result['rss'] / 2**20:.0f} MiB, "
        f"store {result['store_bytes'] / 2**20:.0f} MiB on disk")
    return result


def recovery(run: Run, users: int, quiet_s: float = 0.0) -> dict:
    run.create_topics()
    run.create_changelog()
    say("  empty table: start a worker, time /health")
    empty = start_and_time(run, 0, run.workdir / "data-empty", "empty worker")
    fill = fill_changelog(run, users)
    say(f"  cold recovery of {users:,} users: fresh local store, everything from the changelog")
    window = quiet_window(quiet_s)
    cold = start_and_time(run, 1, run.workdir / "data-restore", "cold recovery", check_users=users)
    cold["load"] = window.stop()
    say("  warm restart: the same local store, the changelog already applied")
    window = quiet_window(quiet_s)
    warm = start_and_time(run, 2, run.workdir / "data-restore", "warm restart", check_users=users)
    warm["load"] = window.stop()
    result = {"users": users, "partitions": run.partitions, "fill": fill, "empty": empty, "cold": cold, "warm": warm,
              "rss_per_user": (cold["rss"] - empty["rss"]) / users,
              "store_per_user": cold["store_bytes"] / users}
    return result
