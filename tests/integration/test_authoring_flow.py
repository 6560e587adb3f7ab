"""Survey authoring on a real broker (issue O): a worker with locales, show_if, page, device
and delay rules.

- /v1/eligibility?locale=de&url=...&device=desktop answers the survey in German, with its
  locale, kinds, ranges, choices and conditions;
- a branching session through POST /v1/widget/events reaches segment.outbound and
  surveys.responses with only the questions asked, and the locale;
- an answer outside its choices is a 400 naming the field; the same record written straight
  to surveys.lifecycle is dead-lettered;
- a delayed survey answers `delayed` with eligibleAt, and a decision record comes on
  surveys.eligibility when the delay ends (the timer).
"""
from __future__ import annotations

import time
import uuid
from urllib.parse import quote

import pytest

from streams.core.timeutil import iso, parse_iso

pytestmark = pytest.mark.integration

WIDGET_KEY = "authoring-widget-key"
ADMIN = {"Authorization": "Bearer test-admin-key"}
KEY = {"X-Widget-Key": WIDGET_KEY}
BILLING_URL = "https://app.example.com/billing/plans"
DELAY_SECONDS = 6
CONFIG = {
    "project": {"recontact_days": 0, "display_timeout_minutes": 5, "partitions": 4},
    "surveys": [
        {"id": "nps-billing", "type": "nps", "name": {"en": "Billing", "de": "Abrechnung"}, "locales": ["en", "de"],
         "priority": 20,
         "questions": [
             {"id": "score", "kind": "scale", "min": 0, "max": 10,
              "text": {"en": "How likely are you to recommend us?", "de": "Wie wahrscheinlich empfehlen Sie uns?"}},
             {"id": "fix", "kind": "text", "show_if": {"question": "score", "category": ["detractor", "passive"]},
              "text": {"en": "What should we fix first?", "de": "Was sollten wir zuerst verbessern?"}},
             {"id": "love", "kind": "text", "show_if": {"question": "score", "category": ["promoter"]},
              "text": {"en": "What do you love most?", "de": "Was gefällt Ihnen am besten?"}},
             {"id": "uses", "kind": "multi", "choices": ["invoices", "exports", "api"],
              "text": {"en": "Which do you use?", "de": "Was nutzen Sie?"}},
         ],
         "targeting": {"min_days_since_signup": 0, "traits": [{"trait": "plan", "op": "eq", "value": "pro"}],
                       "pages": [{"op": "contains", "value": "/billing"}], "devices": ["desktop", "tablet"]},
         "segment": {"traits": {"NPS_rating": "score", "NPS_comment": "comment"}}},
        {"id": "csat-delayed", "type": "csat", "name": "Export", "priority": 30,
         "targeting": {"min_days_since_signup": 0, "traits": [{"trait": "plan", "op": "eq", "value": "team"}],
                       "trigger": {"event": "Report Exported"}, "delay_seconds": DELAY_SECONDS,
                       "cancel_on": [{"event": "Checkout Started"}]}},
    ],
}


def new_user(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


def identify(worker, user: str, plan: str) -> None:
    status, _ = worker.ingest("identify", {"userId": user, "traits": {"plan": plan, "createdAt": "2020-01-01"},
                                           "messageId": f"id-{user}"})
    assert status == 200


def eligibility(worker, user: str, query: str = "", headers: dict | None = None) -> dict:
    status, body = worker.get(f"/v1/eligibility/{user}{query}", {**KEY, **ADMIN, **(headers or {})})
    assert status == 200, body
    return body


def billing_reason(worker, user: str, query: str, headers: dict | None = None) -> str:
    status, body = worker.get(f"/v1/users/{user}/explain{query}", {**ADMIN, **(headers or {})})
    assert status == 200, body
    return next(s["reason"] for s in body["surveys"] if s["surveyId"] == "nps-billing")


def event(user: str, display: dict, kind: str, message_id: str, question: str | None = None, value=None) -> dict:
    body = {"messageId": message_id, "userId": user, "surveyId": "nps-billing", "displayId": display["id"],
            "displayToken": display["token"], "type": kind, "locale": "de"}
    if question is not None:
        body.update(questionId=question, value=value)
    return body


def test_authoring_end_to_end(start_worker):
    worker = start_worker(CONFIG, env={"STREAMS_WIDGET_KEY": WIDGET_KEY})

    # --- locale, page and device from the request --------------------------------------
    user = new_user("author")
    identify(worker, user, "pro")
    query = f"?locale=de-AT&url={quote(BILLING_URL)}&device=desktop"
    body = worker.wait_for(lambda: (lambda b: b if b.get("eligible") else None)(eligibility(worker, user, query)))
    assert body and body["eligible"], body
    survey = body["survey"]
    assert (survey["id"], survey["locale"], survey["name"], survey["dir"]) == ("nps-billing", "de", "Abrechnung", "ltr")
    assert [q["text"] for q in survey["questions"]] == [
        "Wie wahrscheinlich empfehlen Sie uns?", "Was sollten wir zuerst verbessern?", "Was gefällt Ihnen am besten?",
        "Was nutzen Sie?"]
    score, fix, love, uses = survey["questions"]
    assert (score["kind"], score["min"], score["max"], score["show_if"]) == ("scale", 0, 10, None)
    assert fix["show_if"] == {"question": "score", "category": ["detractor", "passive"]}
    assert (uses["kind"], uses["choices"]) == ("multi", ["invoices", "exports", "api"])
    # the same user on another page, or on a phone, is held back by the rules (explain takes the same query)
    assert billing_reason(worker, user, "?url=https://app.example.com/home&device=desktop") == "page_mismatch"
    assert billing_reason(worker, user, f"?url={quote(BILLING_URL)}&device=mobile") == "device_mismatch"
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) " \
             "Version/17.1 Mobile/15E148 Safari/604.1"
    assert billing_reason(worker, user, f"?url={quote(BILLING_URL)}", {"User-Agent": iphone}) == "device_mismatch"
    assert not eligibility(worker, user, f"?url={quote(BILLING_URL)}", headers={"User-Agent": iphone})["eligible"]
    status, refused = worker.get(f"/v1/eligibility/{user}?device=watch", KEY)
    assert (status, refused["field"]) == (400, "device"), refused
    display = body["display"]

    # --- an answer outside its choices: 400 naming the field, nothing produced -----------
    status, refused = worker.post("/v1/widget/events", event(user, display, "answered", "bad", "uses", ["fax"]), KEY)
    assert (status, refused["field"]) == (400, "value"), refused
    status, refused = worker.post("/v1/widget/events", event(user, display, "answered", "bad2", "score", 11), KEY)
    assert (status, refused["field"]) == (400, "value"), refused

    # --- a branching session: the detractor's follow-up is dropped when the score changes --
    session = [event(user, display, "shown", "m1"),
               event(user, display, "answered", "m2", "score", 4),
               event(user, display, "answered", "m3", "fix", "Die Rechnungen"),
               event(user, display, "answered", "m4", "score", 10),
               event(user, display, "answered", "m5", "love", "Die API"),
               event(user, display, "answered", "m6", "uses", ["api", "invoices"]),
               event(user, display, "submitted", "m7")]
    status, accepted = worker.post("/v1/widget/events", {"batch": session}, KEY)
    assert (status, accepted) == (202, {"accepted": 7}), accepted

    records = worker.read("segment.outbound", count=8, timeout_s=45,
                          where=lambda m: m.get("userId") == user)
    tracks = [m for _, m in records if m["type"] == "track"]
    completed = next(m for m in tracks if m["event"] == "Survey Completed")
    assert completed["properties"]["answers"] == {"score": 10, "love": "Die API", "uses": ["api", "invoices"]}
    assert completed["properties"]["comment"] == "Die API" and completed["properties"]["category"] == "promoter"
    assert {m["properties"]["locale"] for m in tracks} == {"de"}
    answered = [m["properties"]["question_id"] for m in tracks if m["event"] == "Survey Answered"]
    assert answered == ["score", "fix", "score", "love", "uses"]
    identify_message = next(m for _, m in records if m["type"] == "identify")
    assert identify_message["traits"] == {"NPS_rating": 10, "NPS_comment": "Die API"}
    (_, response), = worker.read("surveys.responses", count=1, timeout_s=30, where=lambda r: r.get("userId") == user)
    assert (response["locale"], response["answers"]) == ("de", {"score": 10, "love": "Die API", "uses": ["api", "invoices"]})
    (_, scores), = worker.read("surveys.scores", count=1, timeout_s=30, where=lambda r: r.get("surveyId") == "nps-billing")
    assert scores["locales"] == {"de": {"responses": 1, "score": 100.0}}

    # --- a record written straight to the lifecycle topic is held to its question --------
    other = new_user("straight")
    worker.produce("surveys.lifecycle", {**event(other, display, "answered", "m-bad", "uses", ["fax"]), "userId": other},
                   key=other)
    dead = worker.read("streams.deadletter", count=1, timeout_s=30, where=lambda d: other in d.get("payload", ""))
    assert dead and (dead[0][1]["error"], dead[0][1]["field"]) == ("invalid_field", "value"), dead

    # --- a delay after the trigger: `delayed` with eligibleAt, then a decision record ----
    delayed_user = new_user("delayed")
    identify(worker, delayed_user, "team")
    triggered_at = int(time.time() * 1000)
    status, _ = worker.ingest("track", {"userId": delayed_user, "event": "Report Exported", "messageId": f"t-{delayed_user}",
                                        "timestamp": iso(triggered_at)})
    assert status == 200
    held = worker.wait_for(lambda: (lambda b: b if b.get("reason") == "delayed" else None)(
        eligibility(worker, delayed_user)), timeout_s=30)
    assert held and held["eligibleAt"] == iso(triggered_at + DELAY_SECONDS * 1000), held
    eligible = worker.read("surveys.eligibility", count=1, timeout_s=45,
                           where=lambda d: d.get("userId") == delayed_user and d.get("eligible"))
    assert eligible, worker.read("surveys.eligibility", where=lambda d: d.get("userId") == delayed_user)
    record = eligible[0][1]
    assert record["surveyId"] == "csat-delayed"
    assert parse_iso(record["decidedAt"]) >= triggered_at + DELAY_SECONDS * 1000
    before = [d for _, d in worker.read("surveys.eligibility", where=lambda d: d.get("userId") == delayed_user)]
    assert [d["reason"] for d in before][:2] == ["awaiting_trigger", "delayed"], before

    # --- a cancel_on event during the delay: no survey when it ends ----------------------
    cancelled_user = new_user("cancelled")
    identify(worker, cancelled_user, "team")
    at = int(time.time() * 1000)
    for index, name in enumerate(("Report Exported", "Checkout Started")):
        status, _ = worker.ingest("track", {"userId": cancelled_user, "event": name, "messageId": f"c{index}-{cancelled_user}",
                                            "timestamp": iso(at + index * 1000)})
        assert status == 200
    time.sleep(DELAY_SECONDS + 2)
    body = eligibility(worker, cancelled_user)
    assert (body["eligible"], body["reason"], body["eligibleAt"]) == (False, "delayed", None), body
