"""The demo's last step: a survey paused while the worker runs (live config, docs/reference.md#live-config).

A dry run says who would move; `surveys apply` publishes the change; the worker switches
and re-decides, and the new decisions (with their configVersion) are counted as they land;
then the original file is applied again (a rollback is applying the previous file).
"""
from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import yaml

from streams.core import configdiff
from streams.runtime import liveconfig, topics as names
from streams.core.config import Config
from streams.runtime.httpjson import request as http
from streams.demo import kafka_io
from streams.demo.console import Console, heading

SWITCH_TIMEOUT_S = 60.0


def _published(config: Config, bootstrap: str, text: str, source: str) -> liveconfig.Version:
    return liveconfig.publish(bootstrap, config.topics[names.CONFIG], text, source, int(time.time() * 1000))


def _wait_for_version(url: str, version: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < SWITCH_TIMEOUT_S:
        status, body = http("GET", f"{url}/health")
        if status == 200 and body.get("configVersion") == version:
            return time.monotonic() - started
        time.sleep(0.2)
    raise TimeoutError(f"the worker did not switch to {version} within {SWITCH_TIMEOUT_S:.0f}s")


def _decisions_with(bootstrap: str, topic: str, since: dict, version: str, wanted: int) -> list[dict]:
    deadline = time.monotonic() + SWITCH_TIMEOUT_S
    found: list = []
    while time.monotonic() < deadline:
        found = [v for _, v in kafka_io.read_topic(bootstrap, topic, since) if v.get("configVersion") == version]
        if len(found) >= wanted:
            break
        time.sleep(0.3)
    return found


def pause_a_survey_live(out: Console, config: Config, bootstrap: str, url: str, app_id: str) -> None:
    """Pause the highest-priority active survey, watch it go live, then roll back."""
    active = [s for s in config.surveys if s.active]
    if not active:
        return
    survey = min(active, key=lambda s: (-s.priority, s.order))
    original_text = Path(config.path).read_text(encoding="utf-8")
    document = yaml.safe_load(original_text)
    for entry in document["surveys"]:
        if entry["id"] == survey.id:
            entry["active"] = False
    paused_text = yaml.safe_dump(document, sort_keys=False)
    paused = liveconfig.Version("dry-run", "", f"{config.path} with {survey.id} paused", paused_text).config()

    heading(f"Live config: pausing {survey.id} while the worker runs")
    for line in configdiff.diff(config, paused):
        print(f"  {line}")
    users, moves = liveconfig.dry_run(bootstrap, f"{app_id}-users-changelog", paused, int(time.time() * 1000))
    print(f"  dry run: {len(moves)} of {users} users would change decision")
    for (before, after), count in configdiff.count_moves(moves.values()).most_common():
        print(f"    {count:5d}  {before} → {after}")

    topic = config.topics[names.ELIGIBILITY]
    since = kafka_io.end_offsets(bootstrap, [topic])
    version = _published(config, bootstrap, paused_text, f"{config.path} (demo: {survey.id} paused)")
    switched_s = _wait_for_version(url, version.version)
    decisions = _decisions_with(bootstrap, topic, since, version.version, len(moves))
    print(f"  published version {version.version}: the worker switched in {switched_s:.1f}s and emitted "
          f"{len(decisions)} new decisions (the dry run said {len(moves)}):")
    for outcome, count in Counter(configdiff.label((d["eligible"], d["surveyId"], d["reason"]))
                                  for d in decisions).most_common():
        print(f"    {count:5d}  now {outcome}")

    rollback = _published(config, bootstrap, original_text, config.path)
    _wait_for_version(url, rollback.version)
    print(f"  rolled back: {config.path} applied again as version {rollback.version}")
    out.step("live config shown: `python -m streams surveys diff|apply [--dry-run]|show`")
