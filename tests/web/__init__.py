"""Tests of the bridge's pure parts (request bodies, encodings, limits) without a server.
They import streams.web and streams.core; HTTP against a live worker is in tests/integration."""
