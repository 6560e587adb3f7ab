"""Shared fixtures. The integration tests run against a real Kafka broker that this
session starts (or the one named by TEST_KAFKA_BOOTSTRAP)."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# The in-process app (agent tests with test_context) uses the memory store; integration
# workers are subprocesses with their own environment.
os.environ.setdefault("STREAMS_STORE", "memory://")
os.environ.setdefault("STREAMS_DATA_DIR", tempfile.mkdtemp(prefix="streams-test-data-"))
os.environ.setdefault("STREAMS_DISPLAY_SECRET", "agent-tests-secret")

from tests.harness import Worker, free_port  # noqa: E402

OUTPUT = Path(__file__).resolve().parents[1] / "test-output"


@pytest.fixture(scope="session")
def kafka_bootstrap():
    existing = os.environ.get("TEST_KAFKA_BOOTSTRAP")
    if existing:
        yield existing
        return
    from streams.runtime import localkafka

    directory = Path(tempfile.mkdtemp(prefix="streams-test-kafka-"))
    address = localkafka.up(free_port(), free_port(), directory)
    try:
        yield address
    finally:
        localkafka.down(directory)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def start_worker(kafka_bootstrap, tmp_path):
    """Start workers with a config (dict) and env; all are stopped after the test."""
    workers = []

    def start(config: dict | None = None, env: dict | None = None, advertise: bool = False, start: bool = True,
              **kwargs) -> Worker:
        worker = Worker(kafka_bootstrap, tmp_path / f"worker{len(workers)}", config, env, **kwargs)
        if advertise:  # reachable at 127.0.0.1 whatever it binds to
            worker.env["STREAMS_ADVERTISED_URL"] = worker.url
        workers.append(worker)
        return worker.start() if start else worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT
