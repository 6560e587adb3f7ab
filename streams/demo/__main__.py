"""The entry point of `python -m streams.demo`: the steps in order, flags, Ctrl-C and stop."""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from streams.core import topics as names
from streams.core.config import load_config
from streams.runtime.settings import Settings
from streams.demo import __doc__ as OVERVIEW
from streams.demo import kafka_io, population
from streams.demo.console import Console, DemoError
from streams.demo.livechange import pause_a_survey_live
from streams.demo.defaults import DEFAULT_PORT, SAMPLE
from streams.demo.processes import Processes
from streams.demo.replay import replay_customers, replay_sample
from streams.demo.sessions import run_sessions, wait_for_responses
from streams.demo.summary import Summary, print_try_it
from streams.demo.trend import print_trend

# Topics the summary shows this run's records of (or waits on): read from these offsets.
OUTPUT_TOPICS = (names.ELIGIBILITY, names.OUTBOUND, names.RESPONSES, names.SCORES, names.DEADLETTER)


def run(out: Console, processes: Processes, args: argparse.Namespace) -> None:
    config = processes.config
    processes.connect_kafka()
    processes.create_topics()
    start_offsets = kafka_io.end_offsets(processes.bootstrap, [config.topics[t] for t in OUTPUT_TOPICS])
    processes.start_worker(args.port)
    processes.start_insights()
    replayed = replay_sample(out, processes.url, args.sample)
    people = population.customers()
    replayed += replay_customers(out, processes.url, people)
    processes.wait_until_processed("sample stream and customers")
    out.step("decisions settled")
    sessions = run_sessions(out, config, processes.bootstrap, processes.url, people)
    processes.wait_until_processed("widget sessions")
    wait_for_responses(out, config, processes.bootstrap, start_offsets, sessions.responses)
    Summary(config, processes.bootstrap, processes.url, start_offsets).print(replayed)
    print_trend(out, config, processes.insights_url)
    pause_a_survey_live(out, config, processes.bootstrap, processes.url, processes.settings.app_id)
    print_try_it(processes.url, sessions.example_users, args.keep, processes.worker.pid, processes.started_broker,
                 processes.insights_url, processes.insights.pid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.demo", description=OVERVIEW.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the worker (and the broker) running afterwards")
    parser.add_argument("--port", type=int, help=f"the worker's HTTP port (default {DEFAULT_PORT}, else a free one)")
    parser.add_argument("--sample", type=Path, default=SAMPLE, help="the Segment stream to replay (JSON lines)")
    args = parser.parse_args(argv)

    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    out = Console()
    settings = Settings.from_env()
    processes = Processes(out, settings, load_config(settings.config_path))
    print("survey-streams demo: Kafka, a worker, a Segment stream, widget sessions, scores\n", flush=True)
    code = 0
    try:
        run(out, processes, args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        code = 130
    except DemoError as error:
        print(f"\nerror: {error}", file=sys.stderr)
        code = 1
    finally:
        if not args.keep or code:
            try:
                processes.stop()
            except KeyboardInterrupt:  # a second Ctrl-C: stop harder
                processes.kill()
    if code == 0:
        print(f"\ndone in {out.elapsed():.0f}s")
    return code


if __name__ == "__main__":
    sys.exit(main())
