"""A worker's view of the response counts (streams.runtime.responsecounts): None until the
changelog was read to its end, then the latest tally of each survey, without its ids."""
from __future__ import annotations

import orjson
import pytest

from streams.core.quotas import Counts, add_response
from streams.runtime import responsecounts


@pytest.fixture(autouse=True)
def fresh():
    responsecounts.reset()
    yield
    responsecounts.reset()


def record(survey_id: str, tally: dict) -> tuple[bytes, bytes]:
    return survey_id.encode(), orjson.dumps(tally)


def test_nothing_is_counted_before_the_changelog_is_caught_up():
    responsecounts.apply(*record("s1", add_response(None, "r-1", "2026-03-01")))
    assert responsecounts.current() is None
    responsecounts.caught_up()
    assert responsecounts.current() == {"s1": Counts(1, {"2026-03-01": 1})}


def test_the_latest_tally_of_a_survey_wins_and_bad_records_change_nothing():
    first = add_response(None, "r-1", "2026-03-01")
    responsecounts.apply(*record("s1", first))
    responsecounts.apply(*record("s1", add_response(first, "r-2", "2026-03-02")))
    for key, value in ((b"s1", None), (None, b"{}"), (b"s1", b"not json"), (b"s1", b"[1]")):
        responsecounts.apply(key, value)
    responsecounts.caught_up()
    assert responsecounts.current() == {"s1": Counts(2, {"2026-03-01": 1, "2026-03-02": 1})}
    assert responsecounts.totals == {"s1": 2}
