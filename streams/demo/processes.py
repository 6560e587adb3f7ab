"""The broker and the worker the demo runs against: found or started, waited for, stopped."""
from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from streams.cli.workerprocess import WorkerExited, WorkerNotReady, WorkerProcess
from streams.runtime import localkafka
from streams.core import topics as names
from streams.core.config import Config
from streams.runtime.settings import Settings
from streams.demo import kafka_io
from streams.demo.console import Console, DemoError, rel
from streams.demo.defaults import (ADMIN_KEY, CONTROLLER_PORT, DATA_DIR, DEFAULT_PORT, DEMO_DIR, INSIGHTS_PORT, KAFKA_DIR,
                       KAFKA_PORT, WRITE_KEY)

SETTLE_TIMEOUT_S = 120.0
WORKER_START_TIMEOUT_S = 120.0
WORKER_PID_FILE = DEMO_DIR / "worker.pid"
INSIGHTS_PID_FILE = DEMO_DIR / "insights.pid"
INSIGHTS_START_TIMEOUT_S = 60.0


class Processes:
    def __init__(self, out: Console, settings: Settings, config: Config):
        self.out = out
        self.settings = settings
        self.config = config
        self.bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or ""
        self.started_broker = False
        self.worker: WorkerProcess | None = None
        self.worker_log = DEMO_DIR / "worker.log"
        self.url = ""
        self.topic_names = config.topics.for_app(settings.app_id)  # until create_topics asks the cluster
        self.insights: WorkerProcess | None = None
        self.insights_url = ""

    def topic(self, logical: str) -> str:
        """A topic's name on the cluster connect_kafka found (the app's internal ones included)."""
        return self.topic_names[logical]

    # -------------------------------------------------------- broker

    def connect_kafka(self) -> None:
        wanted = self.bootstrap or f"127.0.0.1:{KAFKA_PORT}"
        if kafka_io.reachable(wanted) and localkafka.answers(wanted, timeout_s=5.0):
            self.bootstrap = wanted
            where = "KAFKA_BOOTSTRAP_SERVERS" if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") else "already running"
            self.out.step(f"Kafka: using the broker at {wanted} ({where})")
            return
        if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            self.out.step(f"Kafka: nothing answers at KAFKA_BOOTSTRAP_SERVERS={wanted}; starting a local broker")
        else:
            self.out.step("Kafka: no broker at 127.0.0.1:9092; starting a local one (Apache Kafka, KRaft)")
        self.started_broker = localkafka._our_pid(localkafka.BrokerDir(KAFKA_DIR.resolve())) is None
        try:
            self.bootstrap = localkafka.up(KAFKA_PORT, CONTROLLER_PORT, KAFKA_DIR)
        except localkafka.LocalKafkaError as error:
            self.started_broker = False
            raise DemoError(str(error)) from None
        self.out.note(f"broker at {self.bootstrap}, data in {rel(KAFKA_DIR)}")

    def create_topics(self) -> None:
        from streams.runtime import topics as kafka_topics

        # The worker's local state belongs to one cluster: start it afresh on another.
        DEMO_DIR.mkdir(parents=True, exist_ok=True)
        marker, current = DEMO_DIR / "cluster-id", kafka_io.cluster_id(self.bootstrap) or "?"
        if marker.exists() and marker.read_text().strip() != current and DATA_DIR.exists():
            shutil.rmtree(DATA_DIR)
            self.out.note(f"another cluster than last time: cleared {rel(DATA_DIR)}")
        marker.write_text(current)
        self.topic_names = kafka_topics.app_names(self.bootstrap, self.config.topics, self.settings.app_id)
        created = kafka_topics.create_topics(self.bootstrap, self.config, self.topic_names, quiet=True)
        total = len(names.ALL)
        self.out.step(f"topics: {len(created)} created, {total - len(created)} already there "
                      f"({self.config.project.partitions} partitions each)")

    # -------------------------------------------------------- worker

    def start_worker(self, port: int | None) -> None:
        self._stop_previous_worker()
        if port is None:
            port = DEFAULT_PORT if localkafka.port_free(DEFAULT_PORT) else localkafka.free_port()
        elif not localkafka.port_free(port):
            raise DemoError(f"port {port} is in use: pass another --port")
        self.url = f"http://127.0.0.1:{port}"
        env = {**self._env(), "STREAMS_WEB_HOST": "127.0.0.1", "STREAMS_WEB_PORT": str(port)}
        DEMO_DIR.mkdir(parents=True, exist_ok=True)
        # Its own session: Ctrl-C reaches the demo only, which then stops the worker in order.
        self.worker = WorkerProcess(env, self.worker_log, self.url, own_session=True).launch(
            f"\n==== demo worker started {datetime.now(timezone.utc).isoformat()} ====\n".encode())
        WORKER_PID_FILE.write_text(str(self.worker.pid))
        self.out.step(f"worker starting (pid {self.worker.pid}, log {rel(self.worker_log)}) ...")
        try:
            self.worker.wait_ready(WORKER_START_TIMEOUT_S, interval_s=0.3)
        except (WorkerExited, WorkerNotReady) as error:
            raise DemoError(f"the {error}") from error
        self.out.step(f"worker ready: bridge at {self.url}")

    def _env(self) -> dict:
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "STREAMS_DATA_DIR": str(DATA_DIR),
               "STREAMS_WRITE_KEYS": WRITE_KEY, "STREAMS_ADMIN_KEY": ADMIN_KEY,
               "STREAMS_CONFIG": str(Path(self.settings.config_path).resolve())}
        env.pop("STREAMS_WIDGET_KEY", None)  # the example page and the sessions send no key
        env.pop("STREAMS_SECURE_SECRET", None)
        return env

    def _stop_previous_worker(self) -> None:
        """A worker an earlier `--keep` run left behind would share the partitions: stop it."""
        self._stop_previous(WORKER_PID_FILE, "worker")

    def _stop_previous(self, pid_file: Path, command: str) -> None:
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            return
        if f"streams\x00{command}" not in cmdline:
            return
        self.out.step(f"stopping the demo {command} an earlier --keep run left running (pid {pid})")
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.2)
        pid_file.unlink(missing_ok=True)

    # -------------------------------------------------------- insights

    def start_insights(self) -> None:
        """`python -m streams insights` beside the worker: its page follows the demo's responses."""
        self._stop_previous(INSIGHTS_PID_FILE, "insights")  # it would hold the DuckDB file
        port = INSIGHTS_PORT if localkafka.port_free(INSIGHTS_PORT) else localkafka.free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**self._env(), "STREAMS_INSIGHTS_HOST": "127.0.0.1", "STREAMS_INSIGHTS_PORT": str(port),
               "STREAMS_INSIGHTS_DB": str(DATA_DIR / "insights.duckdb")}
        self.insights = WorkerProcess(env, DEMO_DIR / "insights.log", url, own_session=True,
                                      command=[sys.executable, "-m", "streams", "insights"]).launch(
            f"\n==== demo insights started {datetime.now(timezone.utc).isoformat()} ====\n".encode())
        INSIGHTS_PID_FILE.write_text(str(self.insights.pid))
        try:
            self.insights.wait_ready(INSIGHTS_START_TIMEOUT_S, interval_s=0.3)
        except (WorkerExited, WorkerNotReady) as error:
            raise DemoError(f"the insights service ({rel(DEMO_DIR / 'insights.log')}): {error}") from error
        self.insights_url = f"{url}/insights/"
        self.out.step(f"insights ready: {self.insights_url} (admin key {ADMIN_KEY}), log {rel(DEMO_DIR / 'insights.log')}")

    def wait_until_processed(self, what: str) -> None:
        """Wait until the worker's consumer group has read every input, twice in a row."""
        group = self.settings.app_id
        inputs = [self.topic(t) for t in (*names.INBOUND, names.LIFECYCLE, names.USER_COMMANDS, names.RESPONSES)]
        deadline, quiet, last = time.monotonic() + SETTLE_TIMEOUT_S, 0, [0]
        first_lag = None
        while time.monotonic() < deadline:
            ends = kafka_io.end_offsets(self.bootstrap, inputs)
            committed = kafka_io.committed_offsets(self.bootstrap, group)
            lag = sum(max(0, end - committed.get(tp, 0)) for tp, end in ends.items())
            first_lag = lag if first_lag is None else max(first_lag, lag)
            if lag:
                self.out.progress(f"worker catching up ({what})", first_lag - lag, first_lag, last)
            quiet = quiet + 1 if lag == 0 else 0
            if quiet >= 2:
                if first_lag:
                    self.out.progress(f"worker catching up ({what})", first_lag, first_lag, last)
                return
            time.sleep(0.5)
        raise DemoError(f"the worker had not caught up after {SETTLE_TIMEOUT_S:.0f}s; see {rel(self.worker_log)}")

    # -------------------------------------------------------- tear-down

    def stop(self) -> None:
        if self.insights is not None and self.insights.running():
            self.out.step(f"stopping the insights service (pid {self.insights.pid})")
            self.insights.stop()
            INSIGHTS_PID_FILE.unlink(missing_ok=True)
        if self.worker is not None and self.worker.running():
            self.out.step(f"stopping the worker (pid {self.worker.pid})")
            self.worker.stop()
            WORKER_PID_FILE.unlink(missing_ok=True)
        if self.started_broker:
            self.out.step("stopping the local broker")
            localkafka.down(KAFKA_DIR)
            self.started_broker = False

    def kill(self) -> None:
        """A second Ctrl-C during stop(): stop harder, without waiting."""
        if self.insights is not None and self.insights.running():
            self.insights.proc.kill()
        if self.worker is not None and self.worker.running():
            self.worker.proc.kill()
        if self.started_broker:
            localkafka.down(KAFKA_DIR)
