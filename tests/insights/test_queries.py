"""The insights queries over a store: the score math of surveys.scores, periods, groups,
the funnel and the responses."""
from datetime import date

import pytest

from streams.core import scoring
from streams.insights import params, queries
from tests.insights.support import response, store_with, track

DAYS = {"2026-11-01": [10, 9, 6, 7], "2026-11-02": [0, 6], "2026-11-03": [9, 8], "2026-11-10": [10]}


def _responses(days=DAYS, **extra):
    return [response(f"r-{day}-{i}", score, day=day, **extra) for day, scores in days.items()
            for i, score in enumerate(scores)]


def _scores(store, survey_id="nps-main", **query):
    cursor = store.cursor()
    survey = queries.survey(cursor, survey_id)
    return queries.scores(cursor, survey, params.scores_query(query))


def _topic_record(survey_type, day, scores):
    """What the worker's scores agent writes for these responses (the same module)."""
    acc = scoring.new_accumulator(survey_type)
    for i, value in enumerate(scores):
        acc = scoring.add_response(acc, survey_type, value, f"r{i}")
    return scoring.score_record("s", survey_type, day, acc)


def test_daily_scores_are_the_scores_topic_math():
    result = _scores(store_with(_responses()))
    assert result["surveyId"] == "nps-main" and result["interval"] == "day" and result["by"] is None
    assert [s["period"] for s in result["series"]] == list(DAYS)
    for point in result["series"]:
        expected = _topic_record("nps", point["period"], DAYS[point["period"]])
        assert (point["responses"], point["score"]) == (expected["responses"], expected["score"])
        assert point["group"] is None
        assert point["ci95"][0] <= point["score"] <= point["ci95"][1]
    assert result["series"][0]["counts"] == {"promoter": 2, "passive": 1, "detractor": 1}
    assert result["series"][0]["score"] == 25.0


@pytest.mark.parametrize("survey_type, days", [
    ("csat", {"2026-11-01": [5, 4, 3, 1], "2026-11-02": [2]}),
    ("ces", {"2026-11-01": [7, 5, 3], "2026-11-02": [1, 2]}),
    ("pmf", {"2026-11-01": ["very_disappointed", "Not disappointed", "somewhat_disappointed"]}),
])
def test_other_types_score_as_the_topic_does(survey_type, days):
    store = store_with(_responses(days, survey_id="s", survey_type=survey_type))
    for point in _scores(store, "s")["series"]:
        expected = _topic_record(survey_type, point["period"], days[point["period"]])
        assert (point["responses"], point["score"]) == (expected["responses"], expected["score"])
        assert set(point["counts"]) == set(scoring.category_names(survey_type))


def test_weeks_and_months_start_on_monday_and_the_first():
    store = store_with(_responses())
    weeks = _scores(store, interval="week")["series"]
    # 2026-11-01 is a Sunday: its week starts on Monday 2026-10-26
    assert [(s["period"], s["responses"]) for s in weeks] == [("2026-10-26", 4), ("2026-11-02", 4), ("2026-11-09", 1)]
    months = _scores(store, interval="month")["series"]
    assert [(s["period"], s["responses"]) for s in months] == [("2026-11-01", 9)]
    assert months[0]["score"] == _topic_record("nps", "", [v for vs in DAYS.values() for v in vs])["score"]


def test_from_and_to_are_inclusive_days():
    series = _scores(store_with(_responses()), **{"from": "2026-11-02", "to": "2026-11-03"})["series"]
    assert [s["period"] for s in series] == ["2026-11-02", "2026-11-03"]


def test_breakdown_by_a_trait_and_a_group_trait():
    rows = [response("a", 10, traits={"plan": "pro", "group.tier": "gold"}),
            response("b", 0, traits={"plan": "pro", "group.tier": 3}),
            response("c", 9, traits={"plan": "team"}),
            response("d", 8, traits={})]
    store = store_with(rows)
    by_plan = {s["group"]: (s["responses"], s["score"]) for s in _scores(store, by="plan")["series"]}
    assert by_plan == {None: (1, 0.0), "pro": (2, 0.0), "team": (1, 100.0)}
    result = _scores(store, by="group.tier")
    assert result["by"] == "group.tier"
    assert {s["group"]: s["responses"] for s in result["series"]} == {None: 2, "gold": 1, 3: 1}


def test_a_response_without_a_score_is_listed_but_not_scored():
    store = store_with([response("a", 9), response("b", None, comment="closed after the comment")])
    assert _scores(store)["series"][0]["responses"] == 1
    assert [s["responses"] for s in queries.surveys(store.cursor())] == [1]
    assert len(_rows(store)) == 2


def test_surveys_all_time():
    store = store_with(_responses() + _responses({"2026-11-05": [5, 4]}, survey_id="csat-x", survey_type="csat"))
    listed = {s["surveyId"]: s for s in queries.surveys(store.cursor())}
    assert listed["nps-main"]["type"] == "nps" and listed["nps-main"]["name"] == "nps-main name"
    assert listed["nps-main"]["responses"] == 9
    assert listed["nps-main"]["score"] == _topic_record("nps", "", [v for vs in DAYS.values() for v in vs])["score"]
    assert (listed["csat-x"]["responses"], listed["csat-x"]["score"]) == (2, 100.0)


def test_funnel_counts_displays_and_the_response_rate():
    events = [track("v1", "Survey Viewed", "d1"), track("v2", "Survey Viewed", "d2"), track("v3", "Survey Viewed", "d3"),
              track("v4", "Survey Viewed", "d4"),
              track("a1", "Survey Answered", "d1"), track("a2", "Survey Answered", "d1"),  # two answers, one display
              track("a3", "Survey Answered", "d2"),
              track("c1", "Survey Completed", "d1"), track("x3", "Survey Dismissed", "d3"),
              track("v9", "Survey Viewed", "d9", day="2026-12-01")]
    store = store_with(events=events)
    cursor = store.cursor()
    survey = queries.survey(cursor, "nps-main")
    assert queries.funnel(cursor, survey, params.period({"to": "2026-11-30"})) == {
        "viewed": 4, "answered": 2, "completed": 1, "dismissed": 1, "responseRate": 0.25}
    assert queries.funnel(cursor, survey, params.period({"from": "2026-12-02"}))["responseRate"] is None


def _rows(store, survey_id="nps-main", question_order=(), **query):
    cursor = store.cursor()
    survey = queries.survey(cursor, survey_id)
    parsed = params.responses_query(query)
    columns = queries.response_columns(cursor, survey, parsed, question_order)
    return [row for chunk in queries.response_rows(cursor, survey, parsed, columns) for row in chunk]


def test_responses_carry_the_contract_columns_answers_and_traits():
    store = store_with([
        response("a", 9, comment="Fast exports", answers={"score": 9, "reason": "Fast exports", "uses": ["api"]},
                 traits={"plan": "pro", "group.tier": "gold"}, locale="de", time="10:00:00"),
        response("b", 3, comment="Slow", answers={"score": 3, "reason": "Slow"}, traits={"plan": "team"},
                 time="11:00:00"),
    ])
    rows = _rows(store, question_order=("score", "reason"))
    assert list(rows[0]) == ["userId", "completedAt", "score", "category", "comment", "locale",
                             "answer.score", "answer.reason", "answer.uses", "trait.group.tier", "trait.plan"]
    latest, earlier = rows
    assert latest["userId"] == "u-b" and latest["completedAt"] == "2026-11-01T11:00:00.000Z"
    assert latest["category"] == "detractor" and latest["answer.uses"] is None and latest["trait.group.tier"] is None
    assert earlier["answer.uses"] == ["api"] and earlier["locale"] == "de" and earlier["trait.group.tier"] == "gold"


def test_responses_search_page_and_order():
    store = store_with([response(f"r{i}", i % 11, comment=text, time=f"10:00:{i:02d}")
                        for i, text in enumerate(["Great EXPORTS", "slow", None, "exports broke", "ok"])])
    assert [r["comment"] for r in _rows(store, q="export")] == ["exports broke", "Great EXPORTS"]
    assert [r["score"] for r in _rows(store, limit="2")] == [4, 3]
    assert [r["score"] for r in _rows(store, limit="2", offset="2")] == [2, 1]
    assert [r["score"] for r in _rows(store, order="asc")] == [0, 1, 2, 3, 4]
    assert _rows(store, q="100%") == []  # no LIKE pattern: % is a character like any other


def test_responses_of_a_period():
    store = store_with(_responses())
    assert len(_rows(store, **{"from": "2026-11-03", "to": "2026-11-10"})) == 3


def test_unknown_survey_is_none():
    assert queries.survey(store_with(_responses()).cursor(), "nope") is None


def test_config_surveys_are_known_before_any_response():
    from streams.core.config import parse_config

    store = store_with()
    store.seed_surveys(parse_config({"surveys": [{"id": "fresh", "type": "ces", "name": "Fresh"}]}).surveys)
    assert queries.surveys(store.cursor()) == [
        {"surveyId": "fresh", "type": "ces", "name": "Fresh", "responses": 0, "score": None, "ci95": None}]
    assert _scores(store, "fresh")["series"] == []


@pytest.mark.parametrize("query, field", [
    ({"from": "2026-13-01"}, "from"), ({"from": "yesterday"}, "from"), ({"to": "2026-11-1"}, "to"),
    ({"from": "2026-11-05", "to": "2026-11-01"}, "from"),
    ({"interval": "hour"}, "interval"),
    ({"by": "plan'); DROP TABLE responses; --"}, "by"), ({"by": '$."x"'}, "by"), ({"by": ".plan"}, "by"),
    ({"by": "a" * 200}, "by"),
])
def test_bad_scores_parameters_are_named(query, field):
    with pytest.raises(params.InvalidInput) as refused:
        params.scores_query(query)
    assert refused.value.field == field and refused.value.code == "invalid_parameter"


@pytest.mark.parametrize("query, field", [
    ({"format": "xml"}, "format"), ({"limit": "0"}, "limit"), ({"limit": "-1"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"offset": "1e3"}, "offset"), ({"order": "random"}, "order"), ({"q": "x" * 201}, "q"),
    ({"to": "2026-02-30"}, "to"),
])
def test_bad_responses_parameters_are_named(query, field):
    with pytest.raises(params.InvalidInput) as refused:
        params.responses_query(query)
    assert refused.value.field == field


def test_good_parameters():
    parsed = params.scores_query({"from": "2026-11-01", "to": "2026-11-01", "interval": "week", "by": "group.plan"})
    assert parsed.period == params.Period(date(2026, 11, 1), date(2026, 11, 1))
    assert parsed.path == '$."group.plan"'
    assert params.responses_query({}).format == "json"


def test_interval_all_is_one_period_per_group_from_its_first_day():
    store = store_with(_responses({"2026-11-03": [10, 0], "2026-11-05": [9]}, traits={"plan": "pro"})
                       + [response("t", 5, day="2026-11-04", traits={"plan": "team"})])
    series = _scores(store, interval="all", by="plan")["series"]
    assert [(s["period"], s["group"], s["responses"], s["score"]) for s in series] == [
        ("2026-11-03", "pro", 3, 33.33), ("2026-11-03", "team", 1, -100.0)]
    assert [(s["period"], s["responses"]) for s in _scores(store, interval="all")["series"]] == [("2026-11-03", 4)]
