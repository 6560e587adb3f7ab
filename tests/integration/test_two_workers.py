"""Two workers share the partitions; each answers for every user by routing to the owner
(CONTRACT 5, 7): routed answers carry the same headers (CORS) as local ones, and workers
bound to every interface route through the address they advertise."""
import subprocess
import sys
import urllib.request

import pytest

from tests.harness import REPO

pytestmark = pytest.mark.integration

USERS = [f"pair-{i}" for i in range(16)]
WIDGET_KEY = "pair-widget-key"


def headers_of(url: str, headers: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=15) as response:
        return response.status, {k.lower(): v for k, v in response.headers.items()}


def test_two_workers_share_users_and_route_requests(start_worker):
    env = {"STREAMS_WIDGET_KEY": WIDGET_KEY, "STREAMS_WEB_HOST": "0.0.0.0"}
    first = start_worker(name="pairs", topic_prefix="pairs", env=env, advertise=True)
    second = start_worker(name="pairs", topic_prefix="pairs", env=env, advertise=True)

    def settled():
        # Both report ready only once the rebalance that took the second worker in is over.
        return first.alive() and second.alive()

    assert first.wait_for(settled, timeout_s=60)
    for user in USERS:
        status, _ = first.ingest("identify", {"userId": user, "messageId": f"m-{user}",
                                              "traits": {"plan": "pro", "createdAt": "2020-01-01"}})
        assert status == 200

    def all_known(worker):
        return all(worker.user(user)[0] == 200 for user in USERS)

    assert first.wait_for(lambda: all_known(first), timeout_s=60), first.log_tail()
    key = {"X-Widget-Key": WIDGET_KEY, "Origin": "https://app.example.com"}
    for user in USERS:
        for worker in (first, second):
            status, state = worker.user(user)
            assert status == 200, (worker.url, user, state)
            assert state["userId"] == user and state["traits"]["plan"] == "pro"
            status, decision = worker.get(f"/v1/eligibility/{user}", key)
            assert status == 200 and decision["eligible"] is True and decision["survey"]["id"] == "nps-main"
            # Half of these are answered by the other worker: the browser must see CORS on all.
            status, headers = headers_of(f"{worker.url}/v1/eligibility/{user}", key)
            assert status == 200 and headers.get("access-control-allow-origin") == "*", (worker.url, user, headers)
            assert headers["content-type"].startswith("application/json")
            # The routing mark is the workers' own: a client sending it is routed like any other.
            status, decision = worker.get(f"/v1/eligibility/{user}", {**key, "X-Streams-Routed": "1"})
            assert status == 200 and decision["eligible"] is True, (worker.url, user, status, decision)
    routed = sum(float(line.rsplit(" ", 1)[1]) for worker in (first, second)
                 for line in worker.get("/metrics")[1].splitlines()
                 if line.startswith("survey_streams_http_routed_total{"))
    assert routed >= len(USERS), "no request was routed: the test proves nothing about routed headers"
    decisions = first.read("surveys.eligibility", count=len(USERS), timeout_s=30)
    assert sorted(key for key, _ in decisions) == sorted(USERS)


def test_a_worker_bound_to_every_interface_needs_an_advertised_url(start_worker, tmp_path):
    worker = start_worker(env={"STREAMS_WEB_HOST": "0.0.0.0"}, advertise=True, start=False)
    env = {k: v for k, v in worker.env.items() if k != "STREAMS_ADVERTISED_URL"}
    done = subprocess.run([sys.executable, "-m", "streams", "worker"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "STREAMS_ADVERTISED_URL" in done.stderr and "0.0.0.0" in done.stderr, done.stderr
