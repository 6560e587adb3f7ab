"""Counting responses for the response limits (streams.core.quotas): once per responseId,
per UTC day with the latest days only, bounded, and what a decision reads of the tally."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from streams.core import quotas
from streams.core.quotas import DAYS_KEPT, RESPONSE_IDS_MAX, Counts, add_response, counts_of, new_tally, quota_reached
from streams.core.targeting import decide
from streams.core.timeutil import DAY_MS, day_of, parse_iso
from tests.core.test_targeting import config, survey, user

MIDNIGHT = parse_iso("2026-03-02T00:00:00Z")


def tally_of(*responses) -> dict:
    tally = None
    for response_id, day in responses:
        tally = add_response(tally, response_id, day)
    return tally


def test_a_response_counts_once_per_response_id():
    tally = tally_of(("r-1", "2026-03-01"), ("r-2", "2026-03-01"))
    again = add_response(tally, "r-1", "2026-03-01")
    assert again is tally  # the caller skips the write
    assert counts_of(tally) == Counts(2, {"2026-03-01": 2})
    # the same id on another day (a replay carries the same completedAt; still one response)
    assert add_response(tally, "r-2", "2026-03-02") is tally


def test_the_tally_is_new_and_plain_json():
    before = new_tally()
    after = add_response(before, "r-1", "2026-03-01")
    assert before == new_tally() and after == {"total": 1, "days": {"2026-03-01": 1}, "responseIds": ["r-1"]}


def test_days_are_kept_for_the_latest_days_only():
    days = [day_of(MIDNIGHT + n * DAY_MS) for n in range(10)]
    tally = tally_of(*((f"r-{n}", day) for n, day in enumerate(days)))
    assert sorted(tally["days"]) == days[-DAYS_KEPT:] and tally["total"] == 10
    # a late response of a day already dropped counts in the total, not in a kept day
    late = add_response(tally, "r-late", days[0])
    assert late["total"] == 11 and late["days"] == tally["days"]


def test_the_ids_kept_are_bounded_and_the_oldest_go_first():
    tally = tally_of(*((f"r-{n}", "2026-03-01") for n in range(RESPONSE_IDS_MAX + 10)))
    assert len(tally["responseIds"]) == RESPONSE_IDS_MAX and tally["responseIds"][0] == "r-10"
    assert tally["total"] == RESPONSE_IDS_MAX + 10
    assert add_response(tally, f"r-{RESPONSE_IDS_MAX + 9}", "2026-03-01") is tally  # recent: a duplicate
    assert add_response(tally, "r-0", "2026-03-01")["total"] == RESPONSE_IDS_MAX + 11  # past the bound: counted


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=200), st.integers(0, 30))
def test_copies_within_the_bound_never_count_twice(ids, gap):
    """Each response, then maybe a copy of it up to `gap` responses later (a replay): the total
    is the number of distinct ids as long as copies come within RESPONSE_IDS_MAX."""
    stream = []
    for n, value in enumerate(ids):
        stream.append(f"r-{value}")
        if value % 3 == 0:
            stream.insert(max(0, len(stream) - 1 - gap), f"r-{value}")
    tally = tally_of(*((response_id, "2026-03-01") for response_id in stream))
    assert (tally or new_tally())["total"] == len(set(stream))


def test_the_day_rolls_over_at_utc_midnight():
    cfg = config(survey(limits={"responses_per_day": 2}))
    tally = tally_of(("r-1", "2026-03-01"), ("r-2", "2026-03-01"))
    counts = {"s1": counts_of(tally)}
    before = MIDNIGHT - 1
    reached, unblock, _ = quota_reached(cfg.surveys[0], counts["s1"], before)
    assert (reached, unblock) == (True, MIDNIGHT)
    verdict = decide(user(), cfg, before, response_counts=counts).verdicts[0]
    assert (verdict.reason, verdict.eligible_at) == ("quota_reached", MIDNIGHT)
    assert decide(user(), cfg, MIDNIGHT, response_counts=counts).eligible
    # the new day's responses count for the new day only
    counts = {"s1": counts_of(tally_of(("r-1", "2026-03-01"), ("r-2", "2026-03-01"), ("r-3", "2026-03-02")))}
    assert decide(user(), cfg, MIDNIGHT, response_counts=counts).eligible


def test_a_survey_without_responses_yet_is_counted_as_zero():
    cfg = config(survey(limits={"responses": 1}))
    rules = decide(user(), cfg, MIDNIGHT, response_counts={}, every_rule=True).verdicts[0].rules
    detail = next(r["detail"] for r in rules if r["rule"] == "quota_reached")
    assert detail == "0 responses (0 today), within the limits"
    assert not decide(user(), cfg, MIDNIGHT, response_counts={"s1": Counts(1)}).eligible
    assert decide(user(), cfg, MIDNIGHT, response_counts=None).eligible  # not counted yet: not blocked
    assert quotas.NONE_YET == Counts()
