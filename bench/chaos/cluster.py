"""The system under test: one local broker and a group of workers sharing one app id.

Workers are bench.common.PrefixedWorker processes (their own port, data dir and log, the same
topic prefix, so the same app id and topics). Everything listens on 127.0.0.1.
"""
from __future__ import annotations

import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

from streams.runtime import localkafka
from streams.core.config import load_config
from bench.common import PrefixedWorker

from .report import say

WIDGET_KEY = "chaos-widget-key"
ADMIN_KEY = "test-admin-key"  # what PrefixedWorker configures


class Broker:
    """A local Kafka on free ports in a temp dir, which can be stopped and started again."""

    def __init__(self, address: str | None = None, directory: Path | None = None):
        self.owned = address is None
        self.directory: Path | None = directory  # kept by the caller when a run fails
        self.address = address or ""
        self.ports: tuple[int, int] | None = None

    def start(self) -> "Broker":
        if self.owned:
            self.directory = self.directory or Path(tempfile.mkdtemp(prefix="streams-chaos-kafka-"))
            self.ports = (localkafka.free_port(), localkafka.free_port())
            self.address = localkafka.up(*self.ports, self.directory)
        return self

    def restart(self) -> dict:
        """localkafka.down, then up again on the same ports and directory; the timings."""
        if not self.owned:
            raise RuntimeError("cannot restart a broker this suite did not start")
        t0 = time.monotonic()
        localkafka.down(self.directory)
        t1 = time.monotonic()
        deadline = t1 + 60
        while time.monotonic() < deadline:  # the ports must be free again before `up`
            if all(localkafka.port_free(p) for p in self.ports):
                break
            time.sleep(0.5)
        self.address = localkafka.up(*self.ports, self.directory)
        return {"down_s": t1 - t0, "up_s": time.monotonic() - t1}

    def close(self, remove: bool = True) -> None:
        if self.owned and self.directory is not None:
            localkafka.down(self.directory)
            if remove:
                shutil.rmtree(self.directory, ignore_errors=True)


class Group:
    """N workers with one topic prefix (one app id); kill -9, restart, watch for deaths."""

    def __init__(self, bootstrap: str, workdir: Path, prefix: str, count: int, config: dict | None = None,
                 env: dict | None = None):
        self.prefix = prefix
        self.bootstrap = bootstrap
        env = {"STREAMS_WIDGET_KEY": WIDGET_KEY, "STREAMS_LOG_LEVEL": "INFO", **(env or {})}
        self.workers = [PrefixedWorker(bootstrap, workdir / f"{prefix}-w{i}", config, env, name=f"{prefix}-w{i}",
                               topic_prefix=prefix) for i in range(count)]
        self.config = load_config(self.workers[0].config_path)
        self.partitions = self.config.project.partitions
        self.lock = threading.RLock()
        self.killing: set = set()  # indexes being killed on purpose right now
        self.events: list = []  # unexpected exits and forced restarts: dicts
        self._rr = 0
        self._watch: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def app_id(self) -> str:
        return self.workers[0].env["STREAMS_APP_ID"]

    def topic(self, logical: str) -> str:
        return self.config.topics[logical]

    def create_topics(self) -> None:
        from streams.cli.admin import create_topics

        create_topics(self.bootstrap, self.config, quiet=True)

    def start(self, timeout_s: float = 180.0) -> None:
        self.create_topics()
        for worker in self.workers:
            worker.launch()
        self.wait_all_ready(timeout_s, what="start")
        self._watch = threading.Thread(target=self._watcher, name=f"watch-{self.prefix}", daemon=True)
        self._watch.start()

    def wait_all_ready(self, timeout_s: float, what: str) -> float:
        """Every worker answers /health 200; raises (loudly) when one never does."""
        t0 = time.monotonic()
        pending = set(range(len(self.workers)))
        while pending and time.monotonic() - t0 < timeout_s:
            for index in list(pending):
                if self.workers[index].health() == 200:
                    pending.discard(index)
            time.sleep(0.3)
        if pending:
            tails = "\n".join(f"--- worker {i} ({self.workers[i].log_path}):\n{self.workers[i].log_tail(25)}"
                              for i in sorted(pending))
            raise RuntimeError(f"chaos: workers {sorted(pending)} not ready {timeout_s:.0f}s after {what}\n{tails}")
        return time.monotonic() - t0

    def urls(self) -> list[str]:
        return [w.url for w in self.workers]

    def next_url(self) -> str:
        """Round-robin over every worker's bridge, dead or alive (callers retry)."""
        with self.lock:
            self._rr = (self._rr + 1) % len(self.workers)
            return self.workers[self._rr].url

    def kill(self, index: int) -> float:
        """SIGKILL worker `index` and start it again at once (same port and data dir)."""
        worker = self.workers[index]
        with self.lock:
            self.killing.add(index)
        try:
            at = time.monotonic()
            if worker.proc is not None and worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGKILL)
                worker.proc.wait(30)
            worker.launch()
            return at
        finally:
            with self.lock:
                self.killing.discard(index)

    def restart(self, index: int, reason: str) -> None:
        """Kill (if still there) and start a worker that died or hangs; recorded."""
        worker = self.workers[index]
        code = worker.proc.poll() if worker.proc else None
        self.events.append({"t": time.monotonic(), "worker": index, "reason": reason, "exit": code,
                            "log": worker.log_tail(8)})
        say(f"  worker {index}: {reason} (exit {code}); restarting it")
        self.kill(index)

    def _watcher(self) -> None:
        while not self._stop.wait(1.0):
            for index, worker in enumerate(self.workers):
                with self.lock:
                    if index in self.killing:
                        continue
                    dead = worker.proc is not None and worker.proc.poll() is not None
                if dead:
                    self.restart(index, "exited on its own")

    def healthy(self) -> list[bool]:
        return [w.health() == 200 for w in self.workers]

    def stop(self) -> None:
        """Idempotent: stops the watcher and every worker still running."""
        self._stop.set()
        if self._watch is not None:
            self._watch.join(5)
        for worker in self.workers:
            worker.stop()
