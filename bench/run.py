"""`python -m bench.run [--quick]`: every benchmark, written to docs/benchmarks.md.

Uses the broker named by KAFKA_BOOTSTRAP_SERVERS, else starts a local Kafka on free ports
(streams.runtime.localkafka) and stops it at the end. The steps (bench.steps) measure; the targets
(bench.targets) judge; bench.document writes the page. Progress goes to stderr; the
figures to the document and as JSON next to the profiles, under var/bench/.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import orjson

from . import reliability
from .common import REPO, Broker, say
from .cpu import set_quiet_budget
from .document import document
from .machine import can_profile, machine, versions
from .steps import step_bridge, step_latency, step_pipeline, step_state

FULL = {
    "pipeline_messages": 200_000,
    "latency_rates": (250, 1000, 2000, 2500, 3000, 4000, 5000),
    "latency_seconds": 20,
    "latency_budget_s": 900,
    "bridge_users": 20_000,
    "bridge_concurrency": (8, 32, 128),
    "bridge_seconds": 15,
    "state_users": 1_000_000,
    "profile_messages": 200_000,
    "profile_recovery_users": 100_000,
    "quiet_wait_s": 60,  # per measured phase, at most
    "quiet_budget_s": 600,  # for the whole run
}
QUICK = {
    "pipeline_messages": 20_000,
    "latency_rates": (1000, 2500, 4000),
    "latency_seconds": 6,
    "latency_budget_s": 120,
    "bridge_users": 5_000,
    "bridge_concurrency": (8, 32),
    "bridge_seconds": 5,
    "state_users": 50_000,
    "profile_messages": 20_000,
    "profile_recovery_users": 20_000,
    "quiet_wait_s": 5,
    "quiet_budget_s": 30,
}
STEPS = {"pipeline": step_pipeline, "latency": step_latency, "bridge": step_bridge, "state": step_state}


def _save(workdir: Path, results: dict) -> None:
    (workdir / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2, default=str))


def _write(output: Path, results: dict) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(document(results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every step")
    parser.add_argument("--only", default=",".join(STEPS), help=f"comma-separated steps of {', '.join(STEPS)}")
    parser.add_argument("--no-profile", action="store_true", help="no pyinstrument runs for missed targets")
    parser.add_argument("--output", default=str(REPO / "docs" / "benchmarks.md"))
    parser.add_argument("--workdir", default=str(REPO / "var" / "bench"))
    parser.add_argument("--render", metavar="RESULTS_JSON", help="only write the document from a results.json "
                        "(the fault suite's figures are read again from docs/reliability.md)")
    args = parser.parse_args(argv)
    if args.render:
        results = orjson.loads(Path(args.render).read_bytes())
        results["reliability"] = reliability.read()
        _write(Path(args.output), results)
        say(f"wrote {args.output} from {args.render}")
        return 0
    steps = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps: {', '.join(sorted(unknown))}")
    sizes = dict(QUICK if args.quick else FULL)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    profile_dir = None
    if not args.no_profile:
        if can_profile():
            profile_dir = workdir / "profiles"
            profile_dir.mkdir(exist_ok=True)
        else:
            say("pyinstrument is not installed: no profiles (.venv/bin/pip install pyinstrument)")
    set_quiet_budget(sizes["quiet_budget_s"])
    started = time.monotonic()
    results: dict = {"quick": args.quick, "sizes": sizes, "machine": machine(),
                     "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    with Broker() as broker:
        results["broker"] = "started by the benchmark" if broker.owned else f"external, {broker.address}"
        results["versions"] = versions(broker)
        for step, run_step in STEPS.items():
            if step in steps:
                results[step] = run_step(broker, workdir, sizes, profile_dir)
                _save(workdir, results)
    results["elapsed_s"] = time.monotonic() - started
    results["reliability"] = reliability.read()
    _save(workdir, results)
    _write(Path(args.output), results)
    say(f"wrote {args.output} ({results['elapsed_s'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
