"""What the demo prints: timed steps, notes, progress, headings; paths shown relative."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path


class DemoError(RuntimeError):
    """A step failed; the message says what to do."""


class Console:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.tty = sys.stdout.isatty()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def step(self, message: str) -> None:
        print(f"[{self.elapsed():5.1f}s] {message}", flush=True)

    def note(self, message: str) -> None:
        print(f"         {message}", flush=True)

    def progress(self, label: str, done: int, total: int, last: list) -> None:
        """A bar redrawn in place on a terminal; a line every 25% otherwise."""
        if self.tty:
            width = 30
            filled = width * done // max(total, 1)
            end = "\n" if done >= total else ""
            print(f"\r         {label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end=end, flush=True)
            return
        quarter = 4 * done // max(total, 1)
        if quarter > last[0] or done >= total:
            last[0] = quarter
            print(f"         {label}: {done}/{total}", flush=True)


def heading(title: str) -> None:
    print(f"\n{title}\n{'-' * len(title)}")


def rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def rel_exe() -> str:
    """The Python running the demo, relative to the current directory when inside it."""
    relative = os.path.relpath(sys.executable)
    return relative if not relative.startswith("..") else sys.executable


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
