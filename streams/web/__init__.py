"""The HTTP bridge every worker serves (docs/reference.md, "HTTP"): ingestion, eligibility, widget events.
Imports streams.core, streams.schemas and streams.runtime; never streams.agents or streams.cli."""
