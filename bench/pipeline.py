"""Benchmark 1: pipeline throughput of one and two workers against the aiokafka baseline."""
from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import orjson

from streams.core import topics as names

from .common import (PYTHON, REPO, OffsetWatcher, Run, dir_bytes, files_bytes, metric_sum, proc_cpu_seconds,
                     produce, say)
from .gen import Traffic

TIMEOUT_S = 3600.0  # the whole drain of one run, whatever N
STABLE_S = 3.0  # eligibility end offsets unchanged this long after all inputs are processed


def preload(run: Run, traffic: Traffic) -> float:
    records = ((run.topic(logical), key, value) for logical, key, value in traffic.records)
    seconds = asyncio.run(produce(run.bootstrap, records, len(traffic.records), "preload"))
    say(f"  preloaded {len(traffic.records):,} messages ({traffic.bytes / 2**20:.0f} MiB) in {seconds:.1f}s")
    return seconds


def baseline(run: Run, traffic: Traffic, label: str = "baseline") -> dict:
    """The plain aiokafka consume-decode-encode-produce loop, in its own process (its own
    consumer group and output topic, so it can run more than once on the same inputs)."""
    inbound = [run.topic(n) for n in (names.SEGMENT_IDENTIFY, names.SEGMENT_TRACK)]
    out = run.topic(f"bench.{label}-out")
    run.create_topic(out)
    say(f"  {label}: aiokafka consume -> orjson loads/dumps -> produce")
    result = subprocess.run([PYTHON, "-m", "bench.baseline", run.bootstrap, out, str(len(traffic.records)), *inbound],
                            cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S + 60)
    if result.returncode != 0:
        raise RuntimeError(f"baseline failed:\n{result.stderr[-3000:]}")
    data = orjson.loads(result.stdout.strip().splitlines()[-1])
    data["events_per_s"] = data["count"] / data["seconds"] if data["seconds"] else 0.0
    say(f"  {label}: {data['count']:,} in {data['seconds']:.2f}s = {data['events_per_s']:,.0f}/s")
    return data


def workers(run: Run, traffic: Traffic, count: int, broker_pid: int | None = None,
            profile: Path | None = None, label: str = "", command: list | None = None) -> dict:
    """Start `count` workers on the pre-loaded topics; time until all is processed and decided."""
    label = label or f"{count} worker{'s' if count > 1 else ''}"
    inbound = {run.topic(n) for n in names.INBOUND}
    expected = traffic.unique
    watcher = OffsetWatcher(run.bootstrap, run.topic(names.ELIGIBILITY), run.partitions)
    base = len(run.workers)
    procs = [run.worker(base + i, profile=profile if i == 0 else None, command=command) for i in range(count)]
    for proc in procs:
        proc.start()
    broker_cpu0 = proc_cpu_seconds(broker_pid) if broker_pid else 0.0
    # (wall time, messages in, inputs applied, inputs applied per worker, CPU-s per worker, broker CPU-s)
    samples: list = []
    rss_ready: dict = {}
    first = None
    deadline = time.monotonic() + TIMEOUT_S
    last_note = time.monotonic()
    cpu_first: dict = {}
    broker_first = 0.0
    try:
        while time.monotonic() < deadline:
            for proc in procs:
                if proc.proc.poll() is not None:
                    raise RuntimeError(f"worker exited with {proc.proc.returncode}:\n{proc.log_tail()}")
            now = time.time()
            metrics = [p.metrics() for p in procs]
            seen = sum(metric_sum(m, "survey_streams_messages_in_total", inbound) for m in metrics)
            # Inputs applied to state: every message but the redeliveries. (Skipped duplicates
            # are not counted: after a rebalance, at-least-once redelivers and skips more.)
            per_worker = [metric_sum(m, "survey_streams_processed_total", inbound) for m in metrics]
            done = sum(per_worker)
            for proc, m in zip(procs, metrics):
                if m and proc.index not in rss_ready:
                    rss_ready[proc.index] = proc.rss()
            if first is None and seen > 0:
                first = (samples[-1][0] + now) / 2 if samples else now
                cpu_first = {p.index: p.cpu_seconds() for p in procs}
                broker_first = proc_cpu_seconds(broker_pid) if broker_pid else 0.0
            samples.append((now, seen, done, per_worker, [p.cpu_seconds() for p in procs],
                            proc_cpu_seconds(broker_pid) if broker_pid else 0.0))
            if done >= expected:
                break
            if time.monotonic() - last_note > 5:
                last_note = time.monotonic()
                rate = done / (now - first) if first and now > first else 0.0
                say(f"  {label}: {int(done):,}/{expected:,} processed ({rate:,.0f}/s so far)")
            time.sleep(0.1 if first is None else 0.25)
        else:
            raise RuntimeError(f"{label}: not done within {TIMEOUT_S}s")
        processed_at = samples[-1][0]
        cpu_done = {p.index: p.cpu_seconds() for p in procs}
        broker_done = proc_cpu_seconds(broker_pid) if broker_pid else 0.0
        # Every decision emitted: the eligibility topic stops growing.
        total, stable_since = watcher.total(), time.monotonic()
        while time.monotonic() - stable_since < STABLE_S and time.monotonic() < deadline:
            time.sleep(0.25)
            now_total = watcher.total()
            if now_total != total:
                total, stable_since = now_total, time.monotonic()
        last_decision = (watcher.last_timestamp_ms() or 0) / 1000
        end = max(processed_at, last_decision)
        metrics = [p.metrics() for p in procs]
        processed = sum(metric_sum(m, "survey_streams_processed_total", inbound) for m in metrics)
        skipped = sum(metric_sum(m, "survey_streams_duplicates_skipped_total", inbound) for m in metrics)
        seconds = end - first
        result = {
            "workers": count,
            "messages": len(traffic.records),
            "processed": int(processed),
            "duplicates_skipped": int(skipped),
            "decisions": total,
            "seconds": seconds,
            "events_per_s": len(traffic.records) / seconds,
            "steady_events_per_s": _steady_rate(samples, expected),
            "all_working": _all_working(samples, expected, first) if count > 1 else None,
            "cpu_seconds": sum(cpu_done[i] - cpu_first.get(i, 0.0) for i in cpu_done),
            "broker_cpu_seconds": (proc_cpu_seconds(broker_pid) - broker_cpu0) if broker_pid else None,
            # The broker's CPU over the same window as the workers' (first input read -> all applied).
            "broker_window_cpu_seconds": (broker_done - broker_first) if broker_pid else None,
            "window_seconds": processed_at - first,
            "rss_ready": sum(rss_ready.values()),
            "rss_end": sum(p.rss() for p in procs),
            "per_worker_processed": [int(metric_sum(m, "survey_streams_processed_total", inbound)) for m in metrics],
        }
    finally:
        watcher.close()
        for proc in procs:
            proc.stop()
    stores = [proc.data_dir for proc in procs]
    result["store_bytes"] = sum(dir_bytes(d) for d in stores)
    result["store_sst_bytes"] = sum(files_bytes(d, "*.sst") for d in stores)
    result["store_wal_bytes"] = sum(files_bytes(d, "*.log") for d in stores)
    say(f"  {label}: {len(traffic.records):,} messages, {result['processed']:,} processed, {result['duplicates_skipped']:,} "
        f"duplicates, {total:,} decisions in {seconds:.2f}s = {result['events_per_s']:,.0f}/s "
        f"(steady {result['steady_events_per_s']:,.0f}/s, {result['cpu_seconds']:.1f} CPU-s)")
    return result


def _all_working(samples: list, expected: int, first: float) -> dict | None:
    """The rate while every worker applies inputs: from the first sample at which each one has
    applied some (the group formed, partitions shared) to 90% of the inputs."""
    lo = next((s for s in samples if s[3] and all(x > 0 for x in s[3])), None)
    hi = next((s for s in samples if s[2] >= 0.9 * expected), None)
    if lo is None or hi is None or hi[0] <= lo[0]:
        return None
    seconds = hi[0] - lo[0]
    return {"from_s": lo[0] - first, "seconds": seconds, "applied": hi[2] - lo[2],
            "events_per_s": (hi[2] - lo[2]) / seconds,
            "worker_cores": [(b - a) / seconds for a, b in zip(lo[4], hi[4])],
            "broker_cores": (hi[5] - lo[5]) / seconds}


def _steady_rate(samples: list, expected: int) -> float:
    """Rate between 10% and 90% of the inputs: the worker's pace without start and tail."""
    lo = next((s for s in samples if s[2] >= 0.1 * expected), None)
    hi = next((s for s in samples if s[2] >= 0.9 * expected), None)
    if lo is None or hi is None or hi[0] <= lo[0]:
        return 0.0
    return (hi[2] - lo[2]) / (hi[0] - lo[0])
