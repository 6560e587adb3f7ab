"""The fault suite: a chaos pass and a fault-free pass of the same input, compared.

`python -m bench.chaos --help` for the flags; tests/integration/test_chaos_short.py runs
a short version through `run_suite`.
"""
from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import collect, diagnose
from .cluster import Broker, Group
from .compare import InstrumentError, PassData, compare
from .driver import Driver, DriverError, Producer
from .faults import Faults
from .inputs import Inputs, generate
from .report import figures, markdown, say, summary, write

REPO = Path(__file__).resolve().parents[2]
SESSION_TIMEOUT_S = 10.0  # the workers' (STREAMS_SESSION_TIMEOUT_S's default): a pause outlasts it
GROUPS: list = []  # every worker group started, stopped at the end whatever happens
FAULTS: list = []


@dataclass
class Params:
    workers: int = 3
    kills: int = 20
    users: int = 440
    seconds: float = 660.0
    seed: int = 1
    broker_restart: bool = True
    kill_every: tuple = (1.0, 3.0)
    burst: int = 2
    pauses: int = 4

    def shown(self) -> dict:
        return {"workers": self.workers, "kills": self.kills, "pauses": self.pauses, "users": self.users,
                "seconds": self.seconds,
                "seed": self.seed, "broker_restart": self.broker_restart,
                "kill_every": f"{self.kill_every[0]:g}-{self.kill_every[1]:g}", "burst": self.burst}


@dataclass
class PassOutcome:
    label: str
    data: PassData
    seconds: float
    inputs_count: dict
    sessions_ok: int
    sessions_planned: int
    skipped: list
    faults: dict = field(default_factory=dict)
    worker_events: list = field(default_factory=list)
    settle: dict = field(default_factory=dict)
    produced: dict = field(default_factory=dict)  # messageId -> (when, partition, offset)


def run_pass(label: str, inputs: Inputs, broker: Broker, workdir: Path, params: Params, faulty: bool) -> PassOutcome:
    prefix = f"{inputs.tag}-{label}-{uuid.uuid4().hex[:6]}"
    group = Group(broker.address, workdir, prefix, params.workers, env={"STREAMS_STORE": "rocksdb://"})
    GROUPS.append(group)
    started = time.monotonic()
    say(f"{label}: starting {params.workers} workers (app {group.app_id})")
    producer = probes = faults = None
    try:
        group.start()
        say(f"{label}: workers ready after {time.monotonic() - started:.0f}s; input for {inputs.seconds:.0f}s")
        producer, probes = Producer(broker.address, group), Producer(broker.address, group)
        driver = Driver(inputs, group, producer)
        if faulty:
            middle = inputs.seconds / 2 if params.broker_restart else None
            driver.faults_over_at = None

            def faults_over() -> None:
                driver.faults_over_at = time.monotonic()

            faults = Faults(group, broker, probes, inputs.tag, inputs.seed, params.kills, params.kill_every, middle,
                            params.burst, faults_over, pauses=params.pauses, session_timeout_s=SESSION_TIMEOUT_S)
            FAULTS.append(faults)
            faults.start(time.monotonic())
        driver.run(label, deadline_s=inputs.seconds * 3 + 900)
        say(f"{label}: input done ({producer.count} messages, {driver.widget_posts} widget events, "
            f"{producer.retries} produce retries, {driver.widget_retries} widget retries)")
        if faults is not None:
            if len(faults.kills) < params.kills or len(faults.pauses) < params.pauses:
                say(f"{label}: input over, {len(faults.kills)} of {params.kills} kills and {len(faults.pauses)} of "
                    f"{params.pauses} pauses so far: going on")
            faults.wait(timeout_s=(params.kills + params.pauses) * 60 + 600)
            if len(faults.kills) < params.kills or len(faults.pauses) < params.pauses:
                raise InstrumentError(f"only {len(faults.kills)} of {params.kills} kills and {len(faults.pauses)} of "
                                      f"{params.pauses} pauses happened")
        say(f"{label}: settling (every worker healthy, no consumer lag, outputs still)")
        settled = collect.settle(group)
        say(f"{label}: settled={settled['settled']} after {settled['seconds']:.0f}s; reading the outputs")
        ids = inputs.users + inputs.anonymous
        got = collect.collect(group, ids)
        results = driver.results
        data = PassData(label, got["topics"], got["states"], results, dict(driver.sessions))
        events = [{**e, "at_s": e["t"] - started} for e in group.events]
        return PassOutcome(label, data, time.monotonic() - started,
                           {**inputs.counts(), "widget_events": driver.widget_posts},
                           sum(1 for r in results if r["ok"]), len(inputs.sessions),
                           [r for r in results if not r["ok"]], faults.record() if faults else {}, events, settled,
                           dict(driver.produced))
    finally:
        if faults is not None:  # no kill may start a worker once the group is stopped
            faults.stop.set()
            faults.loop_thread.join(60)
        for p in (producer, probes):
            if p is not None:
                p.close()
        group.stop()


def run_suite(params: Params, bootstrap: str | None = None, workdir: Path | None = None):
    """Both passes and the comparison: (figures, Result, chaos PassOutcome, clean PassOutcome)."""
    if params.broker_restart and bootstrap is not None:
        raise SystemExit("chaos: --broker-restart needs the suite's own broker (no external bootstrap)")
    workdir = workdir or Path(tempfile.mkdtemp(prefix="streams-chaos-"))
    # The two passes run side by side, the fault-free one on a broker of its own (the chaos
    # broker restarts); their data (topics, offsets) stays with the logs.
    brokers = {"chaos": Broker(bootstrap, workdir / "kafka"), "clean": Broker(bootstrap, workdir / "kafka-clean")}
    inputs = generate(params.seed, params.users, params.seconds, int(time.time() * 1000))
    say(f"input: {inputs.counts()}")
    outcomes: dict = {}

    def one(label: str) -> None:
        try:
            outcomes[label] = run_pass(label, inputs, brokers[label], workdir, params, faulty=label == "chaos")
        except BaseException as error:  # handed to the main thread
            outcomes[label] = error

    threads = [threading.Thread(target=one, args=(label,), name=label, daemon=True) for label in brokers]
    try:
        for broker in brokers.values():
            broker.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():  # joined in steps: a signal still reaches the main thread
                thread.join(1.0)
    finally:
        for faults in list(FAULTS):  # no kill may start a worker again from here on
            faults.stop.set()
        for group in list(GROUPS):  # after an interrupt the pass threads may not get to it
            group.stop()
        for broker in brokers.values():
            broker.close(remove=False)  # the caller removes workdir when all is well
    for label in brokers:
        if isinstance(outcomes.get(label), BaseException):
            raise outcomes[label]
    chaos, clean = outcomes["chaos"], outcomes["clean"]
    if not clean.settle.get("settled"):
        raise InstrumentError(f"the fault-free pass never settled: {clean.settle}")
    triggers = (inputs.trigger_survey, inputs.expected_triggers()) if inputs.trigger_survey else None
    result = compare(chaos.data, clean.data, triggers)
    result.suspects = diagnose.explain(inputs, result, chaos.data.states, clean.data.states, chaos.produced)
    if not chaos.settle.get("settled"):
        result.notes.append(f"the chaos pass did not settle: {chaos.settle}")
    late = [r for r in chaos.data.sessions + clean.data.sessions if r.get("age_s", 0) > 25 * 60]
    if late:
        result.notes.append(f"{len(late)} sessions sent timestamps older than 25 min: display timeouts may differ")
    if not chaos.sessions_ok:
        raise InstrumentError("the chaos pass drove no widget session: nothing was tested")
    return figures(params.shown(), chaos, clean, result), result, chaos, clean


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.splitlines()[0])
    d = Params()
    parser.add_argument("--workers", type=int, default=d.workers)
    parser.add_argument("--kills", type=int, default=d.kills, help="SIGKILLs in the chaos pass (at least)")
    parser.add_argument("--pauses", type=int, default=d.pauses,
                        help="SIGSTOPs past the session timeout, then SIGCONT (zombies), mixed with the kills")
    parser.add_argument("--users", type=int, default=d.users)
    parser.add_argument("--seconds", type=float, default=d.seconds, help="how long the input flows")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--broker-restart", action=argparse.BooleanOptionalAction, default=d.broker_restart)
    parser.add_argument("--kill-every", default="1-3", help="seconds between kills (random in the range)")
    parser.add_argument("--burst", type=int, default=d.burst,
                        help="kills per wave; the next wave starts --kill-every after all workers are back "
                             "(1: one kill at a time; >= --kills: one storm, never waiting)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "reliability.md")
    parser.add_argument("--keep", action="store_true", help="keep the worker logs and data even when all is well")
    args = parser.parse_args(argv)
    low, _, high = args.kill_every.partition("-")
    params = Params(args.workers, args.kills, args.users, args.seconds, args.seed, args.broker_restart,
                    (float(low), float(high or low)), args.burst, args.pauses)
    workdir = Path(tempfile.mkdtemp(prefix="streams-chaos-"))
    started = time.monotonic()

    def interrupted(signum, frame):  # `timeout` or a CI stop: clean up through the finally blocks
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    try:
        fig, result, chaos, clean = run_suite(params, workdir=workdir)
    except KeyboardInterrupt:
        say(f"interrupted; logs kept in {workdir}")
        return 130
    except (InstrumentError, DriverError, RuntimeError) as error:
        say(f"INSTRUMENT FAILURE (nothing was measured): {error}")
        say(f"logs kept in {workdir}")
        return 2
    verdict = "FAIL" if result.failed() else "PASS"
    write(args.out, markdown(params.shown(), chaos, clean, result, fig, verdict))
    print(summary(fig, verdict) + f"; total {time.monotonic() - started:.0f}s")
    for line in result.examples[:12] + result.suspects[:6]:
        print(f"  {line[:400]}")
    print(f"report: {args.out}")
    if result.failed() or args.keep:
        print(f"worker logs and data kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if result.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
