"""A month of survey history for the demo: how many sessions a day, and what each answers.

Pure (a seeded Random in, scripts out): streams.demo.sessions asks it for a plan and
imports one session per eligible customer of streams.demo.population.

The story the numbers tell, so that the insights page has something to find:
- 30 days back, weekdays busier than weekends: 15-40 NPS responses a weekday, fewer on
  Saturdays and Sundays; a handful of CSAT ones a day (and of CES/PMF when the config has
  such a survey);
- a release RELEASE_DAYS_AGO (in the third week) makes the dashboard faster and fixes wide
  PDF exports: NPS climbs from about +5 to about +35 over the few days after it, CSAT from
  about 55% to about 80%, and the comments after it talk about the update;
- team plans and larger companies (group.size) answer better than pro plans and small ones;
  German users a little lower than English ones (their comments are in German).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from streams.demo.comments import comment

HISTORY_DAYS = 30  # sessions from 30 days ago to yesterday; today's go through the bridge
RELEASE_DAYS_AGO = 15
RAMP_DAYS = 4  # the release's effect grows over this many days (people notice it)
# Sessions a weekday / a weekend day, per survey type: (low, high) both included.
PER_DAY = {"nps": ((26, 46), (17, 23)), "csat": ((7, 12), (3, 5)), "ces": ((3, 7), (1, 3)), "pmf": ((3, 7), (1, 3))}
DISMISS_SHARE = 0.14  # closed without answering
NO_COMMENT_SHARE = 0.12  # answered the score, closed before the comment
PLAN_LIFT = {"team": 0.06, "pro": -0.04, "free": -0.06}
SIZE_LIFT = {"1-10": -0.07, "11-50": -0.03, "51-200": 0.0, "201-1000": 0.04, "1000+": 0.08}
LOCALE_LIFT = {"de": -0.03}


@dataclass(frozen=True)
class Script:
    """One session: "complete" (score and comment), "answer_close" (the score only) or "dismiss"."""

    days_ago: int
    action: str
    score: int | None
    comment: str | None


def day_plan(rng: random.Random, survey_type: str, weekdays: list[int]) -> list[int]:
    """Days ago of every planned session, oldest first: `weekdays[d]` is the weekday
    (Monday 0) of the day d days ago, d = 1..HISTORY_DAYS (index 0 is today's)."""
    busy, quiet = PER_DAY.get(survey_type, PER_DAY["ces"])
    plan = []
    for days_ago in range(HISTORY_DAYS, 0, -1):
        low, high = quiet if weekdays[days_ago] >= 5 else busy
        plan.extend([days_ago] * rng.randint(low, high))
    return plan


def spread(rng: random.Random, plan: list[int], available: int) -> list[int]:
    """The plan cut to `available` sessions, evenly over its days (none left out on purpose)."""
    if available >= len(plan):
        return plan
    return sorted(rng.sample(plan, available), reverse=True)


def release_effect(days_ago: int) -> float:
    """0 before the release, then up to 1 over RAMP_DAYS days."""
    since = RELEASE_DAYS_AGO - days_ago
    return 0.0 if since < 0 else min(1.0, (since + 1) / RAMP_DAYS)


def lift(days_ago: int, plan: str | None, size: str | None, locale: str | None, release_gain: float) -> float:
    return (release_gain * release_effect(days_ago) + PLAN_LIFT.get(plan, 0.0) + SIZE_LIFT.get(size, 0.0)
            + LOCALE_LIFT.get(locale, 0.0))


def session(rng: random.Random, survey_type: str, days_ago: int, plan: str | None = None, size: str | None = None,
            locale: str = "en") -> Script:
    """What one customer does with the survey `days_ago` days ago."""
    roll = rng.random()
    if roll < DISMISS_SHARE:
        return Script(days_ago, "dismiss", None, None)
    score, category = _score(rng, survey_type, days_ago, plan, size, locale)
    if roll < DISMISS_SHARE + NO_COMMENT_SHARE:
        return Script(days_ago, "answer_close", score, None)
    after = days_ago <= RELEASE_DAYS_AGO
    return Script(days_ago, "complete", score, comment(rng, survey_type, category, locale, after))


def _score(rng: random.Random, survey_type: str, days_ago: int, plan, size, locale) -> tuple[int, str]:
    """(score, category); for pmf the score is an index into the question's choices."""
    if survey_type == "nps":
        up = lift(days_ago, plan, size, locale, 0.17)
        band = _pick(rng, (("promoter", 0.35 + up), ("detractor", max(0.03, 0.30 - up))), "passive")
        low, high = {"promoter": (9, 10), "passive": (7, 8), "detractor": (0, 6)}[band]
        if band == "detractor":
            return rng.choices(range(0, 7), weights=(1, 1, 2, 3, 3, 4, 5))[0], band
        return rng.randint(low, high), band
    if survey_type == "csat":
        up = lift(days_ago, plan, size, locale, 0.25)
        band = _pick(rng, (("satisfied", 0.55 + up), ("unsatisfied", max(0.03, 0.25 - up))), "neutral")
        return {"satisfied": rng.choice((4, 5, 5)), "neutral": 3, "unsatisfied": rng.choice((1, 2))}[band], band
    if survey_type == "ces":
        up = lift(days_ago, plan, size, locale, 0.15)
        band = _pick(rng, (("easy", 0.55 + up), ("difficult", max(0.03, 0.25 - up))), "neutral")
        return {"easy": rng.randint(5, 7), "neutral": 4, "difficult": rng.randint(1, 3)}[band], band
    up = lift(days_ago, plan, size, locale, 0.12)  # pmf: 0 very, 1 somewhat, 2 not disappointed
    band = _pick(rng, (("very_disappointed", 0.35 + up), ("not_disappointed", max(0.03, 0.25 - up))),
                 "somewhat_disappointed")
    return {"very_disappointed": 0, "somewhat_disappointed": 1, "not_disappointed": 2}[band], band


def _pick(rng: random.Random, shares: tuple, rest: str) -> str:
    roll, total = rng.random(), 0.0
    for name, share in shares:
        total += share
        if roll < total:
            return name
    return rest
