"""One `python -m streams worker` as a child process: launched with an environment, logged to
a file, waited for on /health, stopped in order. The demo, the tests' harness and the
benchmarks all run their workers through it."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from streams.runtime.httpjson import request as http

REPO = Path(__file__).resolve().parents[2]
WORKER_COMMAND = [sys.executable, "-m", "streams", "worker"]


class WorkerExited(RuntimeError):
    def __init__(self, code: int, log_tail: str):
        super().__init__(f"worker exited with {code}:\n{log_tail}")
        self.code = code


class WorkerNotReady(TimeoutError):
    def __init__(self, timeout_s: float, log_tail: str):
        super().__init__(f"worker not ready within {timeout_s:g}s:\n{log_tail}")
        self.timeout_s = timeout_s


class WorkerProcess:
    def __init__(self, env: dict, log_path: Path, url: str, command: list | None = None,
                 own_session: bool = False):
        self.env, self.log_path, self.url = env, Path(log_path), url
        self.command = command or WORKER_COMMAND
        self.own_session = own_session  # Ctrl-C in a terminal then reaches the parent only
        self.proc: subprocess.Popen | None = None
        self.started_at = self.ready_at = 0.0
        self._log = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not launched"
        return self.proc.pid

    def launch(self, banner: bytes = b""):
        """Start the process (same environment and log on a restart) without waiting."""
        self._close_log()
        self._log = open(self.log_path, "ab")
        if banner:
            self._log.write(banner)
            self._log.flush()
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(self.command, cwd=REPO, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=self.own_session)
        return self

    def health(self, timeout_s: float = 2.0) -> int:
        """The status of GET /health, 0 when nothing answers."""
        try:
            return http("GET", f"{self.url}/health", timeout=timeout_s)[0]
        except Exception:  # refused, reset, a timeout, a half-written answer
            return 0

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def alive(self) -> bool:
        return self.running() and self.health() == 200

    def wait_ready(self, timeout_s: float = 90.0, interval_s: float = 0.1,
                   waiting: Callable[[float], None] | None = None) -> float:
        """Seconds from launch() until /health answers 200; `waiting(seconds)` every 10 s."""
        deadline, note = time.monotonic() + timeout_s, time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise WorkerExited(self.proc.returncode, self.log_tail())
            if self.health() == 200:
                self.ready_at = time.monotonic()
                return self.ready_at - self.started_at
            if waiting is not None and time.monotonic() > note:
                note = time.monotonic() + 10
                waiting(time.monotonic() - self.started_at)
            time.sleep(interval_s)
        raise WorkerNotReady(timeout_s, self.log_tail())

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self, kill: bool = False, timeout_s: float = 30.0) -> None:
        """SIGTERM (or SIGKILL) and wait; SIGKILL after `timeout_s` if it does not exit."""
        if self.running():
            self.proc.send_signal(signal.SIGCONT)  # a paused process cannot handle SIGTERM
            self.proc.kill() if kill else self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close_log()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
