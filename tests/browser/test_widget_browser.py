"""The reference widget in headless Chromium against a real worker and broker.

A user identified through the ingestion API opens the bridge's example page, sees the NPS
survey, scores 9, writes a comment and submits: Survey Completed on segment.outbound and
the response on surveys.responses. A second user closes the card without answering:
Survey Dismissed. A third runs examples/index.html from file:// (cross-origin: CORS
preflights) and presses Escape. Widget key and secure mode are on, so the widget's header
and userHash are exercised too; a second test drives the card by keyboard alone in open
mode. Screenshots go to test-output/widget-*.png.
"""
from __future__ import annotations

import urllib.request
from urllib.parse import urlencode

import pytest

from streams.schemas.widget import user_hash
from tests.harness import REPO

pytestmark = [pytest.mark.browser, pytest.mark.integration]

WIDGET_KEY = "test-widget-key"
SECRET = "test-secure-secret"
SURVEY = "nps-browser"
CONFIG = {
    "project": {"recontact_days": 7, "display_timeout_minutes": 30, "partitions": 2},
    "surveys": [{
        "id": SURVEY,
        "type": "nps",
        "name": "How likely are you to recommend us?",
        "questions": [
            {"id": "score", "kind": "scale", "text": "How likely are you to recommend us to a friend?",
             "min": 0, "max": 10},
            {"id": "reason", "kind": "text", "text": "What is the main reason for your score?"},
        ],
        "targeting": {"min_days_since_signup": 0},
    }],
}


def _identify(worker, user_id: str) -> None:
    status, body = worker.ingest("identify", {
        "userId": user_id, "messageId": f"{user_id}-identify",
        "traits": {"name": "Ada Browser", "email": f"{user_id}@example.com", "plan": "pro",
                   "createdAt": "2024-01-01T00:00:00Z"},
    })
    assert status == 200, body
    headers = {"X-Widget-Key": WIDGET_KEY}
    path = f"/v1/eligibility/{user_id}?userHash={user_hash(SECRET, user_id)}"
    decision = worker.wait_for(lambda: (lambda r: r[1] if r[0] == 200 and r[1].get("eligible") else None)(
        worker.get(path, headers)), timeout_s=60)
    assert decision and decision["survey"]["id"] == SURVEY, (decision, worker.log_tail())


def _open(browser, worker, user_id: str):
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    query = urlencode({"userId": user_id, "widgetKey": WIDGET_KEY, "userHash": user_hash(SECRET, user_id),
                       "pollSeconds": 2})
    page.goto(f"{worker.url}/example?{query}")
    card = page.get_by_role("dialog")
    card.wait_for(state="visible", timeout=30_000)
    return page, card, errors


def _tracks(worker, user_id: str, event: str, count: int = 1):
    return worker.read("segment.outbound", count=count, timeout_s=60,
                       where=lambda m: m.get("userId") == user_id and m.get("event") == event)


def test_widget_submit_and_dismiss_in_chromium(start_worker, browser, output_dir):
    worker = start_worker(CONFIG, env={"STREAMS_WIDGET_KEY": WIDGET_KEY, "STREAMS_SECURE_SECRET": SECRET})
    with urllib.request.urlopen(f"{worker.url}/widget.js") as script:
        assert script.headers["Content-Type"].startswith("application/javascript")
        assert script.headers["Access-Control-Allow-Origin"] == "*"
        assert "max-age" in script.headers["Cache-Control"]
        assert b"SurveyStreams" in script.read()

    # 1. Answer and submit.
    _identify(worker, "browser-ada")
    page, card, errors = _open(browser, worker, "browser-ada")
    assert card.get_attribute("data-survey-id") == SURVEY
    assert card.get_attribute("data-testid") == "ssw-card"
    # Focus moved into the card; the 0-10 scale comes from the question's min/max.
    assert page.evaluate("() => !!document.activeElement.closest('#ssw-card')")
    options = card.locator('[data-testid="ssw-question-score"] .ssw-option')
    assert options.all_inner_texts() == [str(n) for n in range(11)]
    submit = card.get_by_test_id("ssw-submit")
    assert submit.is_disabled()
    card.get_by_role("button", name="9 of 10").click()
    assert card.locator('[data-value="9"]').get_attribute("aria-pressed") == "true"
    card.get_by_test_id("ssw-text-reason").fill("Fast and reliable")
    page.screenshot(path=str(output_dir / "widget-nps.png"))
    assert submit.is_enabled()
    submit.click()
    page.get_by_test_id("ssw-thanks").wait_for(state="visible")
    page.screenshot(path=str(output_dir / "widget-thanks.png"))
    page.get_by_test_id("ssw-card").wait_for(state="detached", timeout=10_000)
    assert page.locator('#log [data-event="complete"]').count() == 1
    assert not errors, errors

    completed = _tracks(worker, "browser-ada", "Survey Completed")
    assert completed, worker.log_tail()
    props = completed[0][1]["properties"]
    assert props["survey_id"] == SURVEY and props["score"] == 9 and props["comment"] == "Fast and reliable"
    display_id = props["display_id"]
    assert _tracks(worker, "browser-ada", "Survey Viewed")[0][1]["properties"]["display_id"] == display_id
    answered = _tracks(worker, "browser-ada", "Survey Answered", count=2)
    assert sorted(m["properties"]["question_id"] for _, m in answered) == ["reason", "score"]
    responses = worker.read("surveys.responses", count=1, timeout_s=60,
                            where=lambda r: r.get("userId") == "browser-ada")
    assert responses, worker.log_tail()
    key, response = responses[0]
    assert key == SURVEY
    assert response["score"] == 9 and response["comment"] == "Fast and reliable"
    assert response["answers"] == {"score": 9, "reason": "Fast and reliable"}
    assert response["traits"]["plan"] == "pro"
    page.close()

    # 2. Close without answering.
    _identify(worker, "browser-bob")
    page, card, errors = _open(browser, worker, "browser-bob")
    page.screenshot(path=str(output_dir / "widget-before-close.png"))
    card.get_by_role("button", name="Close survey").click()
    page.get_by_test_id("ssw-card").wait_for(state="detached", timeout=10_000)
    assert page.locator('#log [data-event="dismiss"]').count() == 1
    assert not errors, errors
    dismissed = _tracks(worker, "browser-bob", "Survey Dismissed")
    assert dismissed, worker.log_tail()
    assert dismissed[0][1]["properties"]["survey_id"] == SURVEY
    assert not worker.read("segment.outbound", timeout_s=3,
                           where=lambda m: m.get("userId") == "browser-bob" and m.get("event") == "Survey Completed")
    page.close()

    # 3. Embedded on another origin (examples/index.html from file://): CORS preflights
    #    for X-Widget-Key and JSON posts; Escape closes the card.
    _identify(worker, "browser-cat")
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    query = urlencode({"host": worker.url, "userId": "browser-cat", "widgetKey": WIDGET_KEY,
                       "userHash": user_hash(SECRET, "browser-cat"), "pollSeconds": 2})
    page.goto(f"{(REPO / 'examples' / 'index.html').as_uri()}?{query}")
    page.get_by_role("dialog").wait_for(state="visible", timeout=30_000)
    page.keyboard.press("Escape")
    page.get_by_test_id("ssw-card").wait_for(state="detached", timeout=10_000)
    assert page.locator('#log [data-event="dismiss"]').count() == 1
    assert page.locator('#log [data-event="error"]').count() == 0
    assert _tracks(worker, "browser-cat", "Survey Dismissed"), worker.log_tail()
    page.close()


def test_widget_escape_closes_from_keyboard(start_worker, browser):
    worker = start_worker(CONFIG)  # open mode: no widget key, no secure mode
    user = "browser-cy"
    status, _ = worker.ingest("identify", {"userId": user, "messageId": "cy-1", "traits": {"plan": "pro"}})
    assert status == 200
    assert worker.wait_for(lambda: worker.get(f"/v1/eligibility/{user}")[1].get("eligible"), timeout_s=60)
    page = browser.new_page()
    page.goto(f"{worker.url}/example?userId={user}&pollSeconds=2")
    page.get_by_role("dialog").wait_for(state="visible", timeout=30_000)
    # Keyboard only: arrows move along the scale, Enter answers, Escape closes (-> Completed).
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.dataset.value") == "2"
    page.keyboard.press("Escape")
    page.get_by_test_id("ssw-card").wait_for(state="detached", timeout=10_000)
    completed = _tracks(worker, user, "Survey Completed")
    assert completed and completed[0][1]["properties"]["score"] == 2, worker.log_tail()
    page.close()
