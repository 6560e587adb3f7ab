"""The user processor: the one agent that writes the `users` table.

It reads the inbound Segment topics, the widget lifecycle topic and the internal
user-commands topic (re-keyed messages, identity folds, timer ticks), all co-partitioned by
user id. For each input it applies the pure logic (userstate, lifecycle, targeting) and
emits decisions, outbound Segment messages and responses. Nothing here decides anything.
"""
from __future__ import annotations

import logging
import time

import orjson

from .. import __version__, lifecycle, outbound, targeting, topics as names, userstate
from ..app import app, config, topic_names, user_channel, users
from ..dueindex import DueIndex
from ..errors import InvalidInput, INVALID_FIELD
from ..metrics import registry
from ..schemas import segment as segment_schema
from ..schemas import widget as widget_schema
from ..state import new_user_state
from .emit import dead_letter, send

log = logging.getLogger("streams.users")
MAX_ALIAS_HOPS = 5
NO_DECISION = (False, None, "not_identified")  # what an unknown user implicitly has

# Keys that need a look again at a given instant: a decision's eligibleAt or an open
# display's timeout. Rebuilt from the local table after recovery.
due = DueIndex()


def now_ms() -> int:
    return int(time.time() * 1000)


def load(user: str) -> dict | None:
    """`users.get(user)` with one store read (hot path: once or more per event).

    Table.get goes through `key in store` and then `store[key]`: two RocksDB reads of the
    same value per lookup. The store's own get reads once; the table's get hook (Faust's
    sensors) is still called, as Table.get would.
    """
    users.on_key_get(user)
    return users.data.get(user)


def _source(event) -> dict:
    message = event.message
    return {"topic": message.topic, "partition": message.partition, "offset": message.offset}


@app.agent(user_channel, name="streams.agents.users.process")
async def process(stream):
    async for event in stream.events():
        topic = event.message.topic
        registry.inc("survey_streams_messages_in_total", topic=topic)
        try:
            await handle(topic_names.logical(topic), event.key, event.value, _source(event))
        except InvalidInput as error:
            await dead_letter(error, _source(event), event.value)
        except Exception as error:  # keep the worker running; the input is kept in the dead letter
            log.exception("processing failed", extra={"topic": topic, "offset": event.message.offset})
            await dead_letter(InvalidInput("processing_error", None, None, f"{type(error).__name__}: {error}"),
                              _source(event), event.value)


async def handle(logical: str, raw_key: bytes | None, raw: bytes, source: dict) -> None:
    """Decode one input and apply it here when it is keyed by its user, else re-key it
    to the user's partition through streams.user-commands."""
    key = raw_key.decode("utf-8", errors="replace") if raw_key is not None else None
    if logical == names.USER_COMMANDS:
        await handle_command(key, orjson.loads(raw), source)
    elif logical == names.LIFECYCLE:
        event = widget_schema.validate_event(segment_schema.decode_object(raw), config)
        user = event["userId"]
        if key == user:
            await apply_widget_event(user, event, source)
        else:
            await send(names.USER_COMMANDS, user, {"kind": "widget", "event": event, "source": source})
    else:
        message = segment_schema.decode(raw)
        user = segment_schema.user_key(message)
        if key == user:
            await apply_segment(user, message, source, hops=0)
        else:
            await send(names.USER_COMMANDS, user, {"kind": "segment", "message": message, "source": source})


async def handle_command(key: str, command: dict, source: dict) -> None:
    kind = command.get("kind")
    if kind == "segment":
        await apply_segment(key, command["message"], command.get("source", source), hops=command.get("hops", 0))
    elif kind == "widget":
        await apply_widget_event(key, command["event"], command.get("source", source))
    elif kind == "fold":
        await fold_anonymous(key, command["userId"])
    elif kind == "absorb":
        await absorb(key, command["from"], command["state"])
    elif kind == "tick":
        await tick(key)
    else:
        raise InvalidInput(INVALID_FIELD, "kind", kind, f"unknown user command {kind!r}")


async def apply_segment(user: str, message: dict, source: dict, hops: int) -> None:
    state = load(user)
    if state is not None and state.get("aliasOf") and hops < MAX_ALIAS_HOPS:
        # This id was folded into a known user: its later messages belong there.
        await send(names.USER_COMMANDS, state["aliasOf"],
                   {"kind": "segment", "message": message, "source": source, "hops": hops + 1})
        return
    now = now_ms()
    applied = userstate.apply(state, message, user, config, now)
    topic = source.get("topic", "?")
    if applied.duplicate:
        registry.inc("survey_streams_duplicates_skipped_total", topic=topic)
        return
    registry.inc("survey_streams_processed_total", topic=topic)
    for anonymous_id, user_id in applied.folds:
        await send(names.USER_COMMANDS, anonymous_id, {"kind": "fold", "anonymousId": anonymous_id, "userId": user_id})
    await save(user, applied.state, now)


async def fold_anonymous(anonymous_id: str, user_id: str) -> None:
    """On the anonymous id's partition: hand its history to the user, leave a redirect."""
    if anonymous_id == user_id:
        return
    state = load(anonymous_id)
    if state is not None and state.get("aliasOf"):
        return  # already folded (a redelivered or repeated alias)
    users[anonymous_id] = userstate.redirect_state(user_id)
    previous = (state or {}).get("decision")
    if previous and (previous["eligible"], previous["surveyId"], previous["reason"]) != NO_DECISION:
        # The id is no user of its own any more (the bridge answers not_identified for
        # it): the decisions topic must not keep its last outcome, say eligible, forever.
        now = now_ms()
        await send(names.ELIGIBILITY, anonymous_id,
                   targeting.decision_record(targeting.decide(None, config, now, anonymous_id), anonymous_id, now))
    if state is not None:
        await send(names.USER_COMMANDS, user_id, {"kind": "absorb", "from": anonymous_id, "state": state})


async def absorb(user_id: str, anonymous_id: str, anonymous_state: dict) -> None:
    state = load(user_id) or new_user_state(user_id)
    now = now_ms()
    if not userstate.remember(state, f"absorb:{anonymous_id}", now):
        return
    await save(user_id, userstate.fold_into(state, anonymous_state, anonymous_id, user_id), now)


async def apply_widget_event(user: str, event: dict, source: dict) -> None:
    survey = config.survey(event["surveyId"])
    if survey is None:  # validated at the bridge; the config may have changed since
        raise InvalidInput(INVALID_FIELD, "surveyId", event["surveyId"], "survey is not configured")
    state = load(user) or new_user_state(user)
    now = now_ms()
    if not userstate.remember(state, event["messageId"], now):
        registry.inc("survey_streams_duplicates_skipped_total", topic=source.get("topic", "?"))
        return
    registry.inc("survey_streams_processed_total", topic=source.get("topic", "?"))
    outputs = lifecycle.apply_event(state, event, survey, config.project, now)
    await publish(user, state, outputs)
    await save(user, state, now)


async def tick(user: str) -> None:
    """A due time passed: end timed-out displays and re-decide."""
    state = load(user)
    if state is None or state.get("aliasOf"):
        return
    now = now_ms()
    outputs = lifecycle.expire_displays(state, config, now)
    await publish(user, state, outputs)
    await save(user, state, now)


async def publish(user: str, state: dict, outputs) -> None:
    for output in outputs:
        survey = config.survey(output.survey_id)
        for message in outbound.segment_messages(output, survey, state, user, __version__):
            await send(names.OUTBOUND, user, message)
        if output.kind == "completed":
            await send(names.RESPONSES, survey.id, outbound.response_record(output, survey, state, user))


async def save(user: str, state: dict, now: int) -> None:
    """Re-decide, emit the decision if its outcome changed, index the next due time, store."""
    decision = targeting.decide(state, config, now, user)
    outcome = targeting.outcome(decision)
    previous = state.get("decision")
    before = (previous["eligible"], previous["surveyId"], previous["reason"]) if previous else NO_DECISION
    if outcome != before:
        await send(names.ELIGIBILITY, user, targeting.decision_record(decision, user, now))
    state["decision"] = {"eligible": outcome[0], "surveyId": outcome[1], "reason": outcome[2],
                         "eligibleAt": decision.eligible_at}
    due.schedule(user, next_due(state))
    users[user] = state


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
    for user, state in _stored_states():
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
