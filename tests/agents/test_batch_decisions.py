"""A batch decides each user once, after the user's last input in it (docs/processing.md,
"One batch, step by step", step 7), and a user's state does not depend on how its inputs
were batched."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import orjson
import pytest

from streams.agents import userinputs
from streams.agents import users as users_agent
from streams.core import seen, targeting, userstate
from streams.core import topics as names
from streams.runtime import app as app_module
from streams.runtime.app import segment_topics, users
from streams.runtime.userstore import UserBatch, partition_of
from streams.core.timeutil import iso
from tests.agents.support import OLD_SIGNUP, identify, state_of, unique

T0 = 1_767_600_000_000  # the Kafka timestamps of the records (ms)


def _record(user: str, message: dict, offset: int, at: int):
    return SimpleNamespace(topic=segment_topics[names.SEGMENT_IDENTIFY].get_topic_name(), partition=partition_of(user), offset=offset,
                           key=user.encode(), value=orjson.dumps(message), headers=None, timestamp=at,
                           timestamp_type=0)


async def _apply(records: list) -> None:
    """One fetched batch through the agent's own steps: apply every record, decide, then
    write what the commit would (the memory store; a table write needs a stream event)."""
    batch = UserBatch(records[0].partition, app_module.config)
    try:
        for record in records:
            await users_agent.apply_record(batch, record, None)
        assert await users_agent.decide_owed(batch)
        for user, encoded in batch.dirty.items():
            users.data[user] = orjson.loads(encoded)
    finally:
        batch.abandon()


def _flip_flop(user: str) -> list:
    """eligible (pro) -> awaiting its trigger (free) -> eligible (team): two changes, back where it was."""
    plans = ("pro", "free", "team")
    return [_record(user, identify(user, f"m{i}", f"2026-01-05T1{i}:00:00Z", plan=plan, createdAt=OLD_SIGNUP),
                    offset=i, at=T0 + i * 1000) for i, plan in enumerate(plans)]


@pytest.fixture
def decides(monkeypatch) -> list:
    calls = []
    real = targeting.decide

    def counting(state, config, now, user_id=None, *args, **kwargs):
        calls.append(user_id)
        return real(state, config, now, user_id, *args, **kwargs)

    monkeypatch.setattr(userinputs.targeting, "decide", counting)
    return calls


async def test_one_batch_of_three_inputs_decides_once_and_emits_the_last_outcome(agent, outputs, decides):
    user = unique("batch")
    await _apply(_flip_flop(user))
    assert decides == [user]  # once, not once per input
    [decision] = outputs.of(names.ELIGIBILITY, user)
    assert (decision["eligible"], decision["surveyId"], decision["reason"]) == (True, "nps-main", "eligible")
    assert decision["decidedAt"] == iso(T0 + 2000)  # the time of the user's last input
    assert state_of(user)["decision"] == {"eligible": True, "surveyId": "nps-main", "reason": "eligible",
                                          "eligibleAt": None}


async def test_the_state_is_the_same_however_the_inputs_were_batched(agent, outputs, decides):
    together, apart = unique("together"), unique("apart")
    await _apply(_flip_flop(together))
    for record in _flip_flop(apart):
        await _apply([record])
    assert len(decides) == 1 + 3
    # the same inputs for another id: equal once the id is put back
    # (and its partition: the ids hash to different ones)
    mine = orjson.loads(orjson.dumps(state_of(apart)).replace(apart.encode(), together.encode()))
    theirs = state_of(together)
    assert list(mine.pop("applied").values()) == list(theirs.pop("applied").values()) == [2]
    assert mine == theirs
    # apart: every change is a record; together: the intermediate outcomes are not
    assert [d["reason"] for d in outputs.of(names.ELIGIBILITY, apart)] == ["eligible", "awaiting_trigger", "eligible"]
    assert [d["reason"] for d in outputs.of(names.ELIGIBILITY, together)] == ["eligible"]
    assert {k: v for k, v in outputs.of(names.ELIGIBILITY, apart)[-1].items() if k != "userId"} == \
        {k: v for k, v in outputs.of(names.ELIGIBILITY, together)[-1].items() if k != "userId"}


@pytest.mark.parametrize("short", [1, 0])
async def test_the_budget_keeps_room_for_the_decision_to_come(agent, outputs, monkeypatch, short):
    """The byte budget is checked before the decision is made: it keeps room for the
    largest decision the config can make, so the decision can never push a state over."""
    user = unique("room")
    first = _flip_flop(user)[0]
    room = targeting.stored_decision_bound(app_module.config) - len(orjson.dumps(None))
    limit = len(orjson.dumps(_state_after(first))) + room - short
    config = app_module.config
    project = dataclasses.replace(config.project, limits=dataclasses.replace(config.project.limits, state_bytes=limit))
    monkeypatch.setattr(app_module, "config", dataclasses.replace(config, project=project))
    await _apply([first])
    if short:
        [dead] = outputs.of(names.DEADLETTER)
        assert "too_large" in orjson.dumps(dead).decode() and state_of(user) is None
        assert outputs.of(names.ELIGIBILITY, user) == []
    else:
        assert outputs.of(names.DEADLETTER) == [] and len(outputs.of(names.ELIGIBILITY, user)) == 1
        assert len(orjson.dumps(state_of(user))) <= limit


def _state_after(record) -> dict:
    """The state the record makes, before its decision (what apply_input measures)."""
    message = orjson.loads(record.value)
    state = userstate.apply(None, message, message["userId"], app_module.config, record.timestamp,
                            input_id=message["messageId"], dedupe=False).state
    userstate.remember_input(state, message["messageId"], record.timestamp)
    seen.mark_applied(state, record.topic, record.partition, record.offset)
    return state
