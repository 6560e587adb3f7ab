"""Lifecycle outputs -> Segment messages (docs/reference.md#outbound) and response records
(docs/reference.md#responses)."""
from __future__ import annotations

import pytest

from streams.core.config import parse_config
from streams.core.lifecycle import Output
from streams.core.outbound import response_record, score_and_category, segment_messages
from streams.core.scoring import normalize_score
from streams.core.state import new_user_state
from streams.core.timeutil import iso, parse_iso

T0 = parse_iso("2024-05-01T12:00:00Z")
VERSION = "1.2.3"
CONFIG = parse_config({"surveys": [
    {"id": "nps-main", "type": "nps", "name": "How likely are you to recommend us?",
     "questions": [{"id": "score", "kind": "scale", "text": "How likely?", "min": 0, "max": 10},
                   {"id": "reason", "kind": "text", "text": "Why?"}],
     "segment": {
         "events": {"answered": {"name": "NPS Answered"}, "dismissed": {"enabled": False}},
         # `survey_id` collides with a contract property, which must win
         "properties": {"product_area": "core", "plan": "trait:plan", "region": "trait:region",
                        "weight": 2, "survey_id": "spoofed"},
         "traits": {"NPS_rating": "score", "NPS_comment": "reason", "NPS_date": "completed_at",
                    "NPS_category": "category", "NPS_response": "response_id"}}},
    {"id": "csat", "type": "csat", "name": "CSAT"},  # every default
    {"id": "pmf", "type": "pmf", "name": "PMF"},
    {"id": "pmf-de", "type": "pmf", "name": "PMF DE",
     "questions": [{"id": "feel", "kind": "choice", "text": "?",
                    "choices": ["Sehr enttäuscht", "Etwas enttäuscht", "Nicht enttäuscht"]}]},
    {"id": "ces", "type": "ces", "name": "CES",
     "segment": {"events": {"completed": {"enabled": False}}, "traits": {}}},
]})
NPS, CSAT, PMF, PMF_DE, CES = CONFIG.surveys


def user() -> dict:
    state = new_user_state("u1")
    state["traits"] = {"plan": "pro", "email": "a@b.c"}
    state["createdAt"] = T0 - 86_400_000
    state["firstSeen"] = T0 - 3_600_000
    return state


def output(kind: str, survey=NPS, **fields) -> Output:
    defaults = {"at": T0, "source_message_id": "w1", "display_id": "d1"}
    if kind == "answered":
        defaults.update(question_id="score", value=9)
    if kind == "completed":
        defaults.update(answers={"score": 9, "reason": "fast"})
    defaults.update(fields)
    return Output(kind, survey.id, **defaults)


def messages(kind: str, survey=NPS, **fields) -> list[dict]:
    return segment_messages(output(kind, survey, **fields), survey, user(), "u1", VERSION)


# --- tracks --------------------------------------------------------------------------

def test_viewed_track_is_a_complete_segment_message():
    track, = messages("viewed")
    assert track == {
        "type": "track", "userId": "u1", "messageId": track["messageId"],
        "timestamp": "2024-05-01T12:00:00.000Z", "event": "Survey Viewed",
        "properties": {"survey_id": "nps-main", "survey_name": "How likely are you to recommend us?",
                       "survey_type": "nps", "display_id": "d1", "locale": "en", "product_area": "core", "plan": "pro",
                       "region": None, "weight": 2},
        "context": {"library": {"name": "survey-streams", "version": VERSION}},
    }
    assert track["messageId"].startswith("ss-") and len(track["messageId"]) == 35


def test_answered_track_is_renamed_and_carries_the_question():
    track, = messages("answered", question_id="reason", value="fast")
    assert track["event"] == "NPS Answered"
    assert {k: track["properties"][k] for k in ("question_id", "question", "value")} == {
        "question_id": "reason", "question": "Why?", "value": "fast"}


def test_completed_track_carries_the_response():
    track, identify = messages("completed")
    assert track["event"] == "Survey Completed"
    properties = track["properties"]
    assert {k: properties[k] for k in ("score", "category", "answers", "comment")} == {
        "score": 9, "category": "promoter", "answers": {"score": 9, "reason": "fast"}, "comment": "fast"}
    assert properties["response_id"] == identify["traits"]["NPS_response"]
    assert properties["survey_id"] == "nps-main"  # the contract's property beats the configured one


def test_disabled_event_gives_no_track():
    assert messages("dismissed") == []


def test_dismissed_track_has_only_the_survey_properties():
    track, = messages("dismissed", CSAT)
    assert track["event"] == "Survey Dismissed"
    assert track["properties"] == {"survey_id": "csat", "survey_name": "CSAT", "survey_type": "csat",
                                   "display_id": "d1", "locale": "en"}


def test_properties_copy_traits_as_of_the_state_passed():
    state = user()
    state["traits"]["plan"] = "team"
    track, = segment_messages(output("viewed"), NPS, state, "u1", VERSION)
    assert track["properties"]["plan"] == "team"


# --- identify ------------------------------------------------------------------------

def test_identify_maps_question_ids_and_response_fields():
    track, identify = messages("completed")
    assert identify == {
        "type": "identify", "userId": "u1", "messageId": identify["messageId"],
        "timestamp": "2024-05-01T12:00:00.000Z",
        "traits": {"NPS_rating": 9, "NPS_comment": "fast", "NPS_date": "2024-05-01T12:00:00.000Z",
                   "NPS_category": "promoter", "NPS_response": track["properties"]["response_id"]},
        "context": {"library": {"name": "survey-streams", "version": VERSION}},
    }
    assert identify["messageId"] != track["messageId"]


def test_identify_default_traits_are_named_after_the_type():
    _, identify = messages("completed", CSAT, answers={"score": 2, "comment": "slow"}, at=T0 + 1)
    assert identify["traits"] == {"CSAT_rating": 2, "CSAT_comment": "slow", "CSAT_date": iso(T0 + 1)}


def test_identify_sends_null_for_what_was_not_answered():
    _, identify = messages("completed", answers={"reason": "only a comment"})
    assert identify["traits"]["NPS_rating"] is None and identify["traits"]["NPS_category"] is None
    assert identify["traits"]["NPS_comment"] == "only a comment"


def test_pmf_rating_trait_is_the_choice_the_user_made():
    _, identify = messages("completed", PMF, answers={"score": "Somewhat disappointed"})
    assert identify["traits"]["PMF_rating"] == "Somewhat disappointed"


def test_no_identify_without_mapped_traits_and_no_track_when_completed_is_disabled():
    assert messages("completed", CES, answers={"score": 5}) == []


def test_identify_only_on_completed():
    for kind in ("viewed", "answered", "dismissed"):
        assert all(m["type"] == "track" for m in messages(kind, CSAT))


# --- determinism ---------------------------------------------------------------------

def test_same_input_gives_the_same_messages():
    assert messages("completed") == messages("completed")
    assert response_record(output("completed"), NPS, user(), "u1") == response_record(output("completed"), NPS, user(), "u1")


@pytest.mark.parametrize("change", [
    {"kind": "answered"}, {"source_message_id": "w2"}, {"source_message_id": None},
    {"display_id": "d2"}, {"user_id": "u2"},
])
def test_message_id_changes_with_what_identifies_the_event(change):
    def message_id(kind="viewed", user_id="u1", **fields):
        return segment_messages(output(kind, CSAT, **fields), CSAT, user(), user_id, VERSION)[0]["messageId"]
    assert message_id(**change) != message_id()


def test_message_id_does_not_depend_on_time_or_version():
    first = messages("viewed")[0]["messageId"]
    later = segment_messages(output("viewed", at=T0 + 5), NPS, user(), "u1", "9.9")[0]["messageId"]
    assert first == later


def test_response_id_is_one_per_display():
    by_close = response_record(output("completed", source_message_id="w9"), NPS, user(), "u1")
    by_timeout = response_record(output("completed", source_message_id=None), NPS, user(), "u1")
    other = response_record(output("completed", display_id="d2"), NPS, user(), "u1")
    assert by_close["responseId"] == by_timeout["responseId"] != other["responseId"]


# --- score and category ------------------------------------------------------------

@pytest.mark.parametrize("survey, value, expected", [
    (NPS, 0, (0, "detractor")), (NPS, 6, (6, "detractor")), (NPS, 7, (7, "passive")),
    (NPS, 8, (8, "passive")), (NPS, 9, (9, "promoter")), (NPS, 10, (10, "promoter")),
    (CSAT, 1, (1, "unsatisfied")), (CSAT, 2, (2, "unsatisfied")), (CSAT, 3, (3, "neutral")),
    (CSAT, 4, (4, "satisfied")), (CSAT, 5, (5, "satisfied")),
    (CES, 1, (1, "difficult")), (CES, 3, (3, "difficult")), (CES, 4, (4, "neutral")),
    (CES, 5, (5, "easy")), (CES, 7, (7, "easy")),
    (PMF, "Very disappointed", ("very_disappointed", "very_disappointed")),
    (PMF, "Somewhat disappointed", ("somewhat_disappointed", "somewhat_disappointed")),
    (PMF, "Not disappointed", ("not_disappointed", "not_disappointed")),
    (PMF_DE, "Sehr enttäuscht", ("very_disappointed", "very_disappointed")),
    (PMF_DE, "Nicht enttäuscht", ("not_disappointed", "not_disappointed")),
    (CSAT, 9, (9, None)),  # off the standard scale
    (NPS, None, (None, None)),
])
def test_score_and_category(survey, value, expected):
    question_id = survey.score_question.id
    answers = {} if value is None else {question_id: value}
    assert score_and_category(survey, answers) == expected


@pytest.mark.parametrize("survey, value", [(NPS, 9), (CSAT, 4), (CES, 2), (PMF, "Very disappointed"),
                                           (PMF_DE, "Etwas enttäuscht")])
def test_scores_module_counts_every_score(survey, value):
    score, _ = score_and_category(survey, {survey.score_question.id: value})
    assert normalize_score(survey.type, score) is not None


# --- response record ---------------------------------------------------------------

def test_response_record_has_every_contract_field():
    record = response_record(output("completed", at=T0 + 42), NPS, user(), "u1")
    track, _ = messages("completed")
    assert record == {
        "responseId": track["properties"]["response_id"],
        "surveyId": "nps-main", "surveyType": "nps", "surveyName": "How likely are you to recommend us?",
        "userId": "u1", "score": 9, "category": "promoter", "answers": {"score": 9, "reason": "fast"},
        "comment": "fast", "completedAt": iso(T0 + 42), "locale": "en", "traits": {"plan": "pro", "email": "a@b.c"},
        "createdAt": "2024-04-30T12:00:00.000Z", "firstSeen": "2024-05-01T11:00:00.000Z",
    }


def test_response_record_of_an_unknown_signup_has_null_dates_and_copies_traits():
    state = new_user_state("u1")
    state["traits"] = {"plan": "pro"}
    record = response_record(output("completed", CSAT, answers={"score": 5}), CSAT, state, "u1")
    assert (record["createdAt"], record["firstSeen"], record["comment"]) == (None, None, None)
    state["traits"]["plan"] = "changed later"
    assert record["traits"] == {"plan": "pro"}
