"""Once per message, copies of commands, and the input's own time (docs/processing.md,
"Once per message" and "Time"; docs/security.md, "User commands")."""
from __future__ import annotations

import copy
import time

import orjson
import pytest

from streams.core import seen
from streams.runtime import signing
from streams.core import topics as names
from streams.core.timeutil import DAY_MS, iso
from tests.agents.support import OLD_SIGNUP, identify, state_of, unique

REPORT = {"format": "pdf"}
T0 = 1_796_000_000_000  # 2026-11-29


def export(user: str, n: int | None, at: int) -> dict:
    """A `Report Exported` track (the csat-export survey's trigger); n: its messageId, or none."""
    message = {"type": "track", "userId": user, "event": "Report Exported", "properties": REPORT,
               "timestamp": iso(at), "receivedAt": iso(at)}
    if n is not None:
        message["messageId"] = f"{user}-m{n}"
    return message


def exports_counted(user: str) -> int:
    return ((state_of(user) or {}).get("triggers", {}).get("csat-export") or {}).get("count", 0)


async def test_a_replay_is_found_by_its_offsets_whatever_the_window_holds(agent, outputs):
    """300 inputs read again from their first offset, as after a kill. To show it is the
    offsets that find them (not the id window: tests/integration/test_once_per_message.py
    replays 10,000 on the real broker), the records read again carry new ids."""
    user = unique("replay")
    first = agent.wrapper.sent_offset
    for n in range(300):
        await agent.segment(export(user, n, T0 + n), key=user, logical=names.SEGMENT_TRACK, timestamp_ms=T0 + n)
    assert await agent.eventually(lambda: exports_counted(user) == 300)
    for n in range(300):
        await agent.segment(export(user, 1000 + n, T0 + n), key=user, logical=names.SEGMENT_TRACK,
                            timestamp_ms=T0 + n, offset=first + n)
    marker = unique("after-replay")  # the agent has handled everything put before this one
    await agent.segment(identify(marker, "m1", iso(T0)), key=marker)
    assert await agent.eventually(lambda: state_of(marker) is not None)
    assert exports_counted(user) == 300


async def test_a_client_retrying_a_batch_of_400_counts_each_once(agent, outputs):
    """Segment's and every SDK's retry: the same messages again, as new records."""
    user = unique("retry")
    for attempt in range(2):
        for n in range(400):
            await agent.segment(export(user, n, T0 + n), key=user, logical=names.SEGMENT_TRACK,
                                timestamp_ms=T0 + 1000 * attempt + n)
    marker = unique("after-retry")
    await agent.segment(identify(marker, "m1", iso(T0)), key=marker)
    assert await agent.eventually(lambda: state_of(marker) is not None)
    assert exports_counted(user) == 400


def _history(at: int) -> dict:
    """An anonymous id's state with one export counted, as an absorb carries it."""
    return {"userId": None, "identified": False, "traits": {}, "traitTimes": {}, "groups": {}, "createdAt": None,
            "firstSeen": at, "lastSeen": at, "anonymousIds": [], "triggers": {"csat-export": {"count": 1, "last": at}},
            "surveys": {}, "lastSurveyShownAt": None, "displays": {}, "seen": {}, "decision": None, "aliasOf": None}


async def test_a_copy_of_an_applied_command_is_refused(agent, outputs):
    """Anyone who can read the commands topic and write to it could replay an absorb verbatim:
    its nonce is remembered, the copy is dead-lettered `replayed_command`, nothing doubles."""
    user, anonymous = unique("copy-user"), unique("copy-anon")
    await agent.segment(identify(user, "m1", iso(T0), plan="pro", createdAt=OLD_SIGNUP), key=user)
    now = int(time.time() * 1000)
    sealed = signing.seal_command({"kind": "absorb", "from": anonymous, "state": _history(T0)}, now)
    await agent.command(user, sealed, sealed=False, timestamp_ms=now)
    assert await agent.eventually(lambda: exports_counted(user) == 1)
    before = state_of(user)
    await agent.command(user, copy.deepcopy(sealed), sealed=False, timestamp_ms=now + 5000)
    assert await agent.eventually(lambda: outputs.of(names.DEADLETTER))
    [refused] = outputs.of(names.DEADLETTER)
    assert refused["error"] == "replayed_command" and refused["field"] == "nonce"
    assert state_of(user) == before


@pytest.mark.parametrize("exp_after_append, expected", [(-1, "expired_command"), (None, "expired_command")])
async def test_a_command_appended_after_its_expiry_or_without_one_is_refused(agent, outputs, exp_after_append, expected):
    """A copy written later than its expiry (the topic keeps the broker's append time), or one
    with no expiry at all: refused, the state untouched."""
    user, anonymous = unique("expired-user"), unique("expired-anon")
    await agent.segment(identify(user, "m1", iso(T0), plan="pro", createdAt=OLD_SIGNUP), key=user)
    assert await agent.eventually(lambda: state_of(user) is not None)
    appended = int(time.time() * 1000)
    command = signing.seal_command({"kind": "absorb", "from": anonymous, "state": _history(T0)}, appended)
    if exp_after_append is None:
        del command["exp"]
    else:
        command["exp"] = appended + exp_after_append
    await agent.command(user, command, sealed=False, timestamp_ms=appended)
    assert await agent.eventually(lambda: outputs.of(names.DEADLETTER))
    [refused] = outputs.of(names.DEADLETTER)
    assert refused["error"] == expected
    assert exports_counted(user) == 0


def _inputs(user: str) -> list:
    """One user's inputs, with what makes time matter: far-future and ancient timestamps, no
    receivedAt (the record's time then), a receivedAt past its record's, a retry, a createdAt
    near the bound, a trigger."""
    return [
        (identify(user, "i1", iso(T0), plan="pro", createdAt=iso(T0 - 40 * DAY_MS)), T0, names.SEGMENT_IDENTIFY),
        ({"type": "identify", "userId": user, "messageId": "i2", "traits": {"tier": "old"},
          "timestamp": "2999-01-01T00:00:00Z", "receivedAt": "2999-01-01T00:00:00Z"}, T0 + 1000, names.SEGMENT_IDENTIFY),
        ({"type": "track", "userId": user, "event": "Report Exported", "properties": REPORT,
          "timestamp": "0001-01-01T00:00:00Z"}, T0 + 2000, names.SEGMENT_TRACK),
        ({"type": "identify", "userId": user, "messageId": "i3", "traits": {"tier": "new",
          "createdAt": iso(T0 + DAY_MS // 2)}}, T0 + 3000, names.SEGMENT_IDENTIFY),
        (identify(user, "i1", iso(T0), plan="free"), T0 + DAY_MS - 1, names.SEGMENT_IDENTIFY),  # a retry, 24 h later
        (export(user, 7, T0 + 5000), T0 + 5000, names.SEGMENT_TRACK),
    ]


async def test_the_same_inputs_give_the_same_state_whenever_they_are_processed(agent, outputs, monkeypatch):
    """Processed from scratch twice, three days apart by the worker's clock: the same state,
    as a replay must give (nothing reads the clock)."""
    states, shift = [], [0]
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + shift[0] / 1000)
    for clock_shift, user in ((0, unique("determinism-a")), (3 * DAY_MS, unique("determinism-b"))):
        shift[0] = clock_shift
        for message, record_ms, logical in _inputs(user):
            await agent.segment(copy.deepcopy(message), key=user, logical=logical, timestamp_ms=record_ms)
        ok = await agent.eventually(lambda: exports_counted(user) == 2 and (state_of(user) or {}).get(
            "traits", {}).get("tier") == "new" and seen.size(state_of(user)["seen"]) >= 4)
        assert ok, (state_of(user), outputs.of(names.DEADLETTER))
        state = state_of(user)
        # Where the test wrapper put the records differs between the runs: the offsets applied,
        # and the window's entry for the message without a messageId (known by its coordinates).
        state.pop("applied")
        window = state.pop("seen")
        assert [seen.handled_within(window, i, T0 + DAY_MS - 1) for i in ("i1", "i2", "i3", f"{user}-m7")] == [True] * 4
        states.append(orjson.loads(orjson.dumps(state).replace(user.encode(), b"<user>")))
    assert states[0] == states[1]
    assert states[0]["lastSeen"] < T0 + 2 * DAY_MS  # the far-future identify was bounded by its record
    assert states[0]["traits"]["plan"] == "pro"  # the retry 24 h later, within the window: skipped
