"""Producing to the output topics, counted per topic for /metrics."""
from __future__ import annotations

import logging

import orjson

from .. import deadletter, topics as names
from ..app import names_of, topic
from ..errors import InvalidInput
from ..metrics import registry

log = logging.getLogger("streams.emit")
_topics: dict = {}


def _topic(logical: str):
    if logical not in _topics:
        _topics[logical] = topic(logical, internal=logical == names.USER_COMMANDS)
    return _topics[logical]


async def send(logical: str, key: str | None, value: dict):
    """Produce `value` as JSON to a logical topic. Returns the broker's acknowledgement, for
    the callers that must know the record is in Kafka before they answer (the bridge)."""
    delivery = await _topic(logical).send(key=key.encode() if key is not None else None, value=orjson.dumps(value))
    registry.inc("survey_streams_messages_out_total", topic=names_of(logical))
    return delivery


async def dead_letter(error: InvalidInput, source: dict, payload, key: str | None = None) -> None:
    """Reject an input: one record on streams.deadletter, counted by source and code."""
    origin = source.get("topic") or source.get("http") or "?"
    registry.inc("survey_streams_deadlettered_total", source=origin, code=error.code)
    log.info("dead-lettered", extra={"code": error.code, "field": error.field, "source": origin})
    await send(names.DEADLETTER, key, deadletter.record(error, source, payload))

