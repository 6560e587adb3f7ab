"""What each kind of input does to its user's state, all through one path: `apply_input`.

Thin: the logic is in the pure modules (userstate, lifecycle, targeting, displays); this
module reads the state from the batch, calls them, and queues the outputs and the write.
"""
from __future__ import annotations

import time
from typing import Callable

import orjson

from streams import __version__
from streams.core import displays, lifecycle, outbound, seen, targeting, userstate
from streams.runtime import responsecounts, signing
from streams.core import topics as names
from streams.runtime import app as app_module
from streams.core.errors import ALIAS_CONFLICT, INVALID_FIELD, REPLAYED_COMMAND, TOO_LARGE, InvalidInput
from streams.runtime.metrics import registry
from streams.core.state import encode, new_user_state
from streams.agents import timers
from streams.runtime.emit import send, send_command
from streams.runtime.userstore import UserBatch

MAX_ALIAS_HOPS = 5


def _clock_ms() -> int:
    """The clock, only for a command's expiry: how long it may take to reach the broker."""
    return int(time.time() * 1000)
# An output record's value at most: Kafka refuses a record over the producer's request size
# (1 MiB by default) and the worker would stop on it, then meet the same input again.
MAX_OUTPUT_BYTES = 900 * 1024

# What a step returns: the state to write and the records to produce ([topic, key, value]).
Step = Callable[[dict | None, int], tuple[dict, list]]


def internal_id(text: str) -> str:
    """An input id of our own making. It starts with a control character, which no
    messageId may hold (segment_schema.check_id): no sender can make one collide."""
    return "\x00" + text


def source_id(source: dict) -> str:
    """A record's coordinates as an input id: what identifies a replay of a message that
    has no messageId."""
    return internal_id(f"src:{source.get('topic')}/{source.get('partition')}/{source.get('offset')}")


async def apply_input(batch: UserBatch, user: str, input_id: str | None, step: Step, source: dict) -> None:
    """Apply one input to `user`'s state (docs/processing.md, "One batch, step by step").

    1. A replay (the record at or below the last offset applied to the user from its
       partition) or a duplicate (its id handled for this user within 24 h) changes nothing;
       a copy of a user command already applied (its nonce) is refused.
    2. Else run `step` at the time the input carries (batch.current.at, never a clock),
       remember the input's offset, id and nonce.
    3. Check the byte budget, with room for the decision still to come (InvalidInput
       `too_large`: the batch's copy of the state goes back to what it was, nothing is
       produced).
    4. Queue the outputs and the write (UserBatch.commit makes them durable, outputs
       first); the user's decision is owed: made once, after the user's last input of the
       batch (`settle`, from users.decide_owed), not after each input.
    """
    topic = source.get("topic", "?")
    consumed = batch.current
    state = batch.load(user)
    now = consumed.at
    if seen.replayed(state, consumed.topic, consumed.partition, consumed.offset, consumed.end_offset):
        registry.inc("survey_streams_duplicates_skipped_total", topic=topic)
        return
    nonce_id = internal_id(f"nonce:{consumed.nonce}") if consumed.nonce is not None else None
    if nonce_id is not None and state is not None and userstate.seen_recently(state, nonce_id, now):
        raise InvalidInput(REPLAYED_COMMAND, "nonce", consumed.nonce, "a copy of a user command that was applied already")
    if state is not None and input_id is not None and userstate.seen_recently(state, input_id, now):
        registry.inc("survey_streams_duplicates_skipped_total", topic=topic)
        return
    try:
        state, records = step(state, now)
        for handled in (input_id, nonce_id):
            if handled is not None and userstate.remember_input(state, handled, now)[1]:
                registry.inc("survey_streams_dedupe_window_shortened_total")
        seen.mark_applied(state, consumed.topic, consumed.partition, consumed.offset)
        outputs = [(logical, key, encode_output(logical, value, now)) for logical, key, value in records]
        # The budget: raises before anything leaves. The decision made later must fit too.
        encoded = encode(state, batch.config.project.limits, _decision_room(batch.config, state))
    except BaseException:
        batch.revert(user)
        raise
    registry.inc("survey_streams_processed_total", topic=topic)
    for logical, key, value in outputs:
        batch.deliveries.append(await send(logical, key, value))
    batch.save(user, state, encoded)
    if state.get("aliasOf"):
        batch.owed.pop(user, None)  # a redirect decides nothing
        timers.due.schedule(user, None)
    else:
        batch.owed[user] = now  # decided at the time of the user's last input of the batch


async def settle(batch: UserBatch, user: str) -> None:
    """Make `user`'s owed decision now: at the batch's end, or before a step that reads the
    decision last emitted (a fold)."""
    now = batch.owed.pop(user, None)
    state = batch.states.get(user)
    if now is None or state is None or state.get("aliasOf"):
        return
    try:
        before = state.get("decision")
        record = _decide(batch.config, user, state, now)
        # The state as its last input left it, unless the decision it keeps changed (then
        # it fits: apply_input kept the room).
        encoded = batch.dirty[user] if state["decision"] == before and user in batch.dirty \
            else encode(state, batch.config.project.limits)
        output = encode_output(names.ELIGIBILITY, record, now) if record is not None else None
    except BaseException:
        batch.revert(user)
        raise
    if output is not None:
        batch.deliveries.append(await send(names.ELIGIBILITY, user, output))
    timers.due.schedule(user, timers.next_due(state))
    batch.save(user, state, encoded)


_room_for: list = [None, 0]  # [config, the most bytes its stored decision can take]


def _decision_room(config, state: dict) -> int:
    """How many more bytes the state may need once its decision is made: the most a stored
    decision can take under `config` less what the state's current one takes."""
    if _room_for[0] is not config:
        _room_for[:] = [config, targeting.stored_decision_bound(config)]
    return max(0, _room_for[1] - len(orjson.dumps(state.get("decision"))))


def encode_output(logical: str, value: dict, at: int) -> bytes:
    """An output as produced, or InvalidInput `too_large` when Kafka would refuse it: the
    input is then dead-lettered whole, none of its outputs produced (checked before any is).
    A user command is sealed (streams.runtime.signing), with `at` the time of the input causing it."""
    if logical == names.USER_COMMANDS:
        value = signing.seal_command({**value, "at": at}, _clock_ms())
    raw = orjson.dumps(value)
    if len(raw) > MAX_OUTPUT_BYTES:
        raise InvalidInput(TOO_LARGE, logical, len(raw),
                           f"an output to {logical} would take {len(raw)} bytes, the limit is {MAX_OUTPUT_BYTES}")
    return raw


def _decide(config, user: str, state: dict, now: int) -> dict | None:
    """Re-decide; store the outcome in the state and return the decision record to emit
    when it changed (docs/reference.md#decisions)."""
    decision = targeting.decide(state, config, now, user, response_counts=responsecounts.current())
    outcome = targeting.outcome(decision)
    before = targeting.stored_outcome(state)
    state["decision"] = targeting.stored_decision(decision)
    return targeting.decision_record(decision, user, now) if outcome != before else None


async def _forward(batch: UserBatch, target: str, command: dict) -> None:
    batch.deliveries.append(await send_command(target, {**command, "at": batch.current.at}))


# --- the inputs ----------------------------------------------------------------------------

def _claims_itself(state: dict, user: str, message: dict, config) -> bool:
    """An identify of a user id that was folded into another before it was ever identified
    (anyone with a write key can alias an id nobody has used yet): the id is a user of its
    own from now on. With merge_identified_users the operator folds identified users on
    purpose, and their identifies keep following the redirect."""
    return (message.get("type") == "identify" and message.get("userId") == user
            and not config.project.merge_identified_users)


async def apply_segment(batch: UserBatch, user: str, message: dict, source: dict, hops: int) -> None:
    state = batch.load(user)
    if state is not None and state.get("aliasOf") and _claims_itself(state, user, message, batch.config):
        await _forward(batch, state["aliasOf"], {"kind": "unlink", "anonymousId": user})
        batch.states[user] = state = None  # its identify starts a user here, as for a new id
    if state is not None and state.get("aliasOf") and hops < MAX_ALIAS_HOPS:
        # This id was folded into a known user: its later messages belong there.
        await _forward(batch, state["aliasOf"], {"kind": "segment", "message": message, "source": source,
                                                 "hops": hops + 1})
        return
    input_id = message.get("messageId") or source_id(source)

    def step(state: dict | None, now: int) -> tuple[dict, list]:
        applied = userstate.apply(state, message, user, batch.config, now, input_id=input_id, dedupe=False)
        if applied.time_corrected:
            registry.inc("survey_streams_event_time_corrected_total", topic=source.get("topic", "?"))
        folds = [[names.USER_COMMANDS, anonymous_id,
                  {"kind": "fold", "anonymousId": anonymous_id, "userId": user_id, "message": message, "source": source}]
                 for anonymous_id, user_id in applied.folds]
        return applied.state, folds

    await apply_input(batch, user, input_id, step, source)


async def fold_anonymous(batch: UserBatch, anonymous_id: str, user_id: str, command: dict, source: dict,
                         origin: dict, reject) -> None:
    """On the anonymous id's partition: hand its history to the user, leave a redirect.

    `source` is the fold command's record; `origin` the alias or identify that asked for it
    (what a refusal's dead letter names).
    Refused (dead letter `alias_conflict`, and the user told to forget the id) when the
    id is an identified user and `project.merge_identified_users` is false, or when the
    user is already folded into this id (crossed aliases would leave two redirects).
    """
    if anonymous_id == user_id:
        return
    await settle(batch, anonymous_id)  # the step reads the decision last emitted for the id
    config = batch.config
    state = batch.load(anonymous_id)
    if state is not None and state.get("aliasOf"):
        return  # folded already (a replay, or into someone else: messages follow the redirect)
    conflict = None
    if state is not None:
        if state.get("identified") and not config.project.merge_identified_users:
            conflict = f"'{anonymous_id}' is an identified user; folding it into '{user_id}' needs " \
                       "project.merge_identified_users: true"
        elif user_id in (state.get("anonymousIds") or ()):
            conflict = f"'{user_id}' is already folded into '{anonymous_id}': the aliases cross"
    if conflict is not None:
        message = command.get("message")
        field = "previousId" if isinstance(message, dict) and message.get("type") == "alias" else "anonymousId"
        await reject(InvalidInput(ALIAS_CONFLICT, field, anonymous_id, conflict), origin,
                     orjson.dumps(message) if isinstance(message, dict) else None)
        await _forward(batch, user_id, {"kind": "unlink", "anonymousId": anonymous_id})
        return

    def step(previous: dict | None, now: int) -> tuple[dict, list]:
        records = []
        if previous is not None:
            records.append([names.USER_COMMANDS, user_id, {"kind": "absorb", "from": anonymous_id, "state": previous}])
            if targeting.stored_outcome(previous) != targeting.NO_DECISION:
                # The id is no user of its own any more (the bridge answers not_identified for
                # it): the decisions topic must not keep its last outcome, say eligible, forever.
                records.append([names.ELIGIBILITY, anonymous_id, targeting.decision_record(
                    targeting.decide(None, config, now, anonymous_id), anonymous_id, now)])
        return userstate.redirect_state(user_id, previous), records

    await apply_input(batch, anonymous_id, internal_id(f"fold:{anonymous_id}:{user_id}"), step, source)


async def absorb(batch: UserBatch, user_id: str, anonymous_id: str, anonymous_state: dict, source: dict,
                 hops: int = 0) -> None:
    state = batch.load(user_id)
    if state is not None and state.get("aliasOf") and hops < MAX_ALIAS_HOPS:
        # The user was folded into another since the fold was asked (another partition, in
        # between): the history belongs there, not in a redirect nothing reads.
        await _forward(batch, state["aliasOf"], {"kind": "absorb", "from": anonymous_id, "state": anonymous_state,
                                                 "hops": hops + 1})
        return

    def step(state: dict | None, now: int) -> tuple[dict, list]:
        return userstate.fold_into(state or new_user_state(user_id), anonymous_state, anonymous_id, user_id, now), []

    await apply_input(batch, user_id, internal_id(f"absorb:{anonymous_id}"), step, source)


async def unlink(batch: UserBatch, user_id: str, anonymous_id: str, source: dict) -> None:
    """A fold was refused: the user no longer lists the id among its anonymous ids."""
    state = batch.load(user_id)
    if state is None or anonymous_id not in (state.get("anonymousIds") or ()):
        return

    def step(state: dict, now: int) -> tuple[dict, list]:
        state["anonymousIds"] = [i for i in state["anonymousIds"] if i != anonymous_id]
        return state, []

    await apply_input(batch, user_id, None, step, source)


async def apply_widget_event(batch: UserBatch, user: str, event: dict, source: dict, hops: int = 0) -> None:
    config = batch.config
    survey = config.survey(event["surveyId"])
    if survey is None:  # validated at the bridge; the config may have changed since
        raise InvalidInput(INVALID_FIELD, "surveyId", event["surveyId"], "survey is not configured")
    state = batch.load(user)
    if state is not None and state.get("aliasOf") and hops < MAX_ALIAS_HOPS:
        # The widget still knows the user by an id since folded into another: the display
        # belongs to that user (the token stays bound to the id the widget was given).
        await _forward(batch, state["aliasOf"], {"kind": "widget", "event": event, "source": source, "hops": hops + 1})
        return

    def step(state: dict | None, now: int) -> tuple[dict, list]:
        state = state or new_user_state(user)
        displays.check_in_agent(app_module.display_secret, app_module.display_id_key, event, state, now)
        outputs = lifecycle.apply_event(state, event, survey, config.project, now)
        return state, lifecycle_records(config, user, state, outputs)

    await apply_input(batch, user, event["messageId"], step, source)


async def tick(batch: UserBatch, user: str, source: dict) -> None:
    """A due time passed: end timed-out displays and re-decide."""
    state = batch.load(user)
    if state is None or state.get("aliasOf"):
        return

    def step(state: dict, now: int) -> tuple[dict, list]:
        config = batch.config
        return state, lifecycle_records(config, user, state, lifecycle.expire_displays(state, config, now))

    await apply_input(batch, user, None, step, source)


def lifecycle_records(config, user: str, state: dict, outputs) -> list:
    """The records of lifecycle outputs: Segment messages, and a response on Completed."""
    records = []
    for output in outputs:
        survey = config.survey(output.survey_id)
        for message in outbound.segment_messages(output, survey, state, user, __version__):
            records.append([names.OUTBOUND, user, message])
        if output.kind == lifecycle.COMPLETED:
            records.append([names.RESPONSES, survey.id, outbound.response_record(output, survey, state, user)])
    return records
