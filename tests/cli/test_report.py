from streams.cli import report
from streams.core import scoring


def record(survey_id, survey_type, day, scores):
    acc = scoring.new_accumulator(survey_type)
    for index, value in enumerate(scores):
        acc = scoring.add_response(acc, survey_type, value, f"{day}-{index}")
    return scoring.score_record(survey_id, survey_type, day, acc)


RECORDS = [
    record("nps-main", "nps", "2024-05-01", [10]),
    record("nps-main", "nps", "2024-05-01", [10, 0]),
    record("csat-export", "csat", "2024-05-02", [5, 3]),
    record("nps-main", "nps", "2024-05-02", [9, 9, 7]),
    record("nps-main", "nps", "2024-05-01", [10, 0, 8]),  # the last of 05-01
    record("ces-onboarding", "ces", "2024-04-20", [6, 7]),
    record("pmf", "pmf", "2024-05-02", ["very_disappointed", "not_disappointed"]),
    {"surveyId": "broken"},  # no day: ignored
]


def test_latest_scores_keeps_the_last_record_per_day():
    latest = report.latest_scores(RECORDS)
    assert set(latest) == {"nps-main", "csat-export", "ces-onboarding", "pmf"}
    assert list(latest["nps-main"]) == ["2024-05-01", "2024-05-02"]
    assert latest["nps-main"]["2024-05-01"]["responses"] == 3
    assert latest["nps-main"]["2024-05-02"]["score"] == 66.67


def test_select_days_filters_by_survey_and_window():
    latest = report.latest_scores(RECORDS)
    assert list(report.select_days(latest, "nps-main", 30)) == ["nps-main"]
    # the window ends at the newest day present (05-02), not today
    recent = report.select_days(latest, None, 2)
    assert "ces-onboarding" not in recent
    assert list(recent["nps-main"]) == ["2024-05-01", "2024-05-02"]
    assert list(report.select_days(latest, None, 1)["nps-main"]) == ["2024-05-02"]
    assert report.select_days(latest, "unknown", 30) == {}


def test_format_table_contains_the_rows():
    text = report.format_table(report.latest_scores(RECORDS), {"nps-main": "How likely are you to recommend us?"})
    assert "nps-main (NPS) - How likely are you to recommend us?" in text
    lines = text.splitlines()
    row = next(line for line in lines if line.strip().startswith("2024-05-01"))
    assert row.split()[:3] == ["2024-05-01", "3", "0.00"]
    assert "promoters 1 (33.33%)" in row and "detractors 1 (33.33%)" in row
    assert any("2024-05-02" in line and "66.67" in line for line in lines)
    assert "satisfied 1 (50%)" in text
    assert "very disappointed 1 (50%)" in text
    assert "6.50" in text


def test_format_table_without_scores():
    assert "no scores" in report.format_table({})


def test_draw_chart_writes_a_png(tmp_path):
    path = tmp_path / "scores.png"
    report.draw_chart(report.latest_scores(RECORDS), str(path))
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert path.stat().st_size > 1000


def test_draw_chart_without_scores(tmp_path):
    path = tmp_path / "empty.png"
    report.draw_chart({}, str(path))
    assert path.read_bytes().startswith(b"\x89PNG")
