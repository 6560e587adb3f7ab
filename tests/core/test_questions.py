"""Answers, categories, show_if and locales (streams.core.questions, streams.core.locales), and
what they do to a display's outputs (streams.core.lifecycle, streams.core.outbound)."""
from __future__ import annotations

import pytest

from streams.core import locales, questions
from streams.core.config import parse_config
from streams.core.errors import InvalidInput
from streams.core.lifecycle import apply_event, expire_displays
from streams.core.outbound import response_record, segment_messages
from streams.core.state import new_user_state
from streams.core.timeutil import MINUTE_MS, iso, parse_iso

NOW = parse_iso("2026-03-01T12:00:00Z")
SURVEY = {
    "id": "nps-billing", "type": "nps", "name": {"en": "Billing", "de": "Abrechnung"}, "locales": ["en", "de"],
    "questions": [
        {"id": "score", "kind": "scale", "min": 0, "max": 10, "text": {"en": "How likely?", "de": "Wie wahrscheinlich?"}},
        {"id": "fix", "kind": "text", "text": {"en": "Fix?", "de": "Verbessern?"},
         "show_if": {"question": "score", "category": ["detractor", "passive"]}},
        {"id": "love", "kind": "text", "text": "Love?", "show_if": {"question": "score", "category": ["promoter"]}},
        {"id": "uses", "kind": "multi", "text": "Uses?", "choices": ["invoices", "exports", "api"]},
        {"id": "cycle", "kind": "choice", "text": "Cycle?", "choices": ["monthly", "yearly"],
         "show_if": {"question": "uses", "op": "contains", "value": "invoices"}},
        {"id": "why", "kind": "text", "text": "Why?", "show_if": {"question": "cycle", "op": "eq", "value": "yearly"}},
    ],
    "segment": {"traits": {"rating": "score", "comment": "comment", "fix": "fix"}},
}
CONFIG = parse_config({"surveys": [SURVEY]})
BILLING = CONFIG.surveys[0]


@pytest.mark.parametrize("question, value, ok", [
    ("score", 0, True), ("score", 10, True), ("score", 11, False), ("score", -1, False), ("score", 7.0, False),
    ("score", True, False), ("score", "9", False),
    ("fix", "", True), ("fix", "x" * 2000, True), ("fix", "x" * 2001, False), ("fix", 3, False),
    ("uses", [], True), ("uses", ["api", "invoices"], True), ("uses", ["api", "api"], False),
    ("uses", ["fax"], False), ("uses", "api", False), ("uses", [1], False),
    ("cycle", "yearly", True), ("cycle", "weekly", False), ("cycle", ["yearly"], False),
])
def test_answers_are_held_to_their_question(question, value, ok):
    target = BILLING.question(question)
    if ok:
        assert questions.check_answer(target, value) == value
    else:
        with pytest.raises(InvalidInput) as caught:
            questions.check_answer(target, value)
        assert (caught.value.code, caught.value.field) == ("invalid_field", "value")
        assert f"'{question}'" in caught.value.detail


@pytest.mark.parametrize("survey_type, value, category", [
    ("nps", 10, "promoter"), ("nps", 9, "promoter"), ("nps", 8, "passive"), ("nps", 6, "detractor"), ("nps", 0, "detractor"),
    ("csat", 5, "satisfied"), ("csat", 3, "neutral"), ("csat", 2, "unsatisfied"),
    ("ces", 7, "easy"), ("ces", 4, "neutral"), ("ces", 1, "difficult"),
    ("csat", 9, None),  # outside the type's scale
])
def test_scale_categories(survey_type, value, category):
    survey = parse_config({"surveys": [{"id": "s", "type": survey_type, "name": "S"}]}).surveys[0]
    assert questions.category_of(survey, survey.score_question, value) == category


@pytest.mark.parametrize("answers, kept", [
    ({"score": 3, "fix": "slow", "love": "x"}, {"score": 3, "fix": "slow"}),
    ({"score": 10, "fix": "slow", "love": "fast"}, {"score": 10, "love": "fast"}),
    ({"fix": "slow"}, {}),  # no score: neither follow-up was asked
    ({"score": 8, "uses": ["exports"], "cycle": "yearly", "why": "cheap"}, {"score": 8, "uses": ["exports"]}),
    ({"score": 8, "uses": ["invoices"], "cycle": "yearly", "why": "cheap"},
     {"score": 8, "uses": ["invoices"], "cycle": "yearly", "why": "cheap"}),
    ({"score": 8, "uses": ["invoices"], "cycle": "monthly", "why": "cheap"},
     {"score": 8, "uses": ["invoices"], "cycle": "monthly"}),
    ({"uses": ["api"], "cycle": "yearly", "why": "x"}, {"uses": ["api"]}),  # a chain: why hangs on cycle
])
def test_only_answers_to_asked_questions_are_kept(answers, kept):
    assert questions.asked(BILLING, answers, NOW) == kept


@pytest.mark.parametrize("tag, normal", [
    ("en", "en"), ("DE", "de"), ("de-at", "de-AT"), ("de_AT", "de-AT"), ("pt-BR", "pt-BR"), ("zh-hans-cn", "zh-Hans-CN"),
    ("es-419", "es-419"), ("sl-rozaj", "sl-rozaj"), (" fr ", "fr"),
    ("english", None), ("e", None), ("de-", None), ("x" * 40, None), (None, None), (3, None), ("en-US-u-ca-x", None),
])
def test_language_tags(tag, normal):
    assert locales.normalize(tag) == normal


@pytest.mark.parametrize("candidates, available, chosen", [
    (("de-AT", "fr", None), ("en", "de"), "de"),  # by language
    (("de", None, None), ("en", "de-AT"), "de-AT"),
    (("pt-BR", None, None), ("en", "pt-PT", "pt-BR"), "pt-BR"),  # the same tag first
    (("pt", None, None), ("en", "pt-PT", "pt-BR"), "pt-PT"),  # else the first of that language
    (("it", "de", None), ("en", "de"), "de"),  # the request's matches nothing: the trait
    (("it", "xx-YY", "de-CH"), ("en", "de"), "de"),  # then the latest context.locale
    ((None, None, None), ("fr", "en"), "fr"),  # else the survey's first
    (("not a tag", None, None), ("en", "de"), "en"),
])
def test_locale_choice(candidates, available, chosen):
    assert locales.choose(candidates, available) == chosen


def test_rtl_languages():
    assert [locales.direction(tag) for tag in ("ar", "he-IL", "fa", "de", "en-US")] == ["rtl"] * 3 + ["ltr"] * 2


# --- a display: only the asked questions, in the display's locale ------------------------------

def _events(state, *events, locale=None):
    outputs = []
    for index, (kind, question, value) in enumerate(events):
        event = {"messageId": f"w{index}", "userId": "u1", "surveyId": BILLING.id, "displayId": "d1", "type": kind,
                 "timestamp": iso(NOW + index * 1000)}
        if question is not None:
            event.update(questionId=question, value=value)
        if locale is not None and index == 0:
            event["locale"] = locale
        outputs += apply_event(state, event, BILLING, CONFIG.project, NOW + 60_000)
    return outputs


def test_a_branching_session_completes_with_only_the_asked_questions_in_its_locale():
    state = new_user_state("u1")
    outputs = _events(state, ("answered", "score", 3), ("answered", "love", "nothing"), ("answered", "fix", "slow"),
                      ("answered", "score", 10), ("answered", "love", "fast"), ("submitted", None, None), locale="de")
    kinds = [(o.kind, o.question_id) for o in outputs]
    # love was not asked while the score was 3: no Answered for it then
    assert kinds == [("viewed", None), ("answered", "score"), ("answered", "fix"), ("answered", "score"),
                     ("answered", "love"), ("completed", None)]
    completed = outputs[-1]
    assert completed.answers == {"score": 10, "love": "fast"}  # fix's condition failed in the end
    assert {o.locale for o in outputs} == {"de"}
    track, identify = segment_messages(completed, BILLING, state, "u1", "test")
    assert track["properties"]["locale"] == "de" and track["properties"]["answers"] == {"score": 10, "love": "fast"}
    assert track["properties"]["comment"] == "fast"  # the first text question answered
    assert identify["traits"] == {"rating": 10, "comment": "fast", "fix": None}
    record = response_record(completed, BILLING, state, "u1")
    assert (record["locale"], record["answers"], record["category"]) == ("de", {"score": 10, "love": "fast"}, "promoter")
    answered = segment_messages(outputs[2], BILLING, state, "u1", "test")[0]
    assert answered["properties"]["question"] == "Verbessern?" and answered["properties"]["locale"] == "de"


def test_a_display_without_a_locale_takes_the_users():
    state = new_user_state("u1")
    state["traits"] = {"locale": "de-CH"}
    outputs = _events(state, ("answered", "score", 9))
    assert [o.locale for o in outputs] == ["de", "de"]
    state = new_user_state("u1")
    state["client"] = {"locale": "fr-FR", "localeAt": NOW}
    assert {o.locale for o in _events(state, ("shown", None, None))} == {"en"}  # no French: the first


def test_a_timed_out_display_also_keeps_only_the_asked_questions():
    state = new_user_state("u1")
    _events(state, ("answered", "score", 2), ("answered", "fix", "slow"), ("answered", "uses", ["api"]))
    completed, = expire_displays(state, CONFIG, NOW + 31 * MINUTE_MS)
    assert completed.answers == {"score": 2, "fix": "slow", "uses": ["api"]} and completed.locale == "en"
