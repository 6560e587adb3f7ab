"""The user processor: the one agent that writes the `users` table.

It reads the inbound Segment topics, the widget lifecycle topic and the internal
user-commands topic (re-keyed messages, identity folds, timer ticks), all co-partitioned by
user id. Every input that touches a user's state takes one path, `apply_input`: replay and
duplicate checks, the pure logic (userstate, lifecycle, targeting), the byte budget, then
outputs and the write (docs/processing.md argues that order). Nothing here decides anything.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

import orjson
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from aiokafka.partitioner import murmur2
from faust.exceptions import ProducerSendError
from faust.stores.memory import Store as MemoryStore

from .. import __version__, displays, lifecycle, outbound, signing, targeting, topics as names, userstate
from .. import app as app_module
from ..app import app, config, topic_names, user_channel, users
from ..dueindex import DueIndex
from ..errors import (ALIAS_CONFLICT, INVALID_FIELD, INVALID_JSON, INVALID_SIGNATURE, MISSING_FIELD, NOT_AN_OBJECT,
                      TOO_LARGE, InvalidInput)
from ..metrics import registry
from ..schemas import segment as segment_schema
from ..schemas import widget as widget_schema
from ..state import encode, message_key, new_user_state, record_outputs, recorded_outputs
from .emit import DeadLetterFailed, dead_letter, send, stop_process

log = logging.getLogger("streams.users")
MAX_ALIAS_HOPS = 5
NO_DECISION = (False, None, "not_identified")  # what an unknown user implicitly has
# Commands carry a whole user state (absorb): bounded by the state budget, not 32 KB.
MAX_COMMAND_BYTES = 1024 * 1024
OWN_TOPICS = frozenset(topic_names[logical] for logical in names.ALL)
# Failures of Kafka itself, not of the input: the input must be processed again later.
FATAL = (KafkaError, ProducerSendError, DeadLetterFailed)

# Keys that need a look again at a given instant: a decision's eligibleAt or an open
# display's timeout. Rebuilt from the local table after recovery.
due = DueIndex()


def now_ms() -> int:
    return int(time.time() * 1000)


def load(user: str) -> dict | None:
    """`users.get(user)` with one store read (hot path: once or more per event).

    Table.get goes through `key in store` and then `store[key]`: two RocksDB reads of the
    same value per lookup. The store's own get reads once; the table's get hook (Faust's
    sensors) is still called, as Table.get would. RocksDB decodes a fresh object each
    time, so an input that fails half-way leaves the stored state as it was.
    """
    users.on_key_get(user)
    state = users.data.get(user)
    if state is not None and isinstance(users.data, MemoryStore):  # tests: the store holds our object
        state = orjson.loads(orjson.dumps(state))
    return state


def _source(event) -> dict:
    message = event.message
    return {"topic": message.topic, "partition": message.partition, "offset": message.offset}


def internal_id(text: str) -> str:
    """An input id of our own making. It starts with a control character, which no
    messageId may hold (segment_schema.check_id): no sender can make one collide."""
    return "\x00" + text


def _source_id(source: dict) -> str:
    """A record's coordinates as an input id: what identifies a replay of it."""
    return internal_id(f"src:{source.get('topic')}/{source.get('partition')}/{source.get('offset')}")


@app.agent(user_channel, name="streams.agents.users.process")
async def process(stream):
    async for event in stream.events():
        topic = event.message.topic
        registry.inc("survey_streams_messages_in_total", topic=topic)
        source = _source(event)
        try:
            await handle(topic_names.logical(topic), event.key, event.value, source, event.message.headers)
        except InvalidInput as error:
            await reject(error, source, event.value)
        except MessageSizeTooLargeError as error:  # an output over the broker's record size
            await reject(InvalidInput(TOO_LARGE, None, None, f"an output of this input is too large: {error}"),
                         source, event.value)
        except FATAL as error:
            stop_process(f"{type(error).__name__} while processing {topic}[{source['partition']}]@{source['offset']}: {error}")
        except Exception as error:  # keep the worker running; the input is kept in the dead letter
            log.exception("processing failed", extra={"topic": topic, "offset": event.message.offset})
            await reject(InvalidInput("processing_error", None, None, f"{type(error).__name__}: {error}"),
                         source, event.value)


async def reject(error: InvalidInput, source: dict, payload) -> None:
    """Dead-letter an input; if that cannot be done, stop before the input is acknowledged."""
    try:
        await dead_letter(error, source, payload)
    except DeadLetterFailed as failure:
        stop_process(str(failure))


def partition_of(key: str) -> int:
    """The partition a producer's default partitioner (murmur2, as Java's and aiokafka's)
    puts `key` on: where the user's state lives."""
    return (murmur2(key.encode("utf-8", "surrogatepass")) & 0x7FFFFFFF) % config.project.partitions


def _held_here(key: str | None, user: str, source: dict) -> bool:
    """Whether an input keyed `key` is its user's and on the user's own partition. A record
    produced with another partitioner (librdkafka's CRC32, Sarama's FNV) or on purpose on
    another partition would otherwise fork the user's state into two stores."""
    return key == user and source.get("partition") == partition_of(user)


async def handle(logical: str, raw_key: bytes | None, raw: bytes, source: dict, headers=None) -> None:
    """Decode one input and apply it here when it is keyed by its user on the user's
    partition, else re-key it to the user's partition through streams.user-commands."""
    key = raw_key.decode("utf-8", errors="replace") if raw_key is not None else None
    if logical == names.USER_COMMANDS:
        if not signing.command_signature_ok(app_module.command_key, raw_key, raw, headers):
            raise InvalidInput(INVALID_SIGNATURE, None, None, "a user command without a valid worker signature")
        command = decode_command(raw)
        if key is not None and source.get("partition") != partition_of(key):
            await send(names.USER_COMMANDS, key, command)  # ours, on a partition count since changed
            return
        await handle_command(key, command, source)
    elif logical == names.LIFECYCLE:
        event = widget_schema.validate_event(segment_schema.decode_object(raw), config)
        user = event["userId"]
        if _held_here(key, user, source):
            await apply_widget_event(user, event, source)
        else:
            await send(names.USER_COMMANDS, user, {"kind": "widget", "event": event, "source": source})
    else:
        message = segment_schema.decode(raw)
        user = segment_schema.user_key(message)
        if _held_here(key, user, source):
            await apply_segment(user, message, source, hops=0)
        else:
            await send(names.USER_COMMANDS, user, {"kind": "segment", "message": message, "source": source})


def decode_command(raw: bytes | None) -> dict:
    """A streams.user-commands record: a JSON object with a string `kind`.

    The topic is internal, but anyone who can write to the cluster can write to it: its
    payloads are validated like any input (handle_command re-validates what they carry).
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
    (they label metrics and dead letters: a forged command must not invent new ones)."""
    original = command.get("source")
    if (isinstance(original, dict) and original.get("topic") in OWN_TOPICS
            and isinstance(original.get("partition"), int) and isinstance(original.get("offset"), int)):
        return {"topic": original["topic"], "partition": original["partition"], "offset": original["offset"]}
    return source



async def handle_command(key: str | None, command: dict, source: dict) -> None:
    kind = command["kind"]
    if key is None:
        raise InvalidInput(MISSING_FIELD, "key", None, "a user command needs its user as the record key")
    hops = command.get("hops", 0)
    hops = min(max(hops, 0), MAX_ALIAS_HOPS) if isinstance(hops, int) else MAX_ALIAS_HOPS
    if kind == "segment":
        message = segment_schema.validate(_field(command, "message", dict))
        await apply_segment(key, message, _command_source(command, source), hops)
    elif kind == "widget":
        event = widget_schema.validate_event(_field(command, "event", dict), config)
        await apply_widget_event(key, event, _command_source(command, source), hops)
    elif kind == "fold":
        await fold_anonymous(key, segment_schema.check_id("userId", _field(command, "userId", str)), command, source)
    elif kind == "absorb":
        await absorb(key, segment_schema.check_id("from", _field(command, "from", str)), _field(command, "state", dict), source)
    elif kind == "unlink":
        await unlink(key, _field(command, "anonymousId", str), source)
    elif kind == "tick":
        await tick(key, source)
    else:
        raise InvalidInput(INVALID_FIELD, "kind", kind, f"unknown user command {kind!r}")


# --- the one path of an input through a user's state ---------------------------------------

# What a step returns: the state to write and the records to produce ([topic, key, value]).
Step = Callable[[dict | None, int], tuple[dict, list]]


async def apply_input(user: str, input_id: str | None, step: Step, source: dict, state: dict | None = None,
                      loaded: bool = False, record_id: str | None = None) -> None:
    """Apply one input to `user`'s state (docs/processing.md, "One input, step by step").

    `input_id` finds duplicates (a messageId: Segment retries send one message twice);
    `record_id` finds replays of the same record (its coordinates by default; commands
    name their original input's).

    1. A replay of an input whose outputs are in the state's outbox: produce them again
       (outputs carry deterministic ids) and the current decision, and write the state
       again. A duplicate within 24 h: write the state again, nothing else. Writing again
       heals a changelog that missed the first write (the process died after the local
       store had it and before the changelog did).
    2. Else run `step`, remember the input, keep its outputs in the outbox.
    3. Re-decide; check the byte budget (InvalidInput `too_large`: nothing is produced or
       written, the stored state stays as it was).
    4. Produce the outputs and the decision, then write the state.
    """
    topic = source.get("topic", "?")
    now = now_ms()
    if not loaded:
        state = load(user)
    replay_key = message_key(record_id or _source_id(source))
    if state is not None:
        recorded = recorded_outputs(state, replay_key)
        if recorded is not None or (input_id is not None and userstate.seen_recently(state, input_id, now)):
            registry.inc("survey_streams_duplicates_skipped_total", topic=topic)
            await _write(user, state, recorded or [], now, replay=recorded is not None)
            return
    state, records = step(state, now)
    registry.inc("survey_streams_processed_total", topic=topic)
    if input_id is not None:
        userstate.remember(state, input_id, now)
    await _write(user, state, records, now, replay_key=replay_key)


async def _write(user: str, state: dict, records: list, now: int, replay_key: str | None = None,
                 replay: bool = False) -> None:
    decision = None if state.get("aliasOf") else _decide(user, state, now, force=replay)
    if replay_key is not None and (records or decision is not None):
        record_outputs(state, replay_key, records)
    encode(state, config.project.limits)  # the budget: raises before anything leaves
    for logical, key, value in records:
        await send(logical, key, value)
    if decision is not None:
        await send(names.ELIGIBILITY, user, decision)
    due.schedule(user, None if state.get("aliasOf") else next_due(state))
    users[user] = state


def _decide(user: str, state: dict, now: int, force: bool = False) -> dict | None:
    """Re-decide; store the outcome in the state and return the decision record to emit
    when it changed (or when `force`: a replay re-emits the current decision)."""
    decision = targeting.decide(state, config, now, user)
    outcome = targeting.outcome(decision)
    previous = state.get("decision")
    before = (previous["eligible"], previous["surveyId"], previous["reason"]) if previous else NO_DECISION
    state["decision"] = {"eligible": outcome[0], "surveyId": outcome[1], "reason": outcome[2],
                         "eligibleAt": decision.eligible_at}
    if outcome != before or (force and previous):
        return targeting.decision_record(decision, user, now)
    return None


# --- the inputs ----------------------------------------------------------------------------

async def apply_segment(user: str, message: dict, source: dict, hops: int) -> None:
    state = load(user)
    if state is not None and state.get("aliasOf") and hops < MAX_ALIAS_HOPS:
        # This id was folded into a known user: its later messages belong there.
        await send(names.USER_COMMANDS, state["aliasOf"],
                   {"kind": "segment", "message": message, "source": source, "hops": hops + 1})
        return
    input_id = message.get("messageId") or _source_id(source)

    def step(state: dict | None, now: int) -> tuple[dict, list]:
        applied = userstate.apply(state, message, user, config, now, input_id=input_id)
        if applied.time_corrected:
            registry.inc("survey_streams_event_time_corrected_total", topic=source.get("topic", "?"))
        folds = [[names.USER_COMMANDS, anonymous_id,
                  {"kind": "fold", "anonymousId": anonymous_id, "userId": user_id, "message": message, "source": source}]
                 for anonymous_id, user_id in applied.folds]
        return applied.state, folds

    await apply_input(user, input_id, step, source, state, loaded=True)


async def fold_anonymous(anonymous_id: str, user_id: str, command: dict, source: dict) -> None:
    """On the anonymous id's partition: hand its history to the user, leave a redirect.

    Refused (dead letter `alias_conflict`, and the user told to forget the id) when the
    id is an identified user and `project.merge_identified_users` is false, or when the
    user is already folded into this id (crossed aliases would leave two redirects).
    """
    if anonymous_id == user_id:
        return
    state = load(anonymous_id)
    if state is not None and state.get("aliasOf") and state["aliasOf"] != user_id:
        return  # folded into someone else already: later messages follow that redirect
    conflict = None
    if state is not None and not state.get("aliasOf"):
        if state.get("identified") and not config.project.merge_identified_users:
            conflict = f"'{anonymous_id}' is an identified user; folding it into '{user_id}' needs " \
                       "project.merge_identified_users: true"
        elif user_id in (state.get("anonymousIds") or ()):
            conflict = f"'{user_id}' is already folded into '{anonymous_id}': the aliases cross"
    if conflict is not None:
        message = command.get("message")
        await reject(InvalidInput(ALIAS_CONFLICT, "previousId" if (message or {}).get("type") == "alias" else "anonymousId",
                                  anonymous_id, conflict),
                     _command_source(command, source), orjson.dumps(message) if isinstance(message, dict) else None)
        await send(names.USER_COMMANDS, user_id, {"kind": "unlink", "anonymousId": anonymous_id})
        return

    def step(previous: dict | None, now: int) -> tuple[dict, list]:
        records = []
        if previous is not None:
            history = {name: value for name, value in previous.items() if name != "outbox"}
            records.append([names.USER_COMMANDS, user_id, {"kind": "absorb", "from": anonymous_id, "state": history}])
            decided = previous.get("decision")
            if decided and (decided["eligible"], decided["surveyId"], decided["reason"]) != NO_DECISION:
                # The id is no user of its own any more (the bridge answers not_identified for
                # it): the decisions topic must not keep its last outcome, say eligible, forever.
                records.append([names.ELIGIBILITY, anonymous_id, targeting.decision_record(
                    targeting.decide(None, config, now, anonymous_id), anonymous_id, now)])
        return userstate.redirect_state(user_id), records

    fold_id = internal_id(f"fold:{anonymous_id}:{user_id}")
    await apply_input(anonymous_id, fold_id, step, source, state, loaded=True, record_id=fold_id)


async def absorb(user_id: str, anonymous_id: str, anonymous_state: dict, source: dict) -> None:
    def step(state: dict | None, now: int) -> tuple[dict, list]:
        return userstate.fold_into(state or new_user_state(user_id), anonymous_state, anonymous_id, user_id, now), []

    await apply_input(user_id, internal_id(f"absorb:{anonymous_id}"), step, source)


async def unlink(user_id: str, anonymous_id: str, source: dict) -> None:
    """A fold was refused: the user no longer lists the id among its anonymous ids."""
    state = load(user_id)
    if state is None or anonymous_id not in (state.get("anonymousIds") or ()):
        return

    def step(state: dict, now: int) -> tuple[dict, list]:
        state["anonymousIds"] = [i for i in state["anonymousIds"] if i != anonymous_id]
        return state, []

    await apply_input(user_id, None, step, source, state, loaded=True)


async def apply_widget_event(user: str, event: dict, source: dict, hops: int = 0) -> None:
    survey = config.survey(event["surveyId"])
    if survey is None:  # validated at the bridge; the config may have changed since
        raise InvalidInput(INVALID_FIELD, "surveyId", event["surveyId"], "survey is not configured")
    state = load(user)
    if state is not None and state.get("aliasOf") and hops < MAX_ALIAS_HOPS:
        # The widget still knows the user by an id since folded into another: the display
        # belongs to that user (the token stays bound to the id the widget was given).
        await send(names.USER_COMMANDS, state["aliasOf"],
                   {"kind": "widget", "event": event, "source": source, "hops": hops + 1})
        return

    def step(state: dict | None, now: int) -> tuple[dict, list]:
        state = state or new_user_state(user)
        opens = event["displayId"] not in state.get("displays", {})
        displays.check_in_agent(app_module.display_secret, event, opens, now)
        outputs = lifecycle.apply_event(state, event, survey, config.project, now)
        return state, lifecycle_records(user, state, outputs)

    await apply_input(user, event["messageId"], step, source, state, loaded=True)


async def tick(user: str, source: dict) -> None:
    """A due time passed: end timed-out displays and re-decide."""
    state = load(user)
    if state is None or state.get("aliasOf"):
        return

    def step(state: dict, now: int) -> tuple[dict, list]:
        return state, lifecycle_records(user, state, lifecycle.expire_displays(state, config, now))

    await apply_input(user, _source_id(source), step, source, state, loaded=True)


def lifecycle_records(user: str, state: dict, outputs) -> list:
    """The records of lifecycle outputs: Segment messages, and a response on Completed."""
    records = []
    for output in outputs:
        survey = config.survey(output.survey_id)
        for message in outbound.segment_messages(output, survey, state, user, __version__):
            records.append([names.OUTBOUND, user, message])
        if output.kind == lifecycle.COMPLETED:
            records.append([names.RESPONSES, survey.id, outbound.response_record(output, survey, state, user)])
    return records


# --- timers --------------------------------------------------------------------------------

def next_due(state: dict) -> int | None:
    """When time alone may change this user: the stored decision's eligibleAt or an open
    display's timeout, whichever comes first."""
    decided = (state.get("decision") or {}).get("eligibleAt")
    deadlines = [t for t in (decided, lifecycle.next_deadline(state)) if t is not None]
    return min(deadlines) if deadlines else None


def _stored_states():
    """(user, state) for every key of the local table: what `users.items()` yields.

    The table's keys are raw UTF-8 and its values orjson (streams.app.json_table), so the
    store's raw items are decoded here directly: Table.items() passes each key and value
    through Faust's serializer registry, which costs more than the JSON parse itself
    (this scan reads every user at start-up). Stores without raw items (memory://) and
    other serializers go through items() as before.
    """
    raw_items = getattr(users.data, "_iteritems", None)
    if raw_items is None or users.key_serializer != "raw" or users.value_serializer != "orjson":
        yield from users.items()
        return
    loads = orjson.loads
    for key, value in raw_items():
        yield key.decode("utf-8"), (loads(value) if value is not None else None)


@users.on_recover
async def rebuild_due_index() -> None:
    """After recovery, index the due times of the users this worker holds (one scan)."""
    count = 0
    for scanned, (user, state) in enumerate(_stored_states()):
        if scanned % 10_000 == 9_999:
            await asyncio.sleep(0)  # a big table: let the bridge and the timers run
        if not state or state.get("aliasOf"):
            continue
        when = next_due(state)
        if when is not None:
            due.schedule(user, when)
            count += 1
    log.info("due index rebuilt", extra={"users": count})


@app.timer(1.0)
async def send_due_ticks() -> None:
    for user in due.pop_due(now_ms()):
        await send(names.USER_COMMANDS, user, {"kind": "tick"})
