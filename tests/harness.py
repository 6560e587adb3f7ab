"""Test harness: a real Kafka broker for the session and survey-streams workers as processes.

Each worker gets its own app id, which names its internal topics, and its own public topic
names (through the config's `topics:` renames), so tests that share the broker never see
each other's messages.
"""
from __future__ import annotations

import base64
import copy
import subprocess
import sys
import time
from pathlib import Path

import orjson
import yaml
from kafka import KafkaProducer

from bench.common import DEFAULT_CONFIG, PrefixedWorker  # noqa: F401  (tests import DEFAULT_CONFIG from here)
from streams.cli.workerprocess import WorkerProcess
from streams.core.config import load_config
from streams.runtime import topicread
from streams.runtime.httpjson import request as http  # noqa: F401  (tests import it from here)
from streams.runtime.localkafka import free_port  # noqa: F401  (tests import it from here)
from streams.core.timeutil import iso

REPO = Path(__file__).resolve().parents[1]


def ms_iso(moment) -> str:
    """A datetime as the ISO form the worker writes (milliseconds, Z)."""
    return iso(int(moment.timestamp() * 1000))


def basic_auth(write_key: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}


class Worker(PrefixedWorker):
    """One `python -m streams worker` process with isolated topics (bench.common.PrefixedWorker),
    and the Kafka and HTTP helpers tests use on it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._producer: KafkaProducer | None = None

    def start(self, timeout_s: float = 90.0) -> "Worker":
        self.launch().wait_ready(timeout_s, interval_s=0.3)
        return self

    def stop(self, kill: bool = False) -> None:
        super().stop(kill)
        if self._producer is not None:
            self._producer.close()
            self._producer = None

    # Kafka helpers -------------------------------------------------------------------
    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5)
        return self._producer

    def produce(self, logical: str, value, key: str | None = None) -> None:
        """Put a value on a topic: bytes as they are (for malformed input), else JSON."""
        raw = value if isinstance(value, bytes) else orjson.dumps(value)
        self.producer.send(self.topic(logical), key=key.encode() if key is not None else None, value=raw)
        self.producer.flush()

    def read(self, logical: str, count: int | None = None, timeout_s: float = 30.0, where=None) -> list:
        """Records (key, decoded value) of a topic from the beginning (read_committed): to its
        end now, or, with `count`, until `count` match or `timeout_s` passes."""
        topic, found, since = self.topic(logical), [], {}
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = max(deadline - time.monotonic(), 0.5)
            try:
                for message in topicread.read_to_end(self.bootstrap, topic, since=since, timeout_s=remaining,
                                                     wait_for_topic_s=remaining, missing_ok=True,
                                                     client_id="survey-streams-test"):
                    since[message.partition] = message.offset + 1
                    try:
                        value = orjson.loads(message.value)
                    except orjson.JSONDecodeError:
                        continue  # junk a test put there on purpose: not what any reader looks for
                    if where is None or where(value):
                        found.append((message.key.decode() if message.key else None, value))
            except topicread.TopicReadTimeout:
                pass
            if count is None or len(found) >= count or time.monotonic() >= deadline:
                return found
            time.sleep(0.2)

    # HTTP helpers --------------------------------------------------------------------
    def post(self, path: str, body, headers: dict | None = None):
        return http("POST", self.url + path, body, {"Content-Type": "application/json", **(headers or {})})

    def get(self, path: str, headers: dict | None = None):
        return http("GET", self.url + path, None, headers)

    def display(self, user_id: str, headers: dict | None = None, query: str = "") -> dict:
        """The display the bridge opens for an eligible user (docs/reference.md#eligibility): {"id", "token"}.
        Widget events carry its id as `displayId` and its token as `displayToken`."""
        status, body = self.get(f"/v1/eligibility/{user_id}{query}", headers)
        assert status == 200 and isinstance(body, dict) and body.get("display"), (status, body)
        return body["display"]

    def ingest(self, kind: str, body):
        return self.post(f"/v1/{kind}", body, basic_auth("test-write-key"))

    def user(self, user_id: str):
        return self.get(f"/v1/users/{user_id}", {"Authorization": "Bearer test-admin-key"})

    def state_when(self, user_id: str, check, timeout_s: float = 45.0) -> dict:
        """GET /v1/users/{userId} until `check(state)` holds; fails with the last answer."""
        last = {}

        def probe():
            nonlocal last
            status, body = self.user(user_id)
            last = {"status": status, "body": body}
            return body if status == 200 and check(body) else None

        state = self.wait_for(probe, timeout_s=timeout_s)
        assert state, f"user {user_id} never matched: {last}\n{self.log_tail()}"
        return state

    def wait_for(self, check, timeout_s: float = 30.0, interval_s: float = 0.3):
        """Poll `check()` until it returns a truthy value; returns it or the last value."""
        deadline = time.monotonic() + timeout_s
        result = None
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(interval_s)
        return result


INSIGHTS_COMMAND = [sys.executable, "-m", "streams", "insights"]
ADMIN = {"Authorization": "Bearer test-admin-key"}


class Insights(WorkerProcess):
    """One `python -m streams insights` process reading the topics of `worker` (a Worker,
    started or not: its environment names the topics and the admin key)."""

    def __init__(self, worker: Worker, workdir: Path, env: dict | None = None):
        self.worker = worker
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.db_path = self.workdir / "insights.duckdb"
        self.env = {**worker.env, "STREAMS_INSIGHTS_PORT": str(self.port), "STREAMS_INSIGHTS_DB": str(self.db_path),
                    "STREAMS_INSIGHTS_GROUP": f"{worker.name}-insights", **(env or {})}
        super().__init__(self.env, self.workdir / "insights.log", f"http://127.0.0.1:{self.port}",
                         command=INSIGHTS_COMMAND)

    def start(self, timeout_s: float = 60.0) -> "Insights":
        self.launch().wait_ready(timeout_s, interval_s=0.2)
        return self

    def get(self, path: str, headers: dict | None = None):
        return http("GET", self.url + path, None, ADMIN if headers is None else headers)

    def status(self) -> dict:
        status, body = self.get("/v1/insights/status")
        return body if status == 200 else {}

    def caught_up(self, responses: int, timeout_s: float = 60.0) -> dict:
        """The status once the reader holds `responses` responses and has no lag."""
        deadline, status = time.monotonic() + timeout_s, {}
        while time.monotonic() < deadline:
            status = self.status()
            if status.get("responses") == responses and status.get("lag") == 0:
                return status
            time.sleep(0.3)
        raise AssertionError(f"insights never caught up to {responses} responses: {status}\n{self.log_tail()}")


def create_topics(worker: Worker) -> None:
    """The worker's topics, without starting it (a test that only produces and reads)."""
    from streams.runtime.topics import create_topics as create

    create(worker.bootstrap, load_config(worker.config_path), worker.topics, quiet=True)


def streams_cli(worker, *args: str) -> subprocess.CompletedProcess:
    """`python -m streams ...` as the operator of `worker`'s app runs it (its environment)."""
    return subprocess.run([sys.executable, "-m", "streams", *args], cwd=REPO, env=dict(worker.env),
                          capture_output=True, text=True, timeout=180)


def write_config(worker, document: dict, name: str) -> Path:
    """A surveys file for `worker`'s app: its topic names, other surveys."""
    document = {**copy.deepcopy(document), "topics": yaml.safe_load(worker.config_path.read_text())["topics"]}
    path = worker.workdir / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path

