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
