"""Lifecycle outputs -> Segment messages (docs/reference.md#outbound) and response records
(docs/reference.md#responses).

Pure: everything is derived from the Output, the survey and the user's state, so a replay
of the same widget events yields byte-for-byte the same messages and ids.

Choices where the contract is silent:
- messageId = "ss-" + sha256(userId|displayId|kind|widget messageId)[:32]: one per
  lifecycle event; a Completed by timeout has no widget messageId, and happens once.
- responseId = "r-" + sha256(userId|displayId)[:32]: one response per display.
- The contract's properties win over configured extra properties of the same name.
- The identify is sent even when the Completed track is disabled (the traits mapping
  is its own setting), and not at all when the mapping is empty. A mapped value that
  is missing (comment not answered) is sent as null: the traits describe the latest
  response, an older comment must not stand next to a newer rating.
- A traits mapping naming both a question id and a response field (the default
  questions' ids are `score` and `comment`) takes the question's answer.
- `locale` is on every track (the display's, docs/reference.md#outbound) and on the
  response; the survey's name stays as written in its first locale (an analyst's label),
  an Answered's `question` is the text the user read.
- PMF has no number: its score is its category (very_disappointed, ...), which
  streams.core.scoring counts whatever the wording of the choices. A choice is matched to a
  category by its text, else by its position (the Sean Ellis order).
- A score outside the type's standard scale gets the category null.
"""
from __future__ import annotations

import hashlib
from typing import Any

from streams.core.config import Survey
from streams.core.lifecycle import ANSWERED, COMPLETED, Output
from streams.core.questions import category_of
from streams.core.state import trait_snapshot
from streams.core.timeutil import iso

LIBRARY_NAME = "survey-streams"
TRAIT_PREFIX = "trait:"


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:32]


def message_id(user_id: str, display_id: str, kind: str, source_message_id: str | None) -> str:
    return "ss-" + _digest(user_id, display_id, kind, source_message_id or "")


def response_id(user_id: str, display_id: str) -> str:
    return "r-" + _digest(user_id, display_id)


def score_and_category(survey: Survey, answers: dict) -> tuple[Any, str | None]:
    """The response's score and category; (None, None) when the score question is unanswered."""
    question = survey.score_question
    value = answers.get(question.id) if question is not None else None
    if value is None:
        return None, None
    category = category_of(survey, question, value)
    if survey.type == "pmf":
        return category, category
    if isinstance(value, bool) or not isinstance(value, int):
        return None, None
    return value, category


def comment_of(survey: Survey, answers: dict) -> Any:
    """The answer to the first text question answered (with show_if, a detractor's and a
    promoter's follow-ups are different questions: whichever was asked is the comment)."""
    return next((answers[q.id] for q in survey.questions if q.kind == "text" and q.id in answers), None)


def _response_fields(output: Output, survey: Survey, user_id: str) -> dict:
    """The values a traits mapping may name besides a question id (config.RESPONSE_FIELDS)."""
    answers = output.answers or {}
    score, category = score_and_category(survey, answers)
    return {"score": score, "category": category, "comment": comment_of(survey, answers),
            "completed_at": iso(output.at), "response_id": response_id(user_id, output.display_id)}


def _extra_properties(survey: Survey, traits: dict) -> dict:
    extra = {}
    for name, spec in survey.segment.properties.items():
        if isinstance(spec, str) and spec.startswith(TRAIT_PREFIX):
            extra[name] = traits.get(spec[len(TRAIT_PREFIX):])
        else:
            extra[name] = spec
    return extra


def _properties(output: Output, survey: Survey, traits: dict, user_id: str) -> dict:
    properties = _extra_properties(survey, traits)
    locale = output_locale(output, survey)
    properties.update(survey_id=survey.id, survey_name=survey.name, survey_type=survey.type,
                      display_id=output.display_id, locale=locale)
    if output.kind == ANSWERED:
        question = survey.question(output.question_id)
        properties.update(question_id=output.question_id, question=question.text_in(locale) if question else None,
                          value=output.value)
    elif output.kind == COMPLETED:
        fields = _response_fields(output, survey, user_id)
        properties.update(response_id=fields["response_id"], score=fields["score"], category=fields["category"],
                          answers=dict(output.answers or {}), comment=fields["comment"])
    return properties


def output_locale(output: Output, survey: Survey) -> str:
    """The display's locale (streams.core.lifecycle), else the survey's first (a display
    opened before displays kept one)."""
    return output.locale if output.locale in survey.locales else survey.locales[0]


def _identify_traits(output: Output, survey: Survey, user_id: str) -> dict:
    answers = output.answers or {}
    fields = _response_fields(output, survey, user_id)
    return {trait: answers.get(source) if survey.question(source) is not None else fields.get(source)
            for trait, source in survey.segment.traits.items()}


def segment_messages(output: Output, survey: Survey, user_state: dict, user_id: str, version: str) -> list[dict]:
    """The Segment messages for one lifecycle event: its track unless disabled, and on
    Completed an identify with the mapped traits."""
    context = {"library": {"name": LIBRARY_NAME, "version": version}}
    timestamp = iso(output.at)
    messages = []
    event = survey.segment.events[output.kind]
    if event.enabled:
        messages.append({
            "type": "track", "userId": user_id,
            "messageId": message_id(user_id, output.display_id, output.kind, output.source_message_id),
            "timestamp": timestamp, "event": event.name,
            "properties": _properties(output, survey, trait_snapshot(user_state), user_id),
            "context": context,
        })
    if output.kind == COMPLETED and survey.segment.traits:
        messages.append({
            "type": "identify", "userId": user_id,
            "messageId": message_id(user_id, output.display_id, "identify", output.source_message_id),
            "timestamp": timestamp, "traits": _identify_traits(output, survey, user_id),
            "context": context,
        })
    return messages


def response_record(output: Output, survey: Survey, user_state: dict, user_id: str) -> dict:
    """The `surveys.responses` value of a Completed output (docs/reference.md#responses)."""
    answers = dict(output.answers or {})
    score, category = score_and_category(survey, answers)
    return {
        "responseId": response_id(user_id, output.display_id),
        "surveyId": survey.id,
        "surveyType": survey.type,
        "surveyName": survey.name,
        "userId": user_id,
        "score": score,
        "category": category,
        "answers": answers,
        "comment": comment_of(survey, answers),
        "completedAt": iso(output.at),
        "locale": output_locale(output, survey),
        "traits": dict(trait_snapshot(user_state)),
        "createdAt": iso(user_state.get("createdAt")),
        "firstSeen": iso(user_state.get("firstSeen")),
    }
