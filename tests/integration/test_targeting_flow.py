"""Targeting on a real broker (issue 4): decisions on `surveys.eligibility` and the HTTP bridge
agree, every reason shows up where the contract says, explain shows every rule, the widget
key and secure mode guard the bridge, and the timer re-decides when time alone makes a user
eligible.

Each test writes its own config (no dependency on config/surveys.yaml).
"""
from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from streams.core.timeutil import DAY_MS, iso, parse_iso

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer test-admin-key"}
# docs/reference.md#7-reason-codes, in the order the rules are checked (the explain endpoint lists them all).
RULES = ["survey_inactive", "not_identified", "traits_mismatch", "not_sampled", "too_new",
         "awaiting_trigger", "max_displays_reached", "recently_responded", "recently_dismissed",
         "recently_displayed", "global_wait"]
OLD_SIGNUP = "2020-01-01T00:00:00Z"


def surveys_config(nps_priority: int, csat_priority: int) -> dict:
    """An NPS survey for established pro/team accounts, and a CSAT survey triggered by a PDF export."""
    return {
        "project": {"recontact_days": 7, "display_timeout_minutes": 30, "partitions": 4},
        "surveys": [
            {"id": "nps-pro", "type": "nps", "name": "Would you recommend us?", "priority": nps_priority,
             "targeting": {"min_days_since_signup": 30,
                           "traits": [{"trait": "plan", "op": "in", "value": ["pro", "team"]}]}},
            {"id": "csat-export", "type": "csat", "name": "How was the export?", "priority": csat_priority,
             "targeting": {"min_days_since_signup": 0,
                           "trigger": {"event": "Report Exported",
                                       "where": [{"property": "format", "op": "eq", "value": "pdf"}],
                                       "min_count": 1, "within_days": 2}}},
        ],
    }


def now_ms() -> int:
    return int(time.time() * 1000)


def identify(worker, user: str, traits: dict) -> None:
    worker.produce("segment.identify", {"type": "identify", "userId": user, "messageId": f"{user}-identify",
                                        "timestamp": iso(now_ms()), "traits": traits}, key=user)


def export(worker, user: str, fmt: str) -> None:
    worker.produce("segment.track", {"type": "track", "userId": user, "messageId": f"{user}-export-{fmt}",
                                     "timestamp": iso(now_ms()), "event": "Report Exported",
                                     "properties": {"format": fmt}}, key=user)


def decisions(worker, user: str, count: int = 1, timeout_s: float = 30.0) -> list[dict]:
    """The decision records of one user on surveys.eligibility, in order (waits for `count`)."""
    found = worker.read("surveys.eligibility", count=count, timeout_s=timeout_s,
                        where=lambda value: value.get("userId") == user)
    for key, _ in found:
        assert key == user
    return [value for _, value in found]


def latest_decision(worker, user: str, reason: str, timeout_s: float = 30.0) -> dict:
    """Wait until the user's latest decision record has `reason`; returns it."""
    def check():
        records = decisions(worker, user, count=None, timeout_s=5)
        return records[-1] if records and records[-1]["reason"] == reason else None
    record = worker.wait_for(check, timeout_s=timeout_s, interval_s=0.5)
    assert record, f"{user}: no decision with reason {reason}: {decisions(worker, user, None, 5)}\n{worker.log_tail()}"
    return record


def assert_agree(body: dict, record: dict) -> None:
    """GET /v1/eligibility and the topic tell the same (eligible, survey, reason, eligibleAt)."""
    assert body["userId"] == record["userId"]
    assert body["eligible"] is record["eligible"]
    assert (body["survey"]["id"] if body["survey"] else None) == record["surveyId"]
    assert body["reason"] == record["reason"]
    assert body["eligibleAt"] == record["eligibleAt"]
    assert parse_iso(body["decidedAt"]) >= parse_iso(record["decidedAt"])


def rule_verdicts(survey: dict) -> dict:
    assert [rule["rule"] for rule in survey["rules"]] == RULES
    for rule in survey["rules"]:
        assert isinstance(rule["passed"], bool)
        assert isinstance(rule["detail"], str) and rule["detail"]
    return {rule["rule"]: rule["passed"] for rule in survey["rules"]}


def test_reasons_agree_between_topic_and_bridge_and_explain_shows_every_rule(start_worker):
    worker = start_worker(surveys_config(nps_priority=20, csat_priority=10))
    new_signup = now_ms() - DAY_MS
    identify(worker, "old-pro", {"plan": "pro", "createdAt": OLD_SIGNUP, "email": "a@example.com"})
    identify(worker, "new-team", {"plan": "team", "createdAt": iso(new_signup)})
    identify(worker, "old-free", {"plan": "free", "createdAt": OLD_SIGNUP})

    # Established pro account: the NPS survey, whole, as the widget needs it.
    [record] = decisions(worker, "old-pro")
    assert record == {**record, "eligible": True, "surveyId": "nps-pro", "reason": "eligible", "eligibleAt": None}
    status, body = worker.get("/v1/eligibility/old-pro", ADMIN)
    assert status == 200, body
    assert_agree(body, record)
    assert body["survey"] == {
        "id": "nps-pro", "type": "nps", "name": "Would you recommend us?",
        "questions": [
            {"id": "score", "kind": "scale", "text": body["survey"]["questions"][0]["text"], "min": 0, "max": 10,
             "choices": None},
            {"id": "comment", "kind": "text", "text": body["survey"]["questions"][1]["text"], "min": None,
             "max": None, "choices": None},
        ]}

    # Signed up a day ago: too new for NPS (the highest priority), eligible 30 days after signup.
    [record] = decisions(worker, "new-team")
    assert (record["eligible"], record["surveyId"], record["reason"]) == (False, None, "too_new")
    assert parse_iso(record["eligibleAt"]) == new_signup + 30 * DAY_MS
    status, body = worker.get("/v1/eligibility/new-team", ADMIN)
    assert status == 200 and body["survey"] is None
    assert_agree(body, record)
    # Without secure mode anyone with the widget key may ask: the answer then tells whether
    # to show a survey, not why not nor when (which would leak the signup instant).
    status, bare = worker.get("/v1/eligibility/new-team")
    assert status == 200 and set(bare) == {"userId", "eligible", "survey", "decidedAt"}, bare
    status, bare = worker.get("/v1/eligibility/nobody-knows-me")
    assert status == 200 and set(bare) == {"userId", "eligible", "survey", "decidedAt"}, bare
    status, bare = worker.get("/v1/eligibility/old-pro")
    assert set(bare) == {"userId", "eligible", "survey", "decidedAt", "display"} and bare["eligible"], bare

    # Free plan: NPS traits do not match; the CSAT trigger is not met either.
    [record] = decisions(worker, "old-free")
    assert (record["eligible"], record["surveyId"], record["reason"], record["eligibleAt"]) == \
        (False, None, "traits_mismatch", None)
    assert_agree(worker.get("/v1/eligibility/old-free", ADMIN)[1], record)

    # A CSV export does not pass the trigger's `where` (format eq pdf); a PDF export does.
    export(worker, "old-free", "csv")
    export(worker, "old-free", "pdf")
    record = latest_decision(worker, "old-free", "eligible")
    assert (record["eligible"], record["surveyId"]) == (True, "csat-export")
    records = decisions(worker, "old-free", count=None, timeout_s=5)
    assert [r["reason"] for r in records] == ["traits_mismatch", "eligible"], records  # csv changed nothing
    status, body = worker.get("/v1/eligibility/old-free", ADMIN)
    assert_agree(body, record)
    assert body["survey"]["id"] == "csat-export" and body["survey"]["type"] == "csat"
    status, user = worker.user("old-free")
    assert status == 200 and user["triggers"]["csat-export"]["count"] == 1, user

    # Unknown user: not_identified from the bridge, and no decision on the topic.
    status, body = worker.get("/v1/eligibility/nobody-knows-me", ADMIN)
    assert status == 200
    assert (body["eligible"], body["survey"], body["reason"], body["eligibleAt"]) == \
        (False, None, "not_identified", None)
    assert decisions(worker, "nobody-knows-me", count=None, timeout_s=3) == []

    # Explain: every rule of every survey, with the failing ones where they should be.
    assert worker.get("/v1/users/new-team/explain")[0] == 401
    assert worker.get("/v1/users/new-team/explain", {"Authorization": "Bearer wrong"})[0] == 401
    status, explain = worker.get("/v1/users/new-team/explain", ADMIN)
    assert status == 200, explain
    assert explain["userId"] == "new-team" and parse_iso(explain["now"]) is not None
    [record] = decisions(worker, "new-team")
    assert {k: explain["decision"][k] for k in ("eligible", "surveyId", "reason", "eligibleAt")} == \
        {k: record[k] for k in ("eligible", "surveyId", "reason", "eligibleAt")}
    nps, csat = explain["surveys"]
    assert (nps["surveyId"], nps["eligible"], nps["reason"]) == ("nps-pro", False, "too_new")
    assert nps["eligibleAt"] == record["eligibleAt"]
    assert rule_verdicts(nps) == {rule: rule != "too_new" for rule in RULES}
    assert (csat["surveyId"], csat["eligible"], csat["reason"], csat["eligibleAt"]) == \
        ("csat-export", False, "awaiting_trigger", None)
    assert rule_verdicts(csat) == {rule: rule != "awaiting_trigger" for rule in RULES}

    status, explain = worker.get("/v1/users/old-free/explain", ADMIN)
    nps, csat = explain["surveys"]
    assert rule_verdicts(nps) == {rule: rule not in ("traits_mismatch",) for rule in RULES}
    assert "plan" in next(r["detail"] for r in nps["rules"] if r["rule"] == "traits_mismatch")
    assert csat["eligible"] is True and all(rule_verdicts(csat).values())

    status, explain = worker.get("/v1/users/nobody-knows-me/explain", ADMIN)
    assert status == 200 and explain["decision"]["reason"] == "not_identified"
    for survey in explain["surveys"]:
        assert rule_verdicts(survey)["not_identified"] is False
    assert worker.alive()


def test_awaiting_trigger_widget_key_and_secure_mode(start_worker):
    secret = "test-secure-secret"
    worker = start_worker(surveys_config(nps_priority=10, csat_priority=30),
                          env={"STREAMS_WIDGET_KEY": "test-widget-key", "STREAMS_SECURE_SECRET": secret})
    identify(worker, "free-1", {"plan": "free", "createdAt": OLD_SIGNUP})
    [record] = decisions(worker, "free-1")
    # The CSAT survey has the highest priority: its reason is the decision's.
    assert (record["eligible"], record["surveyId"], record["reason"], record["eligibleAt"]) == \
        (False, None, "awaiting_trigger", None)

    key = {"X-Widget-Key": "test-widget-key"}
    right_hash = hmac.new(secret.encode(), b"free-1", hashlib.sha256).hexdigest()
    assert worker.get(f"/v1/eligibility/free-1?userHash={right_hash}")[0] == 401
    assert worker.get(f"/v1/eligibility/free-1?userHash={right_hash}", {"X-Widget-Key": "wrong"})[0] == 401
    assert worker.get("/v1/eligibility/free-1", key)[0] == 403
    assert worker.get("/v1/eligibility/free-1?userHash=" + "0" * 64, key)[0] == 403
    other_hash = hmac.new(secret.encode(), b"free-2", hashlib.sha256).hexdigest()
    assert worker.get(f"/v1/eligibility/free-1?userHash={other_hash}", key)[0] == 403  # another user's hash
    status, body = worker.get(f"/v1/eligibility/free-1?userHash={right_hash}", key)
    assert status == 200, body
    assert_agree(body, record)

    export(worker, "free-1", "pdf")
    record = latest_decision(worker, "free-1", "eligible")
    assert record["surveyId"] == "csat-export"
    status, body = worker.get(f"/v1/eligibility/free-1?userHash={right_hash}", key)
    assert status == 200
    assert_agree(body, record)
    assert body["survey"]["id"] == "csat-export"
    assert worker.alive()


def test_timer_decides_when_time_alone_makes_a_user_eligible(start_worker):
    # 0.0001 days = 8.64 s after signup; the identify says the account was created now.
    worker = start_worker({
        "project": {"partitions": 4},
        "surveys": [{"id": "nps-soon", "type": "nps", "name": "Would you recommend us?",
                     "targeting": {"min_days_since_signup": 0.0001}}],
    })
    created = now_ms()
    identify(worker, "fresh-1", {"createdAt": iso(created)})
    [first] = decisions(worker, "fresh-1")
    assert (first["eligible"], first["surveyId"], first["reason"]) == (False, None, "too_new")
    eligible_at = parse_iso(first["eligibleAt"])
    assert eligible_at == created + round(0.0001 * DAY_MS)
    assert parse_iso(first["decidedAt"]) < eligible_at, "the worker took too long to decide the first time"

    # No new input from here on: the timer alone must produce the next decision.
    records = decisions(worker, "fresh-1", count=2, timeout_s=40)
    assert len(records) == 2, f"no timer decision: {records}\n{worker.log_tail()}"
    second = records[1]
    assert (second["eligible"], second["surveyId"], second["reason"], second["eligibleAt"]) == \
        (True, "nps-soon", "eligible", None)
    assert eligible_at <= parse_iso(second["decidedAt"]) < eligible_at + 15_000
    status, body = worker.get("/v1/eligibility/fresh-1", ADMIN)
    assert status == 200
    assert_agree(body, second)
    time.sleep(2)  # and it is decided once: no further record while nothing changes
    assert len(decisions(worker, "fresh-1", count=None, timeout_s=5)) == 2
