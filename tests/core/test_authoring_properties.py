"""Properties of authoring configs: every config the validation accepts decides for every user
without raising (no survey reads `config_error`), its explain and eligibility answers are JSON,
and a display of it keeps only answers the validation would accept."""
from __future__ import annotations

import orjson
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from streams.core.config import ConfigError, parse_config
from streams.core.client import Request
from streams.core.lifecycle import apply_event
from streams.core.questions import asked, check_answer
from streams.core.state import new_survey_history, new_user_state
from streams.core.targeting import CONFIG_ERROR, decide, eligibility_response, explain_record
from streams.core.timeutil import HOUR_MS, iso, parse_iso

NOW = parse_iso("2026-03-01T00:00:00Z")
# Mostly values the validation accepts, some it refuses (those examples are skipped).
TAGS = st.sampled_from(["en", "de", "de-AT", "pt-BR", "fr", "ar", "zh-Hans", "en", "de", "xx-!!"])
TEXTS = st.text(min_size=1, max_size=12).filter(str.strip)
NUMBERS = st.one_of(st.integers(0, 20), st.floats(0, 100), st.sampled_from([-1, float("nan")]))
URLS = st.sampled_from(["https://app.example.com/billing", "https://app.example.com/invoices/42", "/x", "", None,
                        "a" * 3000])
OPS = st.sampled_from(["eq", "contains", "starts_with", "regex", "not_contains", "regex"])
PATTERNS = st.sampled_from(["/billing", "^https://[^/]+/invoices/[0-9]+$", "(a+)+$", "[[:alpha:]]+", "\\d", "("])


@st.composite
def questions(draw, locales):
    kinds = draw(st.lists(st.sampled_from(["scale", "text", "choice", "multi"]), min_size=1, max_size=5))
    result = []
    for index, kind in enumerate(kinds):
        question = {"id": f"q{index}", "kind": kind,
                    "text": draw(st.one_of(TEXTS, st.fixed_dictionaries(
                        {locales[0]: TEXTS}, optional={tag: TEXTS for tag in locales[1:]})))}
        if kind == "scale":
            question.update(min=draw(st.sampled_from([0, 1])), max=draw(st.sampled_from([5, 7, 10])))
        if kind in ("choice", "multi"):
            question["choices"] = draw(st.lists(st.sampled_from(["a", "b", "c", "Very disappointed"]), min_size=1,
                                                max_size=3, unique=True))
        if index and draw(st.booleans()):
            target = f"q{draw(st.integers(0, len(kinds) - 1))}"
            question["show_if"] = draw(st.one_of(
                st.fixed_dictionaries({"question": st.just(target),
                                       "category": st.lists(st.sampled_from(
                                           ["promoter", "passive", "detractor", "satisfied", "easy",
                                            "very_disappointed"]), min_size=1, max_size=2)}),
                st.fixed_dictionaries({"question": st.just(target),
                                       "op": st.sampled_from(["eq", "gt", "lte", "contains", "exists", "neq"]),
                                       "value": st.one_of(st.integers(0, 10), st.just("a"))})))
        result.append(question)
    return result


@st.composite
def authoring_surveys(draw):
    locales = draw(st.lists(TAGS, min_size=1, max_size=3, unique=True))
    targeting = {
        "min_days_since_signup": 0,
        "pages": draw(st.lists(st.fixed_dictionaries({"op": OPS, "value": PATTERNS}), max_size=3)),
        "delay_seconds": draw(NUMBERS),
        "max_responses_per_user": draw(st.integers(0, 3)),
    }
    if draw(st.booleans()):
        targeting["devices"] = draw(st.lists(st.sampled_from(["desktop", "mobile", "tablet"]), min_size=1,
                                             max_size=3, unique=True))
    if targeting["delay_seconds"] and draw(st.booleans()):
        targeting["cancel_on"] = [{"event": "Checkout Started"}]
    if draw(st.booleans()):
        targeting["trigger"] = {"event": "Invoice Downloaded"}
    return {"id": "s1", "type": draw(st.sampled_from(["nps", "csat", "ces", "pmf"])), "name": "S",
            "locales": locales, "questions": draw(questions(locales)), "targeting": targeting,
            "limits": {"responses": draw(st.integers(0, 5)),
                       "responses_per_day": draw(st.integers(0, 3))},
            "segment": {}}


@st.composite
def states(draw):
    state = new_user_state("u1")
    state.update(identified=True, firstSeen=NOW - 1000 * HOUR_MS, lastSeen=NOW)
    state["client"] = {"url": draw(URLS), "device": draw(st.sampled_from(["desktop", "tablet", None])),
                       "userAgent": draw(st.sampled_from([None, "curl/8", "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X)"])),
                       "pageAt": draw(st.one_of(st.none(), st.integers(NOW - 100_000, NOW + 100_000)))}
    state["cancels"] = {"s1": draw(st.lists(st.integers(NOW - 100_000, NOW + 100_000), max_size=3))}
    if draw(st.booleans()):
        state["triggers"] = {"s1": {"count": 1, "last": NOW - draw(st.integers(0, 100_000))}}
    state["surveys"] = {"s1": {**new_survey_history(), "responses": draw(st.integers(0, 3))}}
    return state


def _accepted(survey: dict):
    try:
        return parse_config({"surveys": [survey]})
    except ConfigError:
        assume(False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(authoring_surveys(), states(), st.integers(-10**6, 10**9), URLS, st.sampled_from([None, "desktop", "mobile"]),
       TAGS)
def test_every_accepted_authoring_config_decides_without_raising(survey, state, offset, url, device, locale):
    config = _accepted(survey)
    request = Request(url=url, device=device, locale=locale)
    for every_rule in (False, True):
        decision = decide(state, config, NOW + offset, "u1", every_rule=every_rule, request=request)
        assert all(verdict.reason != CONFIG_ERROR for verdict in decision.verdicts), decision.verdicts
    orjson.dumps(explain_record(decision, "u1", NOW + offset))
    chosen = config.surveys[0]
    orjson.dumps(eligibility_response(decision, "u1", NOW))
    orjson.dumps(chosen.public(locale if locale in chosen.locales else None))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(authoring_surveys(), st.lists(st.tuples(st.integers(0, 5), st.one_of(
    st.integers(-1, 11), st.sampled_from(["a", "b", "x", "Very disappointed"]), st.lists(st.sampled_from(["a", "b"]))
)), max_size=8))
def test_a_completed_display_holds_only_valid_answers_to_asked_questions(survey, answers):
    config = _accepted(survey)
    chosen = config.surveys[0]
    state = new_user_state("u1")
    outputs = []
    for index, (position, value) in enumerate(answers):
        if position >= len(chosen.questions):
            continue
        question = chosen.questions[position]
        try:
            check_answer(question, value)  # what the bridge and the agent let through
        except Exception:
            continue
        outputs += apply_event(state, {"messageId": f"m{index}", "userId": "u1", "surveyId": "s1", "displayId": "d1",
                                       "type": "answered", "questionId": question.id, "value": value,
                                       "timestamp": iso(NOW + index)}, chosen, config.project, NOW + 100)
    outputs += apply_event(state, {"messageId": "end", "userId": "u1", "surveyId": "s1", "displayId": "d1",
                                   "type": "submitted", "timestamp": iso(NOW + 50)}, chosen, config.project, NOW + 100)
    completed = outputs[-1]
    assert completed.kind == "completed"
    assert asked(chosen, completed.answers, NOW) == completed.answers
    assert completed.locale in chosen.locales
