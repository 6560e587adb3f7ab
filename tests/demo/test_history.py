"""The demo's month of history (streams.demo.history, streams.demo.sessions): how many
sessions a day, the release's lift, the traits' differences, when each session is dated."""
from __future__ import annotations

import random

import pytest

from streams.core import scoring
from streams.core.timeutil import DAY_MS
from streams.demo import comments, history
from streams.demo.history import HISTORY_DAYS, RELEASE_DAYS_AGO, day_plan, release_effect, session, spread
from streams.demo.sessions import past_instant, session_events

WEEKDAYS = [(3 - days_ago) % 7 for days_ago in range(HISTORY_DAYS + 1)]  # today a Thursday


def nps(scripts) -> float:
    scores = [s.score for s in scripts if s.score is not None]
    promoters = sum(score >= 9 for score in scores)
    detractors = sum(score <= 6 for score in scores)
    return 100 * (promoters - detractors) / len(scores)


@pytest.mark.parametrize("survey_type, weekday_range, weekend_range", [
    ("nps", (26, 46), (17, 23)),
    ("csat", (7, 12), (3, 5)),
    ("ces", (3, 7), (1, 3)),
    ("pmf", (3, 7), (1, 3)),
])
def test_every_day_of_the_month_gets_its_sessions(survey_type, weekday_range, weekend_range):
    plan = day_plan(random.Random(1), survey_type, WEEKDAYS)
    assert sorted(set(plan)) == list(range(1, HISTORY_DAYS + 1))
    assert plan == sorted(plan, reverse=True)  # oldest first
    for days_ago in range(1, HISTORY_DAYS + 1):
        low, high = weekend_range if WEEKDAYS[days_ago] >= 5 else weekday_range
        assert low <= plan.count(days_ago) <= high, days_ago


def test_enough_nps_responses_a_weekday():
    rng = random.Random(2)
    plan = day_plan(rng, "nps", WEEKDAYS)
    answered = [s for s in (session(rng, "nps", d) for d in plan) if s.score is not None]
    per_day = [sum(s.days_ago == d for s in answered) for d in range(1, HISTORY_DAYS + 1)]
    assert min(per_day) >= 10 and max(per_day) <= 46
    assert 15 <= sum(per_day) / len(per_day) <= 40


@pytest.mark.parametrize("available", [0, 1, 100, 500, 10_000])
def test_spread_keeps_the_plan_order_and_cuts_evenly(available):
    plan = day_plan(random.Random(3), "nps", WEEKDAYS)
    cut = spread(random.Random(4), plan, available)
    assert len(cut) == min(available, len(plan))
    assert cut == sorted(cut, reverse=True)
    if available >= 500:  # cut at random, not the newest days dropped
        assert set(cut) == set(plan)


@pytest.mark.parametrize("days_ago, effect", [
    (HISTORY_DAYS, 0.0), (RELEASE_DAYS_AGO + 1, 0.0), (RELEASE_DAYS_AGO, 1 / history.RAMP_DAYS),
    (RELEASE_DAYS_AGO - history.RAMP_DAYS + 1, 1.0), (1, 1.0),
])
def test_release_effect(days_ago, effect):
    assert release_effect(days_ago) == pytest.approx(effect)


def many(survey_type, days, n=3000, seed=5, **traits):
    rng = random.Random(seed)
    return [session(rng, survey_type, rng.choice(days), **traits) for _ in range(n)]


def test_nps_climbs_after_the_release():
    before = many("nps", range(RELEASE_DAYS_AGO + 1, HISTORY_DAYS + 1))
    after = many("nps", range(1, RELEASE_DAYS_AGO - history.RAMP_DAYS + 1))
    assert nps(before) < 15 and nps(after) > 30
    assert nps(after) - nps(before) >= 25


@pytest.mark.parametrize("better, worse", [
    ({"plan": "team"}, {"plan": "pro"}),
    ({"size": "1000+"}, {"size": "1-10"}),
    ({"locale": "en"}, {"locale": "de"}),
])
def test_traits_make_a_difference(better, worse):
    days = range(1, HISTORY_DAYS + 1)
    assert nps(many("nps", days, n=6000, **better)) > nps(many("nps", days, n=6000, **worse))


@pytest.mark.parametrize("survey_type", ["nps", "csat", "ces", "pmf"])
def test_scripts_are_valid_for_their_type(survey_type):
    for script in many(survey_type, range(1, HISTORY_DAYS + 1), n=500, locale="de"):
        assert script.action in ("complete", "answer_close", "dismiss")
        if script.action == "dismiss":
            assert script.score is None and script.comment is None
            continue
        if survey_type == "pmf":
            assert script.score in (0, 1, 2)
        else:
            assert scoring.category_of(survey_type, script.score) is not None, script
        assert (script.comment is not None) == (script.action == "complete")


def test_comments_follow_the_locale_and_the_release():
    pools = [*comments.NPS.values(), *comments.NPS_AFTER.values()]
    german_pool = {text for pool in pools for text in pool["de"]}
    german = {s.comment for s in many("nps", [1], n=400, locale="de")} - {None}
    assert german and german <= german_pool
    after = {s.comment for s in many("nps", [1], n=400)}
    before = {s.comment for s in many("nps", [HISTORY_DAYS], n=400)}
    assert "Love the new report builder!" in after - before


NOW = 1_796_000_000_000 + 5 * 3_600_000  # 05:00 UTC: an offset back from now would cross midnight


@pytest.mark.parametrize("days_ago", [1, 7, HISTORY_DAYS])
def test_past_sessions_fall_on_their_utc_day(days_ago):
    day_start = NOW - NOW % DAY_MS - days_ago * DAY_MS
    instants = [past_instant(NOW, days_ago, index) for index in range(60)]
    assert all(day_start <= at < day_start + DAY_MS for at in instants)
    assert len(set(instants)) == len(instants)


def test_session_events_carry_the_answers_locale():
    survey = {"id": "nps-main", "locale": "de", "questions": [{"id": "score", "kind": "scale", "min": 0, "max": 10},
                                                             {"id": "reason", "kind": "text"}]}
    events = session_events("u1", survey, {"id": "d1", "token": "t"}, "complete", 12, "Gut")
    assert [e["type"] for e in events] == ["shown", "answered", "answered", "submitted"]
    assert {e["locale"] for e in events} == {"de"}
    assert events[1]["value"] == 10  # clamped to the scale
