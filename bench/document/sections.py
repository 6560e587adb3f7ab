"""The sections with each step's measurements: pipeline, latency, bridge, state."""
from __future__ import annotations

import yaml

from ..common import DEFAULT_CONFIG
from ..fmt import cores, load_note, mib, ms
from ..targets import TARGETS, broker_cores, cpu_us


def pipeline_section(p: dict) -> list:
    t, b, one, two = p["traffic"], p["baseline"], p["one"], p["two"]
    lines = [
        "## 1. Pipeline throughput",
        "",
        f"{t['messages']:,} Segment messages pre-loaded into the inbound topics, keyed by user: "
        f"{t['identifies']:,} identify (10-30 traits), {t['tracks']:,} track, {t['users']:,} users of whom "
        f"{t['anonymous_first']:,} are anonymous first, {t['duplicates']:,} redeliveries of an earlier "
        f"messageId; {t['avg_bytes']:,.0f} bytes per message on average. Pre-loading took {p['preload_s']:.1f} s.",
        "",
        "| | events/s | seconds | CPU-s of the process(es) | CPU µs per event | decisions emitted | broker CPU (cores) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    loops = p.get("baselines") or [b]
    for i, loop in enumerate(loops):
        when = ("" if len(loops) == 1 else " (before the one worker)" if i == 0 else " (after the one worker)")
        lines.append(f"| plain aiokafka loop: consume → orjson loads/dumps → produce{when}"
                     f"{' — the reference' if len(loops) > 1 and loop == b else ''} | {loop['events_per_s']:,.0f} | "
                     f"{loop['seconds']:.1f} | {loop['cpu_seconds']:.1f} | {cpu_us(loop):,.0f} | — | — |")
    for label, r in (("one worker", one), ("two workers (same app id)", two)):
        lines.append(f"| {label} | {r['events_per_s']:,.0f} (steady {r['steady_events_per_s']:,.0f}) | "
                     f"{r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {cpu_us(r):,.0f} | {r['decisions']:,} | "
                     f"{broker_cores(r):.2f} |")
    ratio2 = two["events_per_s"] / one["events_per_s"]
    both = two.get("all_working")
    lines += [
        "",
        (f"The loop ran before and after the one worker (its own consumer group each time); the faster run, "
         f"{b['events_per_s']:,.0f} events/s, is the reference: another process on the shared machine can only "
         "slow a run down. " if len(loops) > 1 else "")
        + f"One worker reaches **{100 * p['ratio']:.1f}%** of the plain loop's events/s and spends "
        f"{cpu_us(one) / max(cpu_us(b), 1e-9):.1f}× its CPU per event. Two workers: **{ratio2:.2f}×** one worker "
        f"(per worker: {', '.join(f'{x:,}' for x in two['per_worker_processed'])} inputs applied)"
        + (f"; once both applied inputs ({both['from_s']:.1f} s after the first input was read"
           + (": the group of two formed while the first worker already ran, and the rebalance handed half of its "
              "partitions to the second" if both["from_s"] >= 2 else "") + f") they went at "
           f"{both['events_per_s']:,.0f} events/s, "
           f"{both['events_per_s'] / max(one['steady_events_per_s'], 1e-9):.2f}× one worker's steady rate"
           + _both_cores(both, one) if both else "") + ".",
        f"The broker took **{broker_cores(two):.2f} cores** during the two workers' run "
        f"({100 * broker_cores(two) / cores():.0f}% of the machine's {cores()} cores; {broker_cores(one):.2f} "
        f"with one worker), and the machine's cores were {two['load']['machine_cores_busy']:.2f} busy in all"
        + (": on this machine the second worker gets what the broker, the first worker and the metrics "
           "polling leave of two cores, not a core of its own." if two["load"]["machine_cores_busy"]
           > 0.85 * cores() else "."),
        f"One worker applied {one['processed']:,} inputs and skipped {one['duplicates_skipped']:,} duplicates; two "
        f"workers {two['processed']:,} and {two['duplicates_skipped']:,}"
        + (" (redeliveries after the rebalance that forms the group of two are skipped as duplicates, as they "
           "should be)" if two["duplicates_skipped"] > one["duplicates_skipped"] else "")
        + ". The time runs from the first input read (metrics polled every 0.25 s) to the later of the last "
          "input applied and the Kafka timestamp of the last decision. \"Steady\" is the rate between 10% and "
          "90% of the inputs.",
        "",
        f"- plain loop: {load_note(b.get('load'))}",
        f"- one worker: {load_note(one.get('load'))}",
        f"- two workers: {load_note(two.get('load'))}",
        "",
    ]
    return lines


def _both_cores(both: dict, one: dict) -> str:
    """How much of a core each of two workers used while both applied inputs."""
    shares = both.get("worker_cores")
    if not shares:
        return ""
    alone = one["cpu_seconds"] / max(one["seconds"], 1e-9)
    text = (f"; meanwhile the workers used {' and '.join(f'{x:.2f}' for x in shares)} of a core "
            f"(one worker alone: {alone:.2f}) and the broker {both['broker_cores']:.2f}")
    if max(shares) < 0.85 and alone >= 0.85:
        text += (": neither worker was held by its CPU, as the one worker was, nor the two by the broker; "
                 "they spent part of the window waiting")
    return text


def latency_section(lat: dict) -> list:
    t = TARGETS
    lines = [
        "## 2. Decision latency",
        "",
        "Identify messages for new users (each one changes the user's decision from "
        "`not_identified`), produced at a fixed rate by a second process; latency is from the "
        "produce call to the decision consumed from `surveys.eligibility` by that process. "
        "Inputs of the first 2 s are not measured; a decision not seen within 15 s after the "
        f"last send counts as infinitely late. The rates are tried in increasing order, a fresh worker "
        f"each; the search stops at the first rate from {t['latency_rate']:,}/s up whose p99 is "
        f"{t['latency_p99_ms']:.0f} ms or more.",
        "",
        "| offered identify/s | sent | decided | worker decided/s | p50 | p90 | p99 | max | p99 to the worker's produce | worker CPU | longest loop stall (stalls > 20 ms); of it held by the worker's code | machine |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in lat["runs"]:
        lines.append(
            f"| {r['rate']:,.0f} (achieved {r['offered_per_s']:,.0f}) | {r['sent']:,} | {r['received']:,} | "
            f"{r['decided_per_s']:,.0f} | {ms(r['p50_ms'])} | {ms(r['p90_ms'])} | {ms(r['p99_ms'])} | "
            f"{ms(r['max_ms'])} | {ms(r['to_decision_p99_ms'])} | {100 * r['worker_cpu_share']:.0f}% | "
            f"{loop_stall_note(r)} | {load_note(r.get('load'))} |")
    for r in lat.get("not_run", []):
        lines.append(f"| {r['rate']:,} | not run: {r['why']} | | | | | | | | | | |")
    lines.append("")
    return lines


def loop_stall_note(run: dict) -> str:
    """The worker's longest event-loop stall in the run's last minute and how many passed 20 ms
    (runs from before the loop watch have neither)."""
    if run.get("loop_stall_max_s") is None:
        return "n/a"
    note = f"{1000 * run['loop_stall_max_s']:.0f} ms ({run.get('loop_stalls', {}).get('0.02s', 0):.0f})"
    if run.get("loop_held_max_s") is not None:  # the part the loop's thread ran; the rest waited for a core
        note += f"; held {1000 * run['loop_held_max_s']:.0f} ms ({run.get('loop_held', {}).get('0.02s', 0):.0f})"
    return note


def bridge_section(b: dict) -> list:
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
            f"{100 * r['client_cpu_share']:.0f}% | {load_note(r.get('load'))} |")
    lines.append("")
    return lines


def _read_back(r: dict) -> str:
    check = r.get("read_back")
    if not check:
        return "not checked"
    text = f"{check['ok']}/{check['sampled']} intact, unknown id → {check['unknown_status']}"
    return text if check["passed"] else f"**{text}** ({'; '.join(check['failures'][:2])})"


def _partitions(s: dict) -> int:
    """The partition count of the state step's run (older results: the default config's)."""
    if s.get("partitions"):
        return s["partitions"]
    return int(yaml.safe_load(DEFAULT_CONFIG.read_text()).get("project", {}).get("partitions", 8))


def _write_buffers(s: dict) -> int:
    return _partitions(s) * 3 * 64 * 2**20


def _due(r: dict) -> str:
    due = r.get("due_index")
    if not due:
        return "not seen"
    after = due["done_after_health_s"]
    return (f"{due['users']:,} users due, scan {due['seconds']:.1f} s, "
            + (f"done {after:.1f} s after /health" if after >= 0.25 else "done when /health answered 200"))


def state_section(s: dict, p: dict | None = None) -> list:
    fill, empty, cold, warm = s["fill"], s["empty"], s["cold"], s["warm"]
    users = s["users"]
    lines = [
        "## 4. State",
        "",
        f"The users table's changelog filled directly with {users:,} user states "
        f"({fill['avg_state_bytes']:,.0f} bytes of JSON per user on average: 10-30 traits with their times, "
        f"~10 handled messageIds, triggers, the last decision), made by the real userstate/targeting code; "
        f"then a worker started on it. Users read back: {min(users, cold.get('read_back', {}).get('sampled', 0)):,} "
        "ids spread over the whole range (the last one written included) through `GET /v1/users/{userId}` "
        "with the admin key, compared with what was written; plus an id never written.",
        "",
        "| | /health 200 after | users read back | due-time index, rebuilt in the background | RSS then | "
        "RocksDB on disk | of which SST | machine |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        f"| empty table (start-up alone) | {empty['seconds']:.1f} s | — | {_due(empty)} | {mib(empty['rss'])} | "
        f"{mib(empty['store_bytes'])} | {mib(empty['store_sst_bytes'])} | |",
        f"| cold: {users:,} users from the changelog, no local store | {cold['seconds']:.1f} s | {_read_back(cold)} | "
        f"{_due(cold)} | {mib(cold['rss'])} | {mib(cold['store_bytes'])} | {mib(cold['store_sst_bytes'])} | "
        f"{load_note(cold.get('load'))} |",
        f"| warm restart: local store present | {warm['seconds']:.1f} s | {_read_back(warm)} | {_due(warm)} | "
        f"{mib(warm['rss'])} | {mib(warm['store_bytes'])} | {mib(warm['store_sst_bytes'])} | "
        f"{load_note(warm.get('load'))} |",
        "",
        "/health turns 200 once the table is recovered; the due-time index (which users a timer must look at "
        "again, and when) is then rebuilt in the background from the local store, so a due time found late "
        "only fires late. \"RSS then\" is read 3 s after that rebuild ended.",
        "",
        f"- Cold recovery: {users / max(cold['seconds'] - empty['seconds'], 1e-9):,.0f} users/s beyond the "
        f"start-up time ({cold['cpu_seconds']:.0f} CPU-s in the worker).",
        f"- RocksDB on disk: **{s['store_per_user']:,.0f} bytes per user** (compressed SST; the JSON is "
        f"{fill['avg_state_bytes']:,.0f} bytes).",
        f"- RSS: after the cold recovery the worker is {mib(cold['rss'] - empty['rss'])} above the empty one "
        f"({s['rss_per_user']:,.0f} bytes per user). Faust's RocksDB defaults alone let the restore's writes "
        f"fill up to {mib(_write_buffers(s))} of write buffers ({_partitions(s)} partition stores × 3 × 64 MiB); "
        "the rest is the Python heap and allocator after the restore's batches and RocksDB's caches, not "
        "broken down here. After the warm restart, which writes nothing, it is "
        f"{mib(warm['rss'] - empty['rss'])} above the empty worker ({(warm['rss'] - empty['rss']) / users:,.0f} "
        "bytes per user: the due-time index, the Python heap, RocksDB's index and filter blocks); the states "
        "themselves stay on disk and are read per batch.",
    ]
    if p:
        one, people = p["one"], p["traffic"]["users"]
        keys = people + p["traffic"]["anonymous_first"]
        lines.append(
            f"- Through the pipeline (section 1, one worker, {people:,} users and {p['traffic']['anonymous_first']:,} "
            f"anonymous ids, ~10 inputs each): RocksDB {mib(one['store_bytes'])} on disk after the run "
            f"({one['store_bytes'] / keys:,.0f} bytes per key, SST {mib(one['store_sst_bytes'])}, the rest "
            f"write-ahead log and metadata); RSS grew {mib(one['rss_end'] - one['rss_ready'])} from /health "
            f"to the end ({(one['rss_end'] - one['rss_ready']) / keys:,.0f} bytes per key, write buffers included).")
    lines.append("")
    return lines
