"""Compare the chaos pass with the fault-free pass of the same input.

displayIds (and the ids derived from them) differ between passes, so every output is put
under a key that does not: a lifecycle event on segment.outbound under (userId, session,
event, question), a response under (userId, session), a score under (surveyId, day), a
decision and a state under the user. The session of an output is found from its displayId
(the driver's map) or, for the identify and the response that carry none, from its time
(the widget event timestamps the driver sent for that session).

For each key: missing after the faults = lost; present only after the faults = unexpected;
under two different ids = split duplicate; the same id more than once = exact duplicate;
the same key with other content (ids removed) = content difference.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from streams.core import topics as names

DROP_PROPERTIES = ("display_id", "response_id")
STATES, DECISIONS = "user states", "surveys.eligibility (last per user)"
PER_USER = (STATES, DECISIONS)  # their differences are counted as state differences


class InstrumentError(RuntimeError):
    """The fault-free pass does not show what the driver did: the comparison is void."""


@dataclass
class PassData:
    """What one pass produced, plus the driver's record of its sessions."""

    label: str
    topics: dict
    states: dict
    sessions: list  # driver results
    displays: dict  # displayId -> (user, number)

    def session_times(self) -> dict:
        """(userId, ISO timestamp) -> session number, from the widget events sent."""
        times = {}
        for result in self.sessions:
            for ts in result.get("timestamps", []):
                times[(result["user"], ts)] = result["number"]
        return times


@dataclass
class Result:
    by_output: dict = field(default_factory=dict)
    examples: list = field(default_factory=list)
    lost_items: list = field(default_factory=list)
    state_diffs: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    suspects: list = field(default_factory=list)  # inputs behind state differences (diagnose.py)

    def _sum(self, what: str) -> int:
        return sum(c[what] for c in self.by_output.values())

    @property
    def lost_total(self) -> int:
        return self._sum("lost")

    @property
    def split_total(self) -> int:
        return self._sum("split")

    @property
    def exact_total(self) -> int:
        return self._sum("exact")

    @property
    def content_diff_total(self) -> int:
        return sum(c["content"] for name, c in self.by_output.items() if name not in PER_USER)

    @property
    def unexpected_total(self) -> int:
        return self._sum("unexpected")

    @property
    def state_diff_count(self) -> int:
        """Users whose final state or last decision differs (or is missing)."""
        return len({user for user, _ in self.state_diffs})

    def failed(self) -> bool:
        return bool(self.lost_total or self.split_total or self.state_diff_count or self.content_diff_total
                    or self.unexpected_total)


def _probe(user) -> bool:
    return user is not None and "-probe-" in user


def _session(data: PassData, times: dict, user: str, display_id: str | None, ts: str | None):
    if display_id is not None and display_id in data.displays:
        return data.displays[display_id][1]
    if (user, ts) in times:
        return times[(user, ts)]
    return "?"


def outbound_groups(data: PassData) -> tuple[dict, list]:
    """key -> [(messageId, normalised message)], and the records that are not lifecycle."""
    times = data.session_times()
    response_ids = {v.get("responseId") for _, v, _, _ in data.topics[names.RESPONSES] if isinstance(v, dict)}
    groups: dict = {}
    odd = []
    for key, value, _, _ in data.topics[names.OUTBOUND]:
        if not isinstance(value, dict) or _probe(value.get("userId")):
            odd.append(value)
            continue
        message = dict(value)
        message_id = message.pop("messageId", None)
        properties = dict(message.get("properties") or {})
        display_id = properties.get("display_id")
        for name in DROP_PROPERTIES:
            properties.pop(name, None)
        if "properties" in message:
            message["properties"] = properties
        if "traits" in message:
            message["traits"] = {k: v for k, v in message["traits"].items() if v not in response_ids}
        user = message.get("userId")
        event = "identify" if message.get("type") == "identify" else message.get("event")
        k = (user, _session(data, times, user, display_id, message.get("timestamp")), event,
             properties.get("question_id"))
        groups.setdefault(k, []).append((message_id, message))
    return groups, odd


def response_groups(data: PassData) -> dict:
    times = data.session_times()
    groups: dict = {}
    for _, value, _, _ in data.topics[names.RESPONSES]:
        record = dict(value)
        response_id = record.pop("responseId", None)
        user = record.get("userId")
        groups.setdefault((user, _session(data, times, user, None, record.get("completedAt"))), []).append(
            (response_id, record))
    return groups


def last_by(records: list, key) -> dict:
    """The last record per key, in partition order (records of one key share a partition)."""
    last = {}
    for record in sorted(records, key=lambda r: (r[2], r[3])):
        if isinstance(record[1], dict):
            last[key(record)] = record[1]
    return last


def _count_ids(chaos_groups: dict, counts: dict) -> None:
    for copies in chaos_groups.values():
        ids = [i for i, _ in copies]
        distinct = set(ids)
        counts["split"] += len(distinct) - 1
        counts["exact"] += len(ids) - len(distinct)


def _compare_groups(name: str, chaos: dict, clean: dict, result: Result, with_ids: bool = True) -> None:
    counts = {"expected": len(clean), "lost": 0, "split": 0, "exact": 0, "content": 0, "unexpected": 0}
    if with_ids:
        _count_ids(chaos, counts)
        for k, copies in chaos.items():
            ids = [i for i, _ in copies]
            if len(set(ids)) > 1:
                result.examples.append(f"split duplicate on {name}: {k} under ids {sorted(set(ids))}")
            elif len(ids) > 1:
                result.notes.append(f"exact duplicate on {name}: {k}, id {ids[0]} {len(ids)} times")
    for k, expected in clean.items():
        if k not in chaos:
            counts["lost"] += 1
            result.lost_items.append((name, k))
            result.examples.append(f"lost on {name}: {k}")
            continue
        got = chaos[k][0][1] if with_ids else chaos[k]
        want = expected[0][1] if with_ids else expected
        if got != want:
            counts["content"] += 1
            result.examples.append(f"other content on {name} for {k}: {_diff(got, want)}")
    for k in chaos:
        if k not in clean:
            counts["unexpected"] += 1
            result.examples.append(f"only after the faults on {name}: {k}")
    result.by_output[name] = counts


def _diff(got, want, prefix: str = "") -> str:
    if isinstance(got, dict) and isinstance(want, dict):
        parts = [_diff(got.get(k), want.get(k), f"{prefix}{k}.") for k in sorted(set(got) | set(want), key=str)
                 if got.get(k) != want.get(k)]
        return "; ".join(parts)
    return f"{prefix.rstrip('.')}: chaos={str(got)[:80]} fault-free={str(want)[:80]}"


def check_baseline(clean: PassData, clean_outbound: dict, triggers: tuple | None = None) -> None:
    """The fault-free pass must show exactly what the driver did, or nothing can be judged.

    `triggers` = (surveyId, {userId: count}): the trigger counts the input implies."""
    problems = []
    if triggers is not None:
        survey_id, expected = triggers
        for user, count in expected.items():
            status, body = clean.states.get(user, (None, None))
            got = ((body or {}).get("triggers") or {}).get(survey_id, {}).get("count", 0) if status == 200 else None
            if got != count:
                problems.append(f"{user} has {got} {survey_id} triggers in the fault-free pass, the input holds {count}")
    skipped = [r for r in clean.sessions if not r["ok"]]
    if skipped:
        problems.append(f"{len(skipped)} sessions not driven in the fault-free pass, e.g. {skipped[0]}")
    driven = [r for r in clean.sessions if r["ok"]]
    if not driven:
        problems.append("the fault-free pass drove no widget session")
    for name in (names.OUTBOUND, names.RESPONSES, names.SCORES, names.ELIGIBILITY):
        if not clean.topics[name]:
            problems.append(f"the fault-free pass wrote nothing on {name}")
    if not any(status == 200 for status, _ in clean.states.values()):
        problems.append("the fault-free pass has no user state")
    events = {}
    for (user, number, event, _), copies in clean_outbound.items():
        events.setdefault((user, number), []).append(event)
    for r in driven:
        seen = events.get((r["user"], r["number"]), [])
        want_end = "Survey Dismissed" if r["ending"] == "dismiss" else "Survey Completed"
        if "Survey Viewed" not in seen or want_end not in seen or len(seen) != r["expected_outputs"]:
            problems.append(f"session {r['user']}#{r['number']} ({r['ending']}) has outputs {sorted(seen)}, "
                            f"expected {r['expected_outputs']} with Viewed and {want_end}")
    if problems:
        raise InstrumentError("the fault-free pass cannot serve as the reference: " + " | ".join(problems[:5]))


def compare(chaos: PassData, clean: PassData, triggers: tuple | None = None) -> Result:
    result = Result()
    chaos_out, chaos_odd = outbound_groups(chaos)
    clean_out, clean_odd = outbound_groups(clean)
    check_baseline(clean, clean_out, triggers)
    _compare_groups("segment.outbound", chaos_out, clean_out, result)
    _compare_groups("surveys.responses", response_groups(chaos), response_groups(clean), result)
    score_key = lambda r: (r[1].get("surveyId"), r[1].get("day"))  # noqa: E731
    _compare_groups("surveys.scores (last per survey and day)", last_by(chaos.topics[names.SCORES], score_key),
                    last_by(clean.topics[names.SCORES], score_key), result, with_ids=False)

    def outcome(records):
        last = last_by([r for r in records if not _probe(r[0])], lambda r: r[0])
        return {user: (d.get("eligible"), d.get("surveyId"), d.get("reason")) for user, d in last.items()}

    decisions_chaos, decisions_clean = outcome(chaos.topics[names.ELIGIBILITY]), outcome(clean.topics[names.ELIGIBILITY])
    before = len(result.examples)
    _compare_groups(DECISIONS, decisions_chaos, decisions_clean, result, with_ids=False)
    for k in list(decisions_clean) + list(decisions_chaos):
        if decisions_chaos.get(k) != decisions_clean.get(k):
            result.state_diffs.append((k, f"decision chaos={decisions_chaos.get(k)} fault-free={decisions_clean.get(k)}"))
    counts = {"expected": len(clean.states), "lost": 0, "split": 0, "exact": 0, "content": 0, "unexpected": 0}
    for user, (status, body) in clean.states.items():
        got = chaos.states.get(user)
        if got is None or got[0] != status or got[1] != body:
            counts["content"] += 1
            detail = _diff(got[1], body) if got and got[0] == status == 200 else f"status chaos={got and got[0]} fault-free={status}"
            result.state_diffs.append((user, detail))
    result.by_output[STATES] = counts
    result.examples[before:before] = [f"state of {u}: {d}" for u, d in result.state_diffs[:8]]
    if chaos_odd or clean_odd:
        result.notes.append(f"segment.outbound records that are no lifecycle event: chaos {len(chaos_odd)}, "
                            f"fault-free {len(clean_odd)}")
    for name, groups in (("segment.outbound", clean_out),):
        clean_counts = {"split": 0, "exact": 0}
        _count_ids(groups, clean_counts)
        if clean_counts["split"] or clean_counts["exact"]:
            result.notes.append(f"the fault-free pass itself has duplicates on {name}: {clean_counts}")
    dead = (len(chaos.topics[names.DEADLETTER]), len(clean.topics[names.DEADLETTER]))
    if any(dead):
        result.notes.append(f"dead letters: chaos {dead[0]}, fault-free {dead[1]}")
    return result
