"""The insights API over a store (aiohttp in-process): admin key, errors, JSON and CSV."""
import csv
import io

import pytest
from aiohttp.test_utils import TestClient, TestServer

from streams.core.config import parse_config
from streams.insights import queries
from streams.insights.api import Insights, csv_cell
from tests.insights.support import response, store_with, track

KEY = "insights-admin-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
CONFIG = parse_config({"surveys": [{
    "id": "nps-main", "type": "nps", "name": "NPS",
    "questions": [{"id": "score", "kind": "scale", "text": "How likely?", "min": 0, "max": 10},
                  {"id": "reason", "kind": "text", "text": "Why?"}]}]})
ROWS = [response(f"r{i}", i % 11, day=f"2026-11-{1 + i % 3:02d}", time=f"10:{i // 60:02d}:{i % 60:02d}",
                 comment=f"comment {i}" if i % 2 else "=HYPERLINK(\"http://x\")",
                 answers={"score": i % 11, "reason": f"comment {i}"}, traits={"plan": "pro" if i % 3 else "team"})
        for i in range(25)]


@pytest.fixture
async def client():
    store = store_with(ROWS, [track("v1", "Survey Viewed", "d1"), track("c1", "Survey Completed", "d1")])
    store.seed_surveys(CONFIG.surveys)
    client = TestClient(TestServer(Insights(store, KEY, CONFIG).app()))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        store.close()


PATHS = ["/v1/insights/surveys", "/v1/insights/surveys/nps-main/scores", "/v1/insights/surveys/nps-main/responses",
         "/v1/insights/surveys/nps-main/funnel", "/v1/insights/status", "/v1/insights/surveys/nope/scores"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY},
                                     {"Authorization": "Basic " + KEY}])
async def test_every_call_needs_the_admin_key(client, path, headers):
    answer = await client.get(path, headers=headers)
    assert answer.status == 401
    body = await answer.json()
    assert body["error"] == body["code"] == "unauthorized"


async def test_no_admin_key_set_refuses_all():
    server = TestClient(TestServer(Insights(store_with(ROWS), "", CONFIG).app()))
    await server.start_server()
    try:
        assert (await server.get("/v1/insights/surveys", headers={"Authorization": "Bearer "})).status == 401
    finally:
        await server.close()


async def test_unknown_survey_is_404(client):
    for tail in ("scores", "responses", "funnel"):
        answer = await client.get(f"/v1/insights/surveys/nope/{tail}", headers=AUTH)
        assert answer.status == 404
        body = await answer.json()
        assert body["code"] == "not_found" and body["field"] == "id"


@pytest.mark.parametrize("path, field", [
    ("/v1/insights/surveys/nps-main/scores?from=2026-11-31", "from"),
    ("/v1/insights/surveys/nps-main/scores?to=11/02/2026", "to"),
    ("/v1/insights/surveys/nps-main/scores?interval=year", "interval"),
    ("/v1/insights/surveys/nps-main/scores?by=plan%22)%20OR%201=1", "by"),
    ("/v1/insights/surveys/nps-main/funnel?from=2026-11-03&to=2026-11-01", "from"),
    ("/v1/insights/surveys/nps-main/responses?format=xlsx", "format"),
    ("/v1/insights/surveys/nps-main/responses?limit=0", "limit"),
])
async def test_bad_parameters_are_400_naming_them(client, path, field):
    answer = await client.get(path, headers=AUTH)
    assert answer.status == 400
    body = await answer.json()
    assert body["field"] == field and field in body["message"] and body["code"] == "invalid_parameter"


async def test_surveys_scores_and_funnel(client):
    surveys = await (await client.get("/v1/insights/surveys", headers=AUTH)).json()
    assert [(s["surveyId"], s["type"], s["responses"]) for s in surveys] == [("nps-main", "nps", 25)]
    scores = await (await client.get("/v1/insights/surveys/nps-main/scores?by=plan&interval=day",
                                     headers=AUTH)).json()
    assert scores["by"] == "plan" and {s["group"] for s in scores["series"]} == {"pro", "team"}
    assert sum(s["responses"] for s in scores["series"]) == 25
    point = scores["series"][0]
    assert set(point) == {"period", "group", "responses", "score", "ci95", "counts"}
    funnel = await (await client.get("/v1/insights/surveys/nps-main/funnel", headers=AUTH)).json()
    assert funnel == {"viewed": 1, "answered": 0, "completed": 1, "dismissed": 0, "responseRate": 1.0}


async def test_responses_json_pages(client, monkeypatch):
    monkeypatch.setattr(queries, "FETCH_ROWS", 4)  # several chunks on the wire
    everything = await client.get("/v1/insights/surveys/nps-main/responses", headers=AUTH)
    rows = await everything.json()
    assert len(rows) == 25 and everything.headers["X-Total-Count"] == "25" and "Link" not in everything.headers
    assert rows[0]["completedAt"] >= rows[-1]["completedAt"]
    assert list(rows[0])[:6] == ["userId", "completedAt", "score", "category", "comment", "locale"]
    page = await client.get("/v1/insights/surveys/nps-main/responses?limit=10&offset=10", headers=AUTH)
    assert [r["userId"] for r in await page.json()] == [r["userId"] for r in rows[10:20]]
    assert 'offset=20' in page.headers["Link"] and 'rel="next"' in page.headers["Link"]
    found = await (await client.get("/v1/insights/surveys/nps-main/responses?q=COMMENT%201", headers=AUTH)).json()
    assert {r["comment"] for r in found} == {"comment 1", "comment 11", "comment 13", "comment 15", "comment 17",
                                             "comment 19"}


async def test_responses_csv_streams_with_a_header(client, monkeypatch):
    monkeypatch.setattr(queries, "FETCH_ROWS", 3)
    answer = await client.get("/v1/insights/surveys/nps-main/responses?format=csv&order=asc", headers=AUTH)
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in answer.headers["Content-Disposition"]
    assert answer.headers.get("Transfer-Encoding") == "chunked"  # streamed, no length known up front
    table = list(csv.reader(io.StringIO(await answer.text())))
    assert table[0] == ["userId", "completedAt", "score", "category", "comment", "locale",
                        "answer.score", "answer.reason", "trait.plan"]
    assert len(table) == 26
    assert table[1][:5] == ["u-r0", "2026-11-01T10:00:00.000Z", "0", "detractor", "'=HYPERLINK(\"http://x\")"]
    assert table[2][0] == "u-r3" and table[2][4] == "comment 3" and table[2][8] == "team"  # day 1 first


@pytest.mark.parametrize("value, cell", [
    (None, ""), (9, "9"), (-3, "-3"), (2.5, "2.5"), (True, "true"), ("plain", "plain"), ("-12.5", "-12.5"),
    ("=1+1", "'=1+1"), ("+cmd", "'+cmd"), ("-x", "'-x"), ("@SUM(A1)", "'@SUM(A1)"), (["a", "b"], '["a","b"]'),
])
def test_csv_cells(value, cell):
    assert csv_cell(value) == cell


async def test_the_page_and_health_need_no_key(client):
    page = await client.get("/insights/")
    assert page.status == 200 and "text/html" in page.headers["Content-Type"]
    assert (await client.get("/insights", allow_redirects=False)).status == 302
    assert (await client.get("/health")).status == 200
    assert (await client.get("/insights/../store.py")).status == 404
