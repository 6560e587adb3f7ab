"""The phases of a run: cold reads, the generated requests, the read-back sweep, and the
check that a worker still processes a normal identify."""
from __future__ import annotations

import json
import time
import uuid

from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.fuzz.client import Request, send
from tests.fuzz.config import NOW, SEED, SWEEP_USERS, WRITE_KEY
from tests.fuzz.credentials import admin_headers, basic, user_hash, widget_headers
from tests.fuzz.jsontext import encode
from tests.fuzz.paths import path_segment
from tests.fuzz.recorder import Run
from tests.fuzz.values import POOL
from tests.harness import Worker


def fuzz(run: Run, strategy, examples: int, deadline: float) -> None:
    """Send `examples` requests drawn from `strategy` (seeded: the same seed draws the same
    requests). Hypothesis only generates here: send_one records and never fails, so nothing
    is shrunk and one run sees every failing shape."""
    @seed(SEED)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(strategy)
    def send_one(req: Request) -> None:
        if not run.skip(deadline):
            run.exchange(req)

    send_one()


def user_reads(user: str, secret: str | None, body_kind: str) -> tuple[Request, ...]:
    """Valid reads of one user: admin state, explain, and eligibility (signed when `secret`)."""
    segment = path_segment(user)
    query = b"?userHash=" + user_hash(secret, user).encode() if secret else b""
    return (Request("GET", b"/v1/users/" + segment, "/v1/users/{userId}", admin_headers(), body_kind=body_kind,
                    header_variant="auth=bearer-ok"),
            Request("GET", b"/v1/users/" + segment + b"/explain", "/v1/users/{userId}/explain", admin_headers(),
                    body_kind=body_kind, header_variant="auth=bearer-ok"),
            Request("GET", b"/v1/eligibility/" + segment + query, "/v1/eligibility/{userId}", widget_headers(),
                    body_kind=body_kind, header_variant="key=widget-ok"))


def cold_reads(run: Run, secret: str | None) -> None:
    """The first requests a worker gets: reads of users before anything was written."""
    for user in POOL[:2]:
        for req in (*user_reads(user, secret, "cold"), Request("GET", b"/metrics", "/metrics", body_kind="cold")):
            run.exchange(req, origin="cold")


def sweep(run: Run, secret: str | None, deadline: float) -> None:
    """Read back the users the run wrote: state, explain, eligibility (needs state first)."""
    for user in list(run.written)[:SWEEP_USERS]:
        if run.skip(deadline):
            continue
        if path_segment(user) in (b".", b".."):   # dot segments never reach a user route (see user_segment)
            continue
        for req in user_reads(user, secret, "sweep"):
            req.user = user
            req.app_owned = len(req.target) < 8000   # aiohttp's parser refuses longer request lines
            run.exchange(req, origin="sweep")


def identify_is_processed(worker: Worker, timeout_s: float = 30.0) -> tuple[bool, str]:
    """A normal identify for a fresh user shows up in GET /v1/users/{id} within timeout_s."""
    user = f"fuzz-fresh-{uuid.uuid4().hex[:10]}"
    message = {"userId": user, "messageId": f"m-{user}", "timestamp": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
               "traits": {"plan": "pro", "createdAt": "2020-01-01T00:00:00Z"}}
    req = Request("POST", b"/v1/identify", "/v1/identify",
                  [(b"Authorization", basic(WRITE_KEY.encode())), (b"Content-Type", b"application/json")],
                  encode(message))
    answer = send(worker.port, req)
    if answer.status != 200:
        return False, f"identify answered {answer.status} {answer.problem} {answer.body[:200]!r}"
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = send(worker.port, Request("GET", b"/v1/users/" + path_segment(user), "/v1/users/{userId}",
                                         admin_headers()))
        if last.status == 200 and json.loads(last.body).get("traits", {}).get("plan") == "pro":
            return True, f"{user} visible after {timeout_s - (deadline - time.monotonic()):.1f}s"
        time.sleep(0.3)
    return False, f"{user} not visible within {timeout_s}s; last answer {last.status if last else None} " \
                  f"{(last.body[:200] if last else b'')!r}"
