"""The Faust app and its plumbing: topics, codecs, batching, the user store, signing, settings, metrics, logs.
Imports streams.core and streams.schemas; never streams.agents, streams.web or streams.cli."""
