"""Scores per survey per day on the real broker, and the report over them."""
import subprocess
import sys

import pytest

from tests.harness import REPO

pytestmark = pytest.mark.integration

CONFIG = {
    "project": {"partitions": 4},
    "surveys": [
        {"id": "nps-days", "type": "nps", "name": "NPS over days",
         "targeting": {"min_days_since_signup": 0}},
    ],
}

# day -> NPS scores; expected NPS: day 1: 2 promoters, 1 detractor of 4 -> 25.0;
# day 2: all detractors -> -100.0; day 3: 9, 8 -> 50.0
DAYS = {
    "2026-11-01": [10, 9, 6, 7],
    "2026-11-02": [0, 6],
    "2026-11-03": [9, 8],
}
EXPECTED = {"2026-11-01": (4, 25.0), "2026-11-02": (2, -100.0), "2026-11-03": (2, 50.0)}


def response(day: str, index: int, score: int) -> dict:
    return {"responseId": f"r-{day}-{index}", "surveyId": "nps-days", "surveyType": "nps",
            "surveyName": "NPS over days", "userId": f"u{index}", "score": score,
            "category": None, "answers": {"score": score}, "comment": None,
            "completedAt": f"{day}T12:00:{index:02d}.000Z", "traits": {}, "createdAt": None, "firstSeen": None}


def test_responses_over_three_days_give_three_day_scores_and_a_report(start_worker, tmp_path):
    worker = start_worker(CONFIG)
    # The late one: a day-1 response produced after the day-3 ones still lands in day 1.
    late = ("2026-11-01", 3, 7)
    for day, scores in DAYS.items():
        for index, score in enumerate(scores):
            if (day, index, score) != late:
                worker.produce("surveys.responses", response(day, index, score), key="nps-days")
    worker.produce("surveys.responses", response(*late), key="nps-days")
    worker.produce("surveys.responses", response("2026-11-02", 0, 0), key="nps-days")  # a replay: not counted twice

    def latest():
        records = worker.read("surveys.scores", count=8, timeout_s=5)
        by_day = {}
        for _, record in records:
            by_day[record["day"]] = record
        return by_day if all(by_day.get(d, {}).get("responses") == n for d, (n, _) in EXPECTED.items()) else None

    by_day = worker.wait_for(latest, timeout_s=60)
    assert by_day, worker.log_tail()
    assert set(by_day) == set(EXPECTED)
    for day, (count, score) in EXPECTED.items():
        assert by_day[day]["surveyId"] == "nps-days" and by_day[day]["surveyType"] == "nps"
        assert by_day[day]["responses"] == count
        assert by_day[day]["score"] == score
    assert by_day["2026-11-02"]["breakdown"]["detractors"]["count"] == 2

    png = tmp_path / "scores.png"
    result = subprocess.run(
        [sys.executable, "-m", "streams", "report", "--survey", "nps-days", "--days", "7", "--png", str(png)],
        cwd=REPO, env=worker.env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for day, (count, score) in EXPECTED.items():
        line = next(line for line in result.stdout.splitlines() if line.strip().startswith(day))
        assert f"{score:.2f}" in line and f" {count} " in f" {line} "
    assert png.exists() and png.stat().st_size > 1000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
