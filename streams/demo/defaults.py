"""Where the demo keeps its files, the ports it prefers and the keys it gives the worker."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample" / "segment-events.jsonl"
VAR = REPO / "var"
DEMO_DIR = VAR / "demo"
DATA_DIR = VAR / "demo-data"
KAFKA_DIR = VAR / "kafka"
KAFKA_PORT, CONTROLLER_PORT = 9092, 9093
WRITE_KEY = "demo-key"
ADMIN_KEY = "demo-admin"
DEFAULT_PORT = 6066
INSIGHTS_PORT = 6070


def admin_headers() -> dict:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}
