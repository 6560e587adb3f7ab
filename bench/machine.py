"""The machine and the versions a run measured, for the document's first table."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import shutil
import subprocess
from pathlib import Path

from .common import Broker


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    except OSError:
        pass
    java = "?"
    if shutil.which("java"):
        out = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
        java = out[0] if out else "?"
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory_gib": memory / 2**30, "kernel": platform.release(),
            "python": platform.python_version(), "java": java, "load_before": os.getloadavg()}


def versions(broker: Broker) -> dict:
    def v(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return {"faust-streaming": v("faust-streaming"), "aiokafka": v("aiokafka"), "orjson": v("orjson"),
            "rocksdict": v("rocksdict"), "aiohttp": v("aiohttp"), "mode-streaming": v("mode-streaming"),
            "kafka": broker.version()}


def can_profile() -> bool:
    return importlib.util.find_spec("pyinstrument") is not None
