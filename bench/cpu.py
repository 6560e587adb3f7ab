"""How busy the machine was during a measured phase, and how much of it was this benchmark.

The machine is shared: /proc gives the whole machine's busy time and every process's CPU,
so a window can tell this benchmark's processes (this one and its descendants: workers,
load generators, the broker it started) from the others, and wait for the others to quieten.
"""
from __future__ import annotations

import os
import resource
import time
from pathlib import Path

from .common import CLK_TCK, say


def _proc_table() -> dict:
    """pid -> (ppid, CPU seconds) for every process."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return table


def _machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot (all cores)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLK_TCK


class CpuWindow:
    """How busy the machine was during a step, and how much of it was not this benchmark.

    Ours = this process and its descendants (workers, load generators, the broker it
    started); processes that ended inside the window are counted through RUSAGE_CHILDREN.
    """

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.busy0 = _machine_busy()
        self.table0 = _proc_table()
        self.children0 = self._children_cpu()
        self.waited_s = 0.0
        self.found_quiet = True

    def _children_cpu(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def stop(self) -> dict:
        elapsed = time.monotonic() - self.t0
        busy = _machine_busy() - self.busy0
        table = _proc_table()
        me = os.getpid()
        family = {me}
        changed = True
        while changed:
            changed = False
            for pid, (ppid, _) in table.items():
                if ppid in family and pid not in family:
                    family.add(pid)
                    changed = True
        ours = sum(cpu - self.table0.get(pid, (0, 0.0))[1] for pid, (_, cpu) in table.items() if pid in family)
        ours += self._children_cpu() - self.children0
        others = max(0.0, busy - ours)
        return {"seconds": elapsed, "machine_cores_busy": busy / elapsed if elapsed else 0.0,
                "bench_cores": ours / elapsed if elapsed else 0.0,
                "other_cores": others / elapsed if elapsed else 0.0, "waited_s": self.waited_s,
                "found_quiet": self.found_quiet}


_quiet_budget = {"left_s": float("inf")}


def set_quiet_budget(seconds: float) -> None:
    """The most a whole run may spend in quiet_window's waits (the run stays bounded in time)."""
    _quiet_budget["left_s"] = seconds


def quiet_window(limit_s: float, threshold_cores: float = 0.3, sample_s: float = 2.0) -> CpuWindow:
    """A CpuWindow opened once other processes use less than `threshold_cores` (sampled over
    `sample_s`), or after `limit_s` of waiting (less if the run's budget is spent): the machine
    is shared, and a measurement taken while other work holds a core says little. The wait is
    recorded (`waited_s` in stop())."""
    limit_s = min(limit_s, _quiet_budget["left_s"])
    started, waited, quiet = time.monotonic(), 0.0, limit_s <= 0
    while waited < limit_s:
        probe = CpuWindow()
        time.sleep(sample_s)
        other = probe.stop()["other_cores"]
        if other < threshold_cores:
            quiet = True
            break
        waited = time.monotonic() - started
        say(f"  other processes use {other:.2f} cores: waiting for them to quieten ({waited:.0f}/{limit_s:.0f} s)")
    _quiet_budget["left_s"] -= waited
    window = CpuWindow()
    window.waited_s, window.found_quiet = waited, quiet
    return window
