"""streams.core.filters: typed operators for trait and property filters."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from streams.core.config import OPERATORS, Filter
from streams.core.filters import evaluate, matches_all, unblock_at
from streams.core.timeutil import DAY_MS, parse_iso

NOW = parse_iso("2026-03-01T00:00:00Z")
JAN_1 = parse_iso("2026-01-01T00:00:00Z")
FEB_1_SECONDS = parse_iso("2026-02-01T00:00:00Z") // 1000


def check(op, value, operand=None, now=NOW):
    return evaluate(Filter("t", op, operand), True, value, now)


@pytest.mark.parametrize("op, value, operand, expected", [
    # numbers, and numeric strings against numeric operands
    ("eq", 42, 42, True),
    ("eq", 42.0, 42, True),
    ("eq", "42", 42, True),
    ("eq", "042", 42, True),
    ("eq", 42, "42", True),
    ("eq", 41, 42, False),
    ("neq", "41", 42, True),
    ("gt", 50, 42, True),
    ("gt", "50", 42, True),
    ("gt", "-1.5", -2, True),
    ("gt", 42, 42, False),
    ("gte", 42, 42, True),
    ("gte", "41.9", 42, False),
    ("lt", 41, 42, True),
    ("lt", "9", 10, True),  # numerically, although "9" > "10" as text
    ("lte", 42, 42, True),
    ("lte", 43, 42, False),
    ("eq", 2**60 + 1, 2**60, False),  # big ints stay exact
    # two numeric strings stay strings: a zip code is not a number
    ("eq", "02139", "2139", False),
    ("eq", "02139", "02139", True),
    # booleans only equal booleans
    ("eq", True, True, True),
    ("eq", True, 1, False),
    ("eq", "true", True, False),
    ("neq", False, True, True),
    ("gt", True, False, False),
    # strings: exact, case-sensitive, lexicographic order
    ("eq", "pro", "pro", True),
    ("eq", "Pro", "pro", False),
    ("neq", "free", "pro", True),
    ("gt", "b", "a", True),
    ("lt", "abc", "abd", True),
    # dates, when the operand is an ISO date: ISO, epoch seconds and epoch ms values
    ("eq", "2026-01-01", "2026-01-01", True),
    ("eq", "2026-01-01T00:00:00.000Z", "2026-01-01", True),
    ("gt", "2026-02-01T00:00:00Z", "2026-01-01", True),
    ("lt", "2026-01-01T00:00:00+01:00", "2026-01-01", True),  # as text it would sort after
    ("gt", FEB_1_SECONDS, "2026-01-01", True),
    ("gt", str(FEB_1_SECONDS), "2026-01-01", True),
    ("lt", FEB_1_SECONDS * 1000, "2026-03-01T00:00:00Z", True),
    ("gte", JAN_1, "2026-01-01", True),
    ("gt", "not a date", "2026-01-01", False),
    ("eq", "not a date", "2026-01-01", False),
    # mismatched types: never equal, never ordered
    ("gt", "abc", 42, False),
    ("lt", "abc", 42, False),
    ("eq", [1], 1, False),
    ("neq", [1], 1, True),
    ("gt", {"a": 1}, "a", False),
    ("gte", ["a"], ["a"], False),
    ("eq", ["a"], ["a"], True),
])
def test_comparison_operators(op, value, operand, expected):
    assert check(op, value, operand) is expected


@pytest.mark.parametrize("op, value, operand, expected", [
    ("in", "pro", ["pro", "team"], True),
    ("in", "free", ["pro", "team"], False),
    ("in", 42, ["42", 7], True),
    ("in", "7", [42, 7], True),
    ("in", "x", [], False),
    ("nin", "free", ["pro", "team"], True),
    ("nin", "team", ["pro", "team"], False),
    ("nin", "x", [], True),
    ("contains", "hello world", "lo w", True),
    ("contains", "hello world", "World", False),
    ("contains", "order-42", 42, True),
    ("contains", ["a", "b"], "b", True),
    ("contains", ["a", "b"], "c", False),
    ("contains", [1, 2], "2", True),
    ("contains", 420, 42, False),
    ("contains", {"b": 1}, "b", False),
    ("starts_with", "enterprise-eu", "enterprise", True),
    ("starts_with", "eu-enterprise", "enterprise", False),
    ("starts_with", "123abc", 123, True),
    ("starts_with", 123, "1", False),
    ("starts_with", ["enterprise"], "enterprise", False),
    ("exists", "", None, True),
    ("exists", 0, None, True),
    ("not_exists", "x", None, False),
])
def test_list_text_and_presence_operators(op, value, operand, expected):
    assert check(op, value, operand) is expected


@pytest.mark.parametrize("op, value, days, expected", [
    ("older_than_days", "2026-01-29T00:00:00Z", 30, True),  # 31 days
    ("older_than_days", "2026-01-31T00:00:00Z", 30, False),  # 29 days
    ("older_than_days", NOW - 30 * DAY_MS, 30, False),  # exactly 30 days is not older
    ("older_than_days", NOW - 30 * DAY_MS - 1, 30, True),
    ("older_than_days", (NOW - 31 * DAY_MS) // 1000, 30, True),  # epoch seconds
    ("older_than_days", str(NOW - 31 * DAY_MS), 30, True),  # epoch ms as text
    ("older_than_days", "2026-01-01", 0.5, True),
    ("older_than_days", NOW + DAY_MS, 0, False),  # a future date is not old
    ("older_than_days", "soon", 30, False),
    ("older_than_days", True, 0, False),
    ("newer_than_days", NOW - DAY_MS, 7, True),
    ("newer_than_days", NOW - 7 * DAY_MS, 7, False),  # exactly 7 days is not newer
    ("newer_than_days", NOW - 7 * DAY_MS + 1, 7, True),
    ("newer_than_days", NOW - 8 * DAY_MS, 7, False),
    ("newer_than_days", NOW + DAY_MS, 7, True),
    ("newer_than_days", "soon", 7, False),
])
def test_day_operators(op, value, days, expected):
    assert check(op, value, days) is expected


@pytest.mark.parametrize("op", OPERATORS)
def test_missing_trait_passes_only_negative_operators(op):
    operand = ["pro"] if op in ("in", "nin") else 1
    expected = op in ("not_exists", "neq", "nin")
    assert evaluate(Filter("plan", op, operand), False, None, NOW) is expected


@pytest.mark.parametrize("mapping, expected", [
    ({"plan": "pro", "seats": "12"}, True),
    ({"plan": "pro", "seats": 3}, False),
    ({"plan": "free", "seats": 12}, False),
    ({"plan": "pro", "seats": 12, "legacy": None}, True),  # null is missing
    ({"plan": "pro", "seats": 12, "legacy": True}, False),
    ({}, False),
    (None, False),
])
def test_matches_all(mapping, expected):
    wanted = (Filter("plan", "eq", "pro"), Filter("seats", "gte", 5), Filter("legacy", "not_exists"))
    assert matches_all(wanted, mapping, NOW) is expected


def test_matches_all_without_filters_holds():
    assert matches_all((), {}, NOW) is True
    assert matches_all((), None, NOW) is True


@pytest.mark.parametrize("value, days, expected", [
    ("2026-02-20T00:00:00Z", 30, parse_iso("2026-03-22T00:00:00Z") + 1),
    (parse_iso("2026-02-20T00:00:00Z") // 1000, 30, parse_iso("2026-03-22T00:00:00Z") + 1),
    (NOW - DAY_MS, 1.5, NOW + DAY_MS // 2 + 1),
    (NOW, 0, NOW + 1),
])
def test_older_than_days_unblocks_the_first_instant_it_passes(value, days, expected):
    f = Filter("createdAt", "older_than_days", days)
    assert evaluate(f, True, value, NOW) is False
    assert unblock_at(f, True, value, NOW) == expected
    assert evaluate(f, True, value, expected) is True
    assert evaluate(f, True, value, expected - 1) is False


@pytest.mark.parametrize("f, present, value", [
    (Filter("createdAt", "older_than_days", 30), True, NOW - 40 * DAY_MS),  # already passes
    (Filter("createdAt", "older_than_days", 30), False, None),  # missing: time will not help
    (Filter("createdAt", "older_than_days", 30), True, "not a date"),
    (Filter("createdAt", "newer_than_days", 30), True, NOW - 40 * DAY_MS),  # only gets older
    (Filter("plan", "eq", "pro"), True, "free"),
    (Filter("createdAt", "gt", "2026-06-01"), True, "2026-01-01"),
])
def test_unblock_at_is_none_unless_time_alone_flips_the_filter(f, present, value):
    assert unblock_at(f, present, value, NOW) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
    | st.sampled_from(["42", "2026-01-01", "2026-01-01T00:00:00Z", "-3.5", "1769904000", "9" * 5000]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)


@given(op=st.sampled_from(OPERATORS), value=json_values, operand=json_values,
       present=st.booleans(), now=st.integers(min_value=-(2**62), max_value=2**62))
def test_never_raises_and_always_answers_a_bool(op, value, operand, present, now):
    f = Filter("t", op, operand)
    assert evaluate(f, present, value, now) in (True, False)
    blocked_until = unblock_at(f, present, value, now)
    assert blocked_until is None or isinstance(blocked_until, int)
