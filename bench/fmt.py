"""How figures are written in docs/benchmarks.md (shared by the targets and the sections)."""
from __future__ import annotations

import math
import os


def num(value) -> float:
    """A measured value as a float; None (never seen) is infinitely late / large."""
    return float("inf") if value is None else float(value)


def ms(value) -> str:
    value = num(value)
    if math.isinf(value):
        return "∞ (not decided within the drain)"
    if math.isnan(value):
        return "n/a"
    return f"{value:,.1f} ms" if value < 10_000 else f"{value / 1000:,.1f} s"


def mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


def rate(value: float) -> str:
    return f"{value:,.0f}"


def cores() -> int:
    return os.cpu_count() or 1


def load_note(load: dict | None) -> str:
    if not load:
        return ""
    note = (f"machine busy {load['machine_cores_busy']:.2f} of {cores()} cores "
            f"(this benchmark {load['bench_cores']:.2f}, other processes {load['other_cores']:.2f})")
    if load.get("waited_s"):
        note += f"; waited {load['waited_s']:.0f} s for other processes to quieten first"
    return note
