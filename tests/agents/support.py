"""What the agent tests share: the users agent under Faust's `agent.test_context()`, its
outputs captured, and small builders of inputs.

No broker: tests/conftest.py sets STREAMS_STORE=memory:// before streams.runtime.app is imported,
so the `users` table lives in memory and its changelog sends are only buffered. Outputs
are captured by replacing `send` (in userinputs and in emit, which dead_letter and
send_command use).

test_context() notes (faust-streaming): the wrapper reads from a fresh in-memory channel
and stamps each message with the topic of `original_channel`; the agent's channel names
several topics, which makes that "<internal>", so each test points `original_channel`
at the one topic it plays. `put(wait=True)` returns once the wrapper's stream processor
saw the value, i.e. before the agent body handled it, so tests wait for an effect.
"""
from __future__ import annotations

import asyncio
import copy
import time

import orjson

from streams.runtime import app as app_module
from streams.runtime import signing
from streams.agents import users as users_agent
from streams.runtime.app import segment_topics, user_commands_topic, users
from streams.core import topics as names
from streams.core.timeutil import iso

OLD_SIGNUP = "2020-01-01T00:00:00Z"


class Outputs:
    """Records what the agent sends, per logical topic."""

    def __init__(self) -> None:
        self.records: list = []

    async def send(self, logical: str, key, value: dict | bytes):
        self.records.append((logical, key, orjson.loads(value) if isinstance(value, bytes) else copy.deepcopy(value)))
        acknowledged = asyncio.get_running_loop().create_future()  # what the broker's ack would be
        acknowledged.set_result(None)
        return acknowledged

    def of(self, logical: str, key=None) -> list:
        return [v for t, k, v in self.records if t == logical and (key is None or k == key)]

    def keyed(self, logical: str) -> list:
        return [(k, v) for t, k, v in self.records if t == logical]


class Agent:
    """put() on a named topic of the agent's channel; eventually() waits for an effect."""

    def __init__(self, wrapper) -> None:
        self.wrapper = wrapper

    async def put(self, topic, value, key: str | None, partition: int | None = None, headers=None,
                  timestamp_ms: int | None = None, offset: int | None = None):
        """Put a record as a producer would: on its key's partition unless told otherwise;
        `timestamp_ms`: the record's Kafka timestamp (default now); `offset`: where it is read
        from (default the next; an earlier one reads a record again, as a replay does)."""
        self.wrapper.original_channel = topic
        if offset is not None:
            self.wrapper.sent_offset = offset
        raw = value if isinstance(value, bytes) else orjson.dumps(value)
        if partition is None:
            partition = users_agent.partition_of(key) if key is not None else 0
        return await self.wrapper.put(raw, key=key.encode() if key is not None else None, partition=partition,
                                      headers=headers, timestamp=timestamp_ms / 1000 if timestamp_ms is not None else None)

    async def segment(self, value, key: str | None, logical: str = names.SEGMENT_IDENTIFY, partition: int | None = None,
                      **record):
        return await self.put(segment_topics[logical], value, key, partition, **record)

    async def command(self, key: str, command: dict, signed: bool = True, sealed: bool = True, **record):
        """A user command as a worker writes it: sealed (at, exp, nonce) and signed (streams.runtime.signing);
        `sealed=False`: exactly `command` (a copy of one already sent, say)."""
        raw = orjson.dumps(signing.seal_command(command, int(time.time() * 1000)) if sealed else command)
        headers = [(signing.SIGNATURE_HEADER, signing.command_signature(app_module.command_key, key.encode(), raw))] \
            if signed else None
        return await self.put(user_commands_topic, raw, key, headers=headers, **record)

    @staticmethod
    async def eventually(check, timeout_s: float = 5.0):
        deadline = time.monotonic() + timeout_s
        while True:
            result = check()
            if result or time.monotonic() > deadline:
                return result
            await asyncio.sleep(0.005)


def unique(prefix: str) -> str:
    """Tests share the in-memory table: every test uses its own ids."""
    return f"{prefix}-{time.monotonic_ns()}"


def identify(user: str, message_id: str, timestamp: str, **traits) -> dict:
    return {"type": "identify", "userId": user, "messageId": message_id, "timestamp": timestamp, "traits": traits}


def recent(hours: float) -> str:
    return iso(int(time.time() * 1000 - hours * 3600 * 1000))


def state_of(user: str) -> dict | None:
    state = users.get(user)
    return copy.deepcopy(state) if state is not None else None
