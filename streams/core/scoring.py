"""Scores per survey per day (docs/reference.md#scores): pure functions over a plain-JSON accumulator.

The accumulator lives in a Faust table and its changelog, so it is a JSON dict:

    {
      "counts": {value: int},   # every possible value of the survey type, in scale order
      "responses": int,         # responses counted (the sum of counts)
      "responseIds": [str],     # the last RESPONSE_IDS_MAX ids counted, oldest first
      "locales": {locale: {value: int}},  # the counts per response locale (at most LOCALES_MAX)
    }

Values are strings because JSON keys are: "0".."10" (NPS), "1".."5" (CSAT), "1".."7"
(CES), or a PMF category (PMF_CATEGORIES).

Only completed responses are passed in: a dismissal is not a response, so it never
reaches the accumulator and never counts (NPS "dismissals excluded"). A response whose
score question was not answered (closed after answering only the comment) carries no
score and is not counted either.

Idempotence: a response replayed after a crash or a rebalance carries the same
responseId and is not counted twice. The ids kept are bounded to RESPONSE_IDS_MAX per
accumulator (one survey, one day) because the whole value is rewritten to the changelog
on every response: 5000 ids of ~40 bytes keep it near 200 KB, under Kafka's 1 MB default
message size. Replays only reach back to the last committed offset, far fewer records.
"""
from __future__ import annotations

from typing import Any

from streams.core import locales
from streams.core.config import CATEGORIES, PMF_CHOICES

RESPONSE_IDS_MAX = 5000
LOCALES_MAX = 50  # a survey has at most that many (streams.core.configquestions.MAX_LOCALES)
PMF_CATEGORIES = CATEGORIES["pmf"]
# The choice text the default PMF question shows, mapped to its category.
_PMF_BY_TEXT = {" ".join(text.lower().split()): category for text, category in zip(PMF_CHOICES, PMF_CATEGORIES)}

_SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
NPS_PROMOTER_MIN = 9
NPS_DETRACTOR_MAX = 6
CSAT_SATISFIED_MIN = 4


def score_values(survey_type: str) -> tuple[str, ...]:
    """Every value a response of this type may carry, as accumulator keys, in scale order."""
    if survey_type == "pmf":
        return PMF_CATEGORIES
    if survey_type not in _SCALES:
        raise ValueError(f"unknown survey type {survey_type!r}")
    low, high = _SCALES[survey_type]
    return tuple(str(value) for value in range(low, high + 1))


def normalize_score(survey_type: str, score: Any) -> str | None:
    """The accumulator key for a response's score, or None if it is not a valid score.

    Scales accept integers, integral floats (9.0) and numeric strings ("9"), since widget
    values may arrive as text; PMF accepts a category or the choice text, any case.
    """
    if survey_type == "pmf":
        if not isinstance(score, str):
            return None
        text = " ".join(score.strip().lower().split())
        if text in PMF_CATEGORIES:
            return text
        return _PMF_BY_TEXT.get(text)
    if isinstance(score, bool):
        return None
    if isinstance(score, str):
        try:
            score = float(score.strip())
        except ValueError:
            return None
    if isinstance(score, float):
        if not score.is_integer():
            return None
        score = int(score)
    if not isinstance(score, int):
        return None
    low, high = _SCALES[survey_type]
    return str(score) if low <= score <= high else None


def new_accumulator(survey_type: str) -> dict:
    return {"counts": {value: 0 for value in score_values(survey_type)}, "responses": 0, "responseIds": []}


def add_response(acc: dict, survey_type: str, score: Any, response_id: str | None = None,
                 locale: str | None = None) -> dict:
    """A new accumulator with the response counted (and in its `locale`, a language tag);
    `acc` itself is never modified.

    Returns `acc` itself (the same object) when nothing changes: the responseId was
    already counted, or the score is missing or not valid for the type (see
    normalize_score). Callers can test `result is acc` to skip emitting a score.
    """
    key = normalize_score(survey_type, score)
    if key is None:
        return acc
    seen = acc.get("responseIds", [])
    if response_id is not None and response_id in seen:
        return acc
    counts = dict(acc.get("counts") or new_accumulator(survey_type)["counts"])
    counts[key] = counts.get(key, 0) + 1
    if response_id is not None:
        seen = (seen + [response_id])[-RESPONSE_IDS_MAX:]
    updated = {"counts": counts, "responses": acc.get("responses", 0) + 1, "responseIds": seen}
    by_locale = dict(acc.get("locales") or {})
    tag = locales.normalize(locale)
    if tag is not None and (tag in by_locale or len(by_locale) < LOCALES_MAX):
        in_locale = dict(by_locale.get(tag) or {})
        in_locale[key] = in_locale.get(key, 0) + 1
        by_locale[tag] = in_locale
    if by_locale:
        updated["locales"] = by_locale
    return updated


def _percent(part: float, total: int) -> float | None:
    return round(100 * part / total, 2) if total else None


def _share(count: int, total: int) -> dict:
    return {"count": count, "percent": _percent(count, total)}


def score(acc: dict, survey_type: str) -> tuple[float | None, dict]:
    """The day's score and its breakdown; score None when no response was counted.

    The breakdown always has `distribution`: {value: {"count", "percent"}} for every
    possible value. NPS adds `promoters` (9-10), `passives` (7-8), `detractors` (0-6);
    CSAT adds `satisfied` (4-5); each {"count", "percent"}. Percentages are None on an
    empty day. The score is computed from the counts, then rounded to 2 decimals, so the
    NPS may differ by 0.01 from the difference of the rounded percentages.
    """
    stored = acc.get("counts") or {}
    counts = {value: int(stored.get(value, 0)) for value in score_values(survey_type)}
    total = sum(counts.values())
    breakdown: dict = {"distribution": {value: _share(count, total) for value, count in counts.items()}}

    if survey_type == "pmf":
        return _percent(counts["very_disappointed"], total), breakdown

    def count_where(predicate) -> int:
        return sum(count for value, count in counts.items() if predicate(int(value)))

    if survey_type == "nps":
        promoters = count_where(lambda v: v >= NPS_PROMOTER_MIN)
        detractors = count_where(lambda v: v <= NPS_DETRACTOR_MAX)
        breakdown["promoters"] = _share(promoters, total)
        breakdown["passives"] = _share(total - promoters - detractors, total)
        breakdown["detractors"] = _share(detractors, total)
        return _percent(promoters - detractors, total), breakdown
    if survey_type == "csat":
        satisfied = count_where(lambda v: v >= CSAT_SATISFIED_MIN)
        breakdown["satisfied"] = _share(satisfied, total)
        return _percent(satisfied, total), breakdown
    # ces: the mean on 1-7
    mean = round(sum(int(value) * count for value, count in counts.items()) / total, 2) if total else None
    return mean, breakdown


def score_record(survey_id: str, survey_type: str, day: str, acc: dict) -> dict:
    """The value produced to `surveys.scores` (docs/reference.md#scores)."""
    value, breakdown = score(acc, survey_type)
    by_locale = {}
    for locale, counts in sorted((acc.get("locales") or {}).items()):
        locale_score, locale_breakdown = score({"counts": counts}, survey_type)
        by_locale[locale] = {"responses": sum(item["count"] for item in locale_breakdown["distribution"].values()),
                             "score": locale_score}
    return {
        "surveyId": survey_id,
        "surveyType": survey_type,
        "day": day,
        "responses": sum(item["count"] for item in breakdown["distribution"].values()),
        "score": value,
        "breakdown": breakdown,
        "locales": by_locale,  # {locale: {"responses", "score"}}: the day split by the responses' locale
    }
