"""Faust agents, thin: decode a record, call streams.core, send through streams.runtime.
Imports streams.core, streams.schemas and streams.runtime; never streams.web or streams.cli."""
