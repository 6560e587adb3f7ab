"""`python -m bench.insights [--responses N] [--kafka] [--no-browser]`: the insights service's figures.

1. Ingest into DuckDB: response records (JSON bytes, as Kafka hands them over) decoded and
   stored in batches of 5,000 with their offsets (the reader's path without the broker);
   with --kafka also end to end: produced to a topic, read by the reader until caught up
   (the broker of KAFKA_BOOTSTRAP_SERVERS, else a local one).
2. Queries over N responses (default 1M) of one survey over a year: scores by day, by week,
   by day and trait, the all-time survey list, the latest page of responses, the whole CSV
   (streamed; its peak memory is reported).
3. The page's first paint with those N responses: headless Chromium (when present) opens
   /insights/ with the key already in sessionStorage; the time to the first contentful
   paint and to the score drawn.

Targets (issue 24): ingest >= 20,000 responses/s; scores by day for 1M responses < 200 ms;
first paint < 1 s. Prints a table and writes var/bench/insights.json. Not part of make test.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import orjson

from bench.common import REPO, say
from streams.insights import params, queries
from streams.insights.api import Insights
from streams.insights.records import Batch, add_response
from streams.insights.store import Store

SURVEY = "nps-bench"
KEY = "bench-admin-key"
BATCH = 5000
PLANS = ("free", "pro", "team", "enterprise")


def record(index: int, days: int = 365) -> bytes:
    day = index % days
    return orjson.dumps({
        "responseId": f"r-{index}", "surveyId": SURVEY, "surveyType": "nps", "surveyName": "NPS bench",
        "userId": f"u-{index}", "score": (index * 7919) % 11, "category": None,
        "answers": {"score": (index * 7919) % 11, "reason": f"reason {index % 97}"},
        "comment": f"reason {index % 97}", "completedAt": _day(day) + f"T{index % 24:02d}:00:00.000Z",
        "traits": {"plan": PLANS[index % 4], "country": ("de", "fr", "us")[index % 3], "group.size": index % 5},
        "createdAt": None, "firstSeen": None})


def _day(offset: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(1_767_225_600 + offset * 86_400))  # from 2026-01-01


def bench_ingest(store: Store, count: int) -> dict:
    raw = [record(i) for i in range(count)]
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        batch = Batch()
        for offset in range(start, min(start + BATCH, count)):
            add_response(batch, raw[offset], 0, offset)
        store.ingest(batch, {("bench.responses", 0): min(start + BATCH, count)})
    seconds = time.perf_counter() - started
    return {"responses": count, "seconds": round(seconds, 2), "per_s": round(count / seconds)}


def fill(store: Store, total: int, already: int) -> None:
    """The rest of `total` responses written by SQL (the query figures need the rows, not the path)."""
    db = store.cursor()
    db.execute(f"""
        INSERT INTO responses SELECT 'r-' || i, '{SURVEY}', 'nps', 'u-' || i, ((i * 7919) % 11)::VARCHAR::JSON,
            ((i * 7919) % 11)::VARCHAR, NULL, 'reason ' || (i % 97), NULL,
            TIMESTAMP '2026-01-01' + INTERVAL (i % 365) DAY + INTERVAL (i % 24) HOUR,
            (DATE '2026-01-01' + INTERVAL (i % 365) DAY)::DATE,
            json_object('score', (i * 7919) % 11, 'reason', 'reason ' || (i % 97)),
            json_object('plan', ['free', 'pro', 'team', 'enterprise'][i % 4 + 1], 'country',
                        ['de', 'fr', 'us'][i % 3 + 1], 'group.size', i % 5),
            NULL, NULL, 0, i
        FROM range({already}, {total}) t(i)""")
    db.close()


def timed(function, repeat: int = 5) -> dict:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def bench_queries(store: Store) -> dict:
    cursor = store.cursor()
    survey = queries.survey(cursor, SURVEY)
    results = {
        "scores by day, a year": timed(lambda: queries.scores(cursor, survey, params.scores_query({}))),
        "scores by week": timed(lambda: queries.scores(cursor, survey, params.scores_query({"interval": "week"}))),
        "scores by day and plan": timed(lambda: queries.scores(cursor, survey, params.scores_query({"by": "plan"}))),
        "scores by month and group.size": timed(
            lambda: queries.scores(cursor, survey, params.scores_query({"interval": "month", "by": "group.size"}))),
        "surveys, all time": timed(lambda: queries.surveys(cursor)),
        "funnel": timed(lambda: queries.funnel(cursor, survey, params.period({}))),
    }
    page = params.responses_query({"limit": "20"})

    def latest():
        columns = queries.response_columns(cursor, survey, page)
        return [row for chunk in queries.response_rows(cursor, survey, page, columns) for row in chunk]

    results["latest 20 responses"] = timed(latest)
    results["csv, every response"] = bench_csv(store, survey)
    cursor.close()
    return results


def bench_csv(store: Store, survey) -> dict:
    """The whole CSV as the API writes it: timed, then once more under tracemalloc for the
    peak of Python's memory (flat: rows are streamed a thousand at a time)."""
    from streams.insights.api import csv_cell, csv_lines

    def export() -> tuple[int, int]:
        cursor = store.cursor()
        query = params.responses_query({"format": "csv"})
        columns = queries.response_columns(cursor, survey, query)
        names, size, rows = columns.names, 0, 0
        for chunk in queries.response_rows(cursor, survey, query, columns):
            size += len(csv_lines([[csv_cell(row[name]) for name in names] for row in chunk]).encode())
            rows += len(chunk)
        cursor.close()
        return rows, size

    started = time.perf_counter()
    rows, size = export()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    export()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"rows": rows, "mb": round(size / 1e6, 1), "seconds": round(seconds, 1), "rows_per_s": round(rows / seconds),
            "python_peak_mb": round(peak / 1e6, 1)}


def serve(store: Store) -> tuple[str, callable]:
    """The API and page in a thread of this process; (url, stop)."""
    from aiohttp import web

    from streams.runtime.localkafka import free_port

    port, loop, ready = free_port(), asyncio.new_event_loop(), threading.Event()
    runner = web.AppRunner(Insights(store, KEY).app())

    def run():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    ready.wait(10)

    def stop():
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)

    return f"http://127.0.0.1:{port}", stop


def bench_first_paint(store: Store) -> dict:
    chromium = "/usr/bin/chromium"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright is not installed"}
    if not os.path.exists(chromium):
        return {"skipped": f"{chromium} is absent (make browser-deps)"}
    url, stop = serve(store)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox"])
            runs = []
            for _ in range(3):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.add_init_script(f"sessionStorage.setItem('survey-streams.insights.key', '{KEY}')")
                started = time.perf_counter()
                page.goto(f"{url}/insights/")
                page.wait_for_function("() => document.getElementById('n').textContent !== '0' "
                                       "&& document.querySelector('#trend canvas')", timeout=30_000)
                drawn = (time.perf_counter() - started) * 1000
                paint = page.evaluate("() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime")
                runs.append((paint or 0, drawn))
                page.close()
            browser.close()
    finally:
        stop()
    return {"first_contentful_paint_ms": round(statistics.median(r[0] for r in runs)),
            "score_and_trend_drawn_ms": round(statistics.median(r[1] for r in runs))}


def bench_kafka(count: int) -> dict:
    """Produce `count` responses, then time the reader (in this process) until it holds them."""
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    from bench.common import Broker
    from streams.core.config import parse_config
    from streams.insights.reader import Reader
    from streams.core import topics as names

    with Broker() as broker:
        prefix = f"bench-insights-{int(time.time())}"
        config = parse_config({"surveys": [], "topics": {names.RESPONSES: f"{prefix}.responses",
                                                         names.OUTBOUND: f"{prefix}.outbound"}})
        admin = KafkaAdminClient(bootstrap_servers=broker.address)
        admin.create_topics([NewTopic(f"{prefix}.responses", 8, 1), NewTopic(f"{prefix}.outbound", 8, 1)])
        admin.close()
        producer = KafkaProducer(bootstrap_servers=broker.address, linger_ms=20, batch_size=256 * 1024)
        for index in range(count):
            producer.send(f"{prefix}.responses", key=SURVEY.encode(), value=record(index))
        producer.flush()
        producer.close()
        with tempfile.TemporaryDirectory() as directory:
            store = Store(Path(directory) / "kafka.duckdb")
            started = time.perf_counter()
            reader = Reader(store, config, broker.address, f"{prefix}-group").start()
            while store.counts()["responses"] < count:
                time.sleep(0.1)
            seconds = time.perf_counter() - started
            reader.stop()
            store.close()
    return {"responses": count, "seconds": round(seconds, 2), "per_s": round(count / seconds)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.insights", description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000, help="responses for the queries and the page")
    parser.add_argument("--ingest", type=int, default=200_000, help="responses for the ingest figure")
    parser.add_argument("--kafka", action="store_true", help="also ingest end to end through the broker")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args(argv)
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-insights-") as directory:
        store = Store(Path(directory) / "insights.duckdb")
        say(f"ingest: {args.ingest} responses into DuckDB")
        results["ingest"] = bench_ingest(store, args.ingest)
        if args.kafka:
            say(f"ingest through Kafka: {args.ingest} responses")
            results["ingest_kafka"] = bench_kafka(args.ingest)
        if args.responses > args.ingest:
            say(f"filling up to {args.responses} responses")
            fill(store, args.responses, args.ingest)
        say("queries")
        results["queries"] = bench_queries(store)
        if not args.no_browser:
            say("first paint")
            results["page"] = bench_first_paint(store)
        store.close()
    out = REPO / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "insights.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
