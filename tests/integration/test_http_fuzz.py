"""Fuzzing the HTTP bridge (docs/reference.md#5-http) of running workers with Hypothesis-generated requests.

Two workers share the session's broker: `plain` (write, widget and admin keys set) and
`secure` (the same plus STREAMS_SECURE_SECRET). Hypothesis draws whole requests: method,
request target (path segments, query), headers (as raw bytes, so non-ASCII and invalid
UTF-8 values reach the server), body (valid-ish Segment messages with fuzzed fields,
batches, widget events, arbitrary JSON, bytes, truncated JSON) and its framing
(Content-Encoding, Transfer-Encoding: chunked). Requests go over raw sockets, one at a
time; the answers are parsed with http.client. The fuzzer itself is the tests/fuzz package.

Hypothesis is used as a seeded, bounded generator: the inner @given function records every
answer and never fails, so there is no shrinking and one run finds every failing shape.
After the generated requests, a sweep reads back every user the run wrote (admin state,
explain, eligibility), which finds failures that need state first (e.g. an identify with a
timestamp in year 1, then GET /v1/users/{id}); a few reads before any write open each run.
The tests then assert on the recorded run:
no 5xx and no hang, 4xx bodies are JSON with `error`, (xfail) `code`/`message` too, and
the workers survived and still process a fresh identify.

Knobs (environment): FUZZ_EXAMPLES (plain worker, default 1500), FUZZ_SECURE_EXAMPLES
(default 500), FUZZ_SEED (default 20261130), FUZZ_BUDGET_S (wall-clock cap on the generated
requests of both workers, default 25; the sweep gets 15 s more; `make fuzz` runs the long
version: 4000 + 1000 requests within 75 s, and a fresh seed; requests past it are skipped
and counted in the summary). Summary: printed (pytest -s) and written to test-output/fuzz-summary.json.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fuzz.client import Request, send
from tests.fuzz.config import BUDGET_S, EXAMPLES, SECURE_EXAMPLES, VARIANTS, secret_of
from tests.fuzz.recorder import Run
from tests.fuzz.report import (
    grouped_findings, recorded, render_body_problems, render_findings, render_summary, summarise)
from tests.fuzz.runner import cold_reads, fuzz, identify_is_processed, sweep
from tests.fuzz.strategies import any_request
from tests.fuzz.worker_log import LogTail
from tests.harness import Worker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fuzz_workers(kafka_bootstrap, tmp_path_factory):
    workers = {name: Worker(kafka_bootstrap, tmp_path_factory.mktemp(f"fuzz-{name}"), env=env)
               for name, env in VARIANTS.items()}
    try:
        with ThreadPoolExecutor(len(workers)) as pool:   # start both at once
            list(pool.map(lambda w: w.start(), workers.values()))
        for worker in workers.values():
            worker.log = LogTail(worker.log_path)
        yield workers
    finally:
        for worker in workers.values():
            worker.stop()


@pytest.fixture(scope="module")
def fuzz_run(fuzz_workers, output_dir):
    started = time.monotonic()
    runs = {name: Run(name, fuzz_workers[name]) for name in ("plain", "secure")}
    for name, run in runs.items():
        cold_reads(run, secret_of(name))
    # the plain worker stops at 80% of the budget, so that the secure one always gets a share
    fuzz(runs["plain"], any_request(secret_of("plain")), EXAMPLES, started + 0.8 * BUDGET_S)
    fuzz(runs["secure"], any_request(secret_of("secure")), SECURE_EXAMPLES, started + BUDGET_S)
    settled = {}
    for name, run in runs.items():   # let the agents catch up before reading state back
        settled[name] = identify_is_processed(run.worker) if not run.crashed else (False, "crashed")
        sweep(run, secret_of(name), started + BUDGET_S + 15)
        run.worker_errors()
        run.seconds = time.monotonic() - run.started
    result = {"runs": runs, "settled": settled, "seconds": time.monotonic() - started, "survival": {}}
    yield result
    summary = summarise(result)
    (output_dir / "fuzz-summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
    print("\n" + render_summary(summary))


def test_no_5xx_no_hang_no_crash(fuzz_run):
    """Every request is answered, below 500, within the timeout; the sweep's reads too."""
    groups = grouped_findings(fuzz_run["runs"])
    assert not groups, render_findings(groups)


def test_4xx_bodies_are_json_objects_with_error(fuzz_run):
    """An error answered by the app's own routes is a JSON object with a string `error`."""
    problems = recorded(fuzz_run["runs"], "bodies")
    assert not problems, render_body_problems(problems)


def test_error_bodies_carry_code_and_message(fuzz_run):
    """docs/reference.md#every-answer: every 4xx/5xx JSON body also carries `code` (= `error`) and `message`."""
    problems = recorded(fuzz_run["runs"], "code_message")
    assert not problems, render_body_problems(problems)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_worker_survives_and_still_processes(fuzz_run, variant):
    run = fuzz_run["runs"][variant]
    worker = run.worker
    assert worker.proc.poll() is None, f"{variant} worker exited ({worker.proc.returncode}):\n{worker.log_tail(60)}"
    health = send(worker.port, Request("GET", b"/health", "/health"))
    assert health.status == 200, f"/health answered {health.status} {health.problem} {health.body[:200]!r}"
    ok, detail = identify_is_processed(worker)
    fuzz_run["survival"][variant] = {"health": health.status, "fresh_identify": detail}
    assert ok, f"{variant}: {detail}\n{worker.log_tail(60)}"
