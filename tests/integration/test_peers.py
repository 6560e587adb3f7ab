"""Peers (docs/security.md, "Peers"): a worker calls only advertised URLs whose address is
inside STREAMS_PEER_NETWORKS, and never follows a redirect. Anyone who joins the consumer
group advertises the URL it likes: before, workers called it, redirects included."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.harness import free_port

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer test-admin-key"}
USERS = [f"peer-{i}" for i in range(12)]


def identify_all(worker) -> None:
    for user in USERS:
        status, _ = worker.ingest("identify", {"userId": user, "messageId": f"m-{user}",
                                               "traits": {"plan": "pro", "createdAt": "2020-01-01"}})
        assert status == 200


def requests_seen(worker, path: str = "/v1/users/{userId}") -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in worker.get("/metrics")[1].splitlines()
               if line.startswith("survey_streams_http_requests_total{") and f'path="{path}"' in line)


def answers(worker) -> dict:
    """userId -> (status, body) of GET /v1/users/{userId} asked of `worker`."""
    return {user: worker.user(user) for user in USERS}


def test_an_owner_outside_the_peer_networks_is_never_called(start_worker):
    # The asking worker allows only 10.0.0.0/8: the other one's 127.0.0.1 is outside.
    asking = start_worker(name="peers-out", topic_prefix="peers-out", advertise=True,
                          env={"STREAMS_PEER_NETWORKS": "10.0.0.0/8"})
    owner = start_worker(name="peers-out", topic_prefix="peers-out", advertise=True)
    assert asking.wait_for(lambda: asking.alive() and owner.alive(), timeout_s=60)
    identify_all(asking)
    # The owner answers for every user itself (default networks: it may call the other too).
    assert owner.wait_for(lambda: all(owner.user(u)[0] == 200 for u in USERS), timeout_s=60), owner.log_tail()
    seen_by_owner = requests_seen(owner)
    replies = answers(asking)
    refused = {user: body for user, (status, body) in replies.items() if status == 503}
    assert refused, f"no routed request was refused (the owner was called?): {replies}"
    assert all(status in (200, 503) for status, _ in replies.values()), replies
    for body in refused.values():
        assert body["code"] == "unavailable" and "STREAMS_PEER_NETWORKS" in body["message"], body
        assert owner.url not in body["message"]  # the topology stays in the log
    assert requests_seen(owner) == seen_by_owner, "the owner was called"
    log = asking.log_tail(400)
    assert "outside STREAMS_PEER_NETWORKS: not called" in log and owner.url in log, log
    _, metrics = asking.get("/metrics")
    assert any(line.startswith("survey_streams_peer_refused_total") and not line.endswith(" 0")
               for line in metrics.splitlines()), metrics


class _Recorder(BaseHTTPRequestHandler):
    """Counts requests; `location` set: answers every one with a 307 there."""

    location: str | None = None
    seen: list

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.seen.append({"path": self.path, "headers": dict(self.headers)})
        if self.location:
            self.send_response(307)
            self.send_header("Location", self.location + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"userId": "stolen", "traits": {}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(location: str | None) -> tuple[ThreadingHTTPServer, list]:
    seen: list = []
    handler = type("Handler", (_Recorder,), {"location": location, "seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def test_a_redirect_from_the_owner_is_not_followed(start_worker):
    trap, trapped = serve(None)  # where the redirect points: must never be called
    redirector, redirected = serve(f"http://127.0.0.1:{trap.server_port}")
    try:
        asking = start_worker(name="peers-redirect", topic_prefix="peers-redirect", advertise=True)
        # The other member advertises the redirecting server as its URL.
        rogue = start_worker(name="peers-redirect", topic_prefix="peers-redirect",
                             env={"STREAMS_ADVERTISED_URL": f"http://127.0.0.1:{redirector.server_port}"})
        assert asking.wait_for(lambda: asking.alive() and rogue.alive(), timeout_s=60)
        identify_all(asking)
        assert rogue.wait_for(lambda: all(rogue.user(u)[0] == 200 for u in USERS), timeout_s=60), rogue.log_tail()
        replies = answers(asking)
        refused = [body for status, body in replies.values() if status == 503]
        assert refused and redirected, f"nothing was routed to the rogue member: {replies}"
        assert all(status in (200, 503) for status, _ in replies.values()), replies
        for body in refused:
            assert body["code"] == "unavailable" and "redirect (307)" in body["message"], body
        assert trapped == [], "the redirect was followed"
        # It was called at its checked address, with the path the client asked for.
        assert all(r["path"].startswith("/v1/users/peer-") for r in redirected), redirected
        assert "a peer answered a redirect: not followed" in asking.log_tail(400)
    finally:
        for server in (redirector, trap):
            server.shutdown()
            server.server_close()
