import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core import scoring
from streams.core.config import PMF_CHOICES


def accumulate(survey_type, scores):
    acc = scoring.new_accumulator(survey_type)
    for index, value in enumerate(scores):
        acc = scoring.add_response(acc, survey_type, value, f"r{index}")
    return acc


def score_of(survey_type, scores):
    return scoring.score(accumulate(survey_type, scores), survey_type)


@pytest.mark.parametrize("survey_type, scores, expected", [
    # NPS: %promoters - %detractors
    ("nps", [10, 9, 8, 7, 0], 20.0),              # 40% - 20%
    ("nps", [10, 10, 10], 100.0),
    ("nps", [0, 3, 6], -100.0),
    ("nps", [7, 8, 7, 8], 0.0),                   # passives only
    ("nps", [9, 6, 8], 0.0),
    ("nps", [9, 7, 7], 33.33),                    # 1/3, rounded
    ("nps", [6, 7, 7], -33.33),
    ("nps", [10, 10, 0, 8, 8, 8], 16.67),
    # NPS boundaries: 6 detractor, 7 and 8 passive, 9 promoter
    ("nps", [6], -100.0),
    ("nps", [7], 0.0),
    ("nps", [8], 0.0),
    ("nps", [9], 100.0),
    # CSAT: % of 4-5
    ("csat", [5, 4, 3, 2], 50.0),
    ("csat", [3], 0.0),
    ("csat", [4], 100.0),
    ("csat", [1, 2, 3, 4, 5, 5], 50.0),
    ("csat", [5, 1, 1], 33.33),
    # CES: mean on 1-7
    ("ces", [7, 5, 3], 5.0),
    ("ces", [1, 2], 1.5),
    ("ces", [7, 7, 6], 6.67),
    ("ces", [1], 1.0),
    # PMF: % very disappointed
    ("pmf", ["very_disappointed", "somewhat_disappointed", "not_disappointed", "very_disappointed"], 50.0),
    ("pmf", ["not_disappointed"], 0.0),
    ("pmf", ["very_disappointed", "not_disappointed", "not_disappointed"], 33.33),
])
def test_score_formulas(survey_type, scores, expected):
    assert score_of(survey_type, scores)[0] == expected


@pytest.mark.parametrize("survey_type", ["nps", "csat", "ces", "pmf"])
def test_empty_day_has_no_score(survey_type):
    value, breakdown = scoring.score(scoring.new_accumulator(survey_type), survey_type)
    assert value is None
    assert all(item == {"count": 0, "percent": None} for item in breakdown["distribution"].values())
    record = scoring.score_record("s", survey_type, "2024-05-01", scoring.new_accumulator(survey_type))
    assert record["responses"] == 0 and record["score"] is None


def test_nps_breakdown_groups_and_distribution():
    _, breakdown = score_of("nps", [10, 9, 8, 7, 0])
    assert breakdown["promoters"] == {"count": 2, "percent": 40.0}
    assert breakdown["passives"] == {"count": 2, "percent": 40.0}
    assert breakdown["detractors"] == {"count": 1, "percent": 20.0}
    assert list(breakdown["distribution"]) == [str(v) for v in range(11)]
    assert breakdown["distribution"]["0"] == {"count": 1, "percent": 20.0}
    assert breakdown["distribution"]["5"] == {"count": 0, "percent": 0.0}


def test_csat_breakdown_per_value():
    _, breakdown = score_of("csat", [5, 4, 3, 3])
    assert breakdown["satisfied"] == {"count": 2, "percent": 50.0}
    assert {v: item["count"] for v, item in breakdown["distribution"].items()} == {"1": 0, "2": 0, "3": 2, "4": 1, "5": 1}


def test_ces_distribution():
    value, breakdown = score_of("ces", [7, 5, 3, 7])
    assert value == 5.5
    assert breakdown["distribution"]["7"] == {"count": 2, "percent": 50.0}
    assert list(breakdown["distribution"]) == [str(v) for v in range(1, 8)]


def test_pmf_breakdown_per_category_and_choice_text():
    acc = accumulate("pmf", [PMF_CHOICES[0], "very disappointed", "Somewhat disappointed", "not_disappointed"])
    value, breakdown = scoring.score(acc, "pmf")
    assert value == 50.0
    assert {c: item["count"] for c, item in breakdown["distribution"].items()} == {
        "very_disappointed": 2, "somewhat_disappointed": 1, "not_disappointed": 1}


@pytest.mark.parametrize("survey_type, value, key", [
    ("nps", 9, "9"), ("nps", 9.0, "9"), ("nps", " 10 ", "10"), ("nps", 0, "0"),
    ("nps", 11, None), ("nps", -1, None), ("nps", 8.5, None), ("nps", True, None), ("nps", None, None),
    ("nps", "great", None),
    ("csat", 0, None), ("csat", 5, "5"), ("ces", 8, None), ("ces", 1, "1"),
    ("pmf", "Not disappointed", "not_disappointed"), ("pmf", "meh", None), ("pmf", 1, None),
])
def test_normalize_score(survey_type, value, key):
    assert scoring.normalize_score(survey_type, value) == key


def test_invalid_or_missing_score_is_not_counted():
    acc = scoring.new_accumulator("nps")
    assert scoring.add_response(acc, "nps", None, "r1") is acc
    assert scoring.add_response(acc, "nps", 42, "r2") is acc


def test_replayed_response_is_not_counted_twice():
    acc = scoring.add_response(scoring.new_accumulator("nps"), "nps", 10, "r1")
    replayed = scoring.add_response(acc, "nps", 10, "r1")
    assert replayed is acc
    assert scoring.score_record("nps-main", "nps", "2024-05-01", replayed)["responses"] == 1


def test_add_response_leaves_its_input_alone():
    acc = scoring.new_accumulator("csat")
    snapshot = orjson.dumps(acc)
    scoring.add_response(acc, "csat", 5, "r1")
    assert orjson.dumps(acc) == snapshot


def test_response_ids_are_bounded(monkeypatch):
    monkeypatch.setattr(scoring, "RESPONSE_IDS_MAX", 3)
    acc = accumulate("nps", [10] * 5)
    assert acc["responseIds"] == ["r2", "r3", "r4"]
    assert acc["responses"] == 5


def test_score_record_shape_is_json():
    acc = accumulate("nps", [10, 0])
    record = scoring.score_record("nps-main", "nps", "2024-05-01", acc)
    assert list(record) == ["surveyId", "surveyType", "day", "responses", "score", "breakdown", "locales"]
    assert record["surveyId"] == "nps-main" and record["day"] == "2024-05-01"
    assert record["responses"] == 2 and record["score"] == 0.0
    assert orjson.loads(orjson.dumps(record)) == record
    # the accumulator survives a changelog round trip
    assert orjson.loads(orjson.dumps(acc)) == acc


nps_scores = st.lists(st.integers(min_value=0, max_value=10), min_size=1, max_size=200)


@given(nps_scores)
def test_nps_is_within_bounds(scores):
    value, breakdown = score_of("nps", scores)
    assert -100 <= value <= 100
    groups = [breakdown[g]["count"] for g in ("promoters", "passives", "detractors")]
    assert sum(groups) == len(scores)


@given(nps_scores, st.randoms(use_true_random=False))
def test_nps_does_not_depend_on_order(scores, random):
    shuffled = list(enumerate(scores))
    random.shuffle(shuffled)
    acc = scoring.new_accumulator("nps")
    for index, value in shuffled:
        acc = scoring.add_response(acc, "nps", value, f"r{index}")
    assert scoring.score(acc, "nps") == score_of("nps", scores)


# --- 95% intervals (docs/reference.md#8-insights) -------------------------------------------------------

@pytest.mark.parametrize("successes, n, expected", [
    # Published Wilson intervals (z = 1.96).
    (8, 10, (0.4902, 0.9433)),
    (5, 10, (0.2366, 0.7634)),
    (0, 10, (0.0, 0.2775)),
    (1, 1, (0.2065, 1.0)),
    (0, 1, (0.0, 0.7935)),
    (2, 3, (0.2077, 0.9385)),
])
def test_wilson_interval(successes, n, expected):
    low, high = scoring.wilson(successes, n)
    assert (round(low, 4), round(high, 4)) == expected
    assert 0.0 <= low <= successes / n <= high <= 1.0


def test_wilson_and_nps_intervals_of_nothing():
    assert scoring.wilson(0, 0) is None
    assert scoring.nps_interval(0, 0, 0) is None


@pytest.mark.parametrize("survey_type, scores, expected", [
    # NPS: 2 promoters, 1 detractor of 5: mean .2, var .6 - .04 = .56; 1.96 * sqrt(.56 / 5) = .6559
    ("nps", [10, 9, 8, 7, 0], [-45.59, 85.59]),
    # one kind only: no variance, the interval is the score
    ("nps", [10, 10, 10], [100.0, 100.0]),
    ("nps", [7, 8], [0.0, 0.0]),
    # 3 promoters, 1 detractor of 4: mean .5, var .75, half .8487: the top is clamped at 100
    ("nps", [10, 10, 10, 0], [-34.87, 100.0]),
    ("nps", [0, 0, 0, 10], [-100.0, 34.87]),
    # CSAT, PMF: Wilson in percent
    ("csat", [5, 5, 5, 5, 4, 4, 4, 4, 3, 1], [49.02, 94.33]),
    ("csat", [3], [0.0, 79.35]),
    ("pmf", ["very_disappointed", "not_disappointed"], [9.45, 90.55]),
    # CES: Wilson on (mean - 1) / 6 mapped back onto 1-7; mean 5 of 3 -> proportion 2/3
    ("ces", [7, 5, 3], [2.25, 6.63]),
    ("ces", [1, 2], [1.02, 5.27]),
])
def test_score_intervals(survey_type, scores, expected):
    acc = accumulate(survey_type, scores)
    assert scoring.interval(acc, survey_type) == expected
    value, _ = scoring.score(acc, survey_type)
    assert expected[0] <= value <= expected[1]


@pytest.mark.parametrize("survey_type", ["nps", "csat", "ces", "pmf"])
def test_no_interval_without_responses(survey_type):
    assert scoring.interval(scoring.new_accumulator(survey_type), survey_type) is None


@given(st.lists(st.integers(0, 10), min_size=1, max_size=200))
def test_nps_interval_holds_the_score_within_bounds(scores):
    acc = accumulate("nps", scores)
    low, high = scoring.interval(acc, "nps")
    value, _ = scoring.score(acc, "nps")
    assert -100.0 <= low <= value <= high <= 100.0


@pytest.mark.parametrize("survey_type, value, category", [
    ("nps", 10, "promoter"), ("nps", "9", "promoter"), ("nps", 8, "passive"), ("nps", 6, "detractor"),
    ("nps", 0, "detractor"), ("nps", 11, None),
    ("csat", 5, "satisfied"), ("csat", 3, "neutral"), ("csat", 1, "unsatisfied"), ("csat", 0, None),
    ("ces", 7, "easy"), ("ces", 4, "neutral"), ("ces", 3, "difficult"),
    ("pmf", "Very disappointed", "very_disappointed"), ("pmf", "not_disappointed", "not_disappointed"),
    ("pmf", "maybe", None),
])
def test_category_of(survey_type, value, category):
    assert scoring.category_of(survey_type, value) == category


def test_category_counts_cover_every_category():
    counts = scoring.category_counts({"10": 2, "9": 1, "7": 4, "0": 1, "5": 0}, "nps")
    assert counts == {"promoter": 3, "passive": 4, "detractor": 1}
    assert scoring.category_counts({}, "pmf") == {c: 0 for c in scoring.PMF_CATEGORIES}


@pytest.mark.parametrize("record, field", [
    ([], None),
    ({"surveyType": "nps", "completedAt": "2026-01-01T00:00:00Z", "responseId": "r"}, "surveyId"),
    ({"surveyId": "s", "surveyType": "nps", "completedAt": "yesterday", "responseId": "r"}, "completedAt"),
    ({"surveyId": "s", "surveyType": "stars", "completedAt": "2026-01-01T00:00:00Z", "responseId": "r"}, "surveyType"),
    ({"surveyId": "s", "surveyType": "nps", "completedAt": "2026-01-01T00:00:00Z", "responseId": 3}, "responseId"),
])
def test_response_key_refuses_naming_the_field(record, field):
    from streams.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        scoring.response_key(record)
    assert refused.value.field == field


def test_response_key_is_the_utc_day():
    record = {"surveyId": "s", "surveyType": "csat", "completedAt": "2026-01-01T23:30:00-02:00", "responseId": "r"}
    assert scoring.response_key(record) == ("s", "csat", "2026-01-02")


def test_scores_are_split_by_the_responses_locale():
    acc = scoring.new_accumulator("nps")
    for index, (value, locale) in enumerate([(10, "en"), (0, "en"), (9, "de"), (10, "de-at"), (5, None), (7, "!!")]):
        acc = scoring.add_response(acc, "nps", value, f"r{index}", locale)
    record = scoring.score_record("nps-main", "nps", "2024-05-01", acc)
    assert (record["responses"], record["score"]) == (6, 16.67)
    # no locale, or one that is no language tag: counted in the day, not in a locale
    assert record["locales"] == {"de": {"responses": 1, "score": 100.0}, "de-AT": {"responses": 1, "score": 100.0},
                                 "en": {"responses": 2, "score": 0.0}}


def test_locales_per_accumulator_are_bounded(monkeypatch):
    monkeypatch.setattr(scoring, "LOCALES_MAX", 2)
    acc = scoring.new_accumulator("csat")
    for index, locale in enumerate(["en", "de", "fr", "en"]):
        acc = scoring.add_response(acc, "csat", 5, f"r{index}", locale)
    assert acc["locales"] == {"en": {"5": 2}, "de": {"5": 1}} and acc["responses"] == 4
