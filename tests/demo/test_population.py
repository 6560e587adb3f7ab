"""The demo's customers (streams.demo.population): the same ones every run, each a survey's
audience, their Segment messages valid and dated before the history."""
from __future__ import annotations

from collections import Counter

import pytest

from streams.core.timeutil import DAY_MS, parse_iso
from streams.demo import population
from streams.demo.history import HISTORY_DAYS
from streams.schemas import segment

NOW = 1_796_000_000_000
PEOPLE = population.customers()


def test_the_same_seed_gives_the_same_customers_and_messages():
    assert population.customers() == PEOPLE
    assert population.segment_messages(PEOPLE, NOW) == population.segment_messages(population.customers(), NOW)
    assert population.customers(seed=1) != PEOPLE


def test_ids_are_unique_and_apart_from_the_sample():
    ids = [person.user_id for person in PEOPLE]
    assert len(set(ids)) == len(ids)
    assert min(int(i[1:]) for i in ids) == population.FIRST_ID > 1400  # the sample's users end near u1311


def test_the_nps_audience_is_paid_and_old_enough():
    nps = PEOPLE[:population.NPS_CUSTOMERS]
    assert {person.plan for person in nps} == {"pro", "team"}  # nps-main: plan in [pro, team]
    assert all(person.signed_up_days_ago > 30 + HISTORY_DAYS for person in nps)
    assert all(person.exported_ago_ms is None for person in nps)


def test_the_csat_audience_exported_within_two_days():
    csat = PEOPLE[population.NPS_CUSTOMERS:]
    assert len(csat) == population.CSAT_CUSTOMERS
    assert all(0 < person.exported_ago_ms < 2 * DAY_MS for person in csat)  # csat-export: within_days 2


@pytest.mark.parametrize("attribute, values", [
    ("plan", {"free", "pro", "team"}),
    ("size", {size for size, _ in population.SIZES}),
    ("locale", {"en", "de"}),
])
def test_traits_vary(attribute, values):
    counts = Counter(getattr(person, attribute) for person in PEOPLE)
    assert set(counts) == values
    assert min(counts.values()) >= 50  # enough of each for the breakdown to say something


def test_messages_pass_the_ingestion_checks_and_predate_the_history():
    messages = population.segment_messages(PEOPLE, NOW)
    kinds = Counter(m["type"] for m in messages)
    assert kinds == {"identify": len(PEOPLE), "group": len(PEOPLE), "track": population.CSAT_CUSTOMERS}
    assert len({m["messageId"] for m in messages}) == len(messages)
    for message in messages:
        segment.validate(message)
        at = parse_iso(message["timestamp"])
        if message["type"] == "track":
            assert NOW - 2 * DAY_MS < at < NOW
        else:
            assert at < NOW - (HISTORY_DAYS + 1) * DAY_MS  # known before their first imported session
            assert message["context"]["locale"] in ("en", "de")
    identifies = [m for m in messages if m["type"] == "identify"]
    assert all(parse_iso(m["traits"]["createdAt"]) < parse_iso(m["timestamp"]) for m in identifies)
