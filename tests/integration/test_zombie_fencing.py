"""A worker stalled past its session timeout and resumed (a zombie) writes no stale state
(issue M.8, docs/processing.md "Zombies"): the group dropped it, so at its first heartbeat
it stops (status 75) instead of sending what it had in hand after its successor's records.
Without the fence it rejoins and goes on as if nothing happened."""
from __future__ import annotations

import threading
import time

import orjson
import pytest

from streams.runtime import topicread
from tests.harness import basic_auth

pytestmark = pytest.mark.integration

USERS = [f"zombie-{i}" for i in range(40)]
SESSION_TIMEOUT_S = 6.0  # the broker's group.min.session.timeout.ms
EXIT_FENCED = 75


def test_a_resumed_zombie_stops_and_its_successor_keeps_every_user(start_worker):
    env = {"STREAMS_SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S)}
    stalled = start_worker(name="zombies", topic_prefix="zombies", env=env)
    successor = start_worker(name="zombies", topic_prefix="zombies", env=env)
    assert stalled.wait_for(lambda: stalled.alive() and successor.alive(), timeout_s=60)

    sent: dict[str, int] = {}
    stop = threading.Event()

    def feed() -> None:  # identifies for every user while one worker is stopped and resumed
        n = 0
        while not stop.is_set():
            n += 1
            for user in USERS:
                status, _ = successor.post("/v1/identify", {"userId": user, "messageId": f"{user}-{n}",
                                                            "traits": {"n": n}}, basic_auth("test-write-key"))
                if status == 200:
                    sent[user] = max(sent.get(user, 0), n)
            time.sleep(0.05)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        time.sleep(2.0)
        stalled.pause()  # SIGSTOP while it holds half the partitions, mid-flow
        time.sleep(SESSION_TIMEOUT_S + 6.0)  # dropped from the group; the successor takes over
        stalled.resume()
        exited = stalled.wait_for(lambda: not stalled.running(), timeout_s=30)
        time.sleep(1.0)
    finally:
        stop.set()
        feeder.join(10)
    assert exited, f"the resumed worker went on as a member:\n{stalled.log_tail(30)}"
    assert stalled.proc.returncode == EXIT_FENCED, stalled.log_tail(30)
    assert "dropped this worker" in stalled.log_tail(60)

    for user in USERS:  # the successor holds every user's latest input
        successor.state_when(user, lambda state, user=user: state["traits"].get("n") == sent[user], timeout_s=60)
    # ... and the changelog's last record of each user is the successor's, so a recovery
    # from it gives the same states (a stale record after it would win at the next recovery).
    changelog = f"{successor.env['STREAMS_APP_ID']}-users-changelog"
    last: dict = {}
    for record in topicread.read_to_end(successor.bootstrap, changelog, timeout_s=60):
        if record.key is not None:
            last[record.key.decode()] = orjson.loads(record.value) if record.value is not None else None
    for user in USERS:
        assert last[user]["traits"]["n"] == sent[user], (user, last[user]["traits"], sent[user])
