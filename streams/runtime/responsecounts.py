"""The responses counted per survey, as every worker sees them: what decisions pass to
`targeting.decide(..., response_counts=)` for the response limits (docs/configuration.md,
"Response limits").

The scores agent counts each response once into the `response_counts` table (key surveyId,
on the partition of the response; streams.agents.quotas). Every worker reads that table's
changelog whole, read_committed, into this map (surveyId -> quotas.Counts, O(1) per survey):
the changelog is compacted, so a start reads about one record per survey.

Until the changelog has been read to its end once, `current()` is None: decisions then count
no quota (no survey is blocked), which the overshoot bound of docs/configuration.md includes.
"""
from __future__ import annotations

from collections import Counter

import orjson

from streams.core import quotas

_counts: dict[str, quotas.Counts] = {}
_caught_up = False
totals: Counter = Counter()  # surveyId -> responses counted, shown on /metrics


def current() -> dict | None:
    """surveyId -> Counts, or None before the counts are caught up."""
    return _counts if _caught_up else None


def apply(key: bytes | None, value: bytes | None) -> None:
    """One changelog record: a survey's tally (a tombstone or a record that does not parse
    leaves the survey as it was: the changelog only carries what the agent wrote)."""
    if key is None or value is None:
        return
    try:
        tally = orjson.loads(value)
        survey_id = key.decode("utf-8")
        counts = quotas.counts_of(tally)
    except (ValueError, AttributeError, TypeError):
        return
    _counts[survey_id] = counts
    totals[survey_id] = counts.total


def caught_up() -> None:
    global _caught_up
    _caught_up = True


def reset() -> None:
    """Forget everything (a reader starting over, and tests)."""
    global _caught_up
    _counts.clear()
    totals.clear()
    _caught_up = False
