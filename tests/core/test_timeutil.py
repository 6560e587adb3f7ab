"""Time helpers (streams.core.timeutil): every formatter is total (docs/reference.md#4-message-shapes)."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from streams.core.timeutil import DAY_MS, FORMAT_MAX_MS, FORMAT_MIN_MS, day_of, input_time, iso, parse_iso, plausible_created_at


@given(st.integers(min_value=-(2**80), max_value=2**80))
def test_iso_and_day_of_are_total(ms):
    text = iso(ms)
    assert text.endswith("Z") and len(text) == 24
    assert day_of(ms) == text[:10]


@given(st.integers(min_value=FORMAT_MIN_MS, max_value=FORMAT_MAX_MS))
def test_iso_round_trips_within_its_range(ms):
    assert parse_iso(iso(ms)) == ms


@pytest.mark.parametrize("ms, text", [
    (0, "1970-01-01T00:00:00.000Z"),
    (-1, "1969-12-31T23:59:59.999Z"),
    (FORMAT_MIN_MS - 1, "0001-01-01T00:00:00.000Z"),
    (FORMAT_MAX_MS + 10**12, "9999-12-31T23:59:59.999Z"),
])
def test_iso_edges(ms, text):
    assert iso(ms) == text


NOW = 1_800_000_000_000


@pytest.mark.parametrize("created, kept", [
    (0, True), (-1, False), (NOW + DAY_MS, True), (NOW + DAY_MS + 1, False), (None, False), (10**30, False),
])
def test_created_at_outside_1970_to_tomorrow_is_ignored(created, kept):
    assert (plausible_created_at(created, NOW) is not None) is kept


@pytest.mark.parametrize("received_at, record_ms, expected", [
    ("2026-12-01T00:00:00Z", 1_796_083_200_000 + 5000, 1_796_083_200_000),  # receivedAt, its record later
    ("2026-12-01T00:00:00Z", None, 1_796_083_200_000),
    (None, 1_796_083_200_000, 1_796_083_200_000),  # no receivedAt: the record's time
    ("not a date", 1_796_083_200_000, 1_796_083_200_000),
    ("2999-01-01T00:00:00Z", 1_796_083_200_000, 1_796_083_200_000),  # received after produced: no
    ("2026-12-01T00:00:59Z", 1_796_083_200_000, 1_796_083_259_000),  # within the skew allowed
    (None, None, None), (None, -1, None), (None, True, None),
])
def test_an_input_time_is_what_the_record_carries(received_at, record_ms, expected):
    assert input_time(received_at, record_ms) == expected
