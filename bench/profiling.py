"""Summaries of pyinstrument sessions (`.pyisession`) for docs/benchmarks.md.

Two views of where a worker's time went: self time per package (streams code, Faust,
mode, aiokafka, asyncio, RocksDB, orjson, idle in epoll) and the functions with the most
self time; plus the inclusive time of the hot-path functions named in HOT.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

IDLE = {"poll", "select", "epoll.poll", "EpollSelector.select"}
HOT = (
    ("streams/agents/users.py", "process"),
    ("streams/agents/users.py", "handle"),
    ("streams/agents/users.py", "save"),
    ("streams/userstate.py", "apply"),
    ("streams/targeting.py", "decide"),
    ("streams/schemas/segment.py", "decode"),
    ("streams/agents/emit.py", "send"),
    ("faust/tables/table.py", "Table.__setitem__"),
    ("faust/tables/base.py", "Collection.send_changelog"),
    ("faust/stores/rocksdb.py", "Store._set"),
    ("faust/stores/rocksdb.py", "Store._get"),
    ("faust/tables/recovery.py", "Recovery._restart_recovery"),
    ("faust/tables/recovery.py", "Recovery._slurp_changelogs"),
    ("streams/agents/users.py", "rebuild_due_index"),
    ("streams/web/views.py", "Eligibility.get"),
    ("streams/web/views.py", "_live_state"),
    ("faust/app/router.py", "Router.route_req"),
    ("aiohttp/web_protocol.py", "RequestHandler._handle_request"),
)


def _category(frame) -> str:
    path = (frame.file_path or "").replace("\\", "/")
    function = frame.function or ""
    if path == "<built-in>" or not path:
        if function in IDLE:
            return "idle (epoll wait)"
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
    for marker in ("/site-packages/", "/work/main/", "/lib/python3.11/"):
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
    busy = total - categories.get("idle (epoll wait)", 0.0)
    return {
        "duration": session.duration,
        "cpu_time": session.cpu_time,
        "sampled": total,
        "busy": busy,
        "categories": sorted(categories.items(), key=lambda kv: -kv[1]),
        "functions": sorted(((k, v) for k, v in functions.items()
                             if not k.startswith(("poll ", "select ", "epoll.poll "))),
                            key=lambda kv: -kv[1])[:top],
        "hot": sorted(hot.items(), key=lambda kv: -kv[1]),
    }


def markdown(summary: dict, title: str) -> str:
    busy = summary["busy"] or 1e-9
    total = summary["sampled"] or 1e-9
    lines = [f"**{title}** — sampled {summary['sampled']:.1f} s wall, {summary['cpu_time']:.1f} s CPU, "
             f"busy (not waiting in epoll) {summary['busy']:.1f} s.", "",
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
