"""The fault suite's comparison (bench/chaos/compare.py) on hand-made passes: it must see
a lost, a split and an exactly duplicated output, a changed state, and refuse a
fault-free pass that does not show what the driver did."""
from __future__ import annotations

import copy

import pytest

from bench.chaos.compare import InstrumentError, PassData, compare
from streams.core import topics as names

USER = "chaos1-u1"
TS = ["2026-11-30T00:00:00.000Z", "2026-11-30T00:00:01.000Z", "2026-11-30T00:00:02.000Z"]


def track(event, display, message_id, ts, **props):
    return {"type": "track", "userId": USER, "messageId": message_id, "timestamp": ts, "event": event,
            "properties": {"survey_id": "nps-main", "display_id": display, **props}}


def make_pass(label: str, display: str) -> PassData:
    outbound = [
        track("Survey Viewed", display, f"{label}-v", TS[0]),
        track("Survey Answered", display, f"{label}-a", TS[1], question_id="score", value=9),
        track("Survey Completed", display, f"{label}-c", TS[2], response_id=f"r-{label}", score=9),
        {"type": "identify", "userId": USER, "messageId": f"{label}-i", "timestamp": TS[2],
         "traits": {"NPS_rating": 9}},
    ]
    response = {"responseId": f"r-{label}", "userId": USER, "surveyId": "nps-main", "score": 9,
                "completedAt": TS[2]}
    topics = {
        names.OUTBOUND: [(USER, m, 0, i) for i, m in enumerate(outbound)],
        names.RESPONSES: [("nps-main", response, 0, 0)],
        names.SCORES: [("nps-main", {"surveyId": "nps-main", "day": "2026-11-30", "responses": 1, "score": 100}, 0, 0)],
        names.ELIGIBILITY: [(USER, {"eligible": False, "surveyId": None, "reason": "recently_responded"}, 0, 0)],
        names.DEADLETTER: [],
    }
    sessions = [{"user": USER, "number": 1, "ok": True, "ending": "submit_first", "expected_outputs": 4,
                 "timestamps": TS}]
    states = {USER: (200, {"userId": USER, "triggers": {"csat-export": {"count": 2}}})}
    return PassData(label, topics, states, sessions, {display: (USER, 1)})


def test_identical_passes_under_other_display_ids_agree():
    result = compare(make_pass("chaos", "d-chaos"), make_pass("clean", "d-clean"))
    assert not result.failed(), result.examples
    assert result.by_output["segment.outbound"]["expected"] == 4


def test_lost_split_exact_and_state_differences_are_counted():
    chaos = make_pass("chaos", "d-chaos")
    outbound = chaos.topics[names.OUTBOUND]
    answered = outbound[1]
    del outbound[2]  # Completed lost
    outbound.append(answered)  # the same messageId again: an exact duplicate
    split = copy.deepcopy(outbound[0])
    split[1]["messageId"] = "another-id"  # Viewed again under another id: a split duplicate
    outbound.append(split)
    chaos.states[USER][1]["triggers"]["csat-export"]["count"] = 1  # a lost trigger count
    result = compare(chaos, make_pass("clean", "d-clean"))
    counts = result.by_output["segment.outbound"]
    assert (counts["lost"], counts["split"], counts["exact"]) == (1, 1, 1)
    assert result.state_diff_count == 1
    assert result.failed()


def test_a_fault_free_pass_that_misses_the_drivers_outputs_is_refused():
    clean = make_pass("clean", "d-clean")
    clean.topics[names.OUTBOUND] = clean.topics[names.OUTBOUND][:1]
    with pytest.raises(InstrumentError):
        compare(make_pass("chaos", "d-chaos"), clean)
    empty = make_pass("clean", "d-clean")
    empty.topics[names.RESPONSES] = []
    with pytest.raises(InstrumentError):
        compare(make_pass("chaos", "d-chaos"), empty)


def test_a_fault_free_pass_whose_trigger_counts_miss_the_input_is_refused():
    compare(make_pass("chaos", "d-chaos"), make_pass("clean", "d-clean"), ("csat-export", {USER: 2}))
    with pytest.raises(InstrumentError):
        compare(make_pass("chaos", "d-chaos"), make_pass("clean", "d-clean"), ("csat-export", {USER: 3}))
