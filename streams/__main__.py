"""Command line: `python -m streams kafka|topics|worker|insights|report ...` (docs/reference.md#1-commands)."""
from __future__ import annotations

import argparse
import sys


def _kafka(args) -> int:
    from streams.runtime import localkafka

    try:
        if args.action == "up":
            print(localkafka.up(args.port, args.controller_port, args.dir))
            return 0
        if args.action == "down":
            localkafka.down(args.dir)
            return 0
        return 0 if localkafka.status(args.dir) else 1
    except localkafka.LocalKafkaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _topics(args) -> int:
    from streams.cli.migrate import migrate
    from streams.core.config import load_config
    from streams.runtime import topics as kafka_topics
    from streams.runtime.settings import Settings

    settings = Settings.from_env()
    config = load_config(settings.config_path)
    if args.action == "migrate":
        return migrate(settings.bootstrap_servers, config, settings.app_id, settings.display_secret)
    topic_names = kafka_topics.app_names(settings.bootstrap_servers, config.topics, settings.app_id)
    kafka_topics.create_topics(settings.bootstrap_servers, config, topic_names, changelogs=True)
    return 0


def _worker(args) -> int:
    from streams.cli.worker import run

    return run()


def _insights(args) -> int:
    from streams.cli.insights import run

    return run()


def _surveys(args) -> int:
    from streams.cli import surveys
    from streams.runtime.settings import Settings

    return surveys.run(args, Settings.from_env())


def _report(args, rest) -> int:
    from streams.cli import report

    return report.main(rest)


def main(argv: list[str] | None = None) -> int:
    from streams.core.config import ConfigError
    from streams.runtime.settings import SettingError

    parser = argparse.ArgumentParser(prog="python -m streams", description="survey-streams")
    sub = parser.add_subparsers(dest="command", required=True)
    kafka = sub.add_parser("kafka", help="a local single-node Apache Kafka (KRaft)")
    kafka.add_argument("action", choices=["up", "down", "status"])
    kafka.add_argument("--port", type=int, default=9092)
    kafka.add_argument("--controller-port", type=int, default=9093)
    kafka.add_argument("--dir", default="var/kafka")
    topics = sub.add_parser("topics", help="topic administration")
    topics.add_argument("action", choices=["create", "migrate"],
                        help="create: the app's topics, if missing; migrate: move an app that ran before its "
                             "internal topics were named from the app id onto its own (every worker stopped)")
    sub.add_parser("worker", help="run one worker with its HTTP bridge")
    sub.add_parser("insights", help="the analysts' service: responses and lifecycle events into DuckDB, API and page")
    surveys = sub.add_parser("surveys", help="publish, show and compare surveys config versions (live config)")
    surveys.add_argument("action", choices=["apply", "show", "diff"])
    surveys.add_argument("file", nargs="?", help="the surveys file (default: STREAMS_CONFIG)")
    surveys.add_argument("--dry-run", action="store_true",
                         help="apply: how many users would change decision, from what to what; publish nothing")
    sub.add_parser("report", help="scores per survey per day", add_help=False)
    args, rest = parser.parse_known_args(argv)
    try:
        if args.command == "kafka":
            return _kafka(args)
        if args.command == "topics":
            return _topics(args)
        if args.command == "worker":
            return _worker(args)
        if args.command == "insights":
            return _insights(args)
        if args.command == "surveys":
            if args.file is None and rest:  # `apply --dry-run FILE`: argparse leaves FILE over
                args.file = rest.pop(0)
            if rest:
                parser.error(f"unrecognized arguments: {' '.join(rest)}")
            return _surveys(args)
        return _report(args, rest)
    except ConfigError as error:
        print(f"error: invalid config: {error}", file=sys.stderr)
        return 2
    except SettingError as error:
        print(f"error: invalid setting {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
