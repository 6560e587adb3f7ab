"""Tests of streams/runtime pieces that run without a broker: batching, Faust fixes, partitioning, peers.
They import streams.runtime and streams.core; anything needing Kafka lives in tests/integration."""
