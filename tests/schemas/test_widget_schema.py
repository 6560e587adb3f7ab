"""Widget events (docs/reference.md#widget-events): validation, batches, and secure mode's user hash."""
from __future__ import annotations

import pytest

from streams.core.config import parse_config
from streams.core.errors import INVALID_FIELD, MISSING_FIELD, NOT_AN_OBJECT, UNKNOWN_TYPE, InvalidInput
from streams.schemas.widget import (
    MAX_BATCH_EVENTS,
    MAX_TEXT_CHARS,
    check_user_hash,
    parse_body,
    user_hash,
    validate_event,
)

CONFIG = parse_config({"surveys": [
    {"id": "nps-main", "type": "nps", "name": "NPS"},  # default questions: score 0-10, comment
    {"id": "pmf", "type": "pmf", "name": "PMF"},        # default choice question `score`
]})

DROP = object()  # event(field=DROP) leaves the field out


def event(**fields) -> dict:
    base = {"messageId": "m1", "userId": "u1", "surveyId": "nps-main", "displayId": "d1", "type": "shown"}
    base.update(fields)
    return {key: value for key, value in base.items() if value is not DROP}


def answered(question_id="score", value=9, survey_id="nps-main") -> dict:
    return event(type="answered", questionId=question_id, value=value, surveyId=survey_id)


def failure(obj, parse=validate_event) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse(obj, CONFIG)
    return caught.value


# --- valid events ----------------------------------------------------------------------

def test_valid_shown_event_is_returned_with_only_contract_fields():
    result = validate_event(event(timestamp="2024-05-01T12:00:00Z", extra="dropped",
                                  questionId="score", value=3), CONFIG)
    assert result == {"messageId": "m1", "userId": "u1", "surveyId": "nps-main", "displayId": "d1",
                      "type": "shown", "timestamp": "2024-05-01T12:00:00Z"}


@pytest.mark.parametrize("kind", ["shown", "closed", "submitted"])
def test_every_non_answer_type_needs_no_question(kind):
    assert validate_event(event(type=kind), CONFIG)["type"] == kind


@pytest.mark.parametrize("question_id, value", [
    ("score", 0), ("score", 10), ("comment", ""), ("comment", "x" * MAX_TEXT_CHARS),
])
def test_valid_answers_are_kept(question_id, value):
    result = validate_event(answered(question_id, value), CONFIG)
    assert (result["questionId"], result["value"]) == (question_id, value)


def test_choice_answer_must_be_one_of_the_choices():
    assert validate_event(answered("score", "Very disappointed", "pmf"), CONFIG)["value"] == "Very disappointed"
    error = failure(answered("score", "very disappointed", "pmf"))
    assert (error.code, error.field) == (INVALID_FIELD, "value")


def test_user_hash_is_kept_for_the_bridge_to_check():
    assert validate_event(event(userHash="abc"), CONFIG)["userHash"] == "abc"


def test_numeric_user_id_becomes_the_same_string_segment_uses():
    assert validate_event(event(userId=42), CONFIG)["userId"] == "42"


def test_null_fields_count_as_absent():
    result = validate_event(event(timestamp=None, userHash=None), CONFIG)
    assert "timestamp" not in result and "userHash" not in result


# --- invalid events: the error names the field ---------------------------------------

@pytest.mark.parametrize("obj, code, field", [
    (event(messageId=DROP), MISSING_FIELD, "messageId"),
    (event(messageId=""), MISSING_FIELD, "messageId"),
    (event(messageId=None), MISSING_FIELD, "messageId"),
    (event(messageId="   "), INVALID_FIELD, "messageId"),
    (event(messageId=7), INVALID_FIELD, "messageId"),
    (event(userId=DROP), MISSING_FIELD, "userId"),
    (event(userId=True), INVALID_FIELD, "userId"),
    (event(userId="u" * 513), INVALID_FIELD, "userId"),
    (event(surveyId=DROP), MISSING_FIELD, "surveyId"),
    (event(surveyId="nope"), INVALID_FIELD, "surveyId"),
    (event(displayId=DROP), MISSING_FIELD, "displayId"),
    (event(displayId=["d"]), INVALID_FIELD, "displayId"),
    (event(type=DROP), MISSING_FIELD, "type"),
    (event(type="opened"), UNKNOWN_TYPE, "type"),
    (event(type=["shown"]), UNKNOWN_TYPE, "type"),
    (event(userHash=5), INVALID_FIELD, "userHash"),
    (event(timestamp="yesterday"), INVALID_FIELD, "timestamp"),
    (event(timestamp=1714564800000), INVALID_FIELD, "timestamp"),
    (answered(question_id=DROP), MISSING_FIELD, "questionId"),
    (answered(question_id="nope"), INVALID_FIELD, "questionId"),
    (answered(value=DROP), MISSING_FIELD, "value"),
    (answered(value=11), INVALID_FIELD, "value"),
    (answered(value=-1), INVALID_FIELD, "value"),
    (answered(value=9.5), INVALID_FIELD, "value"),
    (answered(value="9"), INVALID_FIELD, "value"),
    (answered(value=True), INVALID_FIELD, "value"),
    (answered("comment", 5), INVALID_FIELD, "value"),
    (answered("comment", "x" * (MAX_TEXT_CHARS + 1)), INVALID_FIELD, "value"),
    (answered("score", 3, "pmf"), INVALID_FIELD, "value"),
])
def test_invalid_event_names_code_and_field(obj, code, field):
    error = failure(obj)
    assert (error.code, error.field) == (code, field)
    assert field in error.detail
    assert error.as_dict()["field"] == field


def test_invalid_value_is_reported():
    assert failure(answered(value=11)).value == 11


@pytest.mark.parametrize("obj", [[], "shown", None, 3])
def test_non_object_is_refused(obj):
    assert failure(obj).code == NOT_AN_OBJECT
    assert failure(obj, parse_body).code == NOT_AN_OBJECT


# --- bodies and batches ----------------------------------------------------------------

def test_body_with_one_event_gives_a_list_of_one():
    assert parse_body(event(), CONFIG) == [validate_event(event(), CONFIG)]


def test_batch_gives_every_event_in_order():
    batch = [event(messageId=f"m{i}") for i in range(MAX_BATCH_EVENTS)]
    assert [e["messageId"] for e in parse_body({"batch": batch}, CONFIG)] == [f"m{i}" for i in range(MAX_BATCH_EVENTS)]


def test_batch_is_refused_whole_naming_the_first_bad_event():
    batch = [event(), event(), event(), answered(value=42), event(type="nope")]
    error = failure({"batch": batch}, parse_body)
    assert (error.code, error.field, error.value) == (INVALID_FIELD, "batch[3].value", 42)
    assert "batch[3].value" in error.detail


def test_batch_item_that_is_not_an_object_is_named():
    error = failure({"batch": [event(), "x"]}, parse_body)
    assert (error.code, error.field) == (NOT_AN_OBJECT, "batch[1]")


@pytest.mark.parametrize("batch", [[], {}, "x", None, [event()] * (MAX_BATCH_EVENTS + 1)])
def test_batch_must_be_a_non_empty_bounded_list(batch):
    error = failure({"batch": batch}, parse_body)
    assert (error.code, error.field) == (INVALID_FIELD, "batch")


# --- secure mode -----------------------------------------------------------------------

def test_user_hash_is_hex_hmac_sha256():
    # RFC 4231, test case 2.
    assert user_hash("Jefe", "what do ya want for nothing?") == \
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


@pytest.mark.parametrize("given, expected", [
    (user_hash("s3cret", "u1"), True),
    (user_hash("s3cret", "u1").upper(), True),
    (user_hash("s3cret", "u2"), False),
    (user_hash("other", "u1"), False),
    (user_hash("s3cret", "u1")[:-1], False),
    ("", False),
    (None, False),
    (123, False),
    ("é" * 64, False),
])
def test_check_user_hash(given, expected):
    assert check_user_hash("s3cret", "u1", given) is expected
