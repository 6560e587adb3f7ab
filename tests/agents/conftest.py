"""Fixtures of the agent tests (tests/agents/support.py has what they build on)."""
from __future__ import annotations

import pytest

from streams.runtime import emit
from streams.agents import userinputs
from streams.runtime.app import app
from streams.agents import users as users_agent
from tests.agents.support import Agent, Outputs


@pytest.fixture
def outputs(monkeypatch) -> Outputs:
    recorder = Outputs()
    for module in (userinputs, emit):  # emit.send_command sends through emit.send
        monkeypatch.setattr(module, "send", recorder.send)
    app.finalize()
    app.flow_control.resume()
    return recorder


@pytest.fixture
async def agent(outputs):
    async with users_agent.process.test_context() as wrapper:
        yield Agent(wrapper)
