"""The top of the page: the issue's targets, before → after, and the fault suite's figures."""
from __future__ import annotations

from ..fmt import ms, num
from ..targets import BEFORE, BEFORE_DATE, MISS, PASS, cold_estimate_1m, cpu_us, rows


def targets_section(results: dict) -> list:
    table = rows(results)
    missed = [name for name, _, verdict, _ in table if verdict == MISS]
    lines = [
        "## Targets",
        "",
        "The targets of the issue \"Throughput: process a fetched batch per Faust event, not a record "
        "per event\", each measured in this run; the plain aiokafka loop ran in the same run, on the "
        "same broker, just before and just after the one worker (the faster of the two is the reference).",
        "",
        "| target | measured | | headroom |",
        "|---|---|---|---:|",
        *[f"| {name} | {measured or '—'} | {verdict} | {room} |" for name, measured, verdict, room in table],
        "",
        "Headroom: how far the figure is on the good side of its threshold, as a share of the threshold "
        "(negative: missed by that much); two figures for the targets with two thresholds.",
        "",
    ]
    if missed:
        lines += [f"Missed: {len(missed)} of {sum(1 for _, _, v, _ in table if v in (PASS, MISS))} targets with a "
                  "threshold; where the time goes for each is under \"Where the time goes\" below.", ""]
    return lines


def _times(after: float, before: float, smaller_is_better: bool = False) -> str:
    if not before or not after or num(after) == float("inf"):
        return ""
    if smaller_is_better:
        return f"{before / after:,.1f}× less" if after <= before else f"{after / before:,.1f}× more"
    return f"{after / before:,.1f}×"


def before_after_section(results: dict) -> list:
    b = BEFORE
    out: list[tuple[str, str, str, str]] = []
    p = results.get("pipeline")
    if p:
        one, two, base = p["one"], p["two"], p["baseline"]
        out += [
            ("one worker, pipeline mix (events/s)", f"{b['one_worker_events_per_s']:,}", f"{one['events_per_s']:,.0f}",
             _times(one["events_per_s"], b["one_worker_events_per_s"])),
            ("one worker / the plain aiokafka loop (same run)",
             f"{100 * b['one_worker_ratio']:.1f}% (loop {b['baseline_events_per_s']:,}/s)",
             f"{100 * p['ratio']:.1f}% (loop {base['events_per_s']:,.0f}/s)", ""),
            ("worker CPU per event", f"{b['worker_cpu_us_per_event']} µs", f"{cpu_us(one):,.0f} µs",
             _times(cpu_us(one), b["worker_cpu_us_per_event"], smaller_is_better=True)),
            ("loop CPU per event", f"{b['baseline_cpu_us_per_event']} µs", f"{cpu_us(base):,.0f} µs", ""),
            ("two workers (events/s)", f"{b['two_workers_events_per_s']:,}", f"{two['events_per_s']:,.0f}",
             _times(two["events_per_s"], b["two_workers_events_per_s"])),
        ]
    lat = results.get("latency")
    if lat:
        by_rate = {r["rate"]: r for r in lat["runs"]}
        for rate, before in b["latency_p99_ms"].items():
            run = by_rate.get(rate)
            after = ms(run["p99_ms"]) if run else "not measured (" + next(
                (x["why"] for x in lat.get("not_run", []) if x["rate"] == rate), "not in this run's rates") + ")"
            out.append((f"p99 identify → decision at {rate:,}/s", ms(before), after,
                        _times(num(run["p99_ms"]), before, smaller_is_better=True) if run and before else ""))
    br = results.get("bridge")
    if br:
        for concurrency, (rps, p99) in b["bridge"].items():
            run = next((r for r in br["runs"] if r["concurrency"] == concurrency), None)
            out.append((f"bridge req/s at concurrency {concurrency}", f"{rps:,} (p99 {p99} ms)",
                        f"{run['requests_per_s']:,.0f} (p99 {run['p99_ms']:.1f} ms)" if run else "not measured",
                        _times(run["requests_per_s"], rps) if run else ""))
    s = results.get("state")
    if s:
        cold = cold_estimate_1m(s)
        label = f"{cold:.1f} s" if s["users"] >= 1_000_000 else f"~{cold:.0f} s (from {s['users']:,} users)"
        out += [
            ("cold recovery of 1M users", f"{b['cold_recovery_s']} s", label,
             _times(cold, b["cold_recovery_s"], smaller_is_better=True)),
            ("warm restart", f"{b['warm_restart_s']} s (1M users)",
             f"{s['warm']['seconds']:.1f} s ({s['users']:,} users)",
             _times(s["warm"]["seconds"], b["warm_restart_s"], smaller_is_better=True)),
        ]
    if not out:
        return []
    return [
        "## Before → after",
        "",
        f"Before: `make bench` of {BEFORE_DATE} (one Faust event per record; the figures of "
        f"docs/benchmarks.md as it was, kept as constants in bench/targets.py). After: this run.",
        "",
        f"| | before ({BEFORE_DATE}) | after (this run) | change |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {before} | {after} | {change} |" for name, before, after, change in out],
        "",
    ]


def reliability_section(rel: dict | None) -> list:
    lines = ["## Fault suite", ""]
    if not rel:
        return lines + ["Not run: docs/reliability.md (written by `make chaos`) is not on this branch. "
                        "This benchmark does not run the fault suite itself.", ""]
    lines += [f"From docs/reliability.md (`make chaos`, its own run of {rel['date']}, not this benchmark's): "
              f"**{rel['verdict']}**.", ""]
    if rel["figures"]:
        lines += ["| figure | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in rel["figures"].items()], ""]
    return lines
