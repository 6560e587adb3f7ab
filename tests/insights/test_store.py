"""The insights store: rows and offsets in one transaction, each response and event once."""
import orjson
import pytest

from streams.core.config import parse_config
from streams.insights.records import Batch, EventKinds, add_event, add_response
from streams.insights.store import Store
from tests.insights.support import batch_of, response, track


def test_rows_and_offsets_are_stored_together_and_survive_a_reopen(tmp_path):
    path = tmp_path / "insights.duckdb"
    store = Store(path)
    assert store.ingest(batch_of([response("r1", 9), response("r2", 3)]), {("t.responses", 0): 2}) == (2, 0)
    store.close()
    again = Store(path)
    assert again.offsets() == {("t.responses", 0): 2}
    assert again.counts() == {"responses": 2, "events": 0}


def test_a_failed_batch_leaves_neither_its_rows_nor_its_offsets(tmp_path):
    store = Store(tmp_path / "insights.duckdb")
    store.ingest(batch_of([response("r1", 9)]), {("t.responses", 0): 1})
    bad = batch_of([response("r2", 10)])
    # An event row no table accepts (its survey is NOT NULL): the whole transaction fails.
    bad.events["m"] = ("m", None, "viewed", "d", "u", 0, "1970-01-01")
    with pytest.raises(Exception):
        store.ingest(bad, {("t.responses", 0): 2})
    assert store.offsets() == {("t.responses", 0): 1}
    assert store.counts() == {"responses": 1, "events": 0}
    # and the store still takes the next batch
    assert store.ingest(batch_of([response("r2", 10)]), {("t.responses", 0): 2}) == (1, 0)


def test_a_response_or_event_seen_twice_is_kept_once():
    store = Store(":memory:")
    first = batch_of([response("r1", 9), response("r1", 9), response("r2", 5)],
                     [track("m1", "Survey Viewed", "d1"), track("m1", "Survey Viewed", "d1")])
    assert len(first.responses) == 2 and len(first.events) == 1
    assert store.ingest(first, {("r", 0): 3}) == (2, 1)
    # a replay after a crash (the worker produced them again, or the file is read from the start)
    assert store.ingest(batch_of([response("r1", 9), response("r3", 0)], [track("m1", "Survey Viewed", "d1")]),
                        {("r", 0): 5}) == (1, 0)
    assert store.counts() == {"responses": 3, "events": 1}


def test_offsets_never_move_back():
    store = Store(":memory:")
    store.ingest(Batch(), {("r", 0): 10})
    store.ingest(Batch(), {("r", 0): 4, ("r", 1): 2})
    assert store.offsets() == {("r", 0): 10, ("r", 1): 2}


@pytest.mark.parametrize("raw", [
    b"not json", b"[1]", orjson.dumps({"surveyId": "s"}),
    orjson.dumps({**response("r", 9), "completedAt": "soon"}),
    orjson.dumps({**response("r", 9), "surveyType": "stars"}),
])
def test_a_record_that_is_not_a_response_is_skipped(raw):
    batch = Batch()
    assert add_response(batch, raw, 0, 0) is False
    assert batch.skipped == 1 and not batch.responses


def test_a_response_keeps_its_score_key_category_and_day():
    batch = batch_of([response("r1", "9", day="2026-11-02", time="23:59:59"),
                      response("r2", None), response("p1", "Very disappointed", survey_id="pmf", survey_type="pmf")])
    r1 = dict(zip(("id", "survey", "type", "user", "score", "key", "category"), batch.responses["r1"]))
    assert (r1["score"], r1["key"], r1["category"]) == ('"9"', "9", "promoter")
    assert batch.responses["r1"][10] == "2026-11-02"
    assert batch.responses["r2"][5] is None  # no score: listed, never counted
    assert batch.responses["p1"][5:7] == ("very_disappointed", "very_disappointed")


CONFIG = parse_config({"surveys": [{
    "id": "renamed", "type": "csat", "name": "Renamed events",
    "segment": {"events": {"viewed": {"name": "Card Seen"}, "dismissed": {"name": "Card Closed"}}},
}]})


@pytest.mark.parametrize("message, kind", [
    (track("m", "Survey Viewed", "d"), "viewed"),
    (track("m", "Survey Answered", "d", question_id="score", value=9), "answered"),
    (track("m", "Survey Completed", "d", response_id="r"), "completed"),
    (track("m", "Survey Dismissed", "d"), "dismissed"),
    # the config's names for its survey; the defaults for surveys it does not name
    (track("m", "Card Seen", "d", survey_id="renamed", survey_type="csat"), "viewed"),
    (track("m", "Card Closed", "d", survey_id="renamed", survey_type="csat"), "dismissed"),
    (track("m", "Survey Completed", "d", survey_id="renamed", survey_type="csat"), "completed"),
    (track("m", "Card Seen", "d"), None),
    (track("m", "Report Exported", "d"), None),
    ({"type": "identify", "userId": "u", "messageId": "m", "traits": {"NPS_rating": 9}}, None),
    ({**track("m", "Survey Viewed", "d"), "properties": {"display_id": "d"}}, None),  # no survey
])
def test_lifecycle_kind_of_an_outbound_message(message, kind):
    batch = Batch()
    add_event(batch, EventKinds(CONFIG), orjson.dumps(message), 0, 0)
    assert [row[2] for row in batch.events.values()] == ([kind] if kind else [])


def test_an_event_without_a_timestamp_takes_the_record_time():
    message = {**track("m", "Survey Viewed", "d"), "timestamp": None}
    batch = Batch()
    assert add_event(batch, EventKinds(None), orjson.dumps(message), 0, 0, record_ms=1_790_000_000_000)
    assert batch.events["m"][5:] == (1_790_000_000_000, "2026-09-21")
