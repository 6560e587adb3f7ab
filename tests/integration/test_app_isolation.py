"""Apps are isolated (docs/reference.md#internal-topics): two apps on one cluster share nothing internal.

A staging app beside production, reading the same public topics, used to consume
production's re-decision commands, switch to its config versions and sign with its secret:
every app had the same `streams.user-commands`, `streams.config` and `streams.secrets`.
They are named from the app id now; an app that ran on the shared ones keeps them until
`python -m streams topics migrate` moves it (docs/operations.md, "Upgrading").
"""
from __future__ import annotations

import copy
import re
import time
import uuid

import orjson
import pytest
from aiokafka.partitioner import murmur2

from streams.core import topics as names
from streams.core.config import load_config
from streams.core.timeutil import iso
from streams.runtime import liveconfig, signing, topicread
from streams.runtime import topics as kafka_topics
from tests.harness import streams_cli, write_config

pytestmark = pytest.mark.integration

PARTITIONS = 4
SURVEYS = {
    "project": {"partitions": PARTITIONS},
    "surveys": [
        {"id": "nps-iso", "type": "nps", "name": "Recommend us?", "priority": 20,
         "targeting": {"min_days_since_signup": 0, "traits": [{"trait": "plan", "op": "eq", "value": "pro"}]}},
        {"id": "csat-iso", "type": "csat", "name": "Satisfied?", "priority": 10,
         "targeting": {"min_days_since_signup": 0}},
    ],
}
OLD_SIGNUP = "2020-01-01T00:00:00Z"


def applied(worker, document: dict, name: str) -> str:
    done = streams_cli(worker, "surveys", "apply", str(write_config(worker, document, name)))
    assert done.returncode == 0, done
    return done.stdout.split("published version ")[1].split()[0]


def paused(survey_id: str) -> dict:
    document = copy.deepcopy(SURVEYS)
    next(s for s in document["surveys"] if s["id"] == survey_id)["active"] = False
    return document


def identify(user: str, plan: str, message_id: str | None = None) -> dict:
    return {"type": "identify", "userId": user, "messageId": message_id or f"{user}-1",
            "traits": {"plan": plan, "createdAt": OLD_SIGNUP}}


def records(worker, topic: str) -> list:
    return list(topicread.read_to_end(worker.bootstrap, topic, missing_ok=True))


def version_of(worker) -> str:
    status, health = worker.get("/health")
    assert status == 200, health
    return health["configVersion"]


def test_two_apps_on_one_cluster_share_no_config_secret_or_command(start_worker):
    """Production and staging read the same public topics under two app ids."""
    shared = f"iso{uuid.uuid4().hex[:6]}"
    prod = start_worker(SURVEYS, topic_prefix=shared, app_id=f"survey-streams-{shared}-prod")
    staging = start_worker(SURVEYS, topic_prefix=shared, app_id=f"survey-streams-{shared}-staging")
    apps = (prod, staging)
    assert prod.topic(names.SEGMENT_IDENTIFY) == staging.topic(names.SEGMENT_IDENTIFY)
    for app in apps:
        assert [app.topic(n) for n in names.INTERNAL] == [f"{app.app_id}-user-commands", f"{app.app_id}-secrets",
                                                          f"{app.app_id}-config"]
        assert set(app.topics[n] for n in names.INTERNAL) <= kafka_topics.existing_topics(app.bootstrap)

    pro = [f"pro-{shared}-{i}" for i in range(8)]
    probe = f"free-{shared}"
    for user in pro:
        prod.produce(names.SEGMENT_IDENTIFY, identify(user, "pro"), key=user)
    prod.produce(names.SEGMENT_IDENTIFY, identify(probe, "free"), key=probe)
    for app in apps:
        app.state_when(probe, lambda s: s["traits"].get("plan") == "free")
        app.state_when(pro[-1], lambda s: s["traits"].get("plan") == "pro")
    started = version_of(prod)
    assert version_of(staging) == started and started.endswith(".file")

    # Each app its own secret: a display token of one does not open a display on the other.
    secrets = [signing.first_secret(app.bootstrap, app.topic(names.SECRETS), 30) for app in apps]
    assert None not in secrets and secrets[0] != secrets[1]
    display = prod.display(probe)
    shown = {"messageId": f"{probe}-shown", "userId": probe, "surveyId": "csat-iso", "type": "shown",
              "displayId": display["id"], "displayToken": display["token"]}
    status, reply = staging.post("/v1/widget/events", shown)
    assert status == 403 and reply["code"] == "invalid_token", reply
    assert prod.post("/v1/widget/events", shown)[0] == 202

    # Production pauses nps-iso: it switches and re-decides its pro users; staging sees nothing.
    version = applied(prod, paused("nps-iso"), "prod-paused.yaml")
    assert prod.wait_for(lambda: version_of(prod) == version, timeout_s=30)

    def redecided() -> list:
        """The pro users' decisions under production's new version (on the public topic both write)."""
        return [v for _, v in prod.read(names.ELIGIBILITY, timeout_s=5)
                if v.get("configVersion") == version and v["userId"] in pro]

    assert len(prod.wait_for(lambda: len(redecided()) >= len(pro) and redecided(), timeout_s=30) or []) == len(pro)
    ticks = [(r.key.decode(), orjson.loads(r.value)) for r in records(prod, prod.topic(names.USER_COMMANDS))]
    assert {key for key, command in ticks if command["kind"] == "tick"} >= set(pro)
    time.sleep(5)  # what staging would have done by now, had it followed production's topics
    assert version_of(staging) == started
    assert len(redecided()) == len(pro)  # production's decisions only, none of staging's
    assert records(staging, staging.topic(names.USER_COMMANDS)) == []
    assert "no version published" in streams_cli(staging, "surveys", "show").stdout
    assert streams_cli(prod, "surveys", "show").stdout.startswith(f"active version {version}")

    # And the other way round: staging's apply reaches staging only.
    staged = applied(staging, paused("csat-iso"), "staging-paused.yaml")
    assert staged != version
    assert staging.wait_for(lambda: version_of(staging) == staged, timeout_s=30)
    time.sleep(3)
    assert version_of(prod) == version
    # An app on its own topics has nothing to migrate: nothing of another app's is copied in.
    nothing = streams_cli(staging, "topics", "migrate")
    assert nothing.returncode == 0 and "nothing to migrate" in nothing.stdout, nothing
    for app, published in ((prod, version), (staging, staged)):
        versions = [liveconfig.Version.of(r.value) for r in records(app, app.topic(names.CONFIG)) if r.key == liveconfig.KEY]
        assert [v.version for v in versions] == [published]


def partition_of(key: str) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % PARTITIONS


def other_partition(user: str) -> int:
    return (partition_of(user) + 1) % PARTITIONS


def test_an_app_that_ran_on_the_shared_topics_keeps_them_until_it_is_migrated(start_worker):
    """An existing deployment keeps working on the legacy names (its config version, its
    secret, its commands), and `topics migrate` moves all three onto its own topics."""
    worker = start_worker(SURVEYS, start=False)
    config = load_config(worker.config_path)
    legacy = config.topics.for_app(worker.app_id, legacy=True)
    # What a worker of before left: the shared internal topics, the app's changelogs.
    kafka_topics.create_topics(worker.bootstrap, config, legacy, changelogs=True, quiet=True)
    # A version `surveys apply` published then, to the shared topic (whose latest version
    # another run of this test may have published: not through `apply`, which would refuse
    # its other topic names as a structural change).
    before = write_config(worker, paused("csat-iso"), "before.yaml")
    version = liveconfig.publish(worker.bootstrap, "streams.config", before.read_text(), str(before),
                                 int(time.time() * 1000)).version

    worker.start()
    assert "keeps the internal topics every app on this cluster shares" in worker.log_tail(200)
    assert version_of(worker) == version
    assert not {worker.topic(n) for n in names.INTERNAL} & kafka_topics.existing_topics(worker.bootstrap)
    # An identify on a partition not its user's goes through the (shared) user-commands topic,
    # so the app's group has processed records there.
    rekeyed = f"rekeyed-{uuid.uuid4().hex[:6]}"
    worker.producer.send(worker.topic(names.SEGMENT_IDENTIFY), key=rekeyed.encode(), partition=other_partition(rekeyed),
                         value=orjson.dumps(identify(rekeyed, "pro")))
    worker.producer.flush()
    worker.state_when(rekeyed, lambda s: s["traits"].get("plan") == "pro")
    secret = signing.first_secret(worker.bootstrap, "streams.secrets", 30)
    refused = streams_cli(worker, "topics", "migrate")
    assert refused.returncode == 2 and "stop every worker" in refused.stderr, refused
    worker.stop()

    # A command the app wrote but had not processed when it stopped (on a partition of the
    # shared topic its group read: the re-keyed identify's).
    pending = next(user for user in (f"pending-{uuid.uuid4().hex[:6]}" for _ in range(1000))
                   if partition_of(user) == partition_of(rekeyed))
    command = signing.seal_command({"kind": "segment", "message": {
        **identify(pending, "pro"), "timestamp": iso(int(time.time() * 1000))}}, int(time.time() * 1000))
    raw = orjson.dumps(command)
    key = signing.derived_key(secret, "user-command")
    worker.producer.send("streams.user-commands", key=pending.encode(), value=raw, partition=partition_of(pending),
                         headers=[(signing.SIGNATURE_HEADER, signing.command_signature(key, pending.encode(), raw))])
    worker.producer.flush()

    moved = streams_cli(worker, "topics", "migrate")
    assert moved.returncode == 0, moved
    assert "secret: copied from streams.secrets" in moved.stdout
    assert f"config: version {version} copied from streams.config" in moved.stdout
    copied = re.search(r"user commands: (\d+) not processed yet copied from streams.user-commands", moved.stdout)
    assert copied and int(copied.group(1)) >= 1, moved.stdout

    log_before = worker.log_path.stat().st_size
    worker.start()
    with open(worker.log_path, "rb") as log:
        log.seek(log_before)
        assert b"keeps the internal topics" not in log.read()
    assert version_of(worker) == version  # the same version, from the app's own topic
    assert signing.first_secret(worker.bootstrap, worker.topic(names.SECRETS), 30) == secret
    worker.state_when(pending, lambda s: s["traits"].get("plan") == "pro")  # the pending command applied
    assert worker.user(rekeyed)[0] == 200  # the state is the app's as before

    again = streams_cli(worker, "topics", "migrate")
    assert again.returncode == 2  # the worker runs
    worker.stop()
    again = streams_cli(worker, "topics", "migrate")
    assert again.returncode == 0, again
    assert "holds one already, kept" in again.stdout and "user commands: 0 not processed yet copied" in again.stdout
