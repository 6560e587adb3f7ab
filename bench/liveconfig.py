"""Benchmark: re-deciding every user after a live config switch (issue 15), and its cost to
live traffic. `python -m bench.liveconfig [--users N]`, run by `make bench` after bench.run.

One worker holds N realistic users (the changelog filled as bench/state.py does). The
decision latency of new identifies at a fixed rate is measured first without a switch,
then while the worker re-decides everyone under a new version (`surveys apply` of the same
file with its top survey paused). Writes its section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import threading
import time
from pathlib import Path

import orjson
import yaml

from streams.runtime import liveconfig
from streams.core import topics as names
from streams.runtime.settings import Settings

from .common import PYTHON, REPO, Broker, Run, say
from .state import fill_changelog, wait_due_index

BEGIN, END = "<!-- liveconfig:begin -->", "<!-- liveconfig:end -->"
RATE, SECONDS = 1000, 20
_REDECIDED = re.compile(r'users re-decided under the new config.*?users=(\d+) changed=(\d+) seconds=([\d.]+)')


def _latency(run: Run, seconds: float, tag: str) -> dict:
    result = subprocess.run(
        [PYTHON, "-m", "bench.latency", run.bootstrap, run.topic(names.SEGMENT_IDENTIFY),
         run.topic(names.ELIGIBILITY), str(run.partitions), str(RATE), str(seconds), tag],
        cwd=REPO, capture_output=True, text=True, timeout=seconds + 300)
    if result.returncode != 0:
        raise RuntimeError(f"latency load failed:\n{result.stderr[-3000:]}")
    return orjson.loads(result.stdout.strip().splitlines()[-1])


def _paused_text(config_path: Path) -> str:
    document = yaml.safe_load(config_path.read_text())
    top = max(document["surveys"], key=lambda s: s.get("priority", 10))
    top["active"] = False
    return yaml.safe_dump(document, sort_keys=False)


def measure(users: int, workdir: Path) -> dict:
    with Broker() as broker:
        run = Run(broker, workdir, "live")
        try:
            run.create_topics()
            run.create_changelog()
            fill_changelog(run, users)
            worker = run.worker(0, env={"STREAMS_LOG_LEVEL": "INFO"}).start()
            worker.wait_ready(timeout_s=1800, label="worker")
            wait_due_index(worker)
            say(f"  baseline: decision latency at {RATE}/s for {SECONDS}s, no switch")
            baseline = _latency(run, SECONDS, run.tag + "-a")
            say(f"  baseline p50 {_ms(baseline['p50_ms'])}, p99 {_ms(baseline['p99_ms'])}")
            during: dict = {}
            # The load lasts at least as long as a re-decision at the asked pace would (the
            # scan goes slower when many decisions change: it waits for its ticks).
            load_seconds = SECONDS + users / Settings.from_env().redecide_per_s
            load = threading.Thread(target=lambda: during.update(_latency(run, load_seconds, run.tag + "-b")))
            load.start()
            time.sleep(3)  # the load has started
            cpu0, started = worker.cpu_seconds(), time.monotonic()
            version = liveconfig.publish(run.bootstrap, run.topic(names.CONFIG), _paused_text(run.config_path),
                                         "bench", int(time.time() * 1000))
            say(f"  published {version.version}: re-deciding {users:,} users while the load goes on")
            match = None
            while time.monotonic() - started < 1800 and match is None:
                match = _REDECIDED.search(worker.log_path.read_text(errors="replace"))
                time.sleep(0.5)
            wall, cpu = time.monotonic() - started, worker.cpu_seconds() - cpu0
            load.join()
            worker.stop()
            if match is None:
                raise RuntimeError("the worker never logged the end of its re-decision")
            looked, changed, seconds = int(match[1]), int(match[2]), float(match[3])
            say(f"  re-decided {looked:,} users in {seconds:.1f}s ({changed:,} changed); "
                f"during it p50 {_ms(during['p50_ms'])}, p99 {_ms(during['p99_ms'])}, "
                f"{during['missing']:,} of {during['measured']:,} not decided within the drain")
            return {"users": looked, "changed": changed, "seconds": seconds, "wall_s": wall, "cpu_s": cpu,
                    "baseline": baseline, "during": during, "load_s": load_seconds}
        finally:
            run.cleanup()


def _ms(value) -> str:
    """A latency from bench.latency: None is a decision never seen (orjson writes inf as null)."""
    return "∞" if value is None or value == float("inf") else f"{value:.1f} ms"


def _latency_row(r: dict) -> str:
    late = f"; {r['missing']:,} of {r['measured']:,} not decided within 15 s of the last send" if r["missing"] else ""
    return f"{_ms(r['p50_ms'])} / {_ms(r['p99_ms'])}{late}"


def section(r: dict) -> str:
    per_s = r["users"] / r["seconds"] if r["seconds"] else float("nan")
    million = 1_000_000 / per_s if per_s else float("nan")
    b, d = r["baseline"], r["during"]
    return "\n".join([
        BEGIN,
        "## Live config: re-deciding every user after a switch",
        "",
        f"Written by `python -m bench.liveconfig` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. One worker "
        f"holding {r['users']:,} users switches to a version with its top survey paused (`surveys apply`); it "
        f"re-decides every user in the background, paced at `STREAMS_REDECIDE_PER_S` users/s (default 20,000; "
        f"streams/agents/configwatch.py), and ticks those whose decision changes, keeping few ticks waiting. "
        f"Meanwhile new identifies arrive at {RATE}/s, for the first {r['load_s']:.0f} s of the re-decision.",
        "",
        "| | |",
        "|---|---|",
        f"| users re-decided | {r['users']:,} in {r['seconds']:.1f} s ({per_s:,.0f}/s) |",
        f"| decisions that changed (ticked, re-emitted) | {r['changed']:,} |",
        f"| 1M users at that rate | {million:.0f} s |",
        f"| worker CPU during the switch | {r['cpu_s']:.1f} CPU-s over {r['wall_s']:.1f} s |",
        f"| decision latency at {RATE}/s without a switch, p50 / p99 | {_latency_row(b)} |",
        f"| the same while re-deciding, p50 / p99 | {_latency_row(d)} |",
        END,
    ])


def write(document: Path, text: str) -> None:
    current = document.read_text() if document.exists() else ""
    if BEGIN in current and END in current:
        current = current[:current.index(BEGIN)] + text + current[current.index(END) + len(END):]
    else:
        current = current.rstrip() + "\n\n" + text + "\n"
    document.write_text(current)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.liveconfig", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--output", default=str(REPO / "docs" / "benchmarks.md"))
    parser.add_argument("--workdir", default=str(REPO / "var" / "bench-live"))
    args = parser.parse_args(argv)
    say(f"== live config: re-decide {args.users:,} users under load")
    result = measure(args.users, Path(args.workdir))
    write(Path(args.output), section(result))
    say(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
