"""What changes between two surveys configs, survey by survey and rule by rule, and which
users a change would move. Pure: configs, states and `now` in, lines and counts out."""
from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any, Iterable

from streams.core import targeting
from streams.core.config import Config

def _plain(value: Any) -> Any:
    """A config dataclass as plain data (tuples as lists), for comparing field by field."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _changes(old: Any, new: Any, path: str) -> Iterable[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            where = f"{path}.{key}" if path else key
            if key not in new:
                yield f"{where}: {old[key]!r} → (removed)"
            elif key not in old:
                yield f"{where}: (none) → {new[key]!r}"
            else:
                yield from _changes(old[key], new[key], where)
    elif old != new:
        yield f"{path}: {old!r} → {new!r}"


_IGNORED = ("order",)  # a survey's position: its priority tie-break, shown as a move instead


def diff(active: Config, candidate: Config) -> list[str]:
    """Lines saying what `candidate` changes against `active`: the project settings, then
    each survey added, removed or changed, rule by rule. Empty when nothing changes."""
    lines = list(_changes(_plain(active.project), _plain(candidate.project), "project"))
    old = {s.id: s for s in active.surveys}
    new = {s.id: s for s in candidate.surveys}
    for survey_id in list(old) + [i for i in new if i not in old]:
        if survey_id not in new:
            lines.append(f"survey {survey_id}: removed")
        elif survey_id not in old:
            lines.append(f"survey {survey_id}: added")
        else:
            before = {k: v for k, v in _plain(old[survey_id]).items() if k not in _IGNORED}
            after = {k: v for k, v in _plain(new[survey_id]).items() if k not in _IGNORED}
            changes = list(_changes(before, after, ""))
            if old[survey_id].order != new[survey_id].order:
                changes.append(f"position in the file: {old[survey_id].order + 1} → {new[survey_id].order + 1}")
            if changes:
                lines.append(f"survey {survey_id}: changed")
                lines.extend(f"  {change}" for change in changes)
    return lines


def structural_changes(active: Config, candidate: Config) -> list[str]:
    """What a running app cannot switch to: partitions and topic names (a new deployment)."""
    problems = []
    if active.project.partitions != candidate.project.partitions:
        problems.append(f"project.partitions: {active.project.partitions} → {candidate.project.partitions}")
    if active.topics.renames != candidate.topics.renames:
        problems.append(f"topics: {active.topics.renames} → {candidate.topics.renames}")
    return problems


def moved(user: str, state: dict | None, config: Config, now: int, response_counts=None) -> tuple | None:
    """(outcome before, outcome after) when `config` would change the user's decision at
    `now`, else None: exactly when a worker switching to `config` emits a new decision
    (`response_counts`: targeting.decide's, as the worker's own decisions pass them)."""
    if not state or state.get("aliasOf"):
        return None
    before = targeting.stored_outcome(state)
    after = targeting.outcome(targeting.decide(state, config, now, user, response_counts=response_counts))
    return (before, after) if after != before else None


def label(outcome: tuple) -> str:
    eligible, survey_id, reason = outcome
    return f"eligible for {survey_id}" if eligible else reason


def count_moves(moves: Iterable[tuple]) -> Counter:
    """(from, to) labels of each move, counted."""
    return Counter((label(before), label(after)) for before, after in moves)
