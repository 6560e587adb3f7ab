"""Two workers share the partitions; each answers for every user by routing to the owner."""
import pytest

pytestmark = pytest.mark.integration

USERS = [f"pair-{i}" for i in range(16)]


def test_two_workers_share_users_and_route_requests(start_worker):
    first = start_worker(name="pairs", topic_prefix="pairs")
    second = start_worker(name="pairs", topic_prefix="pairs")

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
    for user in USERS:
        for worker in (first, second):
            status, state = worker.user(user)
            assert status == 200, (worker.url, user, state)
            assert state["userId"] == user and state["traits"]["plan"] == "pro"
            status, decision = worker.get(f"/v1/eligibility/{user}")
            assert status == 200 and decision["eligible"] is True and decision["survey"]["id"] == "nps-main"
    decisions = first.read("surveys.eligibility", count=len(USERS), timeout_s=30)
    assert sorted(key for key, _ in decisions) == sorted(USERS)
