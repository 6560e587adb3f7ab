"""Records as the workers write them (docs/reference.md#outbound, #responses) and a store holding them."""
from __future__ import annotations

import orjson

from streams.insights.records import Batch, EventKinds, add_event, add_response
from streams.insights.store import Store


def response(response_id: str, score, day: str = "2026-11-01", survey_id: str = "nps-main", survey_type: str = "nps",
             traits: dict | None = None, comment=None, answers: dict | None = None, time: str = "12:00:00",
             **extra) -> dict:
    return {"responseId": response_id, "surveyId": survey_id, "surveyType": survey_type,
            "surveyName": f"{survey_id} name", "userId": f"u-{response_id}", "score": score, "category": None,
            "answers": answers if answers is not None else ({"score": score} if score is not None else {}),
            "comment": comment, "completedAt": f"{day}T{time}.000Z", "traits": traits or {},
            "createdAt": None, "firstSeen": None, **extra}


def track(message_id: str, event: str, display_id: str, survey_id: str = "nps-main", day: str = "2026-11-01",
          survey_type: str = "nps", **properties) -> dict:
    return {"type": "track", "userId": f"u-{display_id}", "messageId": message_id, "event": event,
            "timestamp": f"{day}T10:00:00.000Z",
            "properties": {"survey_id": survey_id, "survey_name": f"{survey_id} name", "survey_type": survey_type,
                           "display_id": display_id, **properties},
            "context": {"library": {"name": "survey-streams", "version": "0.1.0"}}}


def batch_of(responses=(), events=(), config=None) -> Batch:
    batch, kinds = Batch(), EventKinds(config)
    for offset, record in enumerate(responses):
        add_response(batch, record if isinstance(record, bytes) else orjson.dumps(record), 0, offset)
    for offset, record in enumerate(events):
        add_event(batch, kinds, record if isinstance(record, bytes) else orjson.dumps(record), 0, offset)
    return batch


def store_with(responses=(), events=(), path=":memory:", config=None) -> Store:
    store = Store(path)
    store.ingest(batch_of(responses, events, config), {})
    return store
