"""Turning the recorded runs into the summary (printed, and written to
test-output/fuzz-summary.json) and into the failure report of a failing assertion."""
from __future__ import annotations

import re
from collections import Counter

from tests.fuzz.config import BUDGET_S, EXAMPLES, SECURE_EXAMPLES, SEED, SWEEP_USERS


def recorded(runs: dict, name: str) -> list:
    """One of the lists each Run keeps (findings, bodies, code_message), over all workers."""
    return [item for run in runs.values() for item in getattr(run, name)]


def combined(runs: dict, name: str) -> Counter:
    """One of the Counters each Run keeps (patterns, statuses, ...), summed over all workers."""
    return sum((getattr(run, name) for run in runs.values()), Counter())


def finding_key(finding: dict) -> tuple:
    """Findings with the same key are one failure: same route and outcome, same traceback
    (or, without one, the same request shape)."""
    req, answer, trace = finding["req"], finding["answer"], finding["trace"]
    if trace:
        return (req.method, req.pattern, answer.outcome, trace["type"], trace["where"])
    return (req.method, req.pattern, answer.outcome, req.body_kind, req.header_variant)


def grouped_findings(runs: dict) -> list[dict]:
    groups: dict[tuple, dict] = {}
    for finding in recorded(runs, "findings"):
        group = groups.setdefault(finding_key(finding), {"count": 0, "variants": set(), "examples": [],
                                                         "shapes": set()})
        group["count"] += 1
        group["variants"].add(finding["variant"])
        shape = (finding["req"].body_kind, finding["req"].header_variant)
        if shape not in group["shapes"] and len(group["examples"]) < 3:   # examples of different shapes
            group["examples"].append(finding)
        group["shapes"].add(shape)
    return [{"key": key, **group} for key, group in groups.items()]


ODD_VALUE = re.compile(r"'(0000|0001|9999)-|\d{12,}|e\+\d|Raw\(")


def render_findings(groups: list[dict]) -> str:
    """The failure report of the no-5xx test: distinct causes first, then each failing shape
    with up to three example requests (and, for a sweep read, the messages that wrote the user)."""
    causes: dict[tuple, list] = {}
    for group in groups:
        trace = group["examples"][0]["trace"]
        cause = (trace["type"], trace["where"]) if trace else (str(group["key"][2]), "no traceback")
        causes.setdefault(cause, [trace["exception"][:160] if trace else cause[0], []])[1].append(
            f"{group['key'][0]} {group['key'][1]}")
    lines = [f"{len(causes)} distinct cause(s) (exception @ where it was raised, in streams/ when it was):"]
    for (_, where), (exception, routes) in causes.items():
        lines.append(f"  - {exception} @ {where}: {', '.join(routes)}")
    lines.append(f"\n{len(groups)} distinct failing request shape(s) (method, route, outcome, cause):")
    for number, group in enumerate(groups, 1):
        method, pattern, outcome = group["key"][:3]
        first = group["examples"][0]
        trace = first["trace"]
        lines.append(f"\n[{number}] {method} {pattern} -> {outcome}  ({group['count']} request(s), "
                     f"{len(group['shapes'])} shape(s), worker(s): {', '.join(sorted(group['variants']))})")
        if trace:
            lines.append(f"    exception: {trace['exception']}")
            lines.append(f"    raised at: {trace['where']}  (innermost: {trace['innermost']})")
        for example in group["examples"]:
            answer = example["answer"]
            lines.append(f"    e.g. {example['req'].short()[:600]}")
            lines.append(f"         answer: {answer.status} {answer.excerpt()!r}")
            if example["state_from"]:
                writes = sorted(example["state_from"], key=lambda w: not ODD_VALUE.search(w))
                lines.append(f"         user state written by ({len(writes)} accepted message(s), odd values first): "
                             f"{' || '.join(writes[:3])[:900]}")
        if first["crashed"]:
            lines.append("    the worker process exited")
    return "\n".join(lines)


def render_body_problems(items) -> str:
    seen, lines = {}, []
    for req, answer, problem in items:
        key = (req.method, req.pattern, answer.status, problem, answer.content_type)
        if key not in seen:
            seen[key] = (req, answer)
    lines.append(f"{len(seen)} distinct 4xx/5xx answer shape(s) from the app's routes with a body problem:")
    for (method, pattern, status, problem, ctype), (req, answer) in seen.items():
        lines.append(f"- {method} {pattern} -> {status}: {problem}; body {answer.body[:200]!r}\n"
                     f"    e.g. {req.short()[:400]}")
    return "\n".join(lines)


def finding_summary(group: dict) -> dict:
    first = group["examples"][0]
    trace = first["trace"]
    return {"method": group["key"][0], "pattern": group["key"][1], "outcome": group["key"][2],
            "count": group["count"], "workers": sorted(group["variants"]), "shapes": len(group["shapes"]),
            "exception": trace["exception"] if trace else None, "where": trace["where"] if trace else None,
            "examples": [example["req"].short()[:600] for example in group["examples"]],
            "answer": first["answer"].excerpt()}


def summarise(result: dict) -> dict:
    """The run as JSON-ready data: counts, statuses, findings, body problems, log errors."""
    runs = result["runs"]
    shapes = set().union(*(run.shapes for run in runs.values()))
    groups = grouped_findings(runs)
    agent, other = Counter(), Counter()
    for run in runs.values():
        for error in run.log_errors:
            if error["kind"] == "agent":
                agent[(run.variant, error["kind"], error["type"], error["where"], error["exception"][:160])] += 1
            else:   # e.g. aiohttp's "Unhandled exception" for a payload it could not decode, already answered
                other[error["type"]] += 1
    return {
        "seed": SEED, "examples": {"plain": EXAMPLES, "secure": SECURE_EXAMPLES}, "budget_s": BUDGET_S,
        "seconds": round(result["seconds"], 1),
        "requests": sum(run.requests for run in runs.values()),
        "requests_by_worker": {name: run.requests for name, run in runs.items()},
        "skipped_by_budget": {name: run.skipped for name, run in runs.items()},
        "distinct_shapes": len(shapes),
        "distinct_shapes_by_pattern": dict(Counter(shape[2] for shape in shapes).most_common()),
        "requests_by_pattern": dict(combined(runs, "patterns").most_common()),
        "statuses": {str(k): v for k, v in combined(runs, "statuses").most_common()},
        "statuses_by_pattern": {f"{pattern} {outcome}": n for (pattern, outcome), n in
                                sorted(combined(runs, "pattern_statuses").items(), key=str)},
        "users_read_back": {name: min(len(run.written), SWEEP_USERS) for name, run in runs.items()},
        "settled": result["settled"], "survival": result["survival"],
        "findings": [finding_summary(group) for group in groups],
        "body_problems": sorted({f"{r.method} {r.pattern} -> {a.status}: {p}" for r, a, p in recorded(runs, "bodies")}),
        "code_message_missing": len({(r.method, r.pattern, a.status) for r, a, _ in recorded(runs, "code_message")}),
        "agent_errors": [{"worker": k[0], "type": k[2], "where": k[3], "exception": k[4], "count": n}
                         for k, n in agent.most_common()],
        "other_tracebacks_in_logs": dict(other.most_common()),
    }


def render_summary(summary: dict) -> str:
    """The summary printed at the end of the module (pytest -s)."""
    lines = [f"HTTP fuzz: {summary['requests']} requests ({summary['requests_by_worker']}), "
             f"{summary['distinct_shapes']} distinct shapes, {summary['seconds']}s, seed {summary['seed']}",
             f"  statuses: {summary['statuses']}",
             f"  requests by pattern: {summary['requests_by_pattern']}",
             f"  users read back: {summary['users_read_back']}; skipped by budget: {summary['skipped_by_budget']}",
             f"  5xx/hang/crash findings: {len(summary['findings'])}"]
    for finding in summary["findings"]:
        lines.append(f"   - {finding['method']} {finding['pattern']} -> {finding['outcome']} x{finding['count']} "
                     f"{finding['exception'] or ''} @ {finding['where'] or '-'}")
    lines.append(f"  4xx body problems: {len(summary['body_problems'])}; "
                 f"answer shapes without code/message: {summary['code_message_missing']}")
    for problem in summary["body_problems"]:
        lines.append(f"   - {problem}")
    if summary["agent_errors"]:
        lines.append("  agent errors in the worker logs (inputs answered 200 that failed in processing; "
                     "not asserted here):")
        for error in summary["agent_errors"]:
            lines.append(f"   - [{error['worker']}] x{error['count']} {error['exception'][:140]} @ {error['where']}")
    if summary["other_tracebacks_in_logs"]:
        lines.append(f"  other tracebacks in the worker logs (aiohttp, after an answer): "
                     f"{summary['other_tracebacks_in_logs']}")
    lines.append("  summary written to test-output/fuzz-summary.json")
    return "\n".join(lines)
