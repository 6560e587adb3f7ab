"""`python -m streams insights`: the analysts' service (docs/reference.md#8-insights): the reader of
`surveys.responses` and `segment.outbound` into the DuckDB file, the API and the page."""
from __future__ import annotations

import sys


def run() -> int:
    import duckdb
    from aiohttp import web

    from streams.core.config import load_config
    from streams.insights.api import Insights
    from streams.insights.reader import Reader
    from streams.insights.store import Store
    from streams.runtime import logs
    from streams.runtime.settings import Settings

    settings = Settings.from_env()
    config = load_config(settings.config_path)
    logs.setup(settings.log_level)
    try:
        store = Store(settings.insights_db_path)
    except duckdb.IOException as error:
        # Most often another insights process holds the file: one writer per file.
        print(f"error: cannot open {settings.insights_db_path}: {error}", file=sys.stderr)
        return 2
    store.seed_surveys(config.surveys)
    reader = Reader(store, config, settings.bootstrap_servers, settings.insights_group_id,
                    batch_max=_batch_max()).start()
    insights = Insights(store, settings.admin_key, config, reader)
    url = f"http://{settings.insights_host}:{settings.insights_port}"
    print(f"survey-streams insights: broker {settings.bootstrap_servers}, file {settings.insights_db_path}, "
          f"group {settings.insights_group_id}, page {url}/insights/", file=sys.stderr, flush=True)
    if not settings.admin_key:
        print("warning: STREAMS_ADMIN_KEY is empty: every /v1/insights call is refused", file=sys.stderr, flush=True)
    try:
        web.run_app(insights.app(), host=settings.insights_host, port=settings.insights_port,
                    print=None, handle_signals=True, access_log=None)
    finally:
        reader.stop()
        store.close()
    return 0


def _batch_max() -> int:
    """Records per poll (STREAMS_INSIGHTS_BATCH, beyond the contract: tests make it small)."""
    import os

    from streams.insights.reader import BATCH_MAX
    from streams.runtime.settings import SettingError

    text = os.environ.get("STREAMS_INSIGHTS_BATCH", "").strip()
    if not text:
        return BATCH_MAX
    if not text.isdigit() or int(text) < 1:
        raise SettingError("STREAMS_INSIGHTS_BATCH", text, "must be a whole number of at least 1")
    return int(text)
