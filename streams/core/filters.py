"""Typed comparisons for targeting trait filters and trigger property filters (docs/reference.md#filter-operators).

Pure: a filter, the value under test and `now` (epoch ms) in, a verdict out. Never raises,
whatever the trait holds: traits come from Segment and are not ours to trust.

Typing, decided per pair (value, operand), first match wins:
- booleans: both sides are JSON booleans ("true" the string is a string);
- numbers: one side is a number and the other a number or a numeric string ("42", "-1.5");
  two numeric strings stay strings, so "02139" != "2139";
- dates: the operand is an ISO 8601 date or date-time string; the value must parse as a
  date (ISO, or epoch seconds / milliseconds) and they compare as instants;
- strings: both are strings, compared exactly (case-sensitive, ordering lexicographic);
- anything else (lists, objects): equal when ==, never ordered.
A pair of mismatched types is never equal and never ordered: `gt` fails, `neq` passes.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any, Iterable

from streams.core.config import Filter
from streams.core.timeutil import DAY_MS, parse_created_at, parse_iso

_NUMERIC = re.compile(r"^\s*-?\d+(\.\d+)?\s*$")
# Kinds of typed pair whose members can be ordered (gt, gte, lt, lte).
_ORDERED = frozenset(("number", "date", "string"))
_ORDER_TESTS = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}
# Operators that a missing trait passes: it is not equal to anything.
_PASS_WHEN_MISSING = frozenset(("not_exists", "neq", "nin"))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_number(value: Any) -> int | float | None:
    if _is_number(value):
        return value if value == value else None  # NaN equals nothing
    if isinstance(value, str) and len(value) <= 64 and _NUMERIC.match(value):
        text = value.strip()
        return float(text) if "." in text else int(text)
    return None


def _typed_pair(value: Any, operand: Any) -> tuple[str, Any, Any] | None:
    """The kind both sides compare as, and the two comparable values; None if they do not mix."""
    if isinstance(value, bool) or isinstance(operand, bool):
        return ("bool", value, operand) if isinstance(value, bool) and isinstance(operand, bool) else None
    operand_ms = _operand_instant(operand) if isinstance(operand, str) else None
    if operand_ms is not None:
        # Only an ISO operand makes a date comparison ("42" against 42 stays numeric), and
        # a value that is no date does not compare with it ("soon" is not after 2026).
        value_ms = parse_created_at(value)
        return None if value_ms is None else ("date", value_ms, operand_ms)
    if _is_number(value) or _is_number(operand):
        left, right = _as_number(value), _as_number(operand)
        return None if left is None or right is None else ("number", left, right)
    if isinstance(value, str) or isinstance(operand, str):
        return ("string", value, operand) if isinstance(value, str) and isinstance(operand, str) else None
    return "other", value, operand


@lru_cache(maxsize=1024)
def _operand_instant(operand: str) -> int | None:
    # Operands come from the config, a small fixed set: parse each once.
    return parse_iso(operand)


def _equal(value: Any, operand: Any) -> bool:
    pair = _typed_pair(value, operand)
    if pair is None:
        return False
    try:
        return bool(pair[1] == pair[2])
    except Exception:  # an exotic object's __eq__; traits are JSON so this is defensive
        return False


def _ordered(op: str, value: Any, operand: Any) -> bool:
    pair = _typed_pair(value, operand)
    if pair is None or pair[0] not in _ORDERED:
        return False
    return _ORDER_TESTS[op](pair[1], pair[2])


def _members(operand: Any) -> Iterable:
    return operand if isinstance(operand, (list, tuple, set, frozenset)) else (operand,)


def _text_operand(operand: Any) -> str | None:
    if isinstance(operand, str):
        return operand
    return str(operand) if _is_number(operand) else None


def _days_ms(days: Any) -> int | None:
    if not _is_number(days):
        return None
    limit = days * DAY_MS
    return round(limit) if math.isfinite(limit) else None


def _age_ms(value: Any, now: int) -> int | None:
    moment = parse_created_at(value)
    return None if moment is None else now - moment


def evaluate(f: Filter, present: bool, value: Any, now: int) -> bool:
    """Whether `value` (of the trait or property `f.name`) satisfies the filter at `now`."""
    op, operand = f.op, f.value
    if not present:
        return op in _PASS_WHEN_MISSING
    if op == "exists":
        return True
    if op == "not_exists":
        return False
    if op == "eq":
        return _equal(value, operand)
    if op == "neq":
        return not _equal(value, operand)
    if op == "in":
        return any(_equal(value, member) for member in _members(operand))
    if op == "nin":
        return not any(_equal(value, member) for member in _members(operand))
    if op in _ORDER_TESTS:
        return _ordered(op, value, operand)
    if op == "contains":
        if isinstance(value, list):
            return any(_equal(item, operand) for item in value)
        needle = _text_operand(operand)
        return isinstance(value, str) and needle is not None and needle in value
    if op == "starts_with":
        prefix = _text_operand(operand)
        return isinstance(value, str) and prefix is not None and value.startswith(prefix)
    if op in ("older_than_days", "newer_than_days"):
        age, limit = _age_ms(value, now), _days_ms(operand)
        if age is None or limit is None:
            return False
        return age > limit if op == "older_than_days" else age < limit
    return False


def unblock_at(f: Filter, present: bool, value: Any, now: int) -> int | None:
    """The first instant (epoch ms) at which a failing filter passes by time alone, else None.

    Only `older_than_days` on a parseable date flips that way; `newer_than_days` only ever
    stops passing. None as well when the filter already passes: there is nothing to wait for.
    """
    if f.op != "older_than_days" or not present:
        return None
    moment, limit = parse_created_at(value), _days_ms(f.value)
    if moment is None or limit is None or now - moment > limit:
        return None
    return moment + limit + 1  # strictly older than the limit


def is_present(mapping: dict | None, name: str) -> bool:
    return bool(mapping) and mapping.get(name) is not None


def matches_all(filters: Iterable[Filter], mapping: dict | None, now: int) -> bool:
    """Whether every filter holds on `mapping` (traits, or an event's properties)."""
    source = mapping or {}
    for f in filters:
        value = source.get(f.name)
        if not evaluate(f, value is not None, value, now):
            return False
    return True


def describe(f: Filter) -> str:
    """The filter as a product manager wrote it, for explain details."""
    if f.op in ("exists", "not_exists"):
        return f"{f.name} {f.op}"
    return f"{f.name} {f.op} {f.value!r}"
