"""Shared helpers for the benchmarks: broker, isolated runs, worker processes, metrics.

Nothing here imports from tests/ (tests/harness.py builds on PrefixedWorker): one app id and
one set of topic names per run, through the config's `topics:` renames, written for long
runs (progress on stderr, CPU and RSS of the processes, clean-up of topics).
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import yaml

from streams.cli.workerprocess import WorkerProcess
from streams.core import topics as names
from streams.runtime.localkafka import free_port

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "config" / "surveys.yaml"
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
_T0 = time.monotonic()


def say(message: str) -> None:
    """Progress on stderr, with the time since the benchmark started."""
    print(f"[bench {time.monotonic() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)



def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# Process accounting ------------------------------------------------------------------
def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def dir_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, name)).st_blocks * 512
    return total


def files_bytes(path: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in path.rglob(pattern) if p.is_file())


# Metrics -----------------------------------------------------------------------------
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> dict:
    """Prometheus text -> {name: [(labels dict, value)]}."""
    out: dict = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match:
            name, labels, value = match.groups()
            out.setdefault(name, []).append((dict(_LABEL.findall(labels or "")), float(value)))
    return out


def metric_sum(metrics: dict, name: str, topics: set | None = None) -> float:
    return sum(v for labels, v in metrics.get(name, []) if topics is None or labels.get("topic") in topics)


# Broker ------------------------------------------------------------------------------
class Broker:
    """KAFKA_BOOTSTRAP_SERVERS when set, else a local Kafka on free ports, stopped at exit."""

    def __init__(self) -> None:
        self.address = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
        self.directory: Path | None = None
        self.owned = not self.address

    def __enter__(self) -> "Broker":
        if self.owned:
            from streams.runtime import localkafka

            self.directory = Path(tempfile.mkdtemp(prefix="streams-bench-kafka-"))
            say(f"starting a local Kafka in {self.directory}")
            self.address = localkafka.up(free_port(), free_port(), self.directory)
        else:
            say(f"using the broker at {self.address} (KAFKA_BOOTSTRAP_SERVERS)")
        return self

    def __exit__(self, *exc) -> None:
        if self.owned and self.directory is not None:
            from streams.runtime import localkafka

            localkafka.down(self.directory)
            shutil.rmtree(self.directory, ignore_errors=True)

    def pid(self) -> int | None:
        if self.directory is None:
            return None
        with contextlib.suppress(OSError, ValueError):
            return int((self.directory / "kafka.pid").read_text())
        return None

    def version(self) -> str:
        from streams.runtime import localkafka

        if self.owned:
            return localkafka.kafka_version()
        try:
            from kafka import KafkaAdminClient

            admin = KafkaAdminClient(bootstrap_servers=self.address, client_id="bench-version")
            try:
                versions = admin._client.check_version()  # (major, minor, ...) from ApiVersions
            finally:
                admin.close()
            return f"{'.'.join(map(str, versions))} (API level; the jars in tools/kafka/pom.xml are {localkafka.kafka_version()})"
        except Exception:  # noqa: BLE001 - best effort, for the report only
            return f"unknown (external broker; tools/kafka/pom.xml pins {localkafka.kafka_version()})"


# One isolated run: app id, topic names, config -----------------------------------------
class Run:
    """An app id, a set of topic names and a config file, unique to one benchmark step."""

    def __init__(self, broker: Broker, workdir: Path, label: str, config: dict | None = None):
        self.broker = broker
        self.bootstrap = broker.address
        self.tag = f"bench-{label}-{uuid.uuid4().hex[:6]}"
        self.app_id = f"survey-streams-{self.tag}"
        self.workdir = workdir / self.tag
        self.workdir.mkdir(parents=True, exist_ok=True)
        document = dict(config if config is not None else yaml.safe_load(DEFAULT_CONFIG.read_text()))
        document["topics"] = {logical: self.topic(logical) for logical in names.ALL}
        self.config_path = self.workdir / "surveys.yaml"
        self.config_path.write_text(yaml.safe_dump(document, sort_keys=False))
        self.partitions = int(document.get("project", {}).get("partitions", 8))
        self.workers: list[WorkerProc] = []

    def topic(self, logical: str) -> str:
        return f"{self.tag}.{logical}"

    @property
    def changelog(self) -> str:
        return f"{self.app_id}-users-changelog"

    def create_topics(self) -> None:
        from streams.runtime.topics import create_topics
        from streams.core.config import load_config

        config = load_config(str(self.config_path))
        create_topics(self.bootstrap, config, config.topics.for_app(self.app_id), quiet=True)

    def create_topic(self, name: str, config: dict | None = None) -> None:
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="bench-admin")
        try:
            admin.create_topics([NewTopic(name, self.partitions, 1, topic_configs=config or {})])
        finally:
            admin.close()

    def create_changelog(self) -> None:
        """The users table's changelog as Faust would create it (compacted)."""
        self.create_topic(self.changelog, {"cleanup.policy": "compact"})

    def worker(self, index: int = 0, profile: Path | None = None, env: dict | None = None,
               data_dir: Path | None = None, command: list | None = None) -> "WorkerProc":
        worker = WorkerProc(self, index, profile=profile, env=env, data_dir=data_dir, command=command)
        self.workers.append(worker)
        return worker

    def cleanup(self, keep_data: bool = False) -> None:
        """Stop this run's workers, delete its topics from the broker and its local files."""
        for worker in self.workers:
            worker.stop()
        from kafka import KafkaAdminClient

        with contextlib.suppress(Exception):
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="bench-admin")
            try:
                mine = [t for t in admin.list_topics() if t.startswith(self.tag) or t.startswith(self.app_id)]
                if mine:
                    admin.delete_topics(mine)
            finally:
                admin.close()
        if not keep_data:
            shutil.rmtree(self.workdir, ignore_errors=True)


class PrefixedWorker(WorkerProcess):
    """One `python -m streams worker` process (streams/cli/workerprocess.py) with an app id and
    topic names of its own (the config's `topics:` renames under `topic_prefix`), so runs
    that share a broker never see each other's messages. Tests (tests/harness.Worker) and the
    fault suite (bench/chaos) run their workers with it."""

    def __init__(self, bootstrap: str, workdir: Path, config: dict | None = None, env: dict | None = None,
                 name: str | None = None, topic_prefix: str | None = None, port: int | None = None,
                 topics: dict | None = None, app_id: str | None = None):
        self.bootstrap = bootstrap
        self.name = name or f"t{uuid.uuid4().hex[:8]}"
        self.prefix = topic_prefix or self.name
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        document = config if config is not None else yaml.safe_load(DEFAULT_CONFIG.read_text())
        document = dict(document)
        # `app_id`: another than the prefix's, for apps that share their public topics.
        self.app_id = app_id or f"survey-streams-{self.prefix}"
        # Public topics under the worker's prefix; internal ones are the app's own already
        # (`<app id>-user-commands`, ...: streams.core.topics.own_name). `topics`: logical name ->
        # a name of this worker's own (under its prefix), for a test that maps several logical
        # names onto one topic, as Segment's Kafka destination can, or renames an internal one.
        mapped = topics or {}
        renamed = [*names.PUBLIC, *(logical for logical in mapped if logical not in names.PUBLIC)]
        renames = {logical: f"{self.prefix}.{mapped.get(logical, logical)}" for logical in renamed}
        document["topics"] = renames
        self.topics = names.TopicNames(renames).for_app(self.app_id)
        self.config_path = self.workdir / "surveys.yaml"
        self.config_path.write_text(yaml.safe_dump(document, sort_keys=False))
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The in-process app's test settings (tests/conftest.py) are not the workers': they run
        # as users do, RocksDB tables and the secret shared through Kafka, unless `env` says.
        inherited = {k: v for k, v in os.environ.items() if k not in ("STREAMS_STORE", "STREAMS_DISPLAY_SECRET")}
        self.env = {
            **inherited,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "STREAMS_CONFIG": str(self.config_path),
            "STREAMS_WEB_PORT": str(self.port),
            "STREAMS_DATA_DIR": str(self.workdir / "data"),
            "STREAMS_APP_ID": self.app_id,
            "STREAMS_WRITE_KEYS": "test-write-key",
            "STREAMS_ADMIN_KEY": "test-admin-key",
            "STREAMS_LOG_LEVEL": "INFO",
            **(env or {}),
        }
        super().__init__(self.env, self.workdir / "worker.log", self.url)

    def topic(self, logical: str) -> str:
        """The physical name of a logical topic for this worker's app."""
        return self.topics[logical]


class WorkerProc(WorkerProcess):
    """One `python -m streams worker` process of a Run (optionally under pyinstrument)."""

    def __init__(self, run: Run, index: int, profile: Path | None = None, env: dict | None = None,
                 data_dir: Path | None = None, command: list | None = None):
        self.run = run
        self.index = index
        self.port = free_port()
        self.data_dir = data_dir or (run.workdir / f"data{index}")
        self.profile = profile
        if profile is not None:
            command = [PYTHON, "-m", "pyinstrument", "-r", "pyisession", "-o", str(profile), "-m", "streams", "worker"]
        super().__init__({
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": run.bootstrap,
            "STREAMS_CONFIG": str(run.config_path),
            "STREAMS_WEB_PORT": str(self.port),
            "STREAMS_DATA_DIR": str(self.data_dir),
            "STREAMS_APP_ID": run.app_id,
            "STREAMS_LOG_LEVEL": "WARN",
            **(env or {}),
        }, run.workdir / f"worker{index}.log", f"http://127.0.0.1:{self.port}", command)

    def start(self) -> "WorkerProc":
        return self.launch()

    def wait_ready(self, timeout_s: float = 180.0, interval_s: float = 0.05, label: str = "") -> float:
        """Seconds from start() until /health answers 200, saying so every 10 s."""
        return super().wait_ready(timeout_s, interval_s, waiting=lambda seconds: say(
            f"  {label or 'worker'}: waiting for /health ({seconds:.0f}s, rss {proc_rss_bytes(self.pid) / 2**20:.0f} MiB)"))

    def metrics(self) -> dict:
        try:
            status, body = http_get(f"{self.url}/metrics", timeout=5.0)
        except OSError:
            return {}
        return parse_metrics(body.decode()) if status == 200 else {}

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid) if self.proc else 0.0

    def rss(self) -> int:
        return proc_rss_bytes(self.pid) if self.proc else 0

    def stop(self, timeout_s: float = 60.0) -> None:
        super().stop(timeout_s=timeout_s)


# Kafka helpers ---------------------------------------------------------------------------
def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        return {tp.partition: off for tp, off in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


class OffsetWatcher:
    """Polls a topic's end offsets with one long-lived consumer."""

    def __init__(self, bootstrap: str, topic: str, partitions: int):
        from kafka import KafkaConsumer, TopicPartition

        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.tps = [TopicPartition(topic, p) for p in range(partitions)]

    def total(self) -> int:
        return sum(self.consumer.end_offsets(self.tps).values())

    def last_timestamp_ms(self) -> int | None:
        """Kafka timestamp of the newest record over all partitions."""
        ends = self.consumer.end_offsets(self.tps)
        self.consumer.assign([tp for tp in self.tps if ends[tp] > 0])
        newest = None
        for tp in self.tps:
            if ends[tp] > 0:
                self.consumer.seek(tp, ends[tp] - 1)
        deadline = time.monotonic() + 10
        pending = {tp for tp in self.tps if ends[tp] > 0}
        while pending and time.monotonic() < deadline:
            for tp, records in self.consumer.poll(timeout_ms=500).items():
                for record in records:
                    if record.offset == ends[tp] - 1:
                        pending.discard(tp)
                    newest = record.timestamp if newest is None else max(newest, record.timestamp)
        return newest

    def close(self) -> None:
        self.consumer.close()


async def produce(bootstrap: str, records, total: int, label: str, linger_ms: int = 20) -> float:
    """Produce (topic, key bytes, value bytes) records as fast as aiokafka goes; returns seconds."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=linger_ms, max_batch_size=512 * 1024,
                                max_request_size=4 * 1024 * 1024, acks=1)
    await producer.start()
    errors: list = []

    def check(future) -> None:
        if future.exception() is not None and len(errors) < 5:
            errors.append(future.exception())

    started = last = time.monotonic()
    count = 0
    try:
        for topic, key, value in records:
            future = await producer.send(topic, value=value, key=key)
            if count % 1000 == 0:
                future.add_done_callback(check)
            count += 1
            if time.monotonic() - last > 5:
                last = time.monotonic()
                say(f"  {label}: produced {count:,}/{total:,} ({count / (last - started):,.0f}/s)")
        await producer.flush()
    finally:
        await producer.stop()
    if errors:
        raise RuntimeError(f"producing {label} failed: {errors[0]!r}")
    return time.monotonic() - started
