"""Response limits of a survey across all users (`limits.responses`, `limits.responses_per_day`;
docs/configuration.md, "Response limits").

Pure: the counts come in as an argument (`decide(..., response_counts=)`, a mapping
surveyId -> Counts; a survey missing from it has no response yet; None: not counted, no
quota reached). They are kept in a tally per survey (a plain-JSON dict, the value of the
`response_counts` table, streams.agents.quotas):

    {"total": int,                 # responses counted, all time
     "days": {"YYYY-MM-DD": int},  # per UTC day of completedAt, the DAYS_KEPT latest days only
     "responseIds": [str]}         # the last RESPONSE_IDS_MAX ids counted, oldest first

Exact per responseId within the bound: a response written twice (the users agent replayed
after a kill) is written again soon after the first copy, well within RESPONSE_IDS_MAX
responses of the same survey. The tally is rewritten to the changelog on every response:
1000 ids of 34 characters keep it under 40 KB.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from streams.core.timeutil import DAY_MS, day_of, iso

RESPONSE_IDS_MAX = 1000
# Today is all a per-day limit reads; yesterday and the day before keep late responses
# (completed before midnight, counted after) from starting a day anew.
DAYS_KEPT = 3


@dataclass(frozen=True)
class Counts:
    """A survey's responses so far: all time, and per UTC day ("YYYY-MM-DD")."""

    total: int = 0
    days: dict = field(default_factory=dict)


NONE_YET = Counts()


def new_tally() -> dict:
    return {"total": 0, "days": {}, "responseIds": []}


def add_response(tally: dict | None, response_id: str, day: str) -> dict:
    """A new tally with the response counted on `day` (its completedAt's UTC day); `tally`
    itself (the same object) when the responseId was counted already."""
    tally = tally or new_tally()
    seen = tally.get("responseIds") or []
    if response_id in seen:
        return tally
    days = dict(tally.get("days") or {})
    days[day] = days.get(day, 0) + 1
    kept = sorted(days)[-DAYS_KEPT:]  # "YYYY-MM-DD" sorts by date
    return {"total": (tally.get("total") or 0) + 1, "days": {d: days[d] for d in kept},
            "responseIds": (seen + [response_id])[-RESPONSE_IDS_MAX:]}


def counts_of(tally: dict) -> Counts:
    """What decisions read of a tally (no ids: a worker keeps this per survey, O(1))."""
    return Counts(tally.get("total") or 0, dict(tally.get("days") or {}))


def quota_reached(survey, counts: Counts | None, now: int) -> tuple[bool, int | None, str]:
    """(reached, when it lifts by time alone or None, detail) for a survey at `now`."""
    limits = survey.limits
    if not limits.responses and not limits.responses_per_day:
        return False, None, "no response limits"
    if counts is None:
        return False, None, "response limits set, responses not counted yet on this worker: not blocked"
    if limits.responses and counts.total >= limits.responses:
        return True, None, f"{counts.total} responses, limit {limits.responses}"
    if limits.responses_per_day:
        today = counts.days.get(day_of(now), 0)
        if today >= limits.responses_per_day:
            tomorrow = (now // DAY_MS + 1) * DAY_MS
            return True, tomorrow, f"{today} responses today, limit {limits.responses_per_day} a day, " \
                                   f"until {iso(tomorrow)}"
    return False, None, f"{counts.total} responses ({counts.days.get(day_of(now), 0)} today), within the limits"
