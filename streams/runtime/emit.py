"""Producing to the output topics, counted per topic for /metrics, and the fatal stop.

Delivery rules (docs/processing.md):
- `send` hands a record to the producer; the broker's acknowledgement comes with the
  next commit's flush, before the inputs' offsets are committed. If it never comes, the
  StopOnLostOutput sensor (streams.runtime.faustfixes) stops the process before that commit.
- `dead_letter` waits for the broker's acknowledgement itself, retrying; if the record
  cannot be written, the input must not be acknowledged: the caller gets
  DeadLetterFailed, and an agent stops the process (`stop_process`) without acking it.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import time

import orjson

from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from faust.exceptions import ProducerSendError

from streams.runtime import app as app_module
from streams.runtime import deadletter, fencing, signing, topics as names
from streams.runtime.app import app, names_of
from streams.runtime.faustfixes import StopOnLostOutput
from streams.core.errors import InvalidInput
from streams.runtime.metrics import registry

log = logging.getLogger(__name__)
DEAD_LETTER_ATTEMPTS = 5
DEAD_LETTER_BACKOFF_S = 0.5
# The exit status of a worker that stopped to avoid losing an input (a supervisor restarts it).
EXIT_OUTPUT_LOST = 70
# The exit status of a worker the group dropped while it was stalled (streams.runtime.fencing).
EXIT_FENCED = 75
# Outputs of processing whose loss would lose data: a failed send stops the process.
_FATAL_TOPICS = frozenset(names_of(logical) for logical in (
    names.ELIGIBILITY, names.OUTBOUND, names.RESPONSES, names.SCORES, names.USER_COMMANDS))


class DeadLetterFailed(RuntimeError):
    """A dead-letter record could not be written: its input must not be acknowledged."""


async def send(logical: str, key: str | None, value: dict | bytes) -> asyncio.Future:
    """Produce `value` (JSON, or bytes already encoded) to a logical topic, keyed by `key`
    (the default partitioner puts it on the key's partition). Returns the broker's
    acknowledgement to await: the bridge awaits it before it answers, a batch before it
    writes its changelog. Straight to aiokafka: Faust's send path costs more than the record.
    An output of processing that is never acknowledged stops the worker (_fatal_if_lost)."""
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    raw_key = key.encode("utf-8", "surrogatepass") if key is not None else None
    headers = None
    if logical == names.USER_COMMANDS:  # only workers write commands: they sign them
        headers = [(signing.SIGNATURE_HEADER, signing.command_signature(app_module.command_key, raw_key or b"", raw))]
    topic_name = names_of(logical)
    try:
        delivery = await app.producer._ensure_producer().send(topic_name, raw, key=raw_key, headers=headers)
    except MessageSizeTooLargeError:
        raise  # the record's fault, not Kafka's: its input is dead-lettered (users.apply_record)
    except KafkaError as exc:
        raise ProducerSendError(f"sending to {topic_name}: {exc!r}") from exc
    if topic_name in _FATAL_TOPICS:
        delivery.add_done_callback(_fatal_if_lost)
    registry.inc("survey_streams_messages_out_total", topic=topic_name)
    return delivery


async def send_command(key: str, command: dict) -> asyncio.Future:
    """Produce a user command, sealed (signing.seal_command: at, exp, nonce) and signed."""
    return await send(names.USER_COMMANDS, key, signing.seal_command(command, int(time.time() * 1000)))


def _fatal_if_lost(delivery: asyncio.Future) -> None:
    if not delivery.cancelled() and delivery.exception() is not None:
        stop_process(f"an output could not be produced: {delivery.exception()!r}")


async def dead_letter(error: InvalidInput, source: dict, payload, key: str | None = None,
                      counted_as: str | None = None) -> None:
    """Reject an input: one record on streams.deadletter, counted by source and code.

    `counted_as` labels the count when the record names another input than the one
    rejected here (a refused fold names the alias that asked for it: the alias itself was
    processed, the fold command is what is rejected).

    Returns once the broker has the record; raises DeadLetterFailed after
    DEAD_LETTER_ATTEMPTS failed tries (with backoff), so the input is never acknowledged
    without its dead letter.
    """
    origin = counted_as or source.get("topic") or source.get("http") or "?"
    record = deadletter.record(error, source, payload)
    last_error: BaseException | None = None
    for attempt in range(DEAD_LETTER_ATTEMPTS):
        try:
            await (await send(names.DEADLETTER, key, record))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # aiokafka's and Faust's errors alike: retry, then give up
            last_error = exc
            log.warning("dead letter not written, retrying", extra={"attempt": attempt + 1, "error": repr(exc)})
            await asyncio.sleep(DEAD_LETTER_BACKOFF_S * (2 ** attempt))
            continue
        registry.inc("survey_streams_deadlettered_total", source=origin, code=error.code)
        log.info("dead-lettered", extra={"code": error.code, "field": error.field, "source": origin})
        return
    raise DeadLetterFailed(f"dead letter for {origin} not written after {DEAD_LETTER_ATTEMPTS} attempts: {last_error!r}")


def stop_process(reason: str, status: int = EXIT_OUTPUT_LOST) -> None:
    """Stop at once, committing nothing more: what is not committed is processed again."""
    log.critical("stopping the worker so that no input is lost", extra={"reason": reason, "status": status})
    for handler in logging.getLogger().handlers + log.handlers:
        try:
            handler.flush()
        except Exception:
            pass
    print(f"survey-streams worker stopped: {reason}", file=sys.stderr, flush=True)
    os._exit(status)


# Faust's own sends (the scores table's changelog) that fail stop the process too.
app.sensors.add(StopOnLostOutput(lambda: _FATAL_TOPICS, stop_process))


# The records a zombie must not write: its partitions' state (the tables' changelogs) and
# the outputs of processing them. Inbound records, user commands (each carries a nonce) and
# dead letters are written by whoever holds the request, member or not.
_FENCED_TOPICS = frozenset(names_of(logical) for logical in (
    names.ELIGIBILITY, names.OUTBOUND, names.RESPONSES, names.SCORES))
_CHANGELOG_PREFIX = f"{app.conf.id}-"


def fenced_topic(topic: str) -> bool:
    return topic in _FENCED_TOPICS or (topic.startswith(_CHANGELOG_PREFIX) and topic.endswith("-changelog"))


# STREAMS_FENCING=off exists only to reproduce what a zombie wrote without it.
if os.environ.get("STREAMS_FENCING", "on") != "off":
    fencing.install(app.conf.id, app_module.settings.session_timeout_s, fenced_topic,
                    lambda reason: stop_process(reason, EXIT_FENCED))
