"""Summaries of pyinstrument sessions (`.pyisession`) for docs/benchmarks.md.

Two views of where a worker's time went: self time per package (streams code, Faust,
mode, aiokafka, asyncio, RocksDB, orjson, idle in epoll) and the functions with the most
self time; plus the inclusive time of the hot-path functions named in HOT.
"""
from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

from .common import PYTHON, REPO

# Waiting, not working: the event loop's epoll, and a thread blocked on a lock (start-up's
# blocking Kafka admin calls, a thread join).
IDLE = {"poll", "select", "epoll.poll", "EpollSelector.select", "lock.acquire"}
IDLE_LABEL = "idle (epoll and lock waits)"
HOT = (
    ("streams/agents/users.py", "process"),
    ("streams/agents/users.py", "apply_record"),
    ("streams/agents/userinputs.py", "apply_input"),
    ("streams/core/userstate.py", "apply"),
    ("streams/core/targeting.py", "decide"),
    ("streams/schemas/segment.py", "decode"),
    ("streams/core/state.py", "encode"),
    ("streams/runtime/emit.py", "send"),
    ("streams/runtime/userstore.py", "UserBatch.load"),
    ("streams/runtime/userstore.py", "UserBatch.commit"),
    ("aiokafka/producer/producer.py", "AIOKafkaProducer.send"),
    ("streams/runtime/batching.py", "Consumer.getmany"),
    ("faust/transport/consumer.py", "Consumer._drain_messages"),
    ("faust/tables/recovery.py", "Recovery._restart_recovery"),
    ("faust/tables/recovery.py", "Recovery._slurp_changelogs"),
    ("streams/runtime/app.py", "JsonTable.apply_changelog_batch"),
    ("streams/agents/timers.py", "rebuild_due_index"),
    ("streams/web/views.py", "Eligibility.get"),
    ("streams/web/views.py", "_live_state"),
    ("streams/web/bridge.py", "BridgeView.owner_or_forward"),
    ("aiohttp/web_protocol.py", "RequestHandler._handle_request"),
)


def _category(frame) -> str:
    path = (frame.file_path or "").replace("\\", "/")
    function = frame.function or ""
    if path == "<built-in>" or not path:
        if function in IDLE:
            return IDLE_LABEL
        if function in ("dumps", "loads"):
            return "orjson"
        if function.startswith(("Rdict.", "WriteBatch.")) or "Rdict" in (frame.class_name or ""):
            return "rocksdict"
        return "built-ins (other)"
    for marker, name in (("/streams/", "streams (this project)"), ("/faust/", "faust"), ("/mode/", "mode"),
                         ("/aiokafka/", "aiokafka"), ("/kafka/", "kafka-python"), ("/aiohttp/", "aiohttp"),
                         ("/yarl/", "yarl"), ("/multidict/", "multidict"), ("/asyncio/", "asyncio"),
                         ("/rocksdict/", "rocksdict"), ("/orjson/", "orjson"), ("/venusian/", "venusian"),
                         ("/opentracing/", "opentracing"), ("/croniter/", "croniter")):
        if marker in path:
            return name
    if "/lib/python3" in path:
        return "stdlib (other)"
    return "other"


def _short(frame) -> str:
    path = (frame.file_path or "").replace("\\", "/")
    for marker in ("/site-packages/", f"{REPO}/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{frame.function} ({path}:{frame.line_no or ''})".replace(" (<built-in>:)", " (built-in)")


def summarize(session_path: Path, top: int = 15) -> dict:
    from pyinstrument.session import Session

    session = Session.load(str(session_path))
    root = session.root_frame()
    total = root.time if root else 0.0
    categories: dict = defaultdict(float)
    functions: dict = defaultdict(float)
    hot: dict = defaultdict(float)

    def walk(frame, active: frozenset) -> None:
        if frame.is_synthetic:
            return
        own = frame.total_self_time
        if own > 0:
            categories[_category(frame)] += own
            functions[_short(frame)] += own
        path = (frame.file_path or "").replace("\\", "/")
        label = None
        for suffix, name in HOT:
            if path.endswith(suffix) and (frame.function == name or frame.function.endswith("." + name)
                                          or frame.function == name.split(".")[-1]):
                label = f"{suffix.rsplit('/', 1)[-1]}:{name}"
                break
        if label and label not in active:  # inclusive time, not counted twice under recursion
            hot[label] += frame.time
            active = active | {label}
        for child in frame.children:
            walk(child, active)

    if root is not None:
        walk(root, frozenset())
    busy = total - categories.get(IDLE_LABEL, 0.0)
    return {
        "duration": session.duration,
        "cpu_time": session.cpu_time,
        "sampled": total,
        "busy": busy,
        "categories": sorted(categories.items(), key=lambda kv: -kv[1]),
        "functions": sorted(((k, v) for k, v in functions.items()
                             if k.split(" (", 1)[0] not in IDLE),
                            key=lambda kv: -kv[1])[:top],
        "hot": sorted(hot.items(), key=lambda kv: -kv[1]),
    }


def markdown(summary: dict, title: str) -> str:
    busy = summary["busy"] or 1e-9
    total = summary["sampled"] or 1e-9
    lines = [f"**{title}** — sampled {summary['sampled']:.1f} s wall, {summary['cpu_time']:.1f} s CPU, "
             f"busy (not waiting in epoll or on a lock) {summary['busy']:.1f} s.", "",
             "| self time by package | s | % of busy |", "|---|---:|---:|"]
    for name, seconds in summary["categories"]:
        share = "—" if name.startswith("idle") else f"{100 * seconds / busy:.1f}"
        lines.append(f"| {name} | {seconds:.2f} | {share} |")
    lines += ["", "| top functions by self time | s | % of busy |", "|---|---:|---:|"]
    for name, seconds in summary["functions"]:
        lines.append(f"| `{name}` | {seconds:.2f} | {100 * seconds / busy:.1f} |")
    if summary["hot"]:
        lines += ["", "| hot-path function (inclusive) | s | % of wall |", "|---|---:|---:|"]
        for name, seconds in summary["hot"]:
            lines.append(f"| `{name}` | {seconds:.2f} | {100 * seconds / total:.1f} |")
    return "\n".join(lines)


def render_text(session: Path) -> None:
    """A readable tree next to the session (pyinstrument's text renderer)."""
    with open(session.with_suffix(".txt"), "w") as out:
        subprocess.run([PYTHON, "-m", "pyinstrument", "--load", str(session), "-r", "text", "--no-color"],
                       stdout=out, stderr=subprocess.DEVNULL, cwd=REPO, timeout=300)


def share(summary: dict, *categories: str) -> float:
    """% of the busy (not idle) time spent in these packages' own code."""
    busy = summary["busy"] or 1e-9
    return 100 * sum(v for k, v in summary["categories"] if k in categories) / busy


def hot(summary: dict, name: str) -> float:
    """% of the sampled wall time inside a HOT function (inclusive), by its label."""
    total = summary["sampled"] or 1e-9
    return 100 * sum(v for k, v in summary["hot"] if k == name) / total


FRAMEWORK = ("faust", "mode", "aiokafka", "asyncio", "kafka-python", "venusian", "opentracing")
