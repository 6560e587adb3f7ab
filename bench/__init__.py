"""Benchmarks for survey-streams: `python -m bench.run [--quick]` writes docs/benchmarks.md."""
