"""bench.targets judges a run's results and bench.document writes them: a synthetic run,
no broker. Checks the verdicts, the latency search's answer and the fault suite's row."""
from __future__ import annotations

from bench import reliability, targets
from bench.document import document


def _load(busy: float = 1.2) -> dict:
    return {"seconds": 10.0, "machine_cores_busy": busy, "bench_cores": busy - 0.1, "other_cores": 0.1,
            "waited_s": 0.0}


def _latency(rate: int, p99: float | None) -> dict:
    return {"rate": float(rate), "decided_per_s": rate * 0.99, "sent": rate * 20, "offered_per_s": rate,
            "received": rate * 20, "measured": rate * 18, "missing": 0, "p50_ms": 5.0, "p90_ms": 10.0,
            "p99_ms": p99, "max_ms": 80.0, "to_decision_p50_ms": 4.0, "to_decision_p99_ms": p99,
            "worker_cpu_share": 0.4, "load": _load()}


def _workers(count: int, rate: float) -> dict:
    messages = 200_000
    return {"workers": count, "messages": messages, "processed": 198_000, "duplicates_skipped": 2_000,
            "decisions": 33_000, "seconds": messages / rate, "events_per_s": rate, "steady_events_per_s": rate,
            "all_working": {"from_s": 3.0, "seconds": 8.0, "applied": 120_000, "events_per_s": rate * 1.1}
            if count > 1 else None,
            "cpu_seconds": 14.0 * count, "broker_cpu_seconds": 6.0, "broker_window_cpu_seconds": 5.0,
            "window_seconds": 10.0, "rss_ready": 100 << 20, "rss_end": 200 << 20,
            "per_worker_processed": [198_000 // count] * count, "store_bytes": 18 << 20,
            "store_sst_bytes": 17 << 20, "store_wal_bytes": 1 << 20, "load": _load(1.9)}


def _results(p99_at_target: float | None, bridge_c32_rps: float) -> dict:
    recovery = {"seconds": 30.0, "rss": 900 << 20, "cpu_seconds": 40.0, "store_bytes": 750 << 20,
                "store_sst_bytes": 740 << 20, "store_wal_bytes": 0, "load": _load(),
                "read_back": {"sampled": 200, "ok": 200, "unknown_status": 404, "failures": [], "passed": True}}
    return {
        "quick": False, "date": "2026-11-30 03:00 UTC", "elapsed_s": 1800.0, "broker": "started by the benchmark",
        "sizes": {"pipeline_messages": 200_000, "latency_rates": [250, 1000, 2500, 3000]},
        "machine": {"nproc": 2, "cpu": "test", "memory_gib": 8.0, "kernel": "6", "python": "3.11", "java": "17",
                    "load_before": [0.1, 0.2, 0.3]},
        "versions": {k: "1" for k in ("faust-streaming", "aiokafka", "orjson", "rocksdict", "aiohttp",
                                      "mode-streaming", "kafka")},
        "pipeline": {"traffic": {"messages": 200_000, "users": 20_000, "anonymous_first": 2_000, "identifies": 40_000,
                                 "tracks": 160_000, "duplicates": 2_000, "avg_bytes": 1000.0},
                     "preload_s": 4.0, "ratio": 12_000 / 16_000,
                     "baseline": {"count": 200_000, "seconds": 12.5, "cpu_seconds": 8.0, "events_per_s": 16_000.0,
                                  "load": _load()},
                     "one": _workers(1, 12_000.0), "two": _workers(2, 13_000.0)},
        "latency": {"runs": [_latency(250, 9.0), _latency(1000, 30.0), _latency(2500, p99_at_target)],
                    "not_run": [{"rate": 3000, "why": "the search stopped"}] if p99_at_target is None
                    or p99_at_target >= 50 else []},
        "bridge": {"users": 20_000, "runs": [
            {"concurrency": c, "requests_per_s": rps, "p50_ms": 3.0, "p90_ms": 6.0, "p99_ms": 12.0, "max_ms": 30.0,
             "statuses": {"200": 1000}, "errors": {}, "client_cpu_share": 0.5, "worker_cpu_share": 0.9,
             "load": _load()} for c, rps in ((8, 4_000.0), (32, bridge_c32_rps))]},
        "state": {"users": 1_000_000, "fill": {"avg_state_bytes": 1900.0}, "empty": {**recovery, "seconds": 2.0},
                  "cold": recovery, "warm": {**recovery, "seconds": 3.0}, "rss_per_user": 900.0,
                  "store_per_user": 790.0, "load": _load()},
        "reliability": None,
    }


def test_verdicts_and_document_when_targets_are_met():
    results = _results(p99_at_target=40.0, bridge_c32_rps=6_000.0)
    rows = targets.rows(results)
    assert [v for _, _, v, _ in rows].count(targets.MISS) == 0
    assert rows[-1][2] == targets.NOT_RUN  # no docs/reliability.md in the results
    best, above = targets.highest_sustained(results["latency"])
    assert best["rate"] == 2500 and above is None
    page = document(results)
    assert "| one worker, pipeline mix (events/s) | 1,535 | 12,000 | 7.8× |" in page
    assert "Every target with a threshold was met" in page
    what, room = targets.margins(results)[0]
    assert what == "p99 at 2,500/s" and abs(room - 0.2) < 1e-9  # 40 ms against 50


def test_misses_are_reported_with_the_search_and_the_bridge_at_32():
    results = _results(p99_at_target=120.0, bridge_c32_rps=4_500.0)
    verdicts = [v for _, _, v, _ in targets.rows(results)]
    assert verdicts.count(targets.MISS) == 2
    best, above = targets.highest_sustained(results["latency"])
    assert best["rate"] == 1000 and above["rate"] == 2500
    page = document(results)
    assert "### Latency at 2,500 identify/s" in page and "### Bridge at concurrency 32" in page
    assert "| 3,000 | not run: the search stopped |" in page


def test_recovery_that_reads_nothing_back_is_a_miss():
    results = _results(p99_at_target=40.0, bridge_c32_rps=6_000.0)
    results["state"]["cold"] = {**results["state"]["cold"],
                                "read_back": {"sampled": 200, "ok": 0, "unknown_status": 404,
                                              "failures": ["u0: HTTP 404"], "passed": False}}
    assert not targets.cold_ok(results["state"])


def test_fault_suite_figures_are_read_from_its_page(tmp_path):
    page = tmp_path / "reliability.md"
    page.write_text("# Reliability\n\n<!-- chaos:begin -->\n\n## Last run: 2026-11-30 02:00 UTC — PASS\n\n"
                    "Parameters: `--workers 3`\n\n| figure | value |\n|---|---|\n| worker kills (SIGKILL) | 6 |\n"
                    "| **lost** | **0** |\n| **split duplicates** | **0** |\n| **state differences** (users) | **0** |\n"
                    "\n| output | expected |\n|---|---|\n| x | 1 |\n<!-- chaos:end -->\n")
    rel = reliability.read(page)
    assert rel["verdict"] == "PASS" and rel["date"] == "2026-11-30 02:00 UTC"
    assert rel["figures"] == {"worker kills (SIGKILL)": "6", "lost": "0", "split duplicates": "0",
                              "state differences (users)": "0"}
    name, measured, verdict, _ = targets._reliability_row(rel)
    assert "lost 0" in measured and verdict == targets.REPORTED
    assert reliability.read(tmp_path / "absent.md") is None
