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


_BROKER_DIR: Path | None = None


def pytest_configure(config):
    """Under pytest-xdist (`make test` runs `-n 2`) the controller starts the one broker of
    the run before its workers exist, and hands its address on in TEST_KAFKA_BOOTSTRAP (the
    workers inherit the environment); without xdist the session fixture starts it lazily."""
    global _BROKER_DIR
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None) \
            or os.environ.get("TEST_KAFKA_BOOTSTRAP"):
        return
    from streams.runtime import localkafka

    _BROKER_DIR = Path(tempfile.mkdtemp(prefix="streams-test-kafka-"))
    os.environ["TEST_KAFKA_BOOTSTRAP"] = localkafka.up(free_port(), free_port(), _BROKER_DIR)


def pytest_unconfigure(config):
    if _BROKER_DIR is not None:
        from streams.runtime import localkafka

        localkafka.down(_BROKER_DIR)
        shutil.rmtree(_BROKER_DIR, ignore_errors=True)


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
