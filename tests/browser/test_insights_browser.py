"""The insights page in headless Chromium against a real insights service and broker: the
admin key asked once, the numbers shown equal the API's, the page follows new responses,
a refused key asks again. The screenshot is kept as docs/insights.png."""
from __future__ import annotations

import random

import orjson
import pytest

from tests.harness import REPO, Insights, create_topics

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SURVEY = "nps-page"
CONFIG = {
    "project": {"partitions": 2},
    "surveys": [{
        "id": SURVEY, "type": "nps", "name": "How likely are you to recommend us?",
        "questions": [{"id": "score", "kind": "scale", "text": "How likely?", "min": 0, "max": 10},
                      {"id": "reason", "kind": "text", "text": "What is the main reason for your score?"}],
        "targeting": {"min_days_since_signup": 0},
    }],
}
COMMENTS = ["Exports are fast", "Dashboards load slowly", "Love the API", "Pricing is confusing", None,
            "Support answered in minutes", "Missing SSO", None]


def _response(index: int, day: int, score: int) -> dict:
    return {"responseId": f"page-{index}", "surveyId": SURVEY, "surveyType": "nps",
            "surveyName": "How likely are you to recommend us?", "userId": f"user-{index:04d}", "score": score,
            "category": None, "answers": {"score": score, "reason": COMMENTS[index % len(COMMENTS)]},
            "comment": COMMENTS[index % len(COMMENTS)], "completedAt": f"2026-11-{day:02d}T{8 + index % 10:02d}:00:00.000Z",
            "traits": {"plan": ["pro", "team", "free"][index % 3], "group.size": ["small", "large"][index % 2]},
            "createdAt": None, "firstSeen": None}


def _outbound(index: int, event: str, day: int) -> dict:
    return {"type": "track", "userId": f"user-{index:04d}", "messageId": f"m-{event}-{index}", "event": event,
            "timestamp": f"2026-11-{day:02d}T08:00:00.000Z",
            "properties": {"survey_id": SURVEY, "survey_name": "NPS", "survey_type": "nps", "display_id": f"d-{index}"}}


def _produce(worker, start: int, count: int) -> None:
    for index in range(start, start + count):
        day = 1 + index % 28
        # a trend that means something: more promoters as the month goes on, with noise
        draw = random.Random(index).random()
        promoters, detractors = 0.3 + day / 100, 0.35 - day / 120
        score = 9 + index % 2 if draw < promoters else (index % 7 if draw < promoters + detractors else 7 + index % 2)
        worker.producer.send(worker.topic("surveys.responses"), key=SURVEY.encode(),
                             value=orjson.dumps(_response(index, day, score)))
        for event in ("Survey Viewed",) + (("Survey Answered", "Survey Completed") if index % 4 else ("Survey Dismissed",)):
            worker.producer.send(worker.topic("segment.outbound"), key=f"user-{index:04d}".encode(),
                                 value=orjson.dumps(_outbound(index, event, day)))
    worker.producer.flush()


def test_insights_page_shows_what_the_api_says(start_worker, browser, tmp_path):
    worker = start_worker(CONFIG, start=False)
    create_topics(worker)
    _produce(worker, 0, 400)
    insights = Insights(worker, tmp_path / "insights").start()
    try:
        insights.caught_up(400)
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{insights.url}/insights/")
        page.locator("#login").wait_for(state="visible")
        page.fill("#key", "wrong-key")
        page.click("#login button[type=submit]")
        page.locator("#login-error").filter(has_text="refused").wait_for(timeout=10_000)

        page.fill("#key", "test-admin-key")
        page.click("#login button[type=submit]")
        page.locator("#app").wait_for(state="visible")
        page.wait_for_function("() => document.getElementById('n').textContent === '400'", timeout=15_000)
        assert page.evaluate("() => sessionStorage.getItem('survey-streams.insights.key')") == "test-admin-key"

        status, total = insights.get(f"/v1/insights/surveys/{SURVEY}/scores?interval=all")
        point = total["series"][0]
        assert page.text_content("#score") == f"{point['score']:g}"
        assert page.text_content("#n") == str(point["responses"])
        status, funnel = insights.get(f"/v1/insights/surveys/{SURVEY}/funnel")
        assert funnel["viewed"] == 400 and funnel["completed"] == 300
        assert page.text_content("[data-testid=funnel-viewed]") == str(funnel["viewed"])
        assert page.text_content("[data-testid=funnel-completed]") == str(funnel["completed"])
        assert page.text_content("[data-testid=response-rate]") == "75%"
        status, daily = insights.get(f"/v1/insights/surveys/{SURVEY}/scores?interval=day")
        assert page.get_attribute("#trend", "data-points") == str(len(daily["series"]))
        assert page.locator("#trend canvas").count() >= 1
        assert page.locator("#responses tbody tr").count() == 20

        # breakdown by a trait of the snapshot
        page.select_option("#by", "plan")
        page.wait_for_function("() => document.querySelectorAll('#breakdown tbody tr').length === 3", timeout=10_000)
        status, by_plan = insights.get(f"/v1/insights/surveys/{SURVEY}/scores?interval=all&by=plan")
        shown = {row[0]: int(row[1]) for row in page.eval_on_selector_all(
            "#breakdown tbody tr", "rows => rows.map(r => [r.cells[0].textContent, r.cells[1].textContent])")}
        assert shown == {p["group"]: p["responses"] for p in by_plan["series"]}

        # search, then the page follows new responses as they arrive
        page.fill("#q", "sso")
        page.wait_for_function("() => [...document.querySelectorAll('#responses tbody tr')].every("
                               "r => r.cells[4].textContent.includes('SSO'))", timeout=10_000)
        page.fill("#q", "")
        page.wait_for_function("() => [...document.querySelectorAll('#responses tbody tr')].some("
                               "r => !r.cells[4].textContent.includes('SSO'))", timeout=10_000)
        page.screenshot(path=str(REPO / "docs" / "insights.png"), full_page=True)
        _produce(worker, 400, 40)
        page.wait_for_function("() => document.getElementById('n').textContent === '440'", timeout=30_000)

        # CSV download with the key
        with page.expect_download() as download:
            page.click("#csv")
        path = download.value.path()
        lines = open(path, encoding="utf-8").read().splitlines()
        assert lines[0].startswith("userId,completedAt,score,category,comment,locale,answer.score,answer.reason")
        assert len(lines) == 441
        assert not errors, errors
        page.close()
    finally:
        insights.stop()
