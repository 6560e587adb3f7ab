"""The throughput issue's targets ("process a fetched batch per Faust event"), the figures of
the run before it, and the verdict of a run's results on each target.

bench.run uses the predicates to decide which steps to profile; bench.document writes the
targets table and the before → after table from `rows` and `before_after`.
"""
from __future__ import annotations

from .fmt import cores, ms, num

TARGETS = {
    "one_worker_events_per_s": 7_500.0,  # the pipeline mix, one worker
    "one_worker_ratio": 0.40,  # of the plain aiokafka loop's events/s, same run
    "latency_rate": 2_500,  # identify/s offered
    "latency_p99_ms": 50.0,  # identify -> decision, at latency_rate
    "cold_recovery_s": 60.0,  # 1M users, from the changelog, no local store
    "warm_restart_s": 5.0,  # the same store, the changelog applied
    "bridge_concurrency": 32,
    "bridge_rps": 5_000.0,  # GET /v1/eligibility/{userId} at bridge_concurrency
    "bridge_p99_ms": 20.0,
}

# The figures of docs/benchmarks.md before the batch path (make bench, 2026-11-28 12:08 UTC,
# same machine type): one Faust event per record.
BEFORE_DATE = "2026-11-28"
BEFORE = {
    "one_worker_events_per_s": 1_535,
    "baseline_events_per_s": 17_362,
    "one_worker_ratio": 0.088,
    "worker_cpu_us_per_event": 643,
    "baseline_cpu_us_per_event": 41,
    "two_workers_events_per_s": 1_667,
    "latency_p99_ms": {250: 15.3, 1000: 616.9, 5000: None},  # None: not decided within the drain
    "bridge": {8: (3_012, 6.4), 32: (3_288, 20.4)},  # concurrency: (req/s, p99 ms)
    "cold_recovery_s": 242.4,  # 1,000,000 users
    "warm_restart_s": 15.8,
}


# Per step: did the run meet the target? ------------------------------------------------------
def pipeline_ok(p: dict) -> bool:
    return (p["one"]["events_per_s"] >= TARGETS["one_worker_events_per_s"]
            and p["ratio"] >= TARGETS["one_worker_ratio"])


def latency_at_target(lat: dict) -> dict | None:
    return next((r for r in lat["runs"] if r["rate"] == TARGETS["latency_rate"]), None)


def latency_ok(run: dict | None) -> bool:
    return run is not None and num(run["p99_ms"]) < TARGETS["latency_p99_ms"]


def highest_sustained(lat: dict) -> tuple[dict | None, dict | None]:
    """The highest offered rate with p99 under the target, every lower rate measured under it
    too, and the first rate above it that was not (or None)."""
    best = None
    for run in sorted(lat["runs"], key=lambda r: r["rate"]):
        if not latency_ok(run):
            return best, run
        best = run
    return best, None


def bridge_at_target(b: dict) -> dict | None:
    return next((r for r in b["runs"] if r["concurrency"] == TARGETS["bridge_concurrency"]), None)


def bridge_ok(b: dict) -> bool:
    run = bridge_at_target(b)
    return (run is not None and run["requests_per_s"] >= TARGETS["bridge_rps"]
            and run["p99_ms"] < TARGETS["bridge_p99_ms"])


def cold_estimate_1m(s: dict) -> float:
    """The cold recovery of 1M users: measured when the run had 1M, else the start-up plus
    the recovery beyond it scaled linearly (a quick run)."""
    if s["users"] >= 1_000_000:
        return s["cold"]["seconds"]
    beyond = max(s["cold"]["seconds"] - s["empty"]["seconds"], 0.0)
    return s["empty"]["seconds"] + beyond * 1_000_000 / s["users"]


def read_back_ok(s: dict, which: str) -> bool:
    check = s[which].get("read_back")
    return bool(check and check["passed"])


def cold_ok(s: dict) -> bool:
    return cold_estimate_1m(s) < TARGETS["cold_recovery_s"] and read_back_ok(s, "cold")


def warm_ok(s: dict) -> bool:
    return s["warm"]["seconds"] < TARGETS["warm_restart_s"] and read_back_ok(s, "warm")


# The targets table -----------------------------------------------------------------------
PASS, MISS, REPORTED, NOT_RUN = "**met**", "**missed**", "reported", "not run"


def headroom(measured: float, threshold: float, at_least: bool) -> float:
    """How far a measured value is on the good side of its threshold, as a fraction of the
    threshold (negative: on the wrong side)."""
    measured = num(measured)
    if measured == float("inf"):
        return float("-inf")
    return (measured / threshold - 1) if at_least else (1 - measured / threshold)


def margins(results: dict) -> list[tuple[str, float]]:
    """(what, headroom) of every threshold this run measured, narrowest first."""
    t, out = TARGETS, []
    p, lat, s, b = (results.get(k) for k in ("pipeline", "latency", "state", "bridge"))
    if p:
        out += [("one worker's events/s", headroom(p["one"]["events_per_s"], t["one_worker_events_per_s"], True)),
                ("one worker's share of the plain loop", headroom(p["ratio"], t["one_worker_ratio"], True))]
    at = latency_at_target(lat) if lat else None
    if at:
        out.append((f"p99 at {t['latency_rate']:,}/s", headroom(at["p99_ms"], t["latency_p99_ms"], False)))
    if s:
        out += [("cold recovery of 1M users", headroom(cold_estimate_1m(s), t["cold_recovery_s"], False)),
                ("warm restart", headroom(s["warm"]["seconds"], t["warm_restart_s"], False))]
    at = bridge_at_target(b) if b else None
    if at:
        out += [("bridge req/s", headroom(at["requests_per_s"], t["bridge_rps"], True)),
                ("bridge p99", headroom(at["p99_ms"], t["bridge_p99_ms"], False))]
    return sorted(out, key=lambda m: m[1])


def _pct(*values: float) -> str:
    return " / ".join("—" if v == float("-inf") else f"{100 * v:+.0f}%" for v in values)


def rows(results: dict) -> list[tuple[str, str, str, str]]:
    """(target, measured, verdict, headroom) for every target of the issue, in its order."""
    t = TARGETS
    out = []
    p = results.get("pipeline")
    name = (f"one worker, pipeline mix: ≥ {t['one_worker_events_per_s']:,.0f} events/s and "
            f"≥ {100 * t['one_worker_ratio']:.0f}% of the plain aiokafka loop (same run)")
    if p:
        one, base = p["one"], p["baseline"]
        out.append((name, f"{one['events_per_s']:,.0f} events/s = {100 * p['ratio']:.1f}% of the loop's "
                          f"{base['events_per_s']:,.0f}; CPU per event: worker {cpu_us(one):,.0f} µs, "
                          f"loop {cpu_us(base):,.0f} µs", PASS if pipeline_ok(p) else MISS,
                    _pct(headroom(one["events_per_s"], t["one_worker_events_per_s"], True),
                         headroom(p["ratio"], t["one_worker_ratio"], True))))
        two = p["two"]
        out.append(("two workers, same app (partitions shared): ratio to one worker; the broker's share "
                    "of the machine",
                    f"{two['events_per_s']:,.0f} events/s = {two['events_per_s'] / one['events_per_s']:.2f}× one "
                    f"worker{_all_working(two, one)}; broker {broker_cores(two):.2f} cores = "
                    f"{100 * broker_cores(two) / cores():.0f}% of the machine's {cores()} "
                    f"(one worker's run: {broker_cores(one):.2f} cores)", REPORTED, ""))
    else:
        out += [(name, "", NOT_RUN, ""), ("two workers: ratio to one worker; the broker's share", "", NOT_RUN, "")]
    lat = results.get("latency")
    name = f"p99 identify → decision < {t['latency_p99_ms']:.0f} ms at {t['latency_rate']:,} identify/s offered"
    at = latency_at_target(lat) if lat else None
    if at:
        out.append((name, f"p99 {ms(at['p99_ms'])} (p50 {ms(at['p50_ms'])}, {at['decided_per_s']:,.0f} decided/s)",
                    PASS if latency_ok(at) else MISS, _pct(headroom(at["p99_ms"], t["latency_p99_ms"], False))))
    else:
        out.append((name, "", NOT_RUN, ""))
    if lat:
        best, above = highest_sustained(lat)
        tried = ", ".join(f"{r['rate']:,.0f}" for r in sorted(lat["runs"], key=lambda r: r["rate"]))
        found = (f"{best['rate']:,.0f} identify/s (p99 {ms(best['p99_ms'])})" if best
                 else "none of the rates tried")
        if above:
            found += f"; at {above['rate']:,.0f}/s p99 was {ms(above['p99_ms'])}"
        out.append((f"highest offered rate with p99 < {t['latency_p99_ms']:.0f} ms", f"{found} (rates tried: {tried})",
                    REPORTED, ""))
    s = results.get("state")
    if s:
        cold, warm = s["cold"], s["warm"]
        measured = (f"{cold['seconds']:.1f} s" if s["users"] >= 1_000_000 else
                    f"{cold['seconds']:.1f} s for {s['users']:,} users, ~{cold_estimate_1m(s):.0f} s for 1M "
                    "(start-up + the rest scaled linearly)")
        out.append((f"cold recovery of 1M users < {t['cold_recovery_s']:.0f} s, users readable afterwards",
                    f"{measured}; {_read_back_note(cold)}", PASS if cold_ok(s) else MISS,
                    _pct(headroom(cold_estimate_1m(s), t["cold_recovery_s"], False))))
        out.append((f"warm restart < {t['warm_restart_s']:.0f} s", f"{warm['seconds']:.1f} s; {_read_back_note(warm)}",
                    PASS if warm_ok(s) else MISS, _pct(headroom(warm["seconds"], t["warm_restart_s"], False))))
    else:
        out += [("cold recovery of 1M users < 60 s", "", NOT_RUN, ""), ("warm restart < 5 s", "", NOT_RUN, "")]
    b = results.get("bridge")
    name = (f"bridge `GET /v1/eligibility/{{userId}}` ≥ {t['bridge_rps']:,.0f} req/s with p99 "
            f"< {t['bridge_p99_ms']:.0f} ms at concurrency {t['bridge_concurrency']}")
    at = bridge_at_target(b) if b else None
    if at:
        out.append((name, f"{at['requests_per_s']:,.0f} req/s, p99 {at['p99_ms']:.1f} ms",
                    PASS if bridge_ok(b) else MISS, _pct(headroom(at["requests_per_s"], t["bridge_rps"], True),
                                                         headroom(at["p99_ms"], t["bridge_p99_ms"], False))))
    else:
        out.append((name, "", NOT_RUN, ""))
    out.append(_reliability_row(results.get("reliability")))
    return out


def cpu_us(r: dict) -> float:
    """CPU µs per event of the worker(s) (`messages`) or of the loop (`count`)."""
    events = r.get("messages") or r.get("count") or 1
    return 1e6 * r["cpu_seconds"] / events


def broker_cores(r: dict) -> float:
    """The broker's CPU over the workers' window (first input read -> all applied), in cores."""
    if r.get("broker_window_cpu_seconds") is not None and r.get("window_seconds"):
        return r["broker_window_cpu_seconds"] / r["window_seconds"]
    return (r.get("broker_cpu_seconds") or 0.0) / max(r["seconds"], 1e-9)


def _all_working(two: dict, one: dict) -> str:
    both = two.get("all_working")
    if not both:
        return ""
    return (f"; with both applying inputs (from {both['from_s']:.1f} s on) {both['events_per_s']:,.0f}/s = "
            f"{both['events_per_s'] / max(one['steady_events_per_s'], 1e-9):.2f}× one worker's steady rate")


def _read_back_note(r: dict) -> str:
    check = r.get("read_back")
    if not check:
        return "users not read back"
    return (f"{check['ok']}/{check['sampled']} sampled users read back intact through GET /v1/users/{{id}}, "
            f"an unknown id {check['unknown_status']}")


def _reliability_row(rel: dict | None) -> tuple[str, str, str, str]:
    name = "fault suite (`make chaos`) with the batch path on"
    if not rel:
        return name, "docs/reliability.md not present: the fault suite has not been run on this branch", NOT_RUN, ""
    figures = rel["figures"]
    shown = [f"{k} {figures[k]}" for k in ("lost", "split duplicates", "state differences (users)",
                                           "worker kills (SIGKILL)", "broker restarts", "recovery after a kill, p50 / max")
             if k in figures]
    return (name, f"docs/reliability.md, run of {rel['date']}: {rel['verdict']}"
            + (f" ({', '.join(shown)})" if shown else ""), REPORTED, "")
