"""`python -m streams worker`: one Faust worker with its HTTP bridge."""
from __future__ import annotations

import sys


def load_app():
    """Import the app with every agent and view registered on it."""
    from . import app as app_module
    from .agents import users, scores, forwarder  # noqa: F401
    from .web import views  # noqa: F401
    return app_module


# Faust builds its aiokafka consumer with fetch_max_wait_ms=1500, not a setting. aiokafka
# keeps one fetch in flight per broker and leaves out of it the partitions whose records
# are still buffered; records that arrive on those once drained wait for the parked fetch
# to come back, up to 1.5 s with idle partitions in the request (measured: stalls of 1-1.5 s
# and a third fewer decisions per second at 1k identify/s). 100 ms bounds the stall and
# costs an idle worker about 2% of a core in empty fetches.
FETCH_MAX_WAIT_MS = 100


def bound_fetch_wait(app, fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS) -> None:
    """Make `app`'s worker consumer use `fetch_max_wait_ms` (aiokafka transport only)."""
    from faust.transport.drivers import aiokafka as driver

    class ConsumerThread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport):
            consumer = super()._create_worker_consumer(transport)
            if not hasattr(consumer, "_fetch_max_wait_ms"):  # aiokafka changed: leave it as it is
                return consumer
            consumer._fetch_max_wait_ms = fetch_max_wait_ms  # read by start() to build the Fetcher
            return consumer

    class Consumer(driver.Consumer):
        def _new_consumer_thread(self):
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    if isinstance(app.transport, driver.Transport):
        app.transport.Consumer = Consumer


def run() -> int:
    from faust.worker import Worker

    app_module = load_app()
    from . import logs
    from .admin import create_topics

    create_topics(app_module.settings.bootstrap_servers, app_module.config, quiet=True)
    level = app_module.settings.log_level.upper()
    logs.setup(level)
    bound_fetch_wait(app_module.app)
    worker = Worker(app_module.app, loglevel=level, quiet=True, console_port=None)
    # Faust's terminal spinner sets the root logger to DEBUG (so that every log record
    # ticks it) and leaves it there: every logger.debug() in faust and aiokafka then builds
    # a LogRecord, several per event. No spinner: the root logger keeps `level`.
    worker.spinner = None
    print(f"survey-streams worker: broker {app_module.settings.bootstrap_servers}, "
          f"bridge {app_module.app.conf.canonical_url}, config {app_module.config.path}", file=sys.stderr, flush=True)
    worker.execute_from_commandline()
    return 0
