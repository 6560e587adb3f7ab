"""The user processor (streams/agents/users.py) under Faust's `agent.test_context()`
(tests/agents/support.py says how)."""
from __future__ import annotations

import copy
import time

import orjson
import pytest

from streams.runtime import app as app_module
from streams.core import displays, seen
from streams.core import topics as names
from streams.runtime import emit
from streams.agents import userinputs
from streams.agents import users as users_agent
from streams.runtime.app import lifecycle_topic, users
from streams.runtime.deadletter import PAYLOAD_MAX
from streams.runtime.metrics import registry
from streams.core.state import new_user_state
from streams.core.timeutil import parse_iso
from tests.agents.support import OLD_SIGNUP, identify, recent, state_of, unique


# --- identify -> state + decision ---------------------------------------------------------

async def test_identify_sets_state_and_emits_a_decision(agent, outputs):
    user = unique("ident")
    processed = registry.value("survey_streams_processed_total", topic="segment.identify")
    await agent.segment(identify(user, "m1", "2026-01-05T10:00:00Z", plan="pro", createdAt=OLD_SIGNUP), key=user)
    assert await agent.eventually(lambda: users.get(user) is not None)

    state = state_of(user)
    assert state["userId"] == user and state["identified"] is True
    assert state["traits"] == {"plan": "pro", "createdAt": OLD_SIGNUP}
    assert state["createdAt"] == parse_iso(OLD_SIGNUP)
    assert state["firstSeen"] == state["lastSeen"] == parse_iso("2026-01-05T10:00:00Z")
    assert seen.size(state["seen"]) == 1 and seen.handled_within(state["seen"], "m1", state["seen"]["base"])
    assert state["decision"] == {"eligible": True, "surveyId": "nps-main", "reason": "eligible", "eligibleAt": None}

    [(key, decision)] = outputs.keyed(names.ELIGIBILITY)
    assert key == user
    assert {k: decision[k] for k in ("userId", "eligible", "surveyId", "reason", "eligibleAt")} == {
        "userId": user, "eligible": True, "surveyId": "nps-main", "reason": "eligible", "eligibleAt": None}
    assert parse_iso(decision["decidedAt"]) is not None and decision["decidedAt"].endswith("Z")
    assert registry.value("survey_streams_processed_total", topic="segment.identify") == processed + 1


async def test_a_decision_is_emitted_only_when_its_outcome_changes(agent, outputs):
    user = unique("outcome")
    await agent.segment(identify(user, "m1", "2026-01-05T10:00:00Z", plan="free", createdAt=OLD_SIGNUP), key=user)
    assert await agent.eventually(lambda: outputs.of(names.ELIGIBILITY, user))
    first = outputs.of(names.ELIGIBILITY, user)
    # not eligible: the highest-priority active survey (csat-export) awaits its trigger
    assert [(d["eligible"], d["surveyId"], d["reason"]) for d in first] == [(False, None, "awaiting_trigger")]

    # another trait, same outcome: state changes, no new decision
    await agent.segment(identify(user, "m2", "2026-01-05T11:00:00Z", company="Acme"), key=user)
    assert await agent.eventually(lambda: "company" in users[user]["traits"])
    assert len(outputs.of(names.ELIGIBILITY, user)) == 1

    # the plan that nps-main targets: the outcome changes, a second decision
    await agent.segment(identify(user, "m3", "2026-01-05T12:00:00Z", plan="team"), key=user)
    assert await agent.eventually(lambda: len(outputs.of(names.ELIGIBILITY, user)) == 2)
    latest = outputs.of(names.ELIGIBILITY, user)[-1]
    assert (latest["eligible"], latest["surveyId"], latest["reason"]) == (True, "nps-main", "eligible")


async def test_an_older_identify_does_not_roll_a_trait_back(agent, outputs):
    user = unique("order")
    await agent.segment(identify(user, "m-new", "2026-01-05T12:00:00Z", plan="pro"), key=user)
    await agent.segment(identify(user, "m-old", "2026-01-04T12:00:00Z", plan="free", region="eu"), key=user)
    assert await agent.eventually(lambda: "region" in (users.get(user) or {}).get("traits", {}))
    state = state_of(user)
    assert state["traits"] == {"plan": "pro", "region": "eu"}  # new key taken, older value ignored
    assert state["firstSeen"] == parse_iso("2026-01-04T12:00:00Z")
    assert state["lastSeen"] == parse_iso("2026-01-05T12:00:00Z")


# --- duplicates ----------------------------------------------------------------------------

async def test_duplicate_message_id_is_skipped(agent, outputs):
    user = unique("dup")
    await agent.segment(identify(user, "same-id", "2026-01-05T10:00:00Z", plan="pro", createdAt=OLD_SIGNUP), key=user)
    assert await agent.eventually(lambda: users.get(user) is not None)
    before_state = state_of(user)
    before_outputs = len(outputs.records)
    skipped = registry.value("survey_streams_duplicates_skipped_total", topic="segment.identify")

    # a retry with the same messageId, even with other content and a later time, is skipped
    await agent.segment(identify(user, "same-id", "2026-01-06T10:00:00Z", plan="free"), key=user)
    assert await agent.eventually(
        lambda: registry.value("survey_streams_duplicates_skipped_total", topic="segment.identify") == skipped + 1)
    assert state_of(user) == before_state
    assert len(outputs.records) == before_outputs

    # a different messageId is applied
    await agent.segment(identify(user, "other-id", "2026-01-06T10:00:00Z", plan="free"), key=user)
    assert await agent.eventually(lambda: users[user]["traits"]["plan"] == "free")


async def test_duplicate_track_does_not_count_a_trigger_twice(agent, outputs):
    user = unique("duptrack")
    track = {"type": "track", "userId": user, "messageId": "t1", "timestamp": recent(1),
             "event": "Report Exported", "properties": {"format": "pdf"}}
    skipped = registry.value("survey_streams_duplicates_skipped_total", topic="segment.track")
    await agent.segment(track, key=user, logical=names.SEGMENT_TRACK)
    await agent.segment(track, key=user, logical=names.SEGMENT_TRACK)
    assert await agent.eventually(
        lambda: registry.value("survey_streams_duplicates_skipped_total", topic="segment.track") == skipped + 1)
    assert users[user]["triggers"]["csat-export"]["count"] == 1


# --- malformed -> dead letter -------------------------------------------------------------

MALFORMED = [
    ("invalid_json", b"{\"type\": \"identify\", ", "segment.identify"),
    ("invalid_json", b"\xff\xfe not utf-8", "segment.track"),
    ("not_an_object", b"[{\"type\": \"identify\"}]", "segment.identify"),
    ("missing_field", b"{\"type\": \"identify\", \"traits\": {}}", "segment.identify"),
    ("missing_field", b"{\"type\": \"track\", \"userId\": \"u\"}", "segment.track"),
    ("missing_field", b"{\"type\": \"alias\", \"userId\": \"u\"}", "segment.alias"),
    ("invalid_field", b"{\"type\": \"identify\", \"userId\": {\"id\": 1}}", "segment.identify"),
    ("invalid_field", b"{\"type\": \"identify\", \"userId\": \"u\", \"traits\": \"plan=pro\"}", "segment.identify"),
    ("invalid_field", b"{\"type\": \"track\", \"userId\": \"u\", \"event\": \"E\", \"timestamp\": \"yesterday\"}",
     "segment.track"),
    ("too_large", orjson.dumps({"type": "track", "userId": "u", "event": "E", "properties": {"p": "x" * 66000}}),
     "segment.track"),
    ("unknown_type", b"{\"type\": \"scream\", \"userId\": \"u\"}", "segment.track"),
]


@pytest.mark.parametrize("code, raw, topic", [m for m in MALFORMED], ids=[f"{m[0]}-{i}" for i, m in enumerate(MALFORMED)])
async def test_malformed_input_goes_to_the_dead_letter_with_its_code(agent, outputs, code, raw, topic):
    counted = registry.value("survey_streams_deadlettered_total", source=topic, code=code)
    event = await agent.segment(raw, key="whoever", logical=topic, partition=3)
    assert await agent.eventually(lambda: outputs.of(names.DEADLETTER))
    [record] = outputs.of(names.DEADLETTER)
    assert record["error"] == code
    assert record["source"] == {"topic": topic, "partition": 3, "offset": event.message.offset}
    assert record["payload"] == raw[:PAYLOAD_MAX].decode("utf-8", errors="replace")  # cut at 64 KB
    assert record["detail"]
    assert registry.value("survey_streams_deadlettered_total", source=topic, code=code) == counted + 1
    assert outputs.of(names.ELIGIBILITY) == [] and users.get("whoever") is None

    # the agent is still running: a valid message after the bad one is applied
    user = unique("after-bad")
    await agent.segment(identify(user, "m1", "2026-01-05T10:00:00Z", plan="pro"), key=user)
    assert await agent.eventually(lambda: users.get(user) is not None)


async def test_a_processing_error_is_dead_lettered_and_the_agent_survives(agent, outputs, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(userinputs.userstate, "apply", broken)
    user = unique("boom")
    await agent.segment(identify(user, "m1", "2026-01-05T10:00:00Z", plan="pro"), key=user)
    assert await agent.eventually(lambda: outputs.of(names.DEADLETTER))
    [record] = outputs.of(names.DEADLETTER)
    assert record["error"] == "processing_error"
    assert "RuntimeError: boom" in record["detail"]
    monkeypatch.undo()
    for module in (userinputs, emit):
        monkeypatch.setattr(module, "send", outputs.send)
    await agent.segment(identify(user, "m2", "2026-01-05T10:00:00Z", plan="pro"), key=user)
    assert await agent.eventually(lambda: users.get(user) is not None)


# --- keys and identity ---------------------------------------------------------------------

async def test_a_message_under_another_key_is_rekeyed_to_its_user(agent, outputs):
    user = unique("rekey")
    message = identify(user, "m1", "2026-01-05T10:00:00Z", plan="pro")
    await agent.segment(message, key=None)  # e.g. produced without a key
    assert await agent.eventually(lambda: outputs.of(names.USER_COMMANDS))
    [(key, command)] = outputs.keyed(names.USER_COMMANDS)
    assert key == user
    assert command["kind"] == "segment" and command["message"]["traits"] == {"plan": "pro"}
    assert command["source"]["topic"] == "segment.identify"
    assert users.get(user) is None  # applied only on the user's partition

    await agent.command(user, command)
    assert await agent.eventually(lambda: users.get(user) is not None)
    assert users[user]["traits"] == {"plan": "pro"}


async def test_identify_with_anonymous_id_folds_the_anonymous_history(agent, outputs):
    user, anonymous = unique("fold-user"), unique("fold-anon")
    first_seen = recent(5)
    await agent.segment({"type": "track", "anonymousId": anonymous, "messageId": "a1", "timestamp": first_seen,
                         "event": "Report Exported", "properties": {"format": "pdf"}},
                        key=anonymous, logical=names.SEGMENT_TRACK)
    assert await agent.eventually(lambda: users.get(anonymous) is not None)
    assert users[anonymous]["triggers"]["csat-export"]["count"] == 1
    assert users[anonymous]["userId"] is None

    message = identify(user, "i1", recent(1), plan="pro", createdAt=OLD_SIGNUP)
    message["anonymousId"] = anonymous
    await agent.segment(message, key=user)
    assert await agent.eventually(lambda: outputs.of(names.USER_COMMANDS, anonymous))
    [fold] = outputs.of(names.USER_COMMANDS, anonymous)
    assert {k: fold[k] for k in ("kind", "anonymousId", "userId")} == {"kind": "fold", "anonymousId": anonymous, "userId": user}
    assert fold["message"]["messageId"] == "i1"  # for the dead letter, should the fold be refused

    await agent.command(anonymous, fold)
    assert await agent.eventually(lambda: outputs.of(names.USER_COMMANDS, user))
    [absorb] = outputs.of(names.USER_COMMANDS, user)
    assert absorb["kind"] == "absorb" and absorb["from"] == anonymous
    # the anonymous key now redirects (written once the batch's outputs are acknowledged)
    assert await agent.eventually(lambda: (users.get(anonymous) or {}).get("aliasOf") == user)

    await agent.command(user, absorb)
    assert await agent.eventually(lambda: "csat-export" in users[user]["triggers"])
    state = state_of(user)
    assert state["anonymousIds"] == [anonymous]
    assert state["triggers"]["csat-export"]["count"] == 1
    assert state["firstSeen"] == parse_iso(first_seen)
    assert state["traits"]["plan"] == "pro"
    # the folded trigger makes the export survey (priority 20) the one to show
    latest = outputs.of(names.ELIGIBILITY, user)[-1]
    assert (latest["eligible"], latest["surveyId"]) == (True, "csat-export")

    # the same absorb redelivered does not count twice
    await agent.command(user, absorb)
    await agent.segment(identify(user, "i2", recent(1), marker=True), key=user)  # handled after it
    assert await agent.eventually(lambda: "marker" in users[user]["traits"])
    assert users[user]["triggers"]["csat-export"]["count"] == 1
    assert users[user]["anonymousIds"] == [anonymous]

    # a later message under the anonymous key is forwarded to the user
    before = len(outputs.of(names.USER_COMMANDS, user))
    await agent.segment({"type": "page", "anonymousId": anonymous, "messageId": "a2", "timestamp": recent(0.5),
                         "name": "Pricing"}, key=anonymous, logical=names.SEGMENT_TRACK)
    assert await agent.eventually(lambda: len(outputs.of(names.USER_COMMANDS, user)) > before)
    forwarded = outputs.of(names.USER_COMMANDS, user)[-1]
    assert forwarded["kind"] == "segment" and forwarded["hops"] == 1
    assert forwarded["message"]["messageId"] == "a2"


async def test_unknown_user_command_is_dead_lettered(agent, outputs):
    event = await agent.command("someone", {"kind": "explode"})
    assert await agent.eventually(lambda: outputs.of(names.DEADLETTER))
    [record] = outputs.of(names.DEADLETTER)
    assert record["error"] == "invalid_field" and record["field"] == "kind"
    assert record["source"]["topic"] == app_module.topic_names[names.USER_COMMANDS] == "survey-streams-user-commands"
    assert record["source"]["offset"] == event.message.offset


# --- a dead letter that cannot be written ----------------------------------------------------

async def test_a_dead_letter_that_cannot_be_written_is_retried_then_stops_the_worker(agent, outputs, monkeypatch):
    """Issue 11 #7: the input must not be acknowledged without its dead letter. The worker
    retries, then stops (os._exit, so nothing more is committed) before acking the input."""
    from aiokafka.errors import KafkaConnectionError

    attempts, stops = [], []

    async def broker_gone(logical, key, value):
        attempts.append(logical)
        raise KafkaConnectionError("broker unavailable")

    monkeypatch.setattr(emit, "send", broker_gone)
    monkeypatch.setattr(emit, "DEAD_LETTER_BACKOFF_S", 0.001)
    monkeypatch.setattr(users_agent, "stop_process", stops.append)
    await agent.segment(b"{broken", key="dead-letter-fails", logical=names.SEGMENT_IDENTIFY)
    assert await agent.eventually(lambda: stops)
    assert attempts == [names.DEADLETTER] * emit.DEAD_LETTER_ATTEMPTS
    assert "dead letter" in stops[0]


async def test_a_kafka_failure_while_applying_stops_the_worker_instead_of_dead_lettering(agent, outputs, monkeypatch):
    """An output that cannot be produced is no fault of the input: no dead letter, a stop."""
    from aiokafka.errors import KafkaTimeoutError

    stops = []
    real_send = outputs.send

    async def eligibility_down(logical, key, value):
        if logical == names.ELIGIBILITY:
            raise KafkaTimeoutError("no metadata")
        return await real_send(logical, key, value)

    monkeypatch.setattr(userinputs, "send", eligibility_down)
    monkeypatch.setattr(users_agent, "stop_process", stops.append)
    user = unique("kafka-down")
    await agent.segment(identify(user, "m1", recent(1), plan="pro", createdAt=OLD_SIGNUP), key=user)
    assert await agent.eventually(lambda: stops)
    assert "KafkaTimeoutError" in stops[0]
    assert outputs.of(names.DEADLETTER) == []
    assert users.get(user) is None  # nothing written: the input will be processed again


async def test_an_absorb_reaching_a_key_folded_meanwhile_follows_its_redirect(agent, outputs):
    """fold(V -> W) is asked while W is a user of its own; W is folded into Z before V's absorb
    arrives (another partition). The history must reach Z, not stay in W's redirect, which
    nothing reads (the bridge answers not_identified for it)."""
    user, middle, anonymous = unique("absorb-z"), unique("absorb-w"), unique("absorb-v")
    message = identify(user, "z1", recent(1), plan="pro", createdAt=OLD_SIGNUP)
    message["anonymousId"] = middle
    await agent.segment({"type": "page", "anonymousId": middle, "messageId": "w1", "timestamp": recent(3)},
                        key=middle, logical=names.SEGMENT_TRACK)
    assert await agent.eventually(lambda: users.get(middle) is not None)
    await agent.segment(message, key=user)
    assert await agent.eventually(lambda: outputs.of(names.USER_COMMANDS, middle))
    [fold] = outputs.of(names.USER_COMMANDS, middle)
    await agent.command(middle, fold)
    assert await agent.eventually(lambda: (users.get(middle) or {}).get("aliasOf") == user)

    history = {"userId": None, "identified": False, "traits": {}, "traitTimes": {}, "groups": {},
               "createdAt": None, "firstSeen": parse_iso(recent(5)), "lastSeen": parse_iso(recent(5)),
               "anonymousIds": [], "triggers": {"csat-export": {"count": 1, "last": parse_iso(recent(5))}},
               "surveys": {}, "lastSurveyShownAt": None, "displays": {}, "seen": {}, "decision": None, "aliasOf": None}
    await agent.command(middle, {"kind": "absorb", "from": anonymous, "state": history})

    def forwarded():
        return [c for c in outputs.of(names.USER_COMMANDS, user) if c.get("kind") == "absorb" and c["from"] == anonymous]
    assert await agent.eventually(lambda: forwarded() or "csat-export" in users[middle]["triggers"])
    forwarded = forwarded()
    assert forwarded and forwarded[-1]["hops"] == 1
    assert "csat-export" not in users[middle]["triggers"]  # nothing stranded in the redirect
    await agent.command(user, forwarded[-1])
    assert await agent.eventually(lambda: "csat-export" in users[user]["triggers"])
    assert anonymous in users[user]["anonymousIds"]


async def test_an_input_whose_output_kafka_would_refuse_is_dead_lettered_whole(agent, outputs, monkeypatch):
    """An output over Kafka's record size used to stop the worker (and again on restart, on
    the same input): now the input is dead-lettered, none of its outputs produced."""
    user = unique("huge-output")
    await agent.segment(identify(user, "m1", "2026-01-05T10:00:00Z", plan="pro", createdAt=OLD_SIGNUP), key=user)
    assert await agent.eventually(lambda: users.get(user) is not None)
    before, produced = state_of(user), len(outputs.records)
    huge = {"type": "track", "userId": user, "event": "Survey Completed", "properties": {"comment": "x" * 1_000_000}}
    real_records = userinputs.lifecycle_records
    monkeypatch.setattr(userinputs, "lifecycle_records", lambda *args: [[names.OUTBOUND, user, huge]])
    await agent.command(user, {"kind": "tick"})
    assert await agent.eventually(lambda: outputs.of(names.DEADLETTER))
    [record] = outputs.of(names.DEADLETTER)
    assert record["error"] == "too_large" and "segment.outbound" in record["detail"]
    assert [t for t, _, _ in outputs.records[produced:]] == [names.DEADLETTER]  # nothing else left
    assert state_of(user) == before
    monkeypatch.setattr(userinputs, "lifecycle_records", real_records)
    other = unique("after-huge")
    await agent.segment(identify(other, "m1", "2026-01-05T10:00:00Z", plan="pro"), key=other)
    assert await agent.eventually(lambda: users.get(other) is not None)


# --- one display per slot (docs/security.md, "Display tokens") --------------------------------------

def handed_out(user: str, slot: int, survey: str = "nps-main") -> dict:
    """The display /v1/eligibility hands out for `slot`: its derived id and a fresh token."""
    display_id = displays.display_id(app_module.display_id_key, user, survey, slot)
    return displays.issue(app_module.display_secret, user, survey, display_id, int(time.time() * 1000), 60)


def shown(user: str, display: dict, message_id: str) -> dict:
    return {"messageId": message_id, "userId": user, "surveyId": "nps-main", "displayId": display["id"],
            "displayToken": display["token"], "type": "shown"}


def viewed(outputs, user: str) -> list:
    return [m for m in outputs.of(names.OUTBOUND, user) if m.get("event") == "Survey Viewed"]


async def test_only_the_display_of_the_users_current_slot_opens(agent, outputs):
    """Each poll once minted a display: a client holding six tokens opened six displays and
    spent max_displays. Now the agent opens only the current slot's display."""
    user = unique("slot")
    await agent.segment(identify(user, "i1", recent(1), plan="pro", createdAt=OLD_SIGNUP), key=user)
    assert await agent.eventually(lambda: users.get(user) is not None)
    # A well-signed token of a slot not handed out yet: refused, nothing opens.
    await agent.put(lifecycle_topic, shown(user, handed_out(user, 1), "w1"), key=user)
    assert await agent.eventually(lambda: outputs.of(names.DEADLETTER))
    [letter] = outputs.of(names.DEADLETTER)
    assert letter["error"] == "invalid_token" and letter["field"] == "displayId", letter
    assert "ask /v1/eligibility again" in letter["detail"]
    # Slot 0 opens once, whichever of its tokens comes, however often.
    first = handed_out(user, 0)
    for n, display in enumerate([first, handed_out(user, 0), first]):
        await agent.put(lifecycle_topic, shown(user, display, f"w-open-{n}"), key=user)
    await agent.segment(identify(user, "i2", recent(1), marker=True), key=user)  # handled after them
    assert await agent.eventually(lambda: "marker" in users[user]["traits"])
    assert [m["properties"]["display_id"] for m in viewed(outputs, user)] == [first["id"]]
    assert users[user]["surveys"]["nps-main"]["displays"] == 1
    # Slot 0 is spent: its id never opens again (say once dropped from the state), slot 1's does.
    dropped = copy.deepcopy(users[user])
    dropped["displays"].pop(first["id"])
    users.data[user] = dropped  # the memory store: as DISPLAYS_MAX drops the oldest ended ones
    await agent.put(lifecycle_topic, shown(user, handed_out(user, 0), "w-again"), key=user)
    assert await agent.eventually(lambda: len(outputs.of(names.DEADLETTER)) == 2)
    await agent.put(lifecycle_topic, shown(user, handed_out(user, 1), "w-next"), key=user)
    assert await agent.eventually(lambda: users[user]["surveys"]["nps-main"]["displays"] == 2)
    assert [m["properties"]["display_id"] for m in viewed(outputs, user)][1] == handed_out(user, 1)["id"]


async def test_a_token_in_flight_when_a_fold_adds_history_opens_nothing(agent, outputs):
    """absorb sums the survey histories: the slot the bridge handed out before the fold has
    passed, so its token is refused (invalid_token) and the next poll hands out the new slot."""
    user, anonymous = unique("slot-fold"), unique("slot-anon")
    await agent.segment(identify(user, "i1", recent(1), plan="pro", createdAt=OLD_SIGNUP), key=user)
    assert await agent.eventually(lambda: users.get(user) is not None)
    in_flight = handed_out(user, 0)
    history = {**new_user_state(None), "firstSeen": parse_iso(recent(5)), "lastSeen": parse_iso(recent(5)),
               "surveys": {"nps-main": {"displays": 2, "displaysSinceResponse": 0, "lastShownAt": None,
                                        "lastRespondedAt": None, "lastDismissedAt": None, "responses": 0}}}
    await agent.command(user, {"kind": "absorb", "from": anonymous, "state": history})
    assert await agent.eventually(lambda: users[user]["surveys"].get("nps-main", {}).get("displays") == 2)
    await agent.put(lifecycle_topic, shown(user, in_flight, "w1"), key=user)
    assert await agent.eventually(lambda: outputs.of(names.DEADLETTER))
    assert outputs.of(names.DEADLETTER)[0]["error"] == "invalid_token"
    assert viewed(outputs, user) == []
    await agent.put(lifecycle_topic, shown(user, handed_out(user, 2), "w2"), key=user)
    assert await agent.eventually(lambda: viewed(outputs, user))
