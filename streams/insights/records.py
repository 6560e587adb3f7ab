"""Kafka records -> the rows the insights store keeps (pure: no Kafka, no DuckDB).

Two topics are read:
- `surveys.responses` (docs/reference.md#responses): one row per responseId; the score is kept as it came
  and as the key streams.core.scoring counts it under (None: not counted, as in
  `surveys.scores`), its day the UTC day of completedAt (scoring.response_key).
- `segment.outbound` (docs/reference.md#outbound): the survey tracks, one row per messageId, with the
  lifecycle kind (viewed, answered, completed, dismissed) read from the event's name. The
  names are configurable per survey (`segment.events`), so the config's names are matched
  first, then the default names; a track whose name is neither (another survey's renamed
  event, a disabled one renamed) is not counted. Identify messages carry no lifecycle event.

A record that is not one of these (not JSON, a field missing) is skipped and counted; the
reader never writes to any topic, so nothing goes to the dead letter from here.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from streams.core import scoring
from streams.core.config import DEFAULT_EVENT_NAMES, SURVEY_TYPES, Config
from streams.core.errors import InvalidInput
from streams.core.timeutil import FORMAT_MAX_MS, FORMAT_MIN_MS, day_of, parse_iso

log = logging.getLogger(__name__)
KINDS = ("viewed", "answered", "completed", "dismissed")
_DEFAULT_KINDS = {name: kind for kind, name in DEFAULT_EVENT_NAMES.items()}


@dataclass
class Batch:
    """The rows of one poll, deduplicated by id within it (the first one wins, as the
    store's ON CONFLICT DO NOTHING keeps the first one ever ingested)."""

    responses: dict = field(default_factory=dict)  # responseId -> row tuple (RESPONSE_COLUMNS)
    events: dict = field(default_factory=dict)  # messageId -> row tuple (EVENT_COLUMNS)
    surveys: dict = field(default_factory=dict)  # surveyId -> (type, name), the latest seen
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.responses) + len(self.events)


RESPONSE_COLUMNS = ("response_id", "survey_id", "survey_type", "user_id", "score", "score_key", "category",
                    "comment", "locale", "completed_ms", "day", "answers", "traits", "created_at", "first_seen",
                    "src_partition", "src_offset")
EVENT_COLUMNS = ("message_id", "survey_id", "kind", "display_id", "user_id", "at_ms", "day")


class EventKinds:
    """Event name -> lifecycle kind, per survey as configured, else the default names."""

    def __init__(self, config: Config | None):
        self._by_survey: dict = {}
        for survey in (config.surveys if config else ()):
            if survey.segment is not None:
                self._by_survey[survey.id] = {event.name: kind for kind, event in survey.segment.events.items()}

    def kind(self, survey_id: str, event_name: Any) -> str | None:
        named = self._by_survey.get(survey_id)
        if named is not None and event_name in named:
            return named[event_name]
        return _DEFAULT_KINDS.get(event_name)


def _clamped(ms: int) -> int:
    return min(max(ms, FORMAT_MIN_MS), FORMAT_MAX_MS)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _object(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _decode(raw: bytes | None) -> Any:
    try:
        return orjson.loads(raw) if raw is not None else None
    except orjson.JSONDecodeError:
        return None


def add_response(batch: Batch, raw: bytes | None, partition: int, offset: int) -> bool:
    """The response record into `batch`; False (and counted as skipped) when it is not one."""
    record = _decode(raw)
    try:
        survey_id, survey_type, day = scoring.response_key(record)
    except InvalidInput as error:
        batch.skipped += 1
        log.debug("not a response: skipped", extra={"partition": partition, "offset": offset,
                                                      "field": error.field, "detail": error.detail})
        return False
    response_id = record["responseId"]
    score = record.get("score")
    key = scoring.normalize_score(survey_type, score)
    batch.surveys[survey_id] = (survey_type, record.get("surveyName") if isinstance(record.get("surveyName"), str)
                                else None)
    if response_id in batch.responses:
        return True
    batch.responses[response_id] = (
        response_id, survey_id, survey_type, _text(record.get("userId")),
        orjson.dumps(score).decode() if score is not None else None, key,
        record.get("category") if isinstance(record.get("category"), str) else scoring.category_of(survey_type, score),
        _text(record.get("comment")), _text(record.get("locale")),
        _clamped(parse_iso(record["completedAt"])), day,
        orjson.dumps(_object(record.get("answers"))).decode(), orjson.dumps(_object(record.get("traits"))).decode(),
        _text(record.get("createdAt")), _text(record.get("firstSeen")), partition, offset)
    return True


def add_event(batch: Batch, kinds: EventKinds, raw: bytes | None, partition: int, offset: int,
              record_ms: int | None = None) -> bool:
    """A survey track of `segment.outbound` into `batch`; False for anything else (identify
    messages and tracks of no lifecycle kind are not errors: they are simply not events)."""
    message = _decode(raw)
    if not isinstance(message, dict):
        batch.skipped += 1
        log.debug("not a JSON object on the outbound topic: skipped", extra={"partition": partition, "offset": offset})
        return False
    if message.get("type") != "track":
        return False
    properties = _object(message.get("properties"))
    survey_id, message_id = properties.get("survey_id"), message.get("messageId")
    if not isinstance(survey_id, str) or not isinstance(message_id, str):
        return False
    kind = kinds.kind(survey_id, message.get("event"))
    if kind is None:
        return False
    at = parse_iso(message.get("timestamp"))
    if at is None:
        at = record_ms
    if at is None:
        batch.skipped += 1
        return False
    at = _clamped(at)
    survey_type = properties.get("survey_type")
    if survey_type in SURVEY_TYPES:
        name = properties.get("survey_name")
        batch.surveys.setdefault(survey_id, (survey_type, name if isinstance(name, str) else None))
    if message_id not in batch.events:
        batch.events[message_id] = (message_id, survey_id, kind, _text(properties.get("display_id")),
                                    _text(message.get("userId")), at, day_of(at))
    return True
