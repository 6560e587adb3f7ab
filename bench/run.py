"""`python -m bench.run [--quick]`: every benchmark, written to docs/benchmarks.md.

Uses the broker named by KAFKA_BOOTSTRAP_SERVERS, else starts a local Kafka on free ports
(streams.localkafka) and stops it at the end. Every step has its own app id and topics
and deletes them afterwards. Progress goes to stderr; the figures to the document (and
as JSON next to the profiles, under var/bench/).
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import importlib.util
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson

from streams import topics as names

from . import pipeline, profiling
from . import state as state_bench
from .common import PYTHON, REPO, Broker, CpuWindow, Run, say
from .gen import pipeline_traffic

FULL = {
    "pipeline_messages": 200_000,
    "latency_rates": (250, 1000, 5000),
    "latency_seconds": 20,
    "bridge_users": 20_000,
    "bridge_concurrency": (8, 32, 128),
    "bridge_seconds": 15,
    "state_users": 1_000_000,
    "profile_messages": 40_000,
    "profile_recovery_users": 100_000,
}
QUICK = {
    "pipeline_messages": 20_000,
    "latency_rates": (1000, 5000),
    "latency_seconds": 6,
    "bridge_users": 5_000,
    "bridge_concurrency": (8, 64),
    "bridge_seconds": 5,
    "state_users": 50_000,
    "profile_messages": 10_000,
    "profile_recovery_users": 20_000,
}
TARGETS = {
    "ratio": 0.70,  # one worker's events/s over the baseline's
    "latency_p99_ms": 50.0,  # at 5k events/s
    "bridge_rps": 5000.0,
    "bridge_p99_ms": 20.0,
    "recovery_s": 60.0,  # 1M users
}
STEPS = ("pipeline", "latency", "bridge", "state")


# Machine and versions ------------------------------------------------------------------------
def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    except OSError:
        pass
    java = "?"
    if shutil.which("java"):
        out = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
        java = out[0] if out else "?"
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory_gib": memory / 2**30, "kernel": platform.release(),
            "python": platform.python_version(), "java": java, "load_before": os.getloadavg()}


def versions(broker: Broker) -> dict:
    def v(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return {"faust-streaming": v("faust-streaming"), "aiokafka": v("aiokafka"), "orjson": v("orjson"),
            "rocksdict": v("rocksdict"), "aiohttp": v("aiohttp"), "mode-streaming": v("mode-streaming"),
            "kafka": broker.version()}


def can_profile() -> bool:
    return importlib.util.find_spec("pyinstrument") is not None


# Steps ---------------------------------------------------------------------------------------
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
        window = CpuWindow()
        out["baseline"] = pipeline.baseline(run, traffic)
        out["baseline"]["load"] = window.stop()
        window = CpuWindow()
        out["one"] = pipeline.workers(run, traffic, 1, broker_pid=broker.pid())
        out["one"]["load"] = window.stop()
    finally:
        run.cleanup()
    run = Run(broker, workdir, "pipe2")
    try:
        run.create_topics()
        traffic = pipeline_traffic(n, seed=1, tag=run.tag)
        pipeline.preload(run, traffic)
        window = CpuWindow()
        out["two"] = pipeline.workers(run, traffic, 2, broker_pid=broker.pid())
        out["two"]["load"] = window.stop()
    finally:
        run.cleanup()
    out["ratio"] = out["one"]["events_per_s"] / out["baseline"]["events_per_s"]
    if profile_dir is not None and out["ratio"] < TARGETS["ratio"]:
        m = min(n, sizes["profile_messages"])
        say(f"== 1p. profile: one worker under pyinstrument, {m:,} messages")
        run = Run(broker, workdir, "pipe-prof")
        try:
            run.create_topics()
            traffic = pipeline_traffic(m, seed=2, tag=run.tag)
            pipeline.preload(run, traffic)
            path = profile_dir / "pipeline-worker.pyisession"
            out["profiled"] = pipeline.workers(run, traffic, 1, profile=path, label="profiled worker")
            out["profile"] = profiling.summarize(path)
            _render_text(path)
        finally:
            run.cleanup()
    return out


def _latency_run(broker: Broker, workdir: Path, rate: int, seconds: float, profile: Path | None = None) -> dict:
    run = Run(broker, workdir, f"lat{rate}")
    try:
        run.create_topics()
        worker = run.worker(profile=profile).start()
        worker.wait_ready()
        window = CpuWindow()
        cpu0 = worker.cpu_seconds()
        result = subprocess.run(
            [PYTHON, "-m", "bench.latency", run.bootstrap, run.topic(names.SEGMENT_IDENTIFY),
             run.topic(names.ELIGIBILITY), str(run.partitions), str(rate), str(seconds), run.tag],
            cwd=REPO, capture_output=True, text=True, timeout=seconds + 300)
        if result.returncode != 0:
            raise RuntimeError(f"latency load failed:\n{result.stderr[-3000:]}")
        data = orjson.loads(result.stdout.strip().splitlines()[-1])
        load = window.stop()
        data["worker_cpu_share"] = (worker.cpu_seconds() - cpu0) / load["seconds"]
        data["load"] = load
        return data
    finally:
        run.cleanup()


def step_latency(broker: Broker, workdir: Path, sizes: dict, profile_dir: Path | None) -> dict:
    out: dict = {"runs": []}
    for rate in sizes["latency_rates"]:
        say(f"== 2. decision latency at {rate:,} identify/s for {sizes['latency_seconds']}s")
        data = _latency_run(broker, workdir, rate, sizes["latency_seconds"])
        say(f"  {rate}/s: p50 {_ms(data['p50_ms'])}, p99 {_ms(data['p99_ms'])}, {data['received']:,}/{data['sent']:,} "
            f"decisions, worker decided {data['decided_per_s']:,.0f}/s")
        out["runs"].append(data)
    at5k = next((r for r in out["runs"] if r["rate"] == 5000), None)
    if profile_dir is not None and at5k is not None and not (_num(at5k["p99_ms"]) < TARGETS["latency_p99_ms"]):
        say("== 2p. profile: the worker under pyinstrument at 5,000 identify/s")
        path = profile_dir / "latency-5k-worker.pyisession"
        out["profiled"] = _latency_run(broker, workdir, 5000, min(10, sizes["latency_seconds"]), profile=path)
        out["profile"] = profiling.summarize(path)
        _render_text(path)
    return out


def _bridge_worker(broker: Broker, workdir: Path, users: int, profile: Path | None = None):
    """A worker whose table holds `users` realistic users (through its changelog)."""
    run = Run(broker, workdir, "bridge")
    run.create_topics()
    run.create_changelog()
    fill = state_bench.fill_changelog(run, users)
    worker = run.worker(profile=profile).start()
    worker.wait_ready(timeout_s=900, label="bridge worker")
    ids = workdir / f"{run.tag}-users.txt"
    ids.write_text("\n".join(f"{run.tag}-u{i}" for i in range(users)) + "\n")
    return run, worker, ids, fill


def _load(worker, ids: Path, concurrency: int, seconds: float) -> dict:
    window = CpuWindow()
    cpu0 = worker.cpu_seconds()
    result = subprocess.run([PYTHON, "-m", "bench.httpload", worker.url, str(ids), str(concurrency), str(seconds)],
                            cwd=REPO, capture_output=True, text=True, timeout=seconds + 120)
    if result.returncode != 0:
        raise RuntimeError(f"http load failed:\n{result.stderr[-3000:]}")
    data = orjson.loads(result.stdout.strip().splitlines()[-1])
    load = window.stop()
    data["worker_cpu_share"] = (worker.cpu_seconds() - cpu0) / load["seconds"]
    data["load"] = load
    return data


def step_bridge(broker: Broker, workdir: Path, sizes: dict, profile_dir: Path | None) -> dict:
    users = sizes["bridge_users"]
    say(f"== 3. bridge: GET /v1/eligibility/{{userId}} over {users:,} users")
    out: dict = {"users": users, "runs": []}
    run, worker, ids, _ = _bridge_worker(broker, workdir, users)
    try:
        for concurrency in sizes["bridge_concurrency"]:
            data = _load(worker, ids, concurrency, sizes["bridge_seconds"])
            say(f"  concurrency {concurrency}: {data['requests_per_s']:,.0f} req/s, p50 {data['p50_ms']:.1f} ms, "
                f"p99 {data['p99_ms']:.1f} ms (client CPU {100 * data['client_cpu_share']:.0f}%, "
                f"worker CPU {100 * data['worker_cpu_share']:.0f}%)")
            out["runs"].append(data)
    finally:
        run.cleanup()
    if profile_dir is not None and not _bridge_pass(out):
        best = max(out["runs"], key=lambda r: r["requests_per_s"])
        say(f"== 3p. profile: the worker under pyinstrument, concurrency {best['concurrency']}")
        path = profile_dir / "bridge-worker.pyisession"
        run, worker, ids, _ = _bridge_worker(broker, workdir, min(users, 5000), profile=path)
        try:
            out["profiled"] = _load(worker, ids, best["concurrency"], min(10, sizes["bridge_seconds"]))
        finally:
            run.cleanup()
        out["profile"] = profiling.summarize(path)
        _render_text(path)
    return out


def step_state(broker: Broker, workdir: Path, sizes: dict, profile_dir: Path | None) -> dict:
    users = sizes["state_users"]
    say(f"== 4. state: {users:,} users in the changelog, cold and warm recovery")
    run = Run(broker, workdir, "state")
    try:
        window = CpuWindow()
        out = state_bench.recovery(run, users)
        out["load"] = window.stop()
    finally:
        run.cleanup()
    recovery_1m = out["cold"]["seconds"] * 1_000_000 / users
    if profile_dir is not None and recovery_1m >= TARGETS["recovery_s"]:
        m = min(users, sizes["profile_recovery_users"])
        say(f"== 4p. profile: cold recovery of {m:,} users under pyinstrument")
        run = Run(broker, workdir, "state-prof")
        try:
            run.create_topics()
            run.create_changelog()
            state_bench.fill_changelog(run, m)
            path = profile_dir / "recovery-worker.pyisession"
            out["profiled"] = state_bench._start_and_time(run, 0, run.workdir / "data-prof", "profiled recovery",
                                                          profile=path)
            out["profiled"]["users"] = m
            out["profile"] = profiling.summarize(path)
            _render_text(path)
        finally:
            run.cleanup()
    return out


def _render_text(session: Path) -> None:
    """A readable tree next to the session (pyinstrument's text renderer)."""
    with open(session.with_suffix(".txt"), "w") as out:
        subprocess.run([PYTHON, "-m", "pyinstrument", "--load", str(session), "-r", "text", "--no-color"],
                       stdout=out, stderr=subprocess.DEVNULL, cwd=REPO, timeout=300)


# Figures -> markdown -------------------------------------------------------------------------
def _num(value) -> float:
    return float("inf") if value is None else float(value)


def _ms(value) -> str:
    value = _num(value)
    if math.isinf(value):
        return "∞ (not decided within the drain)"
    return f"{value:,.1f} ms" if value < 10_000 else f"{value / 1000:,.1f} s"


def _mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


def _bridge_pass(out: dict) -> bool:
    return any(r["requests_per_s"] >= TARGETS["bridge_rps"] and r["p99_ms"] < TARGETS["bridge_p99_ms"]
               for r in out["runs"])


def _load_note(load: dict | None) -> str:
    if not load:
        return ""
    return (f"machine busy {load['machine_cores_busy']:.2f} of {os.cpu_count()} cores "
            f"(this benchmark {load['bench_cores']:.2f}, other processes {load['other_cores']:.2f})")


def document(results: dict) -> str:
    m, v, sizes, quick = results["machine"], results["versions"], results["sizes"], results["quick"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`python -m bench.run{' --quick' if quick else ''}`) on "
        f"{results['date']}; the run took {results['elapsed_s'] / 60:.1f} min."
        + (" **Quick run: small sizes, a smoke test, not the reference figures.**" if quick else ""),
        "Every figure below comes from that run; nothing is edited by hand except the analysis "
        "paragraphs, which are written by bench/run.py around the measured values.",
        "",
        "## Machine and versions",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m['nproc']} × {m['cpu']} |",
        f"| memory | {m['memory_gib']:.1f} GiB |",
        f"| kernel | Linux {m['kernel']} |",
        f"| Python | {m['python']} |",
        f"| Java | {m['java']} |",
        f"| Kafka | {v['kafka']} ({results['broker']}) |",
        f"| faust-streaming | {v['faust-streaming']} (mode-streaming {v['mode-streaming']}) |",
        f"| aiokafka | {v['aiokafka']} |",
        f"| orjson / rocksdict / aiohttp | {v['orjson']} / {v['rocksdict']} / {v['aiohttp']} |",
        f"| load average before the run | {' / '.join(f'{x:.2f}' for x in m['load_before'])} |",
        "",
        "Everything runs on this one machine over loopback: the broker, the workers, the load "
        "generators. The broker and the load generators share the same cores as the workers, "
        "and so do any other processes running at the time; each step notes how busy the "
        "machine was and how much of that was not this benchmark (\"other processes\").",
        "",
    ]
    lines += _targets_section(results)
    if "pipeline" in results:
        lines += _pipeline_section(results["pipeline"])
    if "latency" in results:
        lines += _latency_section(results["latency"])
    if "bridge" in results:
        lines += _bridge_section(results["bridge"])
    if "state" in results:
        lines += _state_section(results["state"], quick, results.get("pipeline"))
    lines += _bottlenecks_section(results)
    lines += _changes_section()
    lines += _method_section(sizes)
    return "\n".join(lines) + "\n"


def _targets_section(results: dict) -> list:
    rows = []

    def row(name, measured, ok):
        rows.append(f"| {name} | {measured} | {'**pass**' if ok else '**miss**'} |")

    if "pipeline" in results:
        p = results["pipeline"]
        row("one worker ≥ 70% of the baseline's events/s",
            f"{100 * p['ratio']:.1f}% ({p['one']['events_per_s']:,.0f} vs {p['baseline']['events_per_s']:,.0f} events/s)",
            p["ratio"] >= TARGETS["ratio"])
    if "latency" in results:
        at5k = next((r for r in results["latency"]["runs"] if r["rate"] == 5000), None)
        if at5k:
            row("p99 decision latency < 50 ms at 5k events/s", f"p99 {_ms(at5k['p99_ms'])}",
                _num(at5k["p99_ms"]) < TARGETS["latency_p99_ms"])
    if "bridge" in results:
        b = results["bridge"]
        best = max(b["runs"], key=lambda r: (r["p99_ms"] < TARGETS["bridge_p99_ms"], r["requests_per_s"]))
        row("bridge ≥ 5k req/s with p99 < 20 ms",
            f"{best['requests_per_s']:,.0f} req/s, p99 {best['p99_ms']:.1f} ms (concurrency {best['concurrency']})",
            _bridge_pass(b))
    if "state" in results:
        s = results["state"]
        users = s["users"]
        if users >= 1_000_000:
            row("recovery of 1M users < 60 s", f"{s['cold']['seconds']:.1f} s (cold, from the changelog)",
                s["cold"]["seconds"] < TARGETS["recovery_s"])
        else:
            estimate = s["cold"]["seconds"] * 1_000_000 / users
            row("recovery of 1M users < 60 s",
                f"{s['cold']['seconds']:.1f} s for {users:,} users; ~{estimate:,.0f} s for 1M by linear extrapolation",
                estimate < TARGETS["recovery_s"])
    return ["## Targets", "", "| target | measured | |", "|---|---|---|", *rows, ""]


def _pipeline_section(p: dict) -> list:
    t, b, one, two = p["traffic"], p["baseline"], p["one"], p["two"]
    lines = [
        "## 1. Pipeline throughput",
        "",
        f"{t['messages']:,} Segment messages pre-loaded into the inbound topics, keyed by user: "
        f"{t['identifies']:,} identify (10-30 traits), {t['tracks']:,} track, {t['users']:,} users of whom "
        f"{t['anonymous_first']:,} are anonymous first, {t['duplicates']:,} redeliveries of an earlier "
        f"messageId; {t['avg_bytes']:,.0f} bytes per message on average. Pre-loading took {p['preload_s']:.1f} s.",
        "",
        "| | events/s | seconds | CPU-s of the process(es) | events per CPU-s | decisions emitted |",
        "|---|---:|---:|---:|---:|---:|",
        f"| baseline: aiokafka consume → orjson loads/dumps → produce | {b['events_per_s']:,.0f} | {b['seconds']:.1f} | "
        f"{b['cpu_seconds']:.1f} | {b['count'] / max(b['cpu_seconds'], 1e-9):,.0f} | — |",
    ]
    for label, r in (("one worker", one), ("two workers (same app id)", two)):
        lines.append(f"| {label} | {r['events_per_s']:,.0f} (steady {r['steady_events_per_s']:,.0f}) | "
                     f"{r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['messages'] / max(r['cpu_seconds'], 1e-9):,.0f} | "
                     f"{r['decisions']:,} |")
    lines += [
        "",
        f"One worker reaches **{100 * p['ratio']:.1f}%** of the baseline's events/s; two workers "
        f"{two['events_per_s'] / one['events_per_s']:.2f}× one worker "
        f"(per worker: {', '.join(f'{x:,}' for x in two['per_worker_processed'])} inputs applied)"
        + (f"; the machine's {os.cpu_count()} cores were {two['load']['machine_cores_busy']:.2f} busy during "
           f"that run (two workers, the broker with {two['broker_cpu_seconds']:.0f} CPU-s, the metrics polling), "
           f"so the second worker adds only what the broker leaves of the second core."
           if two.get("load") and two.get("broker_cpu_seconds")
           and two["load"]["machine_cores_busy"] > 0.85 * (os.cpu_count() or 1) else "."),
        f"One worker applied {one['processed']:,} inputs and skipped {one['duplicates_skipped']:,} duplicates; two "
        f"workers {two['processed']:,} and {two['duplicates_skipped']:,} (redeliveries after the rebalance "
        f"that forms the group of two are skipped as duplicates, as they should be). The time runs from "
        f"the first input read (metrics polled every 0.25 s) to the later of the last input applied and "
        f"the Kafka timestamp of the last decision. \"Steady\" is the rate between 10% and 90% of the inputs.",
        "",
        f"- baseline: {_load_note(b.get('load'))}",
        f"- one worker: {_load_note(one.get('load'))}"
        + (f"; the broker used {one['broker_cpu_seconds']:.1f} CPU-s" if one.get("broker_cpu_seconds") else ""),
        f"- two workers: {_load_note(two.get('load'))}"
        + (f"; the broker used {two['broker_cpu_seconds']:.1f} CPU-s" if two.get("broker_cpu_seconds") else ""),
        "",
    ]
    return lines


def _latency_section(lat: dict) -> list:
    lines = [
        "## 2. Decision latency",
        "",
        "Identify messages for new users (each one changes the user's decision from "
        "`not_identified`), produced at a fixed rate by a second process; latency is from the "
        "produce call to the decision consumed from `surveys.eligibility` by that process. "
        "Inputs of the first 2 s are not measured; a decision not seen within 15 s after the "
        "last send counts as infinitely late.",
        "",
        "| offered identify/s | sent | decided | worker decided/s | p50 | p90 | p99 | max | p99 to the worker's produce | worker CPU | machine |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in lat["runs"]:
        lines.append(
            f"| {r['rate']:,.0f} (achieved {r['offered_per_s']:,.0f}) | {r['sent']:,} | {r['received']:,} | "
            f"{r['decided_per_s']:,.0f} | {_ms(r['p50_ms'])} | {_ms(r['p90_ms'])} | {_ms(r['p99_ms'])} | "
            f"{_ms(r['max_ms'])} | {_ms(r['to_decision_p99_ms'])} | {100 * r['worker_cpu_share']:.0f}% | "
            f"{_load_note(r.get('load'))} |")
    lines.append("")
    return lines


def _bridge_section(b: dict) -> list:
    lines = [
        "## 3. Bridge: `GET /v1/eligibility/{userId}`",
        "",
        f"One worker holding {b['users']:,} users (realistic states, recovered from its changelog); "
        "the load comes from a second process (bench/httpload.py: aiohttp, keep-alive, a fixed "
        "number of concurrent requests, each user in turn), for a bounded time; the first second is not measured.",
        "",
        "| concurrency | req/s | p50 | p90 | p99 | max | non-200 | worker CPU | load client CPU | machine |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in b["runs"]:
        bad = sum(v for k, v in r["statuses"].items() if k != "200") + sum(r["errors"].values())
        lines.append(
            f"| {r['concurrency']} | {r['requests_per_s']:,.0f} | {r['p50_ms']:.1f} ms | {r['p90_ms']:.1f} ms | "
            f"{r['p99_ms']:.1f} ms | {r['max_ms']:.1f} ms | {bad} | {100 * r['worker_cpu_share']:.0f}% | "
            f"{100 * r['client_cpu_share']:.0f}% | {_load_note(r.get('load'))} |")
    lines.append("")
    return lines


def _state_section(s: dict, quick: bool, p: dict | None = None) -> list:
    fill, empty, cold, warm = s["fill"], s["empty"], s["cold"], s["warm"]
    users = s["users"]
    lines = [
        "## 4. State",
        "",
        f"The users table's changelog filled directly with {users:,} user states "
        f"({fill['avg_state_bytes']:,.0f} bytes of JSON per user on average: 10-30 traits with their times, "
        f"~10 handled messageIds, triggers, the last decision), made by the real userstate/targeting code; "
        f"then a worker started on it.",
        "",
        "| | /health 200 after | RSS after | RocksDB on disk | of which SST |",
        "|---|---:|---:|---:|---:|",
        f"| empty table (start-up alone) | {empty['seconds']:.1f} s | {_mib(empty['rss'])} | {_mib(empty['store_bytes'])} | "
        f"{_mib(empty['store_sst_bytes'])} |",
        f"| cold: {users:,} users from the changelog, no local store | {cold['seconds']:.1f} s | {_mib(cold['rss'])} | "
        f"{_mib(cold['store_bytes'])} | {_mib(cold['store_sst_bytes'])} |",
        f"| warm restart: local store present | {warm['seconds']:.1f} s | {_mib(warm['rss'])} | "
        f"{_mib(warm['store_bytes'])} | {_mib(warm['store_sst_bytes'])} |",
        "",
        f"- Cold recovery: {users / max(cold['seconds'] - empty['seconds'], 1e-9):,.0f} users/s beyond the "
        f"start-up time ({cold['cpu_seconds']:.0f} CPU-s in the worker).",
        f"- RocksDB on disk: **{s['store_per_user']:,.0f} bytes per user** (compressed SST; the JSON is "
        f"{fill['avg_state_bytes']:,.0f} bytes).",
        f"- RSS: after the cold recovery the worker is {_mib(cold['rss'] - empty['rss'])} above the empty one "
        f"({s['rss_per_user']:,.0f} bytes per user), but most of that is RocksDB memory filled by the "
        f"restore's writes (Faust's defaults: up to 3 × 64 MiB write buffers per partition store, one store "
        f"per partition, plus caches): bounded, not per user. After the warm restart, which writes nothing, it is {_mib(warm['rss'] - empty['rss'])} above "
        f"the empty worker: **{(warm['rss'] - empty['rss']) / users:,.0f} bytes per user** held in memory "
        f"(the due-time index, Python heap, RocksDB's index and filter blocks); the states themselves "
        f"stay on disk and are read per event.",
        f"- Machine during this step: {_load_note(s.get('load'))}.",
    ]
    if p:
        one, users = p["one"], p["traffic"]["users"]
        keys = users + p["traffic"]["anonymous_first"]
        lines.append(
            f"- Through the pipeline (section 1, one worker, {users:,} users and {p['traffic']['anonymous_first']:,} "
            f"anonymous ids, ~10 inputs each): RocksDB {_mib(one['store_bytes'])} on disk after the run "
            f"({one['store_bytes'] / keys:,.0f} bytes per key, SST {_mib(one['store_sst_bytes'])}, the rest "
            f"write-ahead log and metadata); RSS grew {_mib(one['rss_end'] - one['rss_ready'])} from /health "
            f"to the end ({(one['rss_end'] - one['rss_ready']) / keys:,.0f} bytes per key, write buffers included).")
    lines.append("")
    return lines


def _share(summary: dict, *categories: str) -> float:
    busy = summary["busy"] or 1e-9
    return 100 * sum(v for k, v in summary["categories"] if k in categories) / busy


def _hot(summary: dict, name: str) -> float:
    total = summary["sampled"] or 1e-9
    return 100 * sum(v for k, v in summary["hot"] if k == name) / total


FRAMEWORK = ("faust", "mode", "aiokafka", "asyncio", "kafka-python", "venusian", "opentracing")


def _bottlenecks_section(results: dict) -> list:
    lines = ["## Where the time goes (profiles of the missed targets)", ""]
    any_profile = False
    p = results.get("pipeline")
    if p and p["ratio"] < TARGETS["ratio"]:
        lines += [
            "### Throughput: one worker vs the baseline",
            "",
            f"The baseline spends {1e6 * p['baseline']['cpu_seconds'] / p['baseline']['count']:,.0f} µs of CPU per "
            f"message; the worker {1e6 * p['one']['cpu_seconds'] / p['one']['messages']:,.0f} µs. For every input "
            "the worker does what the baseline does (fetch, decode, produce one record: the users "
            "table's changelog entry), and on top: Faust's per-event machinery (the consumer "
            "thread hands records to the event loop, the conductor dispatches each one to the "
            "agent's stream, the stream acks it, every produced record goes through Faust's "
            "producer buffer task one by one, and every changelog acknowledgement writes the "
            "persisted offset to RocksDB), a RocksDB read and write of the user's state, and the "
            "decision itself (validation, userstate.apply, targeting.decide).",
            "",
        ]
        if "profile" in p:
            s = p["profile"]
            any_profile = True
            lines += [
                f"In the profile of one worker ({p['profiled']['messages']:,} messages, pyinstrument), of the "
                f"time the worker was busy, **{_share(s, *FRAMEWORK):.0f}%** is in Faust, mode, aiokafka and "
                f"the asyncio loop, **{_share(s, 'streams (this project)'):.0f}%** in this project's own "
                f"code and {_share(s, 'orjson'):.0f}% in orjson. The whole agent body "
                f"(`users.py:process`, including the table read/write and the sends it triggers) is "
                f"{_hot(s, 'users.py:process'):.0f}% of the wall time, of which targeting.decide "
                f"{_hot(s, 'targeting.py:decide'):.0f}%, userstate.apply {_hot(s, 'userstate.py:apply'):.0f}% "
                f"and the Segment validation {_hot(s, 'segment.py:decode'):.0f}%. The bottleneck is the "
                "framework's cost per event, not the survey logic: removing all of this project's "
                "code would not bring one worker near 70% of a loop that does nothing but move bytes. "
                "What would: fewer, larger units of work per event loop turn (a batch API in the "
                "consumer and the table, which Faust does not have: `stream.take` batches the values "
                "handed to the agent but each event still goes through the same conductor, ack and "
                "changelog path), or more workers (partitions allow up to 8).",
                "",
                profiling.markdown(s, "Profile: one worker, pipeline mix"),
                "",
            ]
    lat = results.get("latency")
    if lat:
        at5k = next((r for r in lat["runs"] if r["rate"] == 5000), None)
        if at5k and not (_num(at5k["p99_ms"]) < TARGETS["latency_p99_ms"]):
            sustained = [r for r in lat["runs"] if _num(r["p99_ms"]) < 1000]
            load = at5k.get("load") or {}
            contended = load.get("machine_cores_busy", 0) > 0.85 * (os.cpu_count() or 1)
            lines += [
                "### Latency at 5k events/s",
                "",
                f"At 5,000 identify/s the worker decided {at5k['decided_per_s']:,.0f} identify/s at "
                f"{100 * at5k['worker_cpu_share']:.0f}% of a core"
                + (f" (the machine's {os.cpu_count()} cores were {load['machine_cores_busy']:.2f} busy: the load "
                   f"generator, the broker and {load['other_cores']:.2f} cores of other processes took the rest)"
                   if contended else "")
                + ": the offered load is above what one worker "
                "processes, so a queue builds up in the input topic and the latency is the time spent in "
                "that queue, growing for as long as the load lasts. An identify costs the worker more than "
                "the average input of the pipeline mix: each one emits a decision and writes a new state. "
                "The latency target can only hold below the worker's capacity"
                + (" (at " + ", ".join(f"{r['rate']:,.0f}/s" for r in sustained) + " the p99 was "
                   + ", ".join(_ms(r["p99_ms"]) for r in sustained) + ")" if sustained else "")
                + "; the cost per event is the one described under throughput.",
                "",
            ]
            if "profile" in lat:
                any_profile = True
                lines += [profiling.markdown(lat["profile"], "Profile: one worker at 5,000 identify/s"), ""]
    b = results.get("bridge")
    if b and not _bridge_pass(b):
        best = max(b["runs"], key=lambda r: r["requests_per_s"])
        lines += [
            "### Bridge",
            "",
            f"The best rate was {best['requests_per_s']:,.0f} req/s (concurrency {best['concurrency']}), with the "
            f"worker at {100 * best['worker_cpu_share']:.0f}% of a core and the load client at "
            f"{100 * best['client_cpu_share']:.0f}%: on two cores the client and the server each hold one. "
            "Each request goes through aiohttp's server, Faust's web layer and its table router "
            "(`@app.table_route`: which worker owns the key's partition), a RocksDB read, "
            "targeting.decide and orjson.",
            "",
        ]
        if "profile" in b:
            s = b["profile"]
            any_profile = True
            lines += [
                f"In the profile (which also covers the worker's start and recovery), aiohttp's request handling "
                f"is {_hot(s, 'web_protocol.py:RequestHandler._handle_request'):.0f}% of the wall time; in it, the "
                f"view body (`Eligibility.get`) {_hot(s, 'views.py:Eligibility.get'):.0f}%, of which the table read "
                f"(`_live_state`: `users.get`) {_hot(s, 'views.py:_live_state'):.0f}% and targeting.decide "
                f"{_hot(s, 'targeting.py:decide'):.0f}%; Faust's table router {_hot(s, 'router.py:Router.route_req'):.0f}%. "
                "The rest is aiohttp parsing and writing and the event loop. `users.get` outside an event "
                "reads RocksDB twice (`key in store`, then the value, each probing the partitions' "
                "stores): the agent's one-read `load()` (streams/agents/users.py) would halve that part; "
                "views.py is not changed here (other work is under way in it). Even with the view body "
                "free, one Python process serving HTTP on one core stays under 5k req/s: aiohttp and "
                "Faust's web layer alone take more than 200 µs per request here.",
                "",
                profiling.markdown(s, "Profile: the worker under HTTP load"),
                "",
            ]
    st = results.get("state")
    if st:
        estimate = st["cold"]["seconds"] * 1_000_000 / st["users"]
        if estimate >= TARGETS["recovery_s"]:
            lines += [
                "### Recovery",
                "",
                f"Cold recovery applied {st['users'] / max(st['cold']['seconds'] - st['empty']['seconds'], 1e-9):,.0f} "
                "changelog records per second. Faust replays a changelog through the same consumer "
                "path as any stream (one event-loop round trip per record: the fetcher's "
                "`wait_first` per message, the conductor, the recovery buffer), then writes "
                "batches of 1,000 to RocksDB; the RocksDB writes are not the cost. The warm restart "
                f"took {st['warm']['seconds']:.1f} s: with the local store present only the tail of the "
                "changelog is read, plus one scan of the local table to rebuild the due-time index "
                "(`rebuild_due_index`).",
                "",
            ]
            if "profile" in st:
                s = st["profile"]
                any_profile = True
                lines += [
                    f"In the profile ({st['profiled']['users']:,} users), Faust's changelog reader "
                    f"(`_slurp_changelogs`) is {_hot(s, 'recovery.py:Recovery._slurp_changelogs'):.0f}% of the "
                    f"wall time and the due-index scan {_hot(s, 'users.py:rebuild_due_index'):.0f}%; "
                    f"{_share(s, *FRAMEWORK):.0f}% of the busy time is in Faust, mode, aiokafka and asyncio.",
                    "",
                    profiling.markdown(s, "Profile: cold recovery"),
                    "",
                ]
    if not any_profile:
        lines += ["(No profile in this run: either every target passed, or pyinstrument is not installed "
                  "(`.venv/bin/pip install pyinstrument`).)", ""]
    return lines


def _changes_section() -> list:
    return [
        "## Changes made to streams/ from these profiles",
        "",
        "- `streams/worker.py`: no terminal spinner. Faust's worker installs one whenever the log "
        "level is WARN or above and, to make it spin on every log record, sets the **root logger "
        "to DEBUG** and leaves it there; every `logger.debug()` in faust, mode and aiokafka then "
        "built a LogRecord (stack walk included), several per event. With the spinner off the root "
        "logger keeps the configured level. Measured on the pipeline mix: about 1.0 ms of worker "
        "CPU per event before, about 0.8 ms after this change alone.",
        "- `streams/worker.py`: the worker's Kafka consumer waits at most 100 ms for a fetch "
        "(`bound_fetch_wait`). Faust hard-codes `fetch_max_wait_ms=1500`; aiokafka keeps one fetch "
        "in flight per broker and leaves out of it the partitions whose records are still "
        "buffered, so records arriving on those partitions once drained waited for the parked "
        "fetch: stalls of up to 1.5 s under load. Measured at 1,000 identify/s before the change: "
        "~550 decisions/s, p50 3.4 s; after: ~900 decisions/s, p50 ~80 ms. An idle worker now "
        "spends about 2% of a core on empty fetches (1% before).",
        "- `streams/faustfixes.py` (the start-up seek fix): the partitions with no commit are "
        "sought to the beginning in one `seek_to_beginning(*partitions)` call instead of one call "
        "per partition; each call waited for the fetcher's next round (`fetch_max_wait_ms`), so "
        "a worker of a fresh group waited partitions × fetch wait before `/health` turned 200: "
        "5 s with 49 partitions and 100 ms, 73 s with Faust's 1.5 s. Now 0.1 s. "
        "tools/probes/restart_loss_probe.py: 8/8 restarts delivered with the change.",
        "- `streams/agents/users.py`: the user state is read with one store read "
        "(`load()`: the table's get hook, then the store's get) instead of `Table.get`, which "
        "asks RocksDB `key in store` and then reads the same value again. Same results, same "
        "Faust sensor calls.",
        "- `streams/agents/users.py`: the due-time index is rebuilt after recovery from the "
        "store's raw items, decoded with orjson directly (`_stored_states`), instead of "
        "`users.items()`, which passes every key and value through Faust's serializer registry: "
        "the scan of 100k users went from ~2.9 s to ~1.3 s (same users indexed: 1,900 of 100,000 "
        "in the check). It runs at every start, so it is most of a warm restart.",
        "",
    ]


def _method_section(sizes: dict) -> list:
    return [
        "## How it is measured",
        "",
        "- Workers are `python -m streams worker` processes with their own app id and topic "
        "names (config `topics:` renames), data directory and web port; the at-least-once "
        "guarantee and the RocksDB store, as shipped.",
        "- Throughput: completion is read from the worker's `/metrics` "
        "(`survey_streams_processed_total` over the inbound topics reaching N minus the "
        "redeliveries) and from `surveys.eligibility`'s end offsets staying unchanged for 3 s; "
        "the end time is the later of the last input applied and the last decision's Kafka timestamp.",
        "- The baseline (bench/baseline.py) is a separate process with the same inputs: "
        "AIOKafkaConsumer.getmany, orjson.loads, orjson.dumps, AIOKafkaProducer.send per message.",
        "- Latency (bench/latency.py) and HTTP load (bench/httpload.py) run as separate processes.",
        "- Profiles: pyinstrument on a separate, smaller run (its overhead would distort the "
        "figures above); sessions and text trees in var/bench/profiles/.",
        f"- Sizes of this run: {', '.join(f'{k}={v}' for k, v in sizes.items())}; `--quick` runs every "
        "step small. The figures are also in var/bench/results.json; "
        "`python -m bench.run --render var/bench/results.json` rewrites this page from them.",
        "",
    ]


# Main ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every step")
    parser.add_argument("--only", default=",".join(STEPS), help=f"comma-separated steps of {', '.join(STEPS)}")
    parser.add_argument("--no-profile", action="store_true", help="no pyinstrument runs for missed targets")
    parser.add_argument("--output", default=str(REPO / "docs" / "benchmarks.md"))
    parser.add_argument("--workdir", default=str(REPO / "var" / "bench"))
    parser.add_argument("--render", metavar="RESULTS_JSON", help="only write the document from a results.json")
    args = parser.parse_args(argv)
    if args.render:
        Path(args.output).write_text(document(orjson.loads(Path(args.render).read_bytes())))
        say(f"wrote {args.output} from {args.render}")
        return 0
    steps = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps: {', '.join(sorted(unknown))}")
    sizes = dict(QUICK if args.quick else FULL)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    profile_dir = None
    if not args.no_profile:
        if can_profile():
            profile_dir = workdir / "profiles"
            profile_dir.mkdir(exist_ok=True)
        else:
            say("pyinstrument is not installed: no profiles (.venv/bin/pip install pyinstrument)")
    started = time.monotonic()
    results: dict = {"quick": args.quick, "sizes": sizes, "machine": machine(),
                     "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    with Broker() as broker:
        results["broker"] = "started by the benchmark" if broker.owned else f"external, {broker.address}"
        results["versions"] = versions(broker)
        for step, fn in (("pipeline", step_pipeline), ("latency", step_latency), ("bridge", step_bridge),
                         ("state", step_state)):
            if step in steps:
                results[step] = fn(broker, workdir, sizes, profile_dir)
                (workdir / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2,
                                                                    default=str))
    results["elapsed_s"] = time.monotonic() - started
    (workdir / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2, default=str))
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(document(results))
    say(f"wrote {output} ({results['elapsed_s'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
