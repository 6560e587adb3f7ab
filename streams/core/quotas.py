"""Response limits of a survey across all users (`limits.responses`, `limits.responses_per_day`;
docs/configuration.md, "Response limits").

Pure: the counts come in as an argument. Counting responses across every partition and
worker is not built yet: decisions pass no counts (None) and no quota is reached. This is
the seam it plugs into: give `decide` a mapping surveyId -> Counts.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from streams.core.timeutil import DAY_MS, day_of, iso


@dataclass(frozen=True)
class Counts:
    """A survey's responses so far: all time, and per UTC day ("YYYY-MM-DD")."""

    total: int = 0
    days: dict = field(default_factory=dict)


def quota_reached(survey, counts: Counts | None, now: int) -> tuple[bool, int | None, str]:
    """(reached, when it lifts by time alone or None, detail) for a survey at `now`."""
    limits = survey.limits
    if not limits.responses and not limits.responses_per_day:
        return False, None, "no response limits"
    if counts is None:
        return False, None, "response limits set, no response counts given"
    if limits.responses and counts.total >= limits.responses:
        return True, None, f"{counts.total} responses, limit {limits.responses}"
    if limits.responses_per_day:
        today = counts.days.get(day_of(now), 0)
        if today >= limits.responses_per_day:
            tomorrow = (now // DAY_MS + 1) * DAY_MS
            return True, tomorrow, f"{today} responses today, limit {limits.responses_per_day} a day, " \
                                   f"until {iso(tomorrow)}"
    return False, None, f"{counts.total} responses ({counts.days.get(day_of(now), 0)} today), within the limits"
