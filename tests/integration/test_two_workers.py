"""Two workers share the partitions; each answers for every user by routing to the owner
(docs/reference.md#every-answer): routed answers carry the same headers (CORS) as local ones, and workers
bound to every interface route through the address they advertise."""
import http.client
import subprocess
import sys
import urllib.request

import orjson
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


def routed_total(worker) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in worker.get("/metrics")[1].splitlines()
               if line.startswith("survey_streams_http_routed_total{"))


def owned_by_the_other(worker, users, headers) -> list:
    """The users whose requests `worker` routes to the other worker (its routed counter moves)."""
    found = []
    for user in users:
        before = routed_total(worker)
        assert worker.get(f"/v1/users/{user}", headers)[0] == 200
        if routed_total(worker) > before:
            found.append(user)
    return found


def raw_get(worker, path: str, host: str, headers: dict) -> tuple[int, bytes]:
    """GET with the Host header exactly `host` (urllib would write its own)."""
    connection = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=15)
    try:
        connection.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


HOSTILE_HOSTS = ["x:notaport", "evil:99999", "a@b", "[::1", "", "evil.example.com", "127.0.0.1:1", "[::1]:0",
                 "a b", "%00", "x" * 2000]


def test_any_host_header_gets_the_owners_normal_answer(start_worker):
    """Requests are routed and answered from their path, never from Host (docs/security.md,
    "Routed requests"): a routed request with `Host: x:notaport` was a 500."""
    env = {"STREAMS_WIDGET_KEY": WIDGET_KEY}
    first = start_worker(name="hosts", topic_prefix="hosts", env=env, advertise=True)
    second = start_worker(name="hosts", topic_prefix="hosts", env=env, advertise=True)
    assert first.wait_for(lambda: first.alive() and second.alive(), timeout_s=60)
    users = [f"host-{i}" for i in range(12)]
    for user in users:
        assert first.ingest("identify", {"userId": user, "messageId": f"m-{user}",
                                         "traits": {"plan": "pro", "createdAt": "2020-01-01"}})[0] == 200
    admin = {"Authorization": "Bearer test-admin-key"}
    assert first.wait_for(lambda: all(first.user(u)[0] == 200 for u in users), timeout_s=60), first.log_tail()
    routed = owned_by_the_other(first, users, admin)
    assert routed, "every user is the first worker's: nothing here is routed"
    key = {"X-Widget-Key": WIDGET_KEY}
    for user in routed[:3] + [u for u in users if u not in routed][:1]:  # and one answered locally
        expected_state = first.user(user)[1]
        for host in HOSTILE_HOSTS:
            status, body = raw_get(first, f"/v1/users/{user}", host, admin)
            assert status == 200 and orjson.loads(body) == expected_state, (user, host, status, body[:300])
            status, body = raw_get(first, f"/v1/eligibility/{user}", host, key)
            assert status == 200, (user, host, status, body[:300])
            decision = orjson.loads(body)
            assert decision["eligible"] is True and decision["survey"]["id"] == "nps-main", (host, decision)
    assert first.alive() and second.alive()


def test_a_worker_bound_to_every_interface_needs_an_advertised_url(start_worker, tmp_path):
    worker = start_worker(env={"STREAMS_WEB_HOST": "0.0.0.0"}, advertise=True, start=False)
    env = {k: v for k, v in worker.env.items() if k != "STREAMS_ADVERTISED_URL"}
    done = subprocess.run([sys.executable, "-m", "streams", "worker"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "STREAMS_ADVERTISED_URL" in done.stderr and "0.0.0.0" in done.stderr, done.stderr
