"""The query parameters of the insights API, checked before any SQL runs: a value that does
not pass is a 400 naming the parameter (InvalidInput with `field` = the parameter).

Nothing a caller sends becomes SQL text: values are bound as parameters, and a trait name
(`by`) is checked against TRAIT_NAME before it becomes a JSON path, itself bound.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Mapping

from streams.core.errors import InvalidInput

INVALID_PARAMETER = "invalid_parameter"
# docs/reference.md#8-insights's intervals, and `all` (beyond it): one period for the whole range, which the
# page's breakdown by trait shows (a CES mean cannot be rebuilt from per-day points).
INTERVALS = ("day", "week", "month", "all")
FORMATS = ("json", "csv")
ORDERS = ("desc", "asc")
# A trait of the response's snapshot: the user's own, or the latest group's as `group.<name>`.
# Letters, digits, `_` and `-` (and `.` inside, not first): no quote, no `$`, nothing a JSON
# path gives a meaning to except the dot, which the path quotes.
TRAIT_NAME = re.compile(r"^(group\.)?[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LIMIT_MAX = 100_000
SEARCH_MAX = 200


def _refuse(name: str, value, why: str) -> InvalidInput:
    return InvalidInput(INVALID_PARAMETER, name, value, f"{name}: {why}")


def _day(query: Mapping, name: str) -> date | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    if not _DATE.match(text):
        raise _refuse(name, text, "must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _refuse(name, text, "is not a calendar date") from None


def _choice(query: Mapping, name: str, choices: tuple) -> str:
    value = query.get(name) or choices[0]
    if value not in choices:
        raise _refuse(name, value, f"must be one of {', '.join(choices)}")
    return value


def _count(query: Mapping, name: str, low: int, high: int) -> int | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise _refuse(name, text, f"must be a whole number from {low} to {high}")
    return int(text)


def trait_path(name: str) -> str:
    """The JSON path of a checked trait name, quoted: `group.plan` is one key."""
    return f'$."{name}"'


@dataclass(frozen=True)
class Period:
    start: date | None
    end: date | None


def period(query: Mapping) -> Period:
    start, end = _day(query, "from"), _day(query, "to")
    if start is not None and end is not None and start > end:
        raise _refuse("from", query.get("from"), f"is after to ({query.get('to')})")
    return Period(start, end)


@dataclass(frozen=True)
class ScoresQuery:
    period: Period
    interval: str
    by: str | None

    @property
    def path(self) -> str | None:
        return trait_path(self.by) if self.by else None


def scores_query(query: Mapping) -> ScoresQuery:
    by = query.get("by") or None
    if by is not None and not TRAIT_NAME.match(by):
        raise _refuse("by", by, "must be a trait name (letters, digits, _ - .), or group.<trait>")
    return ScoresQuery(period(query), _choice(query, "interval", INTERVALS), by)


@dataclass(frozen=True)
class ResponsesQuery:
    period: Period
    format: str
    search: str | None
    order: str
    limit: int | None
    offset: int


def responses_query(query: Mapping) -> ResponsesQuery:
    search = query.get("q") or None
    if search is not None and len(search) > SEARCH_MAX:
        raise _refuse("q", search[:SEARCH_MAX] + "...", f"at most {SEARCH_MAX} characters")
    return ResponsesQuery(period(query), _choice(query, "format", FORMATS), search, _choice(query, "order", ORDERS),
                          _count(query, "limit", 1, LIMIT_MAX), _count(query, "offset", 0, 10**12) or 0)
