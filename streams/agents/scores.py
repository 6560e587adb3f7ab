"""Scores per survey per day, from `surveys.responses`.

The table is keyed '<surveyId>|<day of completedAt>' — a tumbling one-day window on event
time, written as a plain key so a response that arrives late lands in its own day and
every day's accumulator is kept (the scoring module bounds each one).
"""
from __future__ import annotations

import orjson

from streams.core import scoring
from streams.runtime import topics as names
from streams.runtime.app import app, responses_topic, scores
from streams.core.config import SURVEY_TYPES
from streams.core.errors import INVALID_FIELD, MISSING_FIELD, NOT_AN_OBJECT, InvalidInput
from streams.runtime.metrics import registry
from streams.core.timeutil import day_of, parse_iso
from streams.runtime.emit import dead_letter, send


def _response(raw: bytes) -> tuple[str, str, str, dict]:
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("invalid_json", None, None, f"response is not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise InvalidInput(NOT_AN_OBJECT, None, type(record).__name__, "response must be an object")
    for name in ("surveyId", "surveyType", "completedAt", "responseId"):
        if not isinstance(record.get(name), str):
            raise InvalidInput(MISSING_FIELD if record.get(name) is None else INVALID_FIELD, name, record.get(name),
                               f"response needs a string {name}")
    completed = parse_iso(record["completedAt"])
    if completed is None:
        raise InvalidInput(INVALID_FIELD, "completedAt", record["completedAt"], "completedAt is not an ISO date-time")
    if record["surveyType"] not in SURVEY_TYPES:
        raise InvalidInput(INVALID_FIELD, "surveyType", record["surveyType"], "unknown survey type")
    return record["surveyId"], record["surveyType"], day_of(completed), record


@app.agent(responses_topic, name="streams.agents.scores.score_responses")
async def score_responses(stream):
    async for event in stream.events():
        source = {"topic": event.message.topic, "partition": event.message.partition, "offset": event.message.offset}
        registry.inc("survey_streams_messages_in_total", topic=event.message.topic)
        try:
            survey_id, survey_type, day, record = _response(event.value)
        except InvalidInput as error:
            await dead_letter(error, source, event.value)
            continue
        key = f"{survey_id}|{day}"
        accumulator = scores.get(key) or scoring.new_accumulator(survey_type)
        updated = scoring.add_response(accumulator, survey_type, record.get("score"), record["responseId"],
                                       record.get("locale"))
        if updated is accumulator:  # a replayed response, or one without a score
            registry.inc("survey_streams_duplicates_skipped_total", topic=event.message.topic)
            continue
        registry.inc("survey_streams_processed_total", topic=event.message.topic)
        scores[key] = updated
        await send(names.SCORES, survey_id, scoring.score_record(survey_id, survey_type, day, updated))
