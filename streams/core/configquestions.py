"""A survey's locales, questions, texts and `show_if` conditions, as the config reads them
(docs/reference.md#the-surveys-file; docs/configuration.md, "Questions" and "Locales").

streams.core.config calls `parse_locales`, `parse_texts` and `parse_questions`; every
failure is a ConfigError naming the file, the survey and the field.

Texts: a question's `text` (and the survey's `name`) is a string, the same in every
locale, or a mapping {locale: text}. A mapping must hold the survey's first locale (the
default) and only locales of the survey; a locale it leaves out gets the first locale's
text.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.core import locales as locale_tags
from streams.core.configcheck import MAX_COUNT, MAX_DAYS, MAX_SCALE, Checker, is_number

OPERATORS = (
    "eq", "neq", "in", "nin", "gt", "gte", "lt", "lte", "exists", "not_exists",
    "contains", "starts_with", "older_than_days", "newer_than_days",
)
LIST_OPERATORS = ("in", "nin")
NO_VALUE_OPERATORS = ("exists", "not_exists")
DAYS_OPERATORS = ("older_than_days", "newer_than_days")
QUESTION_KINDS = ("scale", "text", "choice", "multi")
SCORE_KINDS = ("scale", "choice")  # the score is the answer to the first question of these kinds
# The `category` values of a response per survey type (docs/reference.md#outbound).
CATEGORIES = {
    "nps": ("promoter", "passive", "detractor"),
    "csat": ("satisfied", "neutral", "unsatisfied"),
    "ces": ("easy", "neutral", "difficult"),
    "pmf": ("very_disappointed", "somewhat_disappointed", "not_disappointed"),
}
DEFAULT_LOCALES = ("en",)
MAX_LOCALES = 50
MAX_CHOICES = 100


@dataclass(frozen=True)
class Filter:
    """A typed comparison: `trait` (or event `property`, or question) `op` `value`."""

    name: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class ShowIf:
    """Ask the question only when the answer to `question` (an earlier one) has one of
    `categories`, or satisfies `filter`."""

    question: str
    categories: tuple[str, ...] | None = None
    filter: Filter | None = None

    def as_dict(self) -> dict:
        if self.categories is not None:
            return {"question": self.question, "category": list(self.categories)}
        return {"question": self.question, "op": self.filter.op, "value": self.filter.value}


@dataclass(frozen=True)
class Question:
    id: str
    kind: str
    text: str  # in the survey's first locale
    min: int | None = None
    max: int | None = None
    choices: tuple[str, ...] | None = None
    show_if: ShowIf | None = None
    texts: dict = field(default_factory=dict, compare=True)  # locale -> text, for the other locales

    def text_in(self, locale: str | None) -> str:
        return self.texts.get(locale, self.text) if locale is not None else self.text

    def as_dict(self, locale: str | None = None) -> dict:
        """The question as the widget gets it (docs/reference.md#eligibility), its text in `locale`."""
        return {"id": self.id, "kind": self.kind, "text": self.text_in(locale), "min": self.min,
                "max": self.max, "choices": list(self.choices) if self.choices else None,
                "show_if": self.show_if.as_dict() if self.show_if else None}


def parse_locales(check: Checker, value: Any) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_LOCALES
    if not isinstance(value, list) or not value:
        raise check.fail("locales", value, "must be a non-empty list of language tags (en, de, de-AT, pt-BR)")
    if len(value) > MAX_LOCALES:
        raise check.fail("locales", len(value), f"holds at most {MAX_LOCALES} locales")
    result: list[str] = []
    for index, item in enumerate(value):
        tag = locale_tags.normalize(item, lenient=False)
        if tag is None:
            raise check.fail(f"locales[{index}]", item, "must be a language tag such as en, de, de-AT, pt-BR, zh-Hans")
        if tag in result:
            raise check.fail(f"locales[{index}]", item, "duplicate locale")
        result.append(tag)
    return tuple(result)


def parse_texts(check: Checker, value: Any, field_name: str, survey_locales: tuple[str, ...],
                default: str | None = None) -> tuple[str, dict]:
    """(the text in the first locale, {other locale: text}) of a text field (the module doc)."""
    if value is None:
        value = default
    if not isinstance(value, dict):
        return check.text({"v": value}, "v", field_name), {}
    first = survey_locales[0]
    texts: dict = {}
    for key, text in value.items():
        tag = locale_tags.normalize(key, lenient=False)
        if tag is None or tag not in survey_locales:
            raise check.fail(f"{field_name}.{key}", text,
                             f"is not one of the survey's locales ({', '.join(survey_locales)})")
        texts[tag] = check.text({"v": text}, "v", f"{field_name}.{key}")
    if first not in texts:
        raise check.fail(field_name, value, f"needs a text for the survey's first locale '{first}' "
                                            "(the others fall back to it)")
    return texts.pop(first), texts


def filter_item(check: Checker, item: Any, where: str, name_key: str) -> Filter:
    """One `{<name_key>, op, value}` filter, with the checks every operator needs."""
    item = check.mapping(item, where, (name_key, "op", "value"))
    name = check.text(item, name_key, f"{where}.{name_key}")
    op = item.get("op")
    if op not in OPERATORS:
        raise check.fail(f"{where}.op", op, f"must be one of {', '.join(OPERATORS)}")
    operand = item.get("value")
    if op in LIST_OPERATORS and not isinstance(operand, list):
        raise check.fail(f"{where}.value", operand, f"operator '{op}' needs a list")
    if op in DAYS_OPERATORS:
        if not is_number(operand):
            raise check.fail(f"{where}.value", operand, f"operator '{op}' needs a number of days")
        check.number(item, "value", f"{where}.value", None, minimum=0, maximum=MAX_DAYS)
    if op not in NO_VALUE_OPERATORS and op not in LIST_OPERATORS and "value" not in item:
        raise check.fail(f"{where}.value", None, f"operator '{op}' needs a value")
    if op in ("contains", "starts_with") and not isinstance(operand, (str, int, float)):
        raise check.fail(f"{where}.value", operand, f"operator '{op}' needs a string")
    if hasattr(operand, "isoformat"):
        operand = operand.isoformat()
    return Filter(name=name, op=op, value=operand)


def _show_if(check: Checker, value: Any, where: str, survey_type: str, earlier: dict, every_id: set) -> ShowIf | None:
    if value is None:
        return None
    data = check.mapping(value, where, ("question", "category", "op", "value"))
    target = check.text(data, "question", f"{where}.question")
    if target not in every_id:
        raise check.fail(f"{where}.question", target, "names no question of this survey")
    if target not in earlier:
        raise check.fail(f"{where}.question", target,
                         "names a later question (or this one): a condition reads the answers so far")
    question = earlier[target]
    if ("category" in data) == ("op" in data):
        raise check.fail(where, value, "needs either `category` or `op` (with `value`)")
    if "category" in data:
        if not _has_categories(survey_type, question):
            raise check.fail(f"{where}.question", target,
                             f"is a {question.kind} question: its answers have no category")
        wanted, known = data.get("category"), CATEGORIES[survey_type]
        if not isinstance(wanted, list) or not wanted:
            raise check.fail(f"{where}.category", wanted, f"must be a non-empty list of {', '.join(known)}")
        for index, name in enumerate(wanted):
            if name not in known:
                raise check.fail(f"{where}.category[{index}]", name, f"must be one of {', '.join(known)}")
        return ShowIf(target, categories=tuple(wanted))
    condition = filter_item(check, {"question": target, **{k: data[k] for k in ("op", "value") if k in data}},
                            where, "question")
    return ShowIf(target, filter=condition)


def _has_categories(survey_type: str, question: Question) -> bool:
    """Scale answers fall in the survey type's bands; PMF's choices are its categories."""
    return question.kind == "scale" or (question.kind == "choice" and survey_type == "pmf")


def _choices(check: Checker, item: dict, where: str) -> tuple[str, ...]:
    choices = item.get("choices")
    if not isinstance(choices, list) or not choices or not all(isinstance(c, str) and c for c in choices):
        raise check.fail(f"{where}.choices", choices, "must be a non-empty list of strings")
    if len(choices) > MAX_CHOICES:
        raise check.fail(f"{where}.choices", len(choices), f"holds at most {MAX_CHOICES} choices")
    if len(set(choices)) != len(choices):
        raise check.fail(f"{where}.choices", choices, "holds a choice twice")
    return tuple(choices)


def parse_questions(check: Checker, survey_type: str, value: Any, defaults: list,
                    survey_locales: tuple[str, ...]) -> tuple[Question, ...]:
    if value is None:
        value = defaults
    if not isinstance(value, list) or not value:
        raise check.fail("questions", value, "must be a non-empty list")
    if len(value) > MAX_COUNT:
        raise check.fail("questions", len(value), "too many questions")
    questions: dict = {}
    every_id = {item.get("id") for item in value if isinstance(item, dict) and isinstance(item.get("id"), str)}
    for index, item in enumerate(value):
        where = f"questions[{index}]"
        item = check.mapping(item, where, ("id", "kind", "text", "min", "max", "choices", "show_if"))
        qid = check.text(item, "id", f"{where}.id")
        if qid in questions:
            raise check.fail(f"{where}.id", qid, "duplicate question id")
        kind = item.get("kind")
        if kind not in QUESTION_KINDS:
            raise check.fail(f"{where}.kind", kind, f"must be one of {', '.join(QUESTION_KINDS)}")
        text, texts = parse_texts(check, item.get("text"), f"{where}.text", survey_locales)
        low = high = choices = None
        if kind == "scale":
            low = check.number(item, "min", f"{where}.min", None, minimum=-MAX_SCALE, maximum=MAX_SCALE, integer=True)
            high = check.number(item, "max", f"{where}.max", None, minimum=-MAX_SCALE, maximum=MAX_SCALE, integer=True)
            if high <= low:
                raise check.fail(f"{where}.max", high, "must be greater than min")
        if kind in ("choice", "multi"):
            choices = _choices(check, item, where)
        show_if = _show_if(check, item.get("show_if"), f"{where}.show_if", survey_type, questions, every_id)
        questions[qid] = Question(qid, kind, text, low, high, choices, show_if, texts)
    if not any(q.kind in SCORE_KINDS for q in questions.values()):
        raise check.fail("questions", value, "needs at least one scale or choice question (the score)")
    return tuple(questions.values())
