"""Table-driven and property tests of streams/core: pure functions called with state, config and now.
They import streams.core (and tests.strategies); no broker, no Faust, no clock."""
