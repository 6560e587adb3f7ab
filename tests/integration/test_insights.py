"""The insights service on the real broker: a worker's responses and lifecycle events into
DuckDB, the API's daily scores equal to what the worker wrote on `surveys.scores`, and a
reader killed (SIGKILL) in the middle of its ingest resuming from the file: every
response counted once, none lost, and only the records after the file's offsets read again."""
from __future__ import annotations

import time

import duckdb
import orjson
import pytest

from tests.harness import Insights, create_topics, http

pytestmark = pytest.mark.integration

SURVEY = "nps-insights"
CONFIG = {
    "project": {"partitions": 4},
    "surveys": [{
        "id": SURVEY, "type": "nps", "name": "NPS for insights",
        "questions": [{"id": "score", "kind": "scale", "text": "How likely?", "min": 0, "max": 10},
                      {"id": "reason", "kind": "text", "text": "Why?"}],
        "targeting": {"min_days_since_signup": 0},
    }],
}
DAYS = {"2026-11-01": [10, 9, 6, 7, 10], "2026-11-02": [0, 6, 9], "2026-11-03": [9, 8, 10, 10]}


def response(day: str, index: int, score, plan: str = "pro") -> dict:
    return {"responseId": f"r-{day}-{index}", "surveyId": SURVEY, "surveyType": "nps", "surveyName": "NPS for insights",
            "userId": f"u-{day}-{index}", "score": score, "category": None, "answers": {"score": score},
            "comment": f"comment {day} {index}", "completedAt": f"{day}T12:{index // 60 % 60:02d}:{index % 60:02d}.000Z",
            "traits": {"plan": plan, "group.tier": "gold" if index % 2 else "silver"},
            "createdAt": None, "firstSeen": None}


def _complete_one_and_dismiss_one(worker) -> None:
    """Two real displays through the bridge: Viewed/Answered/Completed and Viewed/Dismissed."""
    for user in ("ins-ada", "ins-bob"):
        status, body = worker.ingest("identify", {"userId": user, "messageId": f"{user}-identify",
                                                  "traits": {"plan": "pro", "createdAt": "2020-01-01T00:00:00Z"}})
        assert status == 200, body
    for user, events in (("ins-ada", [("answered", "score", 9), ("answered", "reason", "fast"), ("submitted", None, None)]),
                         ("ins-bob", [("closed", None, None)])):
        display = worker.wait_for(lambda: (lambda r: r[1].get("display") if r[0] == 200 and r[1].get("eligible")
                                           else None)(worker.get(f"/v1/eligibility/{user}")), timeout_s=60)
        assert display, worker.log_tail()
        batch = [{"messageId": f"{user}-shown", "userId": user, "surveyId": SURVEY, "displayId": display["id"],
                  "displayToken": display["token"], "type": "shown"}]
        for index, (kind, question, value) in enumerate(events):
            event = {"messageId": f"{user}-{index}", "userId": user, "surveyId": SURVEY, "displayId": display["id"],
                     "displayToken": display["token"], "type": kind}
            if question:
                event.update(questionId=question, value=value)
            batch.append(event)
        status, body = worker.post("/v1/widget/events", {"batch": batch})
        assert status == 202, body


def _latest_scores(worker, days: set, count: dict) -> dict:
    """The last `surveys.scores` record per day once every day has its count."""
    def latest():
        by_day = {}
        for _, record in worker.read("surveys.scores", count=1, timeout_s=5):
            if record["surveyId"] == SURVEY:
                by_day[record["day"]] = record
        return by_day if all(by_day.get(d, {}).get("responses") == count[d] for d in days) else None

    by_day = worker.wait_for(latest, timeout_s=90)
    assert by_day, worker.log_tail()
    return by_day


def test_api_daily_scores_equal_the_scores_topic_and_the_funnel_counts_real_displays(start_worker, tmp_path):
    worker = start_worker(CONFIG)
    for day, scores in DAYS.items():
        for index, score in enumerate(scores):
            worker.produce("surveys.responses", response(day, index, score), key=SURVEY)
    worker.produce("surveys.responses", response("2026-11-02", 0, 0), key=SURVEY)  # a replay: counted once
    worker.produce("surveys.responses", b"not a response", key=SURVEY)
    _complete_one_and_dismiss_one(worker)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    expected = {day: len(scores) for day, scores in DAYS.items()}
    topic = _latest_scores(worker, set(DAYS), expected)

    insights = Insights(worker, tmp_path / "insights").start()
    try:
        # 12 produced + the one through the bridge; outbound: Viewed, 2 Answered, Completed, Viewed, Dismissed
        total = sum(expected.values()) + 1
        insights.caught_up(total)
        worker.wait_for(lambda: insights.status().get("events") == 6, timeout_s=60)
        status, body = insights.get(f"/v1/insights/surveys/{SURVEY}/scores?from=2026-11-01&to=2026-11-03")
        assert status == 200, body
        assert [p["period"] for p in body["series"]] == sorted(DAYS)
        for point in body["series"]:
            record = topic[point["period"]]
            assert (point["responses"], point["score"]) == (record["responses"], record["score"]), (point, record)
            assert point["counts"]["promoter"] == record["breakdown"]["promoters"]["count"]
            assert point["counts"]["detractor"] == record["breakdown"]["detractors"]["count"]
            assert point["ci95"][0] <= point["score"] <= point["ci95"][1]

        status, funnel = insights.get(f"/v1/insights/surveys/{SURVEY}/funnel")
        assert funnel == {"viewed": 2, "answered": 1, "completed": 1, "dismissed": 1, "responseRate": 0.5}, funnel

        status, surveys = insights.get("/v1/insights/surveys")
        assert [(s["surveyId"], s["type"], s["responses"]) for s in surveys] == [(SURVEY, "nps", total)]

        # the real response: its comment, answers and traits as the worker wrote them
        status, rows = insights.get(f"/v1/insights/surveys/{SURVEY}/responses?from={today}&to={today}")
        assert [(r["userId"], r["score"], r["category"], r["answer.reason"], r["trait.plan"]) for r in rows] == \
            [("ins-ada", 9, "promoter", "fast", "pro")]
        status, text = http("GET", f"{insights.url}/v1/insights/surveys/{SURVEY}/responses?format=csv&q=comment",
                            headers={"Authorization": "Bearer test-admin-key"})
        assert status == 200 and text.splitlines()[0].startswith("userId,completedAt,score,category,comment,locale")
        assert len(text.splitlines()) == 1 + sum(expected.values())

        assert insights.get("/v1/insights/surveys", headers={})[0] == 401
        assert insights.get("/v1/insights/surveys/nope/scores")[0] == 404
        status, body = insights.get(f"/v1/insights/surveys/{SURVEY}/scores?interval=fortnight")
        assert status == 400 and body["field"] == "interval"
    finally:
        insights.stop()


def _stored(db_path) -> tuple[int, int]:
    """(responses, records the offsets account for), read from the file itself."""
    db = duckdb.connect(str(db_path), read_only=True)
    try:
        responses = db.execute("SELECT count(*) FROM responses").fetchone()[0]
        offsets = db.execute("SELECT coalesce(sum(next_offset), 0) FROM offsets").fetchone()[0]
        return responses, offsets
    finally:
        db.close()


def test_a_reader_killed_mid_ingest_resumes_from_the_file_exactly_once(start_worker, tmp_path):
    worker = start_worker(CONFIG, start=False)
    create_topics(worker)
    unique, replays = 4000, 500
    for index in range(unique):
        day = f"2026-10-{1 + index % 28:02d}"
        record = orjson.dumps(response(day, index, index % 11, plan="pro" if index % 3 else "team"))
        worker.producer.send(worker.topic("surveys.responses"), key=SURVEY.encode(), value=record)
        if index < replays:  # a worker's replay after a crash: the same response again
            worker.producer.send(worker.topic("surveys.responses"), key=SURVEY.encode(), value=record)
    worker.producer.flush()
    produced = unique + replays

    # Small polls: the ingest takes long enough to be killed in the middle of it.
    insights = Insights(worker, tmp_path / "insights", env={"STREAMS_INSIGHTS_BATCH": "20"}).start()
    try:
        seen = worker.wait_for(lambda: (lambda n: n if 0 < n < unique // 2 else None)(
            insights.status().get("responses", 0)), timeout_s=60, interval_s=0.05)
        assert seen, insights.status()
        insights.stop(kill=True)  # SIGKILL: no shutdown, maybe in the middle of a transaction
        kept, accounted = _stored(insights.db_path)
        assert 0 < kept < unique and 0 < accounted < produced

        insights.start()
        status = insights.caught_up(unique, timeout_s=120)
        assert status["read"] == produced - accounted, status  # resumed from the file's offsets
        assert _sum_of_daily_responses(insights) == unique
    finally:
        insights.stop()
    # Once more from a cold start: nothing new, nothing counted twice.
    again = insights.start()
    try:
        assert again.caught_up(unique)["read"] == 0
    finally:
        again.stop()
    assert _stored(insights.db_path) == (unique, produced)


def _sum_of_daily_responses(insights) -> int:
    status, body = insights.get(f"/v1/insights/surveys/{SURVEY}/scores?interval=day")
    assert status == 200, body
    return sum(point["responses"] for point in body["series"])


def test_records_of_an_aborted_transaction_are_never_counted(start_worker, tmp_path):
    from kafka import KafkaProducer

    worker = start_worker(CONFIG, start=False)
    create_topics(worker)
    topic = worker.topic("surveys.responses")
    producer = KafkaProducer(bootstrap_servers=worker.bootstrap, transactional_id=f"{worker.name}-tx")
    try:
        producer.init_transactions()
        producer.begin_transaction()
        producer.send(topic, key=SURVEY.encode(), value=orjson.dumps(response("2026-11-05", 0, 10)))
        producer.commit_transaction()
        producer.begin_transaction()
        producer.send(topic, key=SURVEY.encode(), value=orjson.dumps(response("2026-11-05", 1, 0)))
        producer.flush()
        producer.abort_transaction()
        producer.begin_transaction()
        producer.send(topic, key=SURVEY.encode(), value=orjson.dumps(response("2026-11-05", 2, 9)))
        producer.commit_transaction()
    finally:
        producer.close()
    insights = Insights(worker, tmp_path / "insights").start()
    try:
        insights.caught_up(2)
        status, body = insights.get(f"/v1/insights/surveys/{SURVEY}/scores")
        assert [(p["responses"], p["score"], p["counts"]["detractor"]) for p in body["series"]] == [(2, 100.0, 0)]
    finally:
        insights.stop()
