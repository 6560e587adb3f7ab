"""The insights API's SQL over the store, parameters only, and the score math of
`surveys.scores` on top (streams.core.scoring: one module for both).

SQL counts responses per (period, group, score value); the score, its 95% interval and the
category counts are computed from those counts by scoring, exactly as the worker's scores
agent computes a day's score from its accumulator. Every statement here is a constant:
what varies is bound (`$name`), the sort direction picks one of two constants.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import orjson

from streams.core import scoring
from streams.core.timeutil import iso
from streams.insights.params import Period, ResponsesQuery, ScoresQuery

# The filter every per-survey query shares: survey, type (a survey whose type changed in the
# config counts only the responses of its current type, whose values the math knows), days.
_WHERE = """survey_id = $survey AND survey_type = $type
    AND ($start::DATE IS NULL OR day >= $start) AND ($end::DATE IS NULL OR day <= $end)"""

_SURVEYS = """
    SELECT s.survey_id, s.survey_type, s.name, r.score_key, count(r.response_id)
    FROM surveys s LEFT JOIN responses r
        ON r.survey_id = s.survey_id AND r.survey_type = s.survey_type AND r.score_key IS NOT NULL
    GROUP BY ALL ORDER BY s.survey_id"""
_SURVEY = "SELECT survey_type, name FROM surveys WHERE survey_id = $survey"
_SCORES = f"""
    SELECT CAST(date_trunc($interval, day) AS DATE) AS period, NULL AS grp, score_key, count(*)
    FROM responses WHERE {_WHERE} AND score_key IS NOT NULL
    GROUP BY ALL ORDER BY period"""
_SCORES_BY = f"""
    SELECT CAST(date_trunc($interval, day) AS DATE) AS period, json_extract(traits, $path) AS grp, score_key, count(*)
    FROM responses WHERE {_WHERE} AND score_key IS NOT NULL
    GROUP BY ALL ORDER BY period"""
# interval=all: one period, dated from its first day.
_SCORES_ALL = f"""
    SELECT min(min(day)) OVER () AS period, NULL AS grp, score_key, count(*)
    FROM responses WHERE {_WHERE} AND score_key IS NOT NULL
    GROUP BY score_key"""
_SCORES_ALL_BY = f"""
    SELECT min(min(day)) OVER () AS period, json_extract(traits, $path) AS grp, score_key, count(*)
    FROM responses WHERE {_WHERE} AND score_key IS NOT NULL
    GROUP BY grp, score_key"""
_FUNNEL = f"""
    SELECT kind, count(DISTINCT coalesce(display_id, message_id))
    FROM events WHERE survey_id = $survey
        AND ($start::DATE IS NULL OR day >= $start) AND ($end::DATE IS NULL OR day <= $end)
    GROUP BY kind"""
_RESPONSE_FILTER = f"{_WHERE} AND ($q::VARCHAR IS NULL OR contains(lower(comment), lower($q)))"
_COUNT = f"SELECT count(*) FROM responses WHERE {_RESPONSE_FILTER}"
_KEYS = {
    "answers": f"SELECT DISTINCT unnest(json_keys(answers)) FROM responses WHERE {_RESPONSE_FILTER}",
    "traits": f"SELECT DISTINCT unnest(json_keys(traits)) FROM responses WHERE {_RESPONSE_FILTER}",
}
_ROWS = {
    order: f"""SELECT user_id, epoch_ms(completed_at), score, category, comment, locale, answers, traits
        FROM responses WHERE {_RESPONSE_FILTER}
        ORDER BY completed_at {order.upper()}, response_id {order.upper()}
        LIMIT $limit OFFSET $offset"""
    for order in ("asc", "desc")
}
FIXED_COLUMNS = ("userId", "completedAt", "score", "category", "comment", "locale")
FETCH_ROWS = 1000


@dataclass(frozen=True)
class Survey:
    id: str
    type: str
    name: str | None


def survey(cursor, survey_id: str) -> Survey | None:
    row = cursor.execute(_SURVEY, {"survey": survey_id}).fetchone()
    return Survey(survey_id, row[0], row[1]) if row else None


def _score_fields(counts: dict, survey_type: str) -> dict:
    acc = {"counts": counts}
    value, _ = scoring.score(acc, survey_type)
    return {"responses": sum(counts.values()), "score": value, "ci95": scoring.interval(acc, survey_type),
            "counts": scoring.category_counts(counts, survey_type)}


def surveys(cursor) -> list[dict]:
    """Every survey known (seen in a record, or named by the config), all time."""
    found: dict = {}
    for survey_id, survey_type, name, key, n in cursor.execute(_SURVEYS).fetchall():
        entry = found.setdefault(survey_id, {"surveyId": survey_id, "type": survey_type, "name": name, "counts": {}})
        if key is not None:
            entry["counts"][key] = n
    result = []
    for entry in found.values():
        fields = _score_fields(entry.pop("counts"), entry["type"])
        result.append({**entry, "responses": fields["responses"], "score": fields["score"], "ci95": fields["ci95"]})
    return result


def _period_params(survey: Survey, period: Period) -> dict:
    return {"survey": survey.id, "type": survey.type, "start": period.start, "end": period.end}


def _group_value(text: str | None):
    return orjson.loads(text) if text is not None else None


def scores(cursor, survey: Survey, query: ScoresQuery) -> dict:
    params = _period_params(survey, query.period)
    if query.interval == "all":
        statement = _SCORES_ALL_BY if query.by else _SCORES_ALL
    else:
        statement = _SCORES_BY if query.by else _SCORES
        params["interval"] = query.interval
    if query.by:
        params["path"] = query.path
    rows = cursor.execute(statement, params).fetchall()
    buckets: dict = {}
    for period_start, group, key, n in rows:
        buckets.setdefault((period_start, group), {})[key] = n
    series = []
    for (period_start, group), counts in sorted(buckets.items(), key=lambda item: (item[0][0], item[0][1] is not None,
                                                                                   item[0][1] or "")):
        series.append({"period": period_start.isoformat(), "group": _group_value(group),
                       **_score_fields(counts, survey.type)})
    return {"surveyId": survey.id, "interval": query.interval, "by": query.by, "series": series}


def funnel(cursor, survey: Survey, period: Period) -> dict:
    counted = dict(cursor.execute(_FUNNEL, {"survey": survey.id, "start": period.start, "end": period.end}).fetchall())
    viewed, completed = counted.get("viewed", 0), counted.get("completed", 0)
    return {"viewed": viewed, "answered": counted.get("answered", 0), "completed": completed,
            "dismissed": counted.get("dismissed", 0),
            "responseRate": round(completed / viewed, 4) if viewed else None}


@dataclass(frozen=True)
class Columns:
    questions: tuple[str, ...]
    traits: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [*FIXED_COLUMNS, *(f"answer.{q}" for q in self.questions), *(f"trait.{t}" for t in self.traits)]


def _response_params(survey: Survey, query: ResponsesQuery) -> dict:
    return {**_period_params(survey, query.period), "q": query.search}


def response_columns(cursor, survey: Survey, query: ResponsesQuery, question_order: tuple = ()) -> Columns:
    """One column per question (the config's order, then any other answered, by name) and
    per trait (by name) of the responses the query selects."""
    params = _response_params(survey, query)
    answered = {row[0] for row in cursor.execute(_KEYS["answers"], params).fetchall()}
    traits = sorted(row[0] for row in cursor.execute(_KEYS["traits"], params).fetchall())
    questions = [q for q in question_order if q in answered] + sorted(answered - set(question_order))
    return Columns(tuple(questions), tuple(traits))


def response_count(cursor, survey: Survey, query: ResponsesQuery) -> int:
    return cursor.execute(_COUNT, _response_params(survey, query)).fetchone()[0]


def response_rows(cursor, survey: Survey, query: ResponsesQuery, columns: Columns) -> Iterator[list[dict]]:
    """The selected responses, FETCH_ROWS at a time (never all of them in memory), as
    {column: value} in `columns`' names."""
    params = {**_response_params(survey, query), "limit": query.limit, "offset": query.offset}
    cursor.execute(_ROWS[query.order], params)
    while chunk := cursor.fetchmany(FETCH_ROWS):
        rows = []
        for user_id, completed_ms, score, category, comment, locale, answers, traits in chunk:
            answers, traits = orjson.loads(answers or "{}"), orjson.loads(traits or "{}")
            row = {"userId": user_id, "completedAt": iso(completed_ms),
                   "score": orjson.loads(score) if score is not None else None,
                   "category": category, "comment": comment, "locale": locale}
            row.update((f"answer.{q}", answers.get(q)) for q in columns.questions)
            row.update((f"trait.{t}", traits.get(t)) for t in columns.traits)
            rows.append(row)
        yield rows
