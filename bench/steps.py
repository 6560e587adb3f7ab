"""The four measured steps of `python -m bench.run`, each followed by a profile of what it
missed (pyinstrument, on a separate smaller run: its overhead would distort the figures).

Every step has its own app id and topics (bench.common.Run) and deletes them afterwards.
Each measured phase waits (boundedly) for other processes on the shared machine to
quieten first, and records how busy the machine was while it ran.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import orjson

from streams.core import topics as names

from . import pipeline, profiling
from . import state as state_bench
from .common import PYTHON, REPO, Broker, Run, metric_sum, say
from .cpu import quiet_window
from .fmt import ms
from .gen import pipeline_traffic
from .targets import TARGETS, bridge_ok, cold_ok, latency_at_target, latency_ok, pipeline_ok, warm_ok


def _profile(profile_dir: Path, name: str, out: dict, run_it, key: str = "profile") -> None:
    """`run_it(path)` runs a worker under pyinstrument (its session written to `path` when it
    stops); its figures go to out[key + "d"], the session's summary to out[key]."""
    path = profile_dir / f"{name}.pyisession"
    out[f"{key}d"] = run_it(path)
    out[key] = profiling.summarize(path)
    profiling.render_text(path)


# 1. Pipeline ----------------------------------------------------------------------------------
def step_pipeline(broker: Broker, workdir: Path, sizes: dict, profile_dir: Path | None) -> dict:
    n = sizes["pipeline_messages"]
    say(f"== 1. pipeline throughput: {n:,} messages")
    out: dict = {}
    run = Run(broker, workdir, "pipe1")
    try:
        run.create_topics()
        traffic = pipeline_traffic(n, seed=1, tag=run.tag)
        out["traffic"] = {"messages": len(traffic.records), "users": traffic.users,
                          "anonymous_first": traffic.anonymous_first, "identifies": traffic.identifies,
                          "tracks": traffic.tracks, "duplicates": traffic.duplicates,
                          "avg_bytes": traffic.bytes / len(traffic.records)}
        out["preload_s"] = pipeline.preload(run, traffic)
        # The loop before and after the one worker: the faster of the two is the reference
        # (another process on the shared machine can only slow a run down).
        out["baselines"] = [_baseline(run, traffic, "baseline", sizes)]
        window = quiet_window(sizes["quiet_wait_s"])
        out["one"] = pipeline.workers(run, traffic, 1, broker_pid=broker.pid())
        out["one"]["load"] = window.stop()
        out["baselines"].append(_baseline(run, traffic, "baseline-again", sizes))
        out["baseline"] = max(out["baselines"], key=lambda b: b["events_per_s"])
    finally:
        run.cleanup()
    run = Run(broker, workdir, "pipe2")
    try:
        run.create_topics()
        traffic = pipeline_traffic(n, seed=1, tag=run.tag)
        pipeline.preload(run, traffic)
        window = quiet_window(sizes["quiet_wait_s"])
        out["two"] = pipeline.workers(run, traffic, 2, broker_pid=broker.pid())
        out["two"]["load"] = window.stop()
    finally:
        run.cleanup()
    out["ratio"] = out["one"]["events_per_s"] / out["baseline"]["events_per_s"]
    if profile_dir is not None and not pipeline_ok(out):
        m = min(n, sizes["profile_messages"])
        say(f"== 1p. profile: one worker under pyinstrument, {m:,} messages")
        run = Run(broker, workdir, "pipe-prof")
        try:
            run.create_topics()
            traffic = pipeline_traffic(m, seed=2, tag=run.tag)
            pipeline.preload(run, traffic)
            _profile(profile_dir, "pipeline-worker", out,
                     lambda path: pipeline.workers(run, traffic, 1, profile=path, label="profiled worker"))
        finally:
            run.cleanup()
    return out


def _baseline(run: Run, traffic, label: str, sizes: dict) -> dict:
    window = quiet_window(sizes["quiet_wait_s"])
    result = pipeline.baseline(run, traffic, label)
    result["load"] = window.stop()
    return result


# 2. Decision latency ---------------------------------------------------------------------------
def _latency_run(broker: Broker, workdir: Path, rate: int, seconds: float, quiet_s: float,
                 profile: Path | None = None) -> dict:
    run = Run(broker, workdir, f"lat{rate}")
    try:
        run.create_topics()
        worker = run.worker(profile=profile).start()
        worker.wait_ready()
        return _measured_load(worker, "latency", [run.bootstrap, run.topic(names.SEGMENT_IDENTIFY),
                                                  run.topic(names.ELIGIBILITY), str(run.partitions), str(rate),
                                                  str(seconds), run.tag], seconds + 300, quiet_s)
    finally:
        run.cleanup()


def step_latency(broker: Broker, workdir: Path, sizes: dict, profile_dir: Path | None) -> dict:
    """Rates in increasing order; the search stops at the first rate at or above the target's
    whose p99 misses (higher rates only queue more), or when the step's time budget is spent."""
    out: dict = {"runs": [], "not_run": []}
    started = time.monotonic()
    seconds = sizes["latency_seconds"]
    rates = sorted(sizes["latency_rates"])
    for i, rate in enumerate(rates):
        if time.monotonic() - started > sizes["latency_budget_s"]:
            out["not_run"] = [{"rate": r, "why": "the step's time budget was spent"} for r in rates[i:]]
            break
        say(f"== 2. decision latency at {rate:,} identify/s for {seconds}s")
        data = _latency_run(broker, workdir, rate, seconds, sizes["quiet_wait_s"])
        say(f"  {rate}/s: p50 {ms(data['p50_ms'])}, p99 {ms(data['p99_ms'])}, {data['received']:,}/{data['sent']:,} "
            f"decisions, worker decided {data['decided_per_s']:,.0f}/s")
        out["runs"].append(data)
        if rate >= TARGETS["latency_rate"] and not latency_ok(data):
            out["not_run"] = [{"rate": r, "why": f"the search stopped: p99 ≥ {TARGETS['latency_p99_ms']:.0f} ms "
                                                 f"at {rate:,}/s"} for r in rates[i + 1:]]
            break
    out["seconds"] = time.monotonic() - started
    at = latency_at_target(out)
    if profile_dir is not None and at is not None and not latency_ok(at):
        rate = TARGETS["latency_rate"]
        say(f"== 2p. profile: the worker under pyinstrument at {rate:,} identify/s")
        _profile(profile_dir, f"latency-{rate}-worker", out,
                 lambda path: _latency_run(broker, workdir, rate, seconds, 0, profile=path))
    return out


# 3. Bridge -------------------------------------------------------------------------------------
def _bridge_worker(broker: Broker, workdir: Path, users: int, profile: Path | None = None):
    """A worker whose table holds `users` realistic users (through its changelog)."""
    run = Run(broker, workdir, "bridge")
    run.create_topics()
    run.create_changelog()
    state_bench.fill_changelog(run, users)
    worker = run.worker(profile=profile).start()
    worker.wait_ready(timeout_s=900, label="bridge worker")
    ids = workdir / f"{run.tag}-users.txt"
    ids.write_text("\n".join(f"{run.tag}-u{i}" for i in range(users)) + "\n")
    return run, worker, ids


def _http_load(worker, ids: Path, concurrency: int, seconds: float, quiet_s: float) -> dict:
    return _measured_load(worker, "httpload", [worker.url, str(ids), str(concurrency), str(seconds)],
                          seconds + 120, quiet_s)


def _measured_load(worker, tool: str, args: list[str], timeout_s: float, quiet_s: float) -> dict:
    """Run `python -m bench.<tool> args` (its last stdout line is its JSON result), with the
    worker's CPU share and the machine's load over the same window added."""
    window = quiet_window(quiet_s)
    cpu0 = worker.cpu_seconds()
    metrics0 = worker.metrics()
    stalls0, held0 = _stall_counts(metrics0), _stall_counts(metrics0, "survey_streams_event_loop_held_total")
    result = subprocess.run([PYTHON, "-m", f"bench.{tool}", *args], cwd=REPO, capture_output=True, text=True,
                            timeout=timeout_s)
    if result.returncode != 0:
        raise RuntimeError(f"{tool} load failed:\n{result.stderr[-3000:]}")
    data = orjson.loads(result.stdout.strip().splitlines()[-1])
    load = window.stop()
    data["worker_cpu_share"] = (worker.cpu_seconds() - cpu0) / load["seconds"]
    data["load"] = load
    # The worker's event loop over the same window (streams/runtime/loopwatch.py): the
    # longest stall of the last minute, and how many passed each threshold.
    metrics = worker.metrics()
    data["loop_stall_max_s"] = metric_sum(metrics, "survey_streams_event_loop_stall_recent_seconds_max")
    data["loop_stalls"] = {over: n - stalls0.get(over, 0) for over, n in _stall_counts(metrics).items()}
    # ... and of those, how long its thread ran (the rest: waiting for a core of the shared machine)
    data["loop_held_max_s"] = metric_sum(metrics, "survey_streams_event_loop_held_recent_seconds_max")
    data["loop_held"] = {over: n - held0.get(over, 0)
                         for over, n in _stall_counts(metrics, "survey_streams_event_loop_held_total").items()}
    return data


def _stall_counts(metrics: dict, name: str = "survey_streams_event_loop_stalls_total") -> dict:
    return {labels.get("over"): value for labels, value in metrics.get(name, [])}


def step_bridge(broker: Broker, workdir: Path, sizes: dict, profile_dir: Path | None) -> dict:
    users = sizes["bridge_users"]
    say(f"== 3. bridge: GET /v1/eligibility/{{userId}} over {users:,} users")
    out: dict = {"users": users, "runs": []}
    run, worker, ids = _bridge_worker(broker, workdir, users)
    try:
        for concurrency in sizes["bridge_concurrency"]:
            data = _http_load(worker, ids, concurrency, sizes["bridge_seconds"], sizes["quiet_wait_s"])
            say(f"  concurrency {concurrency}: {data['requests_per_s']:,.0f} req/s, p50 {data['p50_ms']:.1f} ms, "
                f"p99 {data['p99_ms']:.1f} ms (client CPU {100 * data['client_cpu_share']:.0f}%, "
                f"worker CPU {100 * data['worker_cpu_share']:.0f}%)")
            out["runs"].append(data)
    finally:
        run.cleanup()
    if profile_dir is not None and not bridge_ok(out):
        concurrency = TARGETS["bridge_concurrency"]
        say(f"== 3p. profile: the worker under pyinstrument, concurrency {concurrency}")

        def load(path: Path) -> dict:
            run, worker, ids = _bridge_worker(broker, workdir, min(users, 5000), profile=path)
            try:
                return _http_load(worker, ids, concurrency, min(10, sizes["bridge_seconds"]), 0)
            finally:
                run.cleanup()
        _profile(profile_dir, "bridge-worker", out, load)
    return out


# 4. State --------------------------------------------------------------------------------------
def step_state(broker: Broker, workdir: Path, sizes: dict, profile_dir: Path | None) -> dict:
    users = sizes["state_users"]
    say(f"== 4. state: {users:,} users in the changelog, cold and warm recovery")
    run = Run(broker, workdir, "state")
    try:
        window = quiet_window(0)
        out = state_bench.recovery(run, users, quiet_s=sizes["quiet_wait_s"])
        out["load"] = window.stop()
        if profile_dir is not None and not warm_ok(out):
            say("== 4p. profile: the warm restart again, under pyinstrument")
            _profile(profile_dir, "warm-restart-worker", out,
                     lambda path: state_bench.start_and_time(run, 3, run.workdir / "data-restore",
                                                              "profiled warm restart", profile=path),
                     key="warm_profile")
    finally:
        run.cleanup()
    if profile_dir is not None and not cold_ok(out):
        m = min(users, sizes["profile_recovery_users"])
        say(f"== 4p. profile: cold recovery of {m:,} users under pyinstrument")
        run = Run(broker, workdir, "state-prof")
        try:
            run.create_topics()
            run.create_changelog()
            state_bench.fill_changelog(run, m)

            def recover(path: Path) -> dict:
                result = state_bench.start_and_time(run, 0, run.workdir / "data-prof", "profiled recovery",
                                                     profile=path)
                return {**result, "users": m}
            _profile(profile_dir, "recovery-worker", out, recover)
        finally:
            run.cleanup()
    return out
