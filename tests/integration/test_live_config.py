"""Live config on a real broker (issue 15, docs/reference.md#live-config): `surveys apply` while workers run.

Pausing a survey goes live within seconds: every user who was eligible for it gets a new
decision (the next survey, or survey_inactive) carrying the new configVersion; the dry run
predicted exactly those users; a bad file is refused and nothing is published; two
workers end on the same version.
"""
from __future__ import annotations

import copy
import subprocess
import uuid

import orjson
import pytest

from streams.core import topics as names
from tests.harness import streams_cli, write_config

pytestmark = pytest.mark.integration

SURVEYS = {
    "project": {"partitions": 4},
    "surveys": [
        {"id": "nps-live", "type": "nps", "name": "Recommend us?", "priority": 20,
         "targeting": {"min_days_since_signup": 0, "traits": [{"trait": "plan", "op": "eq", "value": "pro"}]}},
        {"id": "csat-live", "type": "csat", "name": "Satisfied?", "priority": 10,
         "targeting": {"min_days_since_signup": 0}},
    ],
}


def cli(worker, *args: str) -> subprocess.CompletedProcess:
    return streams_cli(worker, "surveys", *args)


def latest_decisions(worker) -> dict:
    latest = {}
    for _, value in worker.read("surveys.eligibility", timeout_s=5):
        latest[value["userId"]] = value
    return latest


def test_a_paused_survey_goes_live_everywhere_with_its_version(start_worker):
    first = start_worker(SURVEYS, name=f"live{uuid.uuid4().hex[:6]}")
    second = start_worker(SURVEYS, name=first.name)
    assert first.wait_for(lambda: first.alive() and second.alive(), timeout_s=60)
    pro = [f"pro-{i}" for i in range(12)]
    free = [f"free-{i}" for i in range(6)]
    for user in pro + free:
        first.produce("segment.identify", {"type": "identify", "userId": user, "messageId": f"{user}-1",
                                           "traits": {"plan": "pro" if user in pro else "free",
                                                      "createdAt": "2020-01-01T00:00:00Z"}}, key=user)
    assert first.wait_for(lambda: len(latest_decisions(first)) == len(pro + free), timeout_s=60)
    before = latest_decisions(first)
    assert {before[u]["surveyId"] for u in pro} == {"nps-live"} and {before[u]["surveyId"] for u in free} == {"csat-live"}
    start_version = before[pro[0]]["configVersion"]
    assert start_version.endswith(".file")

    # A bad file: refused with the same message as at start, nothing published.
    bad = write_config(first, {**SURVEYS, "surveys": [{**SURVEYS["surveys"][0], "type": "xps"}]}, "bad.yaml")
    done = cli(first, "apply", str(bad))
    assert done.returncode == 2 and "survey 'nps-live'" in done.stderr and "nothing published" in done.stderr, done
    assert "no version published" in cli(first, "show").stdout

    # Pause nps-live: the dry run says who moves, from what to what, and publishes nothing.
    paused = copy.deepcopy(SURVEYS)
    paused["surveys"][0]["active"] = False
    paused_file = write_config(first, paused, "paused.yaml")
    diff = cli(first, "diff", str(paused_file))
    assert diff.returncode == 0 and "survey nps-live: changed" in diff.stdout and "active: True → False" in diff.stdout
    dry = cli(first, "apply", "--dry-run", str(paused_file))
    assert dry.returncode == 0, dry
    assert f"{len(pro)} of {len(pro + free)} users would change decision" in dry.stdout, dry.stdout
    assert f"{len(pro)}  eligible for nps-live → eligible for csat-live" in dry.stdout, dry.stdout
    assert "no version published" in cli(first, "show").stdout

    done = cli(first, "apply", str(paused_file))
    assert done.returncode == 0, done
    version = done.stdout.split("published version ")[1].split()[0]
    assert version != start_version

    def switched():
        latest = latest_decisions(first)
        return all(latest[u]["configVersion"] == version and latest[u]["surveyId"] == "csat-live" for u in pro)

    assert first.wait_for(switched, timeout_s=30), latest_decisions(first)
    after = latest_decisions(first)
    assert all(after[u] == before[u] for u in free)  # unchanged outcomes are not emitted again
    changed = [v for _, v in first.read("surveys.eligibility", timeout_s=5) if v["configVersion"] == version]
    assert len(changed) == len(pro)  # exactly what the dry run counted
    for worker in (first, second):
        status, health = worker.get("/health")
        assert status == 200 and health["configVersion"] == version
        assert f'survey_streams_config_version_info{{version="{version}"}} 1' in worker.get("/metrics")[1]
    assert cli(first, "show").stdout.startswith(f"active version {version}")

    # A worker started later takes the active version, and says its file differs.
    third = start_worker(SURVEYS, name=first.name)
    assert third.get("/health")[1]["configVersion"] == version
    assert "differs from the active config version" in third.log_tail(200)

    # Rolling back is applying the previous file.
    original = write_config(first, SURVEYS, "original.yaml")
    assert cli(first, "apply", str(original)).returncode == 0
    assert first.wait_for(lambda: all(latest_decisions(first)[u]["surveyId"] == "nps-live" for u in pro), timeout_s=30)


def _identify_all(worker, pro: list, free: list) -> None:
    for user in pro + free:
        worker.produce("segment.identify", {"type": "identify", "userId": user, "messageId": f"{user}-1",
                                            "traits": {"plan": "pro" if user in pro else "free",
                                                       "createdAt": "2020-01-01T00:00:00Z"}}, key=user)
    assert worker.wait_for(lambda: len(latest_decisions(worker)) == len(pro + free), timeout_s=60)


def _paused_version(worker) -> str:
    paused = copy.deepcopy(SURVEYS)
    paused["surveys"][0]["active"] = False
    done = cli(worker, "apply", str(write_config(worker, paused, "paused.yaml")))
    assert done.returncode == 0, done
    return done.stdout.split("published version ")[1].split()[0]


def _all_moved(worker, users: list, version: str):
    def check():
        latest = latest_decisions(worker)
        return all(latest[u]["configVersion"] == version and latest[u]["surveyId"] == "csat-live" for u in users)
    return check


def test_a_version_published_while_no_worker_runs_is_applied_at_start(start_worker):
    """The users a stopped app holds are re-decided when it starts on a newer version."""
    worker = start_worker(SURVEYS, name=f"live{uuid.uuid4().hex[:6]}")
    pro, free = [f"pro-{i}" for i in range(8)], [f"free-{i}" for i in range(4)]
    _identify_all(worker, pro, free)
    worker.stop()
    version = _paused_version(worker)
    worker.start()
    assert worker.get("/health")[1]["configVersion"] == version
    assert worker.wait_for(_all_moved(worker, pro, version), timeout_s=60), latest_decisions(worker)
    assert all(latest_decisions(worker)[u]["surveyId"] == "csat-live" for u in free)


def test_a_re_decision_cut_short_by_a_kill_is_finished_by_the_next_owner(start_worker):
    """A worker killed half-way through re-deciding its users: whoever takes its partitions
    re-decides the rest (the scan is slowed down so that the kill lands inside it)."""
    slow = {"STREAMS_REDECIDE_PER_S": "4"}
    first = start_worker(SURVEYS, name=f"live{uuid.uuid4().hex[:6]}", env=slow)
    second = start_worker(SURVEYS, name=first.name, env=slow)
    assert first.wait_for(lambda: first.alive() and second.alive(), timeout_s=60)
    pro, free = [f"pro-{i}" for i in range(40)], [f"free-{i}" for i in range(4)]
    _identify_all(first, pro, free)
    version = _paused_version(first)
    assert second.wait_for(lambda: second.get("/health")[1].get("configVersion") == version, timeout_s=30)
    second.stop(kill=True)
    moved_early = [u for u in pro if latest_decisions(first)[u]["configVersion"] == version]
    assert len(moved_early) < len(pro), "the kill came after every user was re-decided: the test proves nothing"
    assert first.wait_for(_all_moved(first, pro, version), timeout_s=120), latest_decisions(first)
    changed = [v for _, v in first.read("surveys.eligibility", timeout_s=5) if v["configVersion"] == version]
    assert len(changed) == len(pro)  # each user's change emitted once, however often scanned


# Records no `surveys apply` writes, put on the config topic by hand (docs/reference.md#live-config): each a
# valid version but for one thing. The last one made every worker that started afterwards
# exit (AttributeError), and every `surveys` command fail.
def bad_records(worker) -> list[bytes]:
    text = write_config(worker, SURVEYS, "valid.yaml").read_text()  # this app's topics and partitions

    def version(**changes) -> bytes:
        return orjson.dumps({"version": "hand.1", "appliedAt": "2026-12-01T00:00:00Z", "source": "x.yaml",
                             "text": text, **changes})

    return [version(text=text.replace("partitions: 4", "partitions: 4\n  recontact_days: .inf")),
            b"{this is not JSON", version(version=42)]


def _skipped(worker) -> float:
    for line in worker.get("/metrics")[1].splitlines():
        if line.startswith("survey_streams_config_records_skipped_total"):
            return float(line.split()[-1])
    return 0.0


def test_bad_config_records_are_skipped_and_the_latest_valid_version_served(start_worker):
    worker = start_worker(SURVEYS, name=f"live{uuid.uuid4().hex[:6]}")
    version = _paused_version(worker)  # nps-live paused: pro users get csat-live
    assert worker.wait_for(lambda: worker.get("/health")[1].get("configVersion") == version, timeout_s=30)

    # While it runs: skipped, logged with their offsets, counted; the worker keeps its version.
    bad = bad_records(worker)
    assert "recontact_days: .inf" in bad[0].decode()
    for raw in bad:
        worker.produce(names.CONFIG, raw, key="surveys")
    assert worker.wait_for(lambda: _skipped(worker) == len(bad), timeout_s=30), worker.log_tail()
    assert worker.alive() and worker.get("/health")[1]["configVersion"] == version

    # A worker starting now starts, on the latest valid version.
    worker.stop()
    logged_before = len(worker.log_path.read_text(errors="replace"))  # the log is appended to on a restart
    worker.start()
    assert worker.get("/health")[1]["configVersion"] == version
    assert worker.wait_for(lambda: _skipped(worker) == len(bad), timeout_s=30)
    log = worker.log_path.read_text(errors="replace")[logged_before:]
    assert log.count("config topic record skipped") == len(bad), log  # once each, start and follower
    assert "field 'version'" in log and "is not JSON" in log and "project.recontact_days" in log, log
    worker.produce("segment.identify", {"type": "identify", "userId": "pro-1", "messageId": "pro-1-1",
                                        "traits": {"plan": "pro", "createdAt": "2020-01-01T00:00:00Z"}}, key="pro-1")
    assert worker.wait_for(lambda: latest_decisions(worker).get("pro-1", {}).get("configVersion") == version,
                           timeout_s=30), latest_decisions(worker)
    assert latest_decisions(worker)["pro-1"]["surveyId"] == "csat-live"

    # The commands read past the bad records, saying so; apply publishes and the worker switches.
    shown = cli(worker, "show")
    assert shown.returncode == 0 and shown.stdout.startswith(f"active version {version}"), shown
    assert shown.stderr.count("skipped a record") == len(bad), shown.stderr
    done = cli(worker, "apply", str(write_config(worker, SURVEYS, "original.yaml")))
    assert done.returncode == 0, done
    applied = done.stdout.split("published version ")[1].split()[0]
    assert worker.wait_for(lambda: worker.get("/health")[1].get("configVersion") == applied, timeout_s=30)
    assert worker.wait_for(lambda: latest_decisions(worker)["pro-1"]["surveyId"] == "nps-live", timeout_s=30), \
        latest_decisions(worker)
