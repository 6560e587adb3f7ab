"""`python -m streams worker`: one Faust worker with its HTTP bridge."""
from __future__ import annotations

import sys


def load_app():
    """Import the app with every agent and view registered on it."""
    from . import app as app_module
    from .agents import users, scores, forwarder  # noqa: F401
    from .web import views  # noqa: F401
    return app_module


def run() -> int:
    from faust.worker import Worker

    app_module = load_app()
    from . import logs
    from .admin import create_topics

    create_topics(app_module.settings.bootstrap_servers, app_module.config, quiet=True)
    level = app_module.settings.log_level.upper()
    logs.setup(level)
    worker = Worker(app_module.app, loglevel=level, quiet=True, console_port=None)
    # Faust's terminal spinner sets the root logger to DEBUG (so that every log record
    # ticks it) and leaves it there: every logger.debug() in faust and aiokafka then builds
    # a LogRecord, several per event. No spinner: the root logger keeps `level`.
    worker.spinner = None
    print(f"survey-streams worker: broker {app_module.settings.bootstrap_servers}, "
          f"bridge {app_module.app.conf.canonical_url}, config {app_module.config.path}", file=sys.stderr, flush=True)
    worker.execute_from_commandline()
    return 0
