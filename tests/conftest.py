"""Shared fixtures. The integration tests run against a real Kafka broker that this
session starts (or the one named by TEST_KAFKA_BOOTSTRAP)."""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
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
_BROKER_START: threading.Thread | None = None


def pytest_configure(config):
    """Under pytest-xdist (`make test` runs `-n 4`) the controller starts the one broker of
    the run before its workers exist and hands its address on in TEST_KAFKA_BOOTSTRAP (the
    workers inherit the environment). It starts in the background: the broker-free tests run
    meanwhile, and `kafka_bootstrap` waits for it. Without xdist the fixture starts it lazily."""
    global _BROKER_DIR, _BROKER_START
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None) \
            or os.environ.get("TEST_KAFKA_BOOTSTRAP"):
        return
    from streams.runtime import localkafka

    _BROKER_DIR = Path(tempfile.mkdtemp(prefix="streams-test-kafka-"))
    port, controller_port = free_port(), free_port()
    os.environ["TEST_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{port}"
    os.environ["TEST_KAFKA_LOG"] = str(_BROKER_DIR / "kafka.log")
    _BROKER_START = threading.Thread(target=localkafka.up, args=(port, controller_port, _BROKER_DIR), daemon=True)
    _BROKER_START.start()


def pytest_unconfigure(config):
    if _BROKER_DIR is not None:
        from streams.runtime import localkafka

        _BROKER_START.join(BROKER_START_TIMEOUT_S)
        localkafka.down(_BROKER_DIR)
        shutil.rmtree(_BROKER_DIR, ignore_errors=True)


BROKER_START_TIMEOUT_S = 180.0


@pytest.fixture(scope="session")
def kafka_bootstrap():
    existing = os.environ.get("TEST_KAFKA_BOOTSTRAP")
    from streams.runtime import localkafka

    if existing:
        deadline = time.monotonic() + BROKER_START_TIMEOUT_S
        while not localkafka.answers(existing, timeout_s=2.0):
            if time.monotonic() > deadline:
                pytest.fail(f"no Kafka broker answers at {existing} (log: {os.environ.get('TEST_KAFKA_LOG', '-')})")
            time.sleep(0.5)
        yield existing
        return
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


# The files that run longest (chaos, kills, fuzz, live config) first, so that under xdist the
# short ones fill in beside them instead of one long file starting last (longest first).
LONG_FIRST = ("test_chaos_short", "test_live_config", "test_http_fuzz", "test_once_per_message",
              "test_forwarder", "test_lifecycle_flow", "test_hostile_input", "test_targeting_flow",
              "test_widget_browser", "test_peers", "test_two_workers", "test_segment_wiring")


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        name = item.path.stem
        if name in LONG_FIRST:
            return LONG_FIRST.index(name)
        return len(LONG_FIRST) + (0 if "integration" in item.path.parts or "browser" in item.path.parts else 1)

    items.sort(key=rank)  # stable: the order inside a file is kept
