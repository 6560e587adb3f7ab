"""Where the time goes for each missed target (from the profiles), and what changed in streams/."""
from __future__ import annotations

from .. import profiling
from ..fmt import cores, load_note, ms, num
from ..profiling import FRAMEWORK, hot, share
from ..targets import (TARGETS, bridge_at_target, bridge_ok, cold_estimate_1m, cold_ok, cpu_us, latency_at_target,
                       latency_ok, margins, pipeline_ok, warm_ok)

# The agent's per-input path, as labelled in profiling.HOT, with what each is.
INPUT_PATH = (
    ("segment.py:decode", "decoding and validating the Segment message"),
    ("userstate.py:apply", "userstate.apply"),
    ("targeting.py:decide", "targeting.decide"),
    ("state.py:encode", "encoding the state (with its byte budget)"),
    ("emit.py:send", "producing the outputs and decisions"),
    ("userstore.py:UserBatch.load", "reading states (once per user per batch)"),
)
COMMIT_PATH = (
    ("userstore.py:UserBatch.commit", "the batch commits (outputs acknowledged, then one changelog record per "
                                      "changed user, then one RocksDB write batch)"),
    ("batching.py:Consumer.getmany", "the batching consumer (one event per partition per fetch)"),
)


def _parts(summary: dict, items) -> str:
    return ", ".join(f"{what} {hot(summary, label):.0f}%" for label, what in items if hot(summary, label) >= 0.5)


def _packages(summary: dict) -> str:
    return (f"**{share(summary, *FRAMEWORK):.0f}%** is in Faust, mode, aiokafka and the asyncio loop, "
            f"**{share(summary, 'streams (this project)'):.0f}%** in this project's own code, "
            f"{share(summary, 'orjson'):.0f}% in orjson, {share(summary, 'rocksdict'):.0f}% in RocksDB and "
            f"{share(summary, 'built-ins (other)'):.0f}% in other built-ins (socket sends, dict and list work)")


def _top(summary: dict, n: int = 3) -> str:
    busy = summary["busy"] or 1e-9
    return ", ".join(f"`{name}` {100 * seconds / busy:.1f}%" for name, seconds in summary["functions"][:n])


def _busy(summary: dict) -> float:
    return 100 * summary["busy"] / (summary["sampled"] or 1e-9)


def _worker_paragraph(summary: dict, what: str) -> str:
    return (f"In the profile ({what}, pyinstrument), the worker was busy {_busy(summary):.0f}% of the sampled "
            f"time (the rest waiting in epoll or on a lock). Of the busy time, {_packages(summary)}. The agent's batch loop "
            f"(`users.py:process`) is {hot(summary, 'users.py:process'):.0f}% of the wall time; per input: "
            f"{_parts(summary, INPUT_PATH) or 'none above 0.5%'}; and {_parts(summary, COMMIT_PATH) or 'nothing else above 0.5%'}. "
            f"The functions with the most self time: {_top(summary)}.")


def _pipeline(p: dict) -> list:
    one, base = p["one"], p["baseline"]
    needed = TARGETS["one_worker_ratio"] * base["events_per_s"]
    used = one["cpu_seconds"] / max(one["seconds"], 1e-9)
    lines = [
        "### Throughput: one worker vs the plain loop",
        "",
        f"One worker: {one['events_per_s']:,.0f} events/s = {100 * p['ratio']:.1f}% of the loop's "
        f"{base['events_per_s']:,.0f} (targets: {TARGETS['one_worker_events_per_s']:,.0f} and "
        f"{100 * TARGETS['one_worker_ratio']:.0f}%). The loop spends {cpu_us(base):,.0f} µs of CPU per message, the "
        f"worker {cpu_us(one):,.0f} µs, using {used:.2f} of a core"
        + (": it is held by its CPU. " if used >= 0.85 else ". ")
        + f"{100 * TARGETS['one_worker_ratio']:.0f}% of this loop is {needed:,.0f} events/s, which at the same "
        f"{used:.2f} of a core means at most {1e6 * used / needed:,.0f} µs per event. For every input the worker "
        "does what the loop does (fetch, decode, produce), and on top: validation, the user's state read once per "
        "batch, userstate.apply, targeting.decide, the state encoded, and per batch the commit (outputs "
        "acknowledged, the changed users' changelog records, one RocksDB write batch)."
        + _contention(one.get("load"), p.get("profile"), "the worker and the broker"),
        "",
    ]
    loops = p.get("baselines") or []
    if len(loops) > 1:
        slow, fast = sorted(r["events_per_s"] for r in loops)[0], base["events_per_s"]
        if fast > 1.15 * slow:
            lines += [f"The loop's two runs differ: {slow:,.0f} and {fast:,.0f} events/s. With the slower as the "
                      f"reference the worker would be at {100 * one['events_per_s'] / slow:.1f}%: the ratio "
                      "target depends on how fast the loop happens to run on the shared machine; the faster run "
                      "is used, being the loop's ability rather than its interference.", ""]
    if "profile" in p:
        s = p["profile"]
        lines += [_worker_paragraph(s, f"one worker, {p['profiled']['messages']:,} messages"), "",
                  f"Faust itself (faust and mode) is {share(s, 'faust', 'mode'):.1f}% of the busy time: the "
                  "per-event framework cost that dominated the run before is gone. What is left is the survey logic "
                  f"run for every input (targeting.decide alone is {hot(s, 'targeting.py:decide'):.0f}% of the wall "
                  f"time), the producer (aiokafka's send {hot(s, 'producer.py:AIOKafkaProducer.send'):.0f}%, "
                  "outputs and changelog records) and the event loop.", "",
                  profiling.markdown(s, "Profile: one worker, pipeline mix"), ""]
    return lines


def _contention(load: dict | None, summary: dict | None, ours: str) -> str:
    """What other processes and the CPU scheduler took from the worker, from the figures."""
    text = ""
    if load and load.get("other_cores", 0) >= 0.3:
        text += (f" Other processes held {load['other_cores']:.2f} of the machine's {cores()} cores during this run"
                 + (" (the bounded wait before it found no quiet moment)" if load.get("found_quiet") is False else "")
                 + f": {ours} shared the rest.")
    if summary and summary["busy"] > summary["cpu_time"]:
        ready = summary["busy"] - summary["cpu_time"]
        text += (f" In the profile the worker's event loop was out of its epoll wait for {summary['busy']:.1f} s "
                 f"while the whole process got {summary['cpu_time']:.1f} s of CPU: for at least {ready:.1f} s "
                 f"({100 * ready / summary['busy']:.0f}%) it had work and was not on a core (waiting for one, or "
                 "blocked in a system call).")
    return text


def _latency(lat: dict) -> list:
    at = latency_at_target(lat)
    rate = int(at["rate"])
    kept_up = at["decided_per_s"] >= 0.95 * rate
    before_worker = num(at["to_decision_p99_ms"])
    lower = [r for r in sorted(lat["runs"], key=lambda r: r["rate"]) if r["rate"] < rate]
    lines = [
        f"### Latency at {rate:,} identify/s",
        "",
        f"At {rate:,} identify/s offered the worker decided {at['decided_per_s']:,.0f}/s at "
        f"{100 * at['worker_cpu_share']:.0f}% of a core; p50 {ms(at['p50_ms'])}, p90 {ms(at['p90_ms'])}, p99 "
        f"{ms(at['p99_ms'])}, max {ms(at['max_ms'])} (target p99 < {TARGETS['latency_p99_ms']:.0f} ms). "
        + ("It kept up with the offered rate, so the tail is not a queue that grows for as long as the load "
           "lasts: it is the time an identify waits inside the worker's cycle (the fetch, the batch of its "
           "partition applied in one turn of the event loop, and the earlier batches' commits sharing that "
           "loop). " if kept_up else
           "It did not keep up with the offered rate: a queue builds up in the input topic and the latency is "
           "mostly the time spent in it, growing for as long as the load lasts. ")
        + f"The decision was produced (its Kafka timestamp) at p99 {ms(before_worker)} after the identify; the "
          f"load generator's own consumer adds the rest."
        + _contention(at.get("load"), lat.get("profile"), "the worker, the broker and the load generator")
        + (" At the lower rates the p99 was " + ", ".join(f"{ms(r['p99_ms'])} at {r['rate']:,.0f}/s" for r in lower)
           + (" (other processes: " + ", ".join(f"{r['load']['other_cores']:.2f}" for r in lower if r.get("load"))
              + " cores)" if all(r.get("load") for r in lower) else "") + "." if lower else ""),
        "",
    ]
    if "profile" in lat:
        s = lat["profile"]
        lines += [_worker_paragraph(s, f"the worker at {rate:,} identify/s for {lat['profiled']['sent'] / rate:.0f} s"),
                  "", profiling.markdown(s, f"Profile: one worker at {rate:,} identify/s"), ""]
    return lines


def _bridge(b: dict) -> list:
    at = bridge_at_target(b)
    lines = [
        f"### Bridge at concurrency {TARGETS['bridge_concurrency']}",
        "",
        f"{at['requests_per_s']:,.0f} req/s, p99 {at['p99_ms']:.1f} ms (targets {TARGETS['bridge_rps']:,.0f} req/s, "
        f"p99 < {TARGETS['bridge_p99_ms']:.0f} ms), with the worker at {100 * at['worker_cpu_share']:.0f}% of a "
        f"core and the load client at {100 * at['client_cpu_share']:.0f}%; {load_note(at.get('load'))}. Each "
        "request goes through aiohttp's server, Faust's web layer, the owner check (`owner_or_forward`: which "
        "worker holds the user's partition), one RocksDB read, targeting.decide and orjson.",
        "",
    ]
    if "profile" in b:
        s = b["profile"]
        lines += [
            f"In the profile (which also covers the worker's start and recovery), aiohttp's request handling is "
            f"{hot(s, 'web_protocol.py:RequestHandler._handle_request'):.0f}% of the wall time; in it the view "
            f"(`Eligibility.get`) {hot(s, 'views.py:Eligibility.get'):.0f}%, of which the owner check "
            f"{hot(s, 'bridge.py:BridgeView.owner_or_forward'):.0f}%, the state read (`_live_state`) "
            f"{hot(s, 'views.py:_live_state'):.0f}% and targeting.decide {hot(s, 'targeting.py:decide'):.0f}%. "
            f"Of the busy time, {_packages(s)}. The functions with the most self time: {_top(s)}.",
            "",
            profiling.markdown(s, "Profile: the worker under HTTP load"),
            "",
        ]
    return lines


def _state(st: dict) -> list:
    lines = []
    if not cold_ok(st):
        check = st["cold"].get("read_back") or {}
        lines += [
            "### Cold recovery",
            "",
            f"{cold_estimate_1m(st):.1f} s for 1M users (target {TARGETS['cold_recovery_s']:.0f} s): "
            f"{st['users'] / max(st['cold']['seconds'] - st['empty']['seconds'], 1e-9):,.0f} changelog records per "
            f"second beyond the start-up, {st['cold']['cpu_seconds']:.0f} CPU-s in the worker; "
            f"{check.get('ok', 0)}/{check.get('sampled', 0)} users read back. {load_note(st['cold'].get('load'))}.",
            "",
        ]
        if "profile" in st:
            s = st["profile"]
            lines += [
                f"In the profile ({st['profiled']['users']:,} users), Faust's changelog reader "
                f"(`_slurp_changelogs`) is {hot(s, 'recovery.py:Recovery._slurp_changelogs'):.0f}% of the wall time, "
                f"the batched store writes (`JsonTable.apply_changelog_batch`) "
                f"{hot(s, 'app.py:JsonTable.apply_changelog_batch'):.0f}%, the batching consumer "
                f"{hot(s, 'batching.py:Consumer.getmany'):.0f}%; of the busy time, {_packages(s)}. The functions "
                f"with the most self time: {_top(s)}.",
                "",
                profiling.markdown(s, "Profile: cold recovery"),
                "",
            ]
    if not warm_ok(st):
        lines += [
            "### Warm restart",
            "",
            f"{st['warm']['seconds']:.1f} s to /health with {st['users']:,} users in the local store (target "
            f"{TARGETS['warm_restart_s']:.0f} s); {load_note(st['warm'].get('load'))}. The empty worker took "
            f"{st['empty']['seconds']:.1f} s.",
            "",
        ]
        if "warm_profile" in st:
            s = st["warm_profile"]
            lines += [f"Of the busy time, {_packages(s)}. The functions with the most self time: {_top(s)}.", "",
                      profiling.markdown(s, "Profile: warm restart"), ""]
    return lines


def bottlenecks_section(results: dict) -> list:
    lines = ["## Where the time goes (the missed targets)", ""]
    p, lat, b, st = (results.get(k) for k in ("pipeline", "latency", "bridge", "state"))
    if p and not pipeline_ok(p):
        lines += _pipeline(p)
    if lat and latency_at_target(lat) and not latency_ok(latency_at_target(lat)):
        lines += _latency(lat)
    if b and bridge_at_target(b) and not bridge_ok(b):
        lines += _bridge(b)
    if st:
        lines += _state(st)
    if len(lines) == 2:
        narrow = margins(results)[:2]
        lines += ["Every target with a threshold was met in this run, so no profile was taken (`--no-profile` "
                  "aside, bench.steps profiles only what a run misses)."
                  + (" The narrowest headroom: " + ", then ".join(f"{what} ({100 * room:+.0f}%)" for what, room in narrow)
                     + "." if narrow else "")
                  + (" A figure this close to its threshold can fall on either side from one run to the next on "
                     "a shared machine." if narrow and narrow[0][1] < 0.10 else ""), ""]
    elif not any(k in (x or {}) for x in (p, lat, b, st) for k in ("profile", "warm_profile")):
        lines += ["(No profile in this run: `--no-profile`, or pyinstrument is not installed "
                  "(`.venv/bin/pip install pyinstrument`).)", ""]
    return lines


def changes_section() -> list:
    return [
        "## What changed in streams/ since the run before",
        "",
        "The batch path (issue 14, docs/processing.md):",
        "",
        "- `streams/runtime/batching.py`: the worker's consumer hands the users agent **one Faust event per fetched "
        "batch of one partition** (a RecordBatch) instead of one per record; the offsets before the batch's "
        "last are registered as a gap, so Faust commits them together once the batch's event is acknowledged. "
        "The consumer's fetch wait is bounded to 100 ms (Faust hard-codes 1.5 s).",
        "- `streams/agents/users.py`, `userinputs.py`: the batch is applied record by record in one turn: "
        "decode, route, userstate/lifecycle, targeting.decide; outputs go straight to aiokafka.",
        "- `streams/runtime/userstore.py`: a write-back cache per batch (each user read once and written "
        "once per batch), then the commit: every output acknowledged → one changelog record per changed "
        "user → one RocksDB write batch with the changelog offset; commits run in the background, one "
        "partition's one after the other (at most 16 in flight), while the next batches are applied, and "
        "the bridge reads the states still waiting for their commit.",
        "- `streams/runtime/app.py`: cold recovery reads the users changelog one event per partition per fetch and "
        "writes it record by record into the store's write batch; `streams/agents/timers.py`: the due-time "
        "index is rebuilt in the background after recovery (yielding every 2,000 users), so /health does "
        "not wait for it.",
        "- Earlier (kept): no Faust terminal spinner (it set the root logger to DEBUG), one "
        "`seek_to_beginning` for all uncommitted partitions at start-up (streams/runtime/faustfixes.py), the "
        "due index decoded from the store's raw items.",
        "",
    ]

