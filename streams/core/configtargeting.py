"""The targeting rules of survey authoring as the config reads them: pages, devices, the
delay and what cancels it, per-survey response limits (docs/reference.md#the-surveys-file;
docs/configuration.md, "Pages and devices", "Delays" and "Response limits").

streams.core.config calls these; every failure is a ConfigError naming the file, the
survey and the field.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streams.core import pages as page_rules
from streams.core.configcheck import Checker
from streams.core.configquestions import Filter, filter_item
from streams.core.devices import DEVICE_TYPES

MAX_DELAY_SECONDS = 7 * 24 * 3600  # delay_seconds: a week at most
MAX_RESPONSES = 1_000_000_000  # limits.responses, limits.responses_per_day
MAX_RULES = 100  # pages, cancel_on entries


@dataclass(frozen=True)
class PageRule:
    """The page URL `op` `value` (streams.core.pages)."""

    op: str
    value: str


@dataclass(frozen=True)
class CancelOn:
    """A track event that, during a survey's delay, cancels it."""

    event: str
    where: tuple[Filter, ...] = ()


@dataclass(frozen=True)
class SurveyLimits:
    """Responses of every user after which the survey closes; 0: none."""

    responses: int = 0
    responses_per_day: int = 0  # per UTC day


def _list(check: Checker, value: Any, field_name: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise check.fail(field_name, value, "must be a list of filters")
    return value


def parse_pages(check: Checker, value: Any) -> tuple[PageRule, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_RULES:
        raise check.fail("targeting.pages", value, f"must be a list of at most {MAX_RULES} page rules")
    rules = []
    for index, item in enumerate(value):
        where = f"targeting.pages[{index}]"
        item = check.mapping(item, where, ("op", "value"))
        op = item.get("op")
        if op not in page_rules.PAGE_OPERATORS:
            raise check.fail(f"{where}.op", op, f"must be one of {', '.join(page_rules.PAGE_OPERATORS)}")
        operand = check.text(item, "value", f"{where}.value")
        if len(operand) > page_rules.MAX_PATTERN_CHARS:
            raise check.fail(f"{where}.value", operand, f"must be at most {page_rules.MAX_PATTERN_CHARS} characters")
        if op == "regex":
            try:
                page_rules.compile_pattern(operand)
            except page_rules.PatternError as error:
                raise check.fail(f"{where}.value", operand, f"is not a pattern RE2 runs: it {error}") from None
        rules.append(PageRule(op, operand))
    return tuple(rules)


def parse_devices(check: Checker, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise check.fail("targeting.devices", value,
                         f"must be a non-empty list of {', '.join(DEVICE_TYPES)} (leave it out for every device)")
    for index, item in enumerate(value):
        if item not in DEVICE_TYPES:
            raise check.fail(f"targeting.devices[{index}]", item, f"must be one of {', '.join(DEVICE_TYPES)}")
    if len(set(value)) != len(value):
        raise check.fail("targeting.devices", value, "names a device twice")
    return tuple(value)


def parse_cancel_on(check: Checker, value: Any, delay_seconds: float) -> tuple[CancelOn, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_RULES:
        raise check.fail("targeting.cancel_on", value, f"must be a list of at most {MAX_RULES} events")
    if value and not delay_seconds:
        raise check.fail("targeting.cancel_on", value, "cancels a delay: it needs delay_seconds above 0")
    result = []
    for index, item in enumerate(value):
        where = f"targeting.cancel_on[{index}]"
        item = check.mapping(item, where, ("event", "where"))
        result.append(CancelOn(event=check.text(item, "event", f"{where}.event"),
                               where=tuple(filter_item(check, f, f"{where}.where[{i}]", "property") for i, f in enumerate(_list(check, item.get("where"), f"{where}.where")))))
    return tuple(result)


def parse_survey_limits(check: Checker, value: Any) -> SurveyLimits:
    data = check.mapping(value, "limits", ("responses", "responses_per_day"))
    return SurveyLimits(**{key: check.number(data, key, f"limits.{key}", 0, minimum=0, maximum=MAX_RESPONSES,
                                             integer=True) for key in ("responses", "responses_per_day")})
