"""Scores per survey per day, from `surveys.responses`.

The table is keyed '<surveyId>|<day of completedAt>' — a tumbling one-day window on event
time, written as a plain key so a response that arrives late lands in its own day and
every day's accumulator is kept (the scoring module bounds each one).
"""
from __future__ import annotations

import orjson

from streams.core import scoring
from streams.core import topics as names
from streams.agents import quotas
from streams.runtime.app import app, responses_topic, scores
from streams.core.errors import InvalidInput
from streams.runtime.metrics import registry
from streams.runtime.emit import dead_letter, send


def _response(raw: bytes) -> tuple[str, str, str, dict]:
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("invalid_json", None, None, f"response is not JSON: {exc}") from None
    return (*scoring.response_key(record), record)


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
        quotas.count_response(survey_id, record["responseId"], day)  # every response, with a score or not
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
