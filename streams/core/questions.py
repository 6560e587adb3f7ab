"""Answers and conditions (docs/reference.md#widget-events; docs/configuration.md, "Questions").

Pure. `check_answer` holds an answer to its question's kind, range and choices (the
bridge answers 400 with it, the users agent dead-letters a record written straight to the
lifecycle topic). `asked` keeps, of a display's answers, those to questions that were
asked: in question order, a question is asked when it has no `show_if`, or when its
condition holds on the answers kept so far. An answer to a question whose condition fails
is dropped, and so is everything that depended on it.

Categories (what `show_if: {category: [...]}` reads, and a response's `category`): a scale
answer falls in the survey type's bands (NPS 9-10 promoter, 7-8 passive, 0-6 detractor;
CSAT 4-5 satisfied, 3 neutral, 1-2 unsatisfied; CES 5-7 easy, 4 neutral, 1-3 difficult);
a PMF choice is its category, by its text, else by its position (the Sean Ellis order).
"""
from __future__ import annotations

from typing import Any

from streams.core import filters
from streams.core.configquestions import CATEGORIES, Question, ShowIf
from streams.core.errors import INVALID_FIELD, InvalidInput
from streams.core.scoring import normalize_score

MAX_TEXT_CHARS = 2000
# Inclusive ranges of the standard scales (docs/reference.md#scores for nps/csat, the usual CES bands).
BANDS = {
    "nps": ((9, 10, "promoter"), (7, 8, "passive"), (0, 6, "detractor")),
    "csat": ((4, 5, "satisfied"), (3, 3, "neutral"), (1, 2, "unsatisfied")),
    "ces": ((5, 7, "easy"), (4, 4, "neutral"), (1, 3, "difficult")),
}


def _invalid(value: Any, message: str) -> InvalidInput:
    return InvalidInput(INVALID_FIELD, "value", value, f"'value' {message}")


def check_answer(question: Question, value: Any) -> Any:
    """The answer if it fits the question, else InvalidInput on `value` naming the question."""
    where = f"for question '{question.id}' ({question.kind})"
    if question.kind == "scale":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _invalid(value, f"must be an integer {where}")
        if not question.min <= value <= question.max:
            raise _invalid(value, f"must be between {question.min} and {question.max} {where}")
    elif question.kind == "choice":
        if not isinstance(value, str) or value not in question.choices:
            raise _invalid(value, f"must be one of {', '.join(question.choices)} {where}")
    elif question.kind == "multi":
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise _invalid(value, f"must be a list of choices {where}")
        unknown = [item for item in value if item not in question.choices]
        if unknown:
            raise _invalid(unknown[0][:100], f"must list only {', '.join(question.choices)} {where}")
        if len(set(value)) != len(value):
            raise _invalid(value, f"lists a choice twice {where}")
    else:
        if not isinstance(value, str):
            raise _invalid(value, f"must be a string {where}")
        if len(value) > MAX_TEXT_CHARS:
            raise _invalid(f"{value[:50]}...", f"must be at most {MAX_TEXT_CHARS} characters {where}")
    return value


def category_of(survey, question: Question | None, value: Any) -> str | None:
    """The category of an answer (the module doc), or None: no category, or out of the bands."""
    if question is None or value is None:
        return None
    if survey.type == "pmf":
        if question.kind != "choice":
            return None
        category = normalize_score("pmf", value)
        if category is not None:
            return category
        if not question.choices or value not in question.choices:
            return None
        names = CATEGORIES["pmf"]
        return names[min(question.choices.index(value), len(names) - 1)]
    if question.kind != "scale" or isinstance(value, bool) or not isinstance(value, int):
        return None
    return next((name for low, high, name in BANDS[survey.type] if low <= value <= high), None)


def condition_holds(survey, show_if: ShowIf | None, answers: dict, now: int) -> bool:
    """Whether a question with this condition is asked, given the answers kept so far."""
    if show_if is None:
        return True
    present = show_if.question in answers
    value = answers.get(show_if.question)
    if show_if.categories is not None:
        return present and category_of(survey, survey.question(show_if.question), value) in show_if.categories
    return filters.evaluate(show_if.filter, present and value is not None, value, now)


def is_asked(survey, question: Question, answers: dict, now: int) -> bool:
    """Whether `question` is asked given a display's answers (those it depends on, kept as `asked` keeps them)."""
    if question.show_if is None:
        return True
    return condition_holds(survey, question.show_if, asked(survey, answers, now), now)


def asked(survey, answers: dict, now: int) -> dict:
    """The answers to questions that were asked (the module doc), in question order."""
    kept: dict = {}
    for question in survey.questions:
        if question.id in answers and condition_holds(survey, question.show_if, kept, now):
            kept[question.id] = answers[question.id]
    return kept
