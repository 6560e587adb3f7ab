"""The user processor: the one agent that writes the `users` table.

It reads the inbound Segment topics, the widget lifecycle topic and the internal
user-commands topic (re-keyed messages, identity folds, timer ticks), all co-partitioned by
user id, one batch per partition per fetch (streams.runtime.batching). For each record it decodes,
checks where the record belongs, and hands it to streams.agents.userinputs; the batch is
then committed (streams.runtime.userstore: outputs, changelog, store, in that order).
Nothing here decides anything.
"""
from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace

import orjson
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from faust.exceptions import ProducerSendError

from streams.core import displays
from streams.runtime import signing
from streams.core import topics as names
from streams.runtime import app as app_module
from streams.runtime.app import app, topic_names, user_channel
from streams.runtime.batching import RecordBatch
from streams.core.errors import (EXPIRED_COMMAND, INVALID_FIELD, INVALID_JSON, INVALID_SIGNATURE, MISSING_FIELD, NOT_AN_OBJECT,
                      TOO_LARGE, InvalidInput)
from streams.runtime.metrics import registry
from streams.schemas import segment as segment_schema
from streams.schemas import widget as widget_schema
from streams.core.timeutil import input_time
from streams.agents import timers, userinputs
from streams.runtime.emit import DeadLetterFailed, dead_letter, send_command, stop_process
from streams.agents.userinputs import MAX_ALIAS_HOPS
from streams.runtime.userstore import Consumed, UserBatch, partition_of, read_state

log = logging.getLogger(__name__)
# Commands carry a whole user state (absorb): bounded by the state budget, not 32 KB.
MAX_COMMAND_BYTES = 1024 * 1024
OWN_TOPICS = frozenset(topic_names[logical] for logical in names.ALL)
# Failures of Kafka itself, not of the input: the input must be processed again later.
FATAL = (KafkaError, ProducerSendError, DeadLetterFailed)
BITE_S = 0.005  # the event loop held by one bite of a batch at most (about: one input more)
LOG_APPEND_TIME = 1  # a record's timestamp_type when the broker, not the producer, stamped it


def load(user: str) -> dict | None:
    """A user's stored state, for the bridge (a fresh object)."""
    return read_state(user)


def _records(event) -> list:
    """The records of an event: a RecordBatch from the worker's consumer, or one record
    (Faust's test_context puts single values)."""
    if isinstance(event.value, RecordBatch):
        return event.value
    message = event.message
    timestamp = round(message.timestamp * 1000) if message.timestamp else None
    return [SimpleNamespace(topic=message.topic, partition=message.partition, offset=message.offset,
                            key=message.key, value=event.value, headers=message.headers,
                            timestamp=timestamp, timestamp_type=message.timestamp_type)]


@app.agent(user_channel, name="streams.agents.users.process")
async def process(stream):
    stream = stream.noack()  # an event is acknowledged once its batch is durable, not before
    async for event in stream.events():
        batch = UserBatch(event.message.partition, app_module.config)
        records = _records(event)
        end_offset = getattr(records, "end_offset", None)
        bite = Bite()
        for record in records:
            await apply_record(batch, record, end_offset)
            await bite.maybe_yield()
        if not await decide_owed(batch, bite):
            batch.abandon()  # the worker is stopping: nothing of the batch is committed
            continue
        await batch.commit_in_background(lambda event=event: stream.ack(event), _commit_failed(event))


class Bite:
    """A batch is applied in bites of at most BITE_S of the event loop: between two, the
    agent yields, so the bridge's answers, the commits and the timers are not held for a
    whole batch (issue P.1). The batch stays one task applying its records in order."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    async def maybe_yield(self) -> None:
        if time.perf_counter() - self.started >= BITE_S:
            await asyncio.sleep(0)
            self.started = time.perf_counter()


async def decide_owed(batch: UserBatch, bite: Bite | None = None) -> bool:
    """The batch's decisions, once per changed user (userinputs.settle); False when a failure
    of Kafka stopped the worker. Any other failure leaves that user's decision as it was."""
    while batch.owed:
        user = next(iter(batch.owed))
        try:
            await userinputs.settle(batch, user)
        except FATAL as error:
            stop_process(f"{type(error).__name__} while producing the decision of {user!r}: {error}")
            return False
        except Exception:
            log.exception("deciding failed", extra={"user": user})
        if bite is not None:
            await bite.maybe_yield()
    return True


def _commit_failed(event):
    """What a batch whose commit fails does: stop the worker, its inputs unacknowledged."""
    message = event.message
    label = f"{message.topic}[{message.partition}] up to offset {message.offset}"

    def failed(error: Exception) -> None:
        stop_process(f"{type(error).__name__} while committing {label}: {error}")
    return failed


def record_ms(record) -> int | None:
    """The Kafka timestamp of a record (ms), if it has one."""
    timestamp = getattr(record, "timestamp", None)
    return timestamp if isinstance(timestamp, int) and timestamp >= 0 else None


async def apply_record(batch: UserBatch, record, end_offset: int | None = None) -> None:
    topic = record.topic
    registry.inc("survey_streams_messages_in_total", topic=topic)
    source = {"topic": topic, "partition": record.partition, "offset": record.offset}
    # Until the input is decoded its time is the record's (a Kafka record always has one
    # since 0.10; the clock only for one without).
    at = record_ms(record)
    batch.current = Consumed(topic, record.partition, record.offset, end_offset, at if at is not None else _clock_ms())
    try:
        await handle(batch, topic_names.logical(topic), record.key, record.value, source, record.headers,
                     appended_at(record))
    except InvalidInput as error:
        await reject(error, source, record.value)
    except MessageSizeTooLargeError as error:  # an output over the broker's record size
        await reject(InvalidInput(TOO_LARGE, None, None, f"an output of this input is too large: {error}"),
                     source, record.value)
    except FATAL as error:
        stop_process(f"{type(error).__name__} while processing {topic}[{source['partition']}]@{source['offset']}: {error}")
    except Exception as error:  # keep the worker running; the input is kept in the dead letter
        log.exception("processing failed", extra={"topic": topic, "offset": record.offset})
        await reject(InvalidInput("processing_error", None, None, f"{type(error).__name__}: {error}"),
                     source, record.value)


async def reject(error: InvalidInput, source: dict, payload, counted_as: str | None = None) -> None:
    """Dead-letter an input; if that cannot be done, stop before the input is acknowledged."""
    try:
        await dead_letter(error, source, payload, counted_as=counted_as)
    except DeadLetterFailed as failure:
        stop_process(str(failure))


def _clock_ms() -> int:
    return int(time.time() * 1000)


def _carried_time(batch: UserBatch, received_at) -> None:
    """The input's time is the one it carries: its receivedAt, else the record's."""
    at = input_time(received_at, batch.current.at)
    if at is not None:
        batch.current.at = at


def appended_at(record) -> int | None:
    """When the broker appended the record (ms), if the topic keeps that (LogAppendTime)."""
    if getattr(record, "timestamp_type", None) == LOG_APPEND_TIME and isinstance(record.timestamp, int):
        return record.timestamp
    return None


def _held_here(key: str | None, user: str, source: dict) -> bool:
    """Whether an input keyed `key` is its user's and on the user's own partition. A record
    produced with another partitioner (librdkafka's CRC32, Sarama's FNV) or on purpose on
    another partition would otherwise fork the user's state into two stores."""
    return key == user and source.get("partition") == partition_of(user)


async def handle(batch: UserBatch, logical: str, raw_key: bytes | None, raw: bytes, source: dict,
                 headers=None, appended: int | None = None) -> None:
    """Decode one input and apply it here when it is keyed by its user on the user's
    partition, else re-key it to the user's partition through the user-commands topic.
    `appended`: the broker's append time of the record, when its topic keeps one."""
    key = raw_key.decode("utf-8", errors="replace") if raw_key is not None else None
    if logical == names.USER_COMMANDS:
        if not signing.command_signature_ok(app_module.command_key, raw_key, raw, headers):
            raise InvalidInput(INVALID_SIGNATURE, None, None, "a user command without a valid worker signature")
        command = decode_command(raw)
        # The topic keeps the broker's append time: a copy of a signed command written after
        # its expiry is refused (a copy written before it, by its nonce: userinputs).
        if signing.command_expired(command, batch.current.at):
            raise InvalidInput(EXPIRED_COMMAND, "exp", command.get("exp"),
                               "a user command the broker got after its expiry (a copy of an old command?)")
        at = command.get("at")
        if isinstance(at, int) and not isinstance(at, bool):
            batch.current.at = at
        batch.current.nonce = signing.command_nonce(command)
        if key is not None and source.get("partition") != partition_of(key):
            await rekey(batch, key, command)  # ours, on a partition count since changed
            return
        await handle_command(batch, key, command, source)
    elif logical == names.LIFECYCLE:
        event = widget_schema.validate_event(segment_schema.decode_object(raw), batch.config)
        _carried_time(batch, event.get("receivedAt"))
        # receivedAt is the writer's: the token is also held to the bridge's rule at the
        # broker's append time (on the first hop; a re-keyed event was checked here).
        refused = displays.check_appended(app_module.display_secret, event,
                                          batch.config.project.display_timeout_minutes, appended)
        if refused is not None:
            raise refused
        user = event["userId"]
        if _held_here(key, user, source):
            await userinputs.apply_widget_event(batch, user, event, source)
        else:
            await rekey(batch, user, {"kind": "widget", "event": event, "source": source})
    else:
        message = segment_schema.decode(raw)
        _carried_time(batch, message.get("receivedAt"))
        user = segment_schema.user_key(message)
        if _held_here(key, user, source):
            await userinputs.apply_segment(batch, user, message, source, hops=0)
        else:
            await rekey(batch, user, {"kind": "segment", "message": message, "source": source})


async def rekey(batch: UserBatch, user: str, command: dict) -> None:
    batch.deliveries.append(await send_command(user, {**command, "at": batch.current.at}))


def decode_command(raw: bytes | None) -> dict:
    """A user-commands record: a JSON object with a string `kind`.

    The topic is internal and its records are signed, but they are validated like any
    input all the same (handle_command re-validates what they carry).
    """
    if raw is None or len(raw) > MAX_COMMAND_BYTES:
        raise InvalidInput(TOO_LARGE if raw else INVALID_JSON, None, None, "a user command must be a JSON object under 1 MB")
    try:
        command = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(INVALID_JSON, None, None, f"user command is not JSON: {exc}") from None
    if not isinstance(command, dict) or not isinstance(command.get("kind"), str):
        raise InvalidInput(NOT_AN_OBJECT, "kind", None, "a user command must be an object with a string 'kind'")
    segment_schema.check_depth(command, raw, limit=segment_schema.MAX_DEPTH + 8)
    return command


def _field(command: dict, name: str, kind: type):
    value = command.get(name)
    if not isinstance(value, kind):
        raise InvalidInput(MISSING_FIELD if value is None else INVALID_FIELD, name, None,
                           f"user command '{command.get('kind')}' needs '{name}' ({kind.__name__})")
    return value


def _command_source(command: dict, source: dict) -> dict:
    """The original input's coordinates a command carries, when they name one of our topics
    (they label metrics and dead letters: no command may invent new ones)."""
    original = command.get("source")
    if (isinstance(original, dict) and original.get("topic") in OWN_TOPICS
            and isinstance(original.get("partition"), int) and isinstance(original.get("offset"), int)):
        return {"topic": original["topic"], "partition": original["partition"], "offset": original["offset"]}
    return source


async def handle_command(batch: UserBatch, key: str | None, command: dict, source: dict) -> None:
    kind = command["kind"]
    if key is None:
        raise InvalidInput(MISSING_FIELD, "key", None, "a user command needs its user as the record key")
    hops = command.get("hops", 0)
    hops = min(max(hops, 0), MAX_ALIAS_HOPS) if isinstance(hops, int) else MAX_ALIAS_HOPS
    origin = _command_source(command, source)
    if kind == "segment":
        message = segment_schema.validate(_field(command, "message", dict))
        await userinputs.apply_segment(batch, key, message, origin, hops)
    elif kind == "widget":
        event = widget_schema.validate_event(_field(command, "event", dict), batch.config)
        await userinputs.apply_widget_event(batch, key, event, origin, hops)
    elif kind == "fold":
        user_id = segment_schema.check_id("userId", _field(command, "userId", str))
        await userinputs.fold_anonymous(batch, key, user_id, command, source, origin,
                                        lambda *args: reject(*args, counted_as=source["topic"]))
    elif kind == "absorb":
        anonymous_id = segment_schema.check_id("from", _field(command, "from", str))
        await userinputs.absorb(batch, key, anonymous_id, _field(command, "state", dict), source, hops)
    elif kind == "unlink":
        await userinputs.unlink(batch, key, _field(command, "anonymousId", str), source)
    elif kind == "tick":
        await userinputs.tick(batch, key, source)
        timers.applied_ticks.add()
    else:
        raise InvalidInput(INVALID_FIELD, "kind", kind, f"unknown user command {kind!r}")
