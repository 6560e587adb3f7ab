"""Smoke: a Segment identify put on the inbound topic comes out as a decision."""
import pytest

pytestmark = pytest.mark.integration


def test_identify_on_topic_yields_decision_on_eligibility_topic(start_worker):
    worker = start_worker()
    worker.produce("segment.identify", {
        "type": "identify", "userId": "smoke-1", "messageId": "smoke-m1",
        "timestamp": "2026-01-01T00:00:00Z",
        "traits": {"plan": "pro", "createdAt": "2020-01-01T00:00:00Z"},
    }, key="smoke-1")
    records = worker.read("surveys.eligibility", count=1, timeout_s=60)
    assert records, worker.log_tail()
    key, decision = records[0]
    assert key == "smoke-1"
    assert decision["userId"] == "smoke-1"
    assert decision["eligible"] is True
    assert decision["surveyId"] == "nps-main"
    assert decision["reason"] == "eligible"
    assert worker.alive()
