"""`python -m streams worker`: one Faust worker with its HTTP bridge."""
from __future__ import annotations

import os
import sys


def load_app():
    """Import the app with every agent and view registered on it."""
    from streams.runtime import app as app_module
    from streams.agents import configwatch, forwarder, quotas, scores, users  # noqa: F401
    from streams.runtime import loopwatch  # noqa: F401  (the event loop's stalls in /metrics)
    from streams.web import views  # noqa: F401
    return app_module


class StartError(RuntimeError):
    """A worker that must not start, with what to do about it."""


def check_addresses(settings) -> None:
    """Other workers route requests to this one's canonical URL: it must be reachable."""
    if settings.binds_all_interfaces and not settings.advertised_url:
        raise StartError(
            f"STREAMS_WEB_HOST={settings.web_host} binds every interface, so it is no address other workers "
            "can reach: set STREAMS_ADVERTISED_URL to this worker's URL as they see it, "
            f"e.g. http://<this host's name or IP>:{settings.web_port}")


def use_active_version(app_module, settings) -> None:
    """Start on the active surveys version (`surveys apply`: the latest valid one, records
    that do not validate are skipped and logged) when there is one; the STREAMS_CONFIG file
    when none was ever published. Say so when the file differs."""
    from streams.core import configdiff
    from streams.runtime import liveconfig, topicread
    from streams.core import topics as names

    file_config = app_module.config
    try:
        active = liveconfig.latest(settings.bootstrap_servers, app_module.topic_names[names.CONFIG])
    except topicread.TopicReadTimeout as error:  # the follower switches once it has read the topic
        print(f"warning: the config topic could not be read ({error}); starting on {file_config.path}",
              file=sys.stderr)
        return
    if active is None:
        return
    config = active.config()
    if configdiff.structural_changes(file_config, config):
        print(f"warning: the active config version {active.version} changes partitions or topics; "
              f"using {file_config.path}", file=sys.stderr)
        return
    if file_config.version.split(".")[0] != active.version.split(".")[0]:
        print(f"note: {file_config.path} differs from the active config version {active.version} "
              f"(applied {active.applied_at}); using the active version. "
              f"`python -m streams surveys apply {file_config.path}` makes the file active.", file=sys.stderr)
    app_module.config = config


def choose_topic_names(settings) -> None:
    """Whether the app keeps the legacy shared internal topics, found on the cluster before
    the app is imported (its Faust topics are named at import): told to it through the
    environment (Settings.legacy_topics)."""
    from streams.core.config import load_config
    from streams.runtime import topics as kafka_topics
    from streams.runtime.settings import LEGACY_TOPICS_VARIABLE

    chosen = kafka_topics.app_names(settings.bootstrap_servers, load_config(settings.config_path).topics,
                                    settings.app_id)
    os.environ[LEGACY_TOPICS_VARIABLE] = "1" if chosen.legacy else "0"


def run() -> int:
    from faust.worker import Worker

    from streams.runtime.settings import Settings

    settings = Settings.from_env()
    try:
        check_addresses(settings)
    except StartError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    choose_topic_names(settings)
    app_module = load_app()
    from streams.runtime import batching, logs, signing
    from streams.core import topics as names
    from streams.runtime.topics import create_topics

    settings = app_module.settings
    create_topics(settings.bootstrap_servers, app_module.config, app_module.topic_names, changelogs=True, quiet=True)
    if not app_module.display_secret:
        app_module.use_secret(signing.shared_secret(settings.bootstrap_servers, app_module.topic_names[names.SECRETS]))
    level = app_module.settings.log_level.upper()
    logs.setup(level)  # before reading the config topic: a skipped record is logged
    use_active_version(app_module, settings)
    batching.install(app_module.app, lambda: app_module.batched_topics)
    worker = Worker(app_module.app, loglevel=level, quiet=True, console_port=None)
    # Faust's terminal spinner sets the root logger to DEBUG (so that every log record
    # ticks it) and leaves it there: every logger.debug() in faust and aiokafka then builds
    # a LogRecord, several per event. No spinner: the root logger keeps `level`.
    worker.spinner = None
    print(f"survey-streams worker: broker {app_module.settings.bootstrap_servers}, "
          f"bridge {app_module.app.conf.canonical_url}, config {app_module.config.path} "
          f"(version {app_module.config.version})", file=sys.stderr, flush=True)
    worker.execute_from_commandline()
    return 0
