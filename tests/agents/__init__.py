"""Agent tests under Faust's test_context(): records put on the agent's channel, outputs recorded.
They import streams.agents and streams.runtime; no broker (support.py says how)."""
