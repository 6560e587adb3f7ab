"""The analysts' service (docs/reference.md#8-insights, docs/insights.md): a reader of `surveys.responses` and
`segment.outbound` into an embedded DuckDB file, exactly once, and the API and page over it.
Imports streams.core and streams.runtime; never streams.agents, streams.web or streams.cli."""
