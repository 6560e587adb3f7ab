"""Live config: follow `streams.config`, switch versions without a restart, re-decide users.

Every worker reads the config topic (one partition; no consumer group: each reads all of
it). A new version is parsed and validated as at start, then made current in one step:
each batch of inputs is applied under the version current when it began
(UserBatch.config), so a worker uses one version at a time. Then every user the worker
holds is re-decided in the background under the new version; each whose decision changes
gets a `tick` command, which the users agent processes like any input (it re-decides and
emits the new decision, with its configVersion). The scan is paced (REDECIDE_PER_S) so
that live traffic keeps its latency.
"""
from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from .. import app as app_module
from .. import configdiff, liveconfig, topics as names
from ..app import app, settings
from ..config import ConfigError
from ..metrics import registry
from .emit import send
from .timers import stored_states

log = logging.getLogger("streams.config")
REDECIDE_PER_S = 20_000  # users looked at per second while re-deciding
REDECIDE_CHUNK = 500
_redeciding: asyncio.Task | None = None


def publish_version_metrics() -> None:
    registry.replace("survey_streams_config_version_info", 1, version=app_module.config.version)


def switch_to(version: liveconfig.Version) -> bool:
    """Make `version` current on this worker, unless it is already or cannot be."""
    current = app_module.config
    if version.version == current.version:
        return False
    try:
        candidate = version.config()
    except ConfigError as error:  # published by hand, not by `surveys apply`
        log.error("config version refused: it does not validate", extra={"version": version.version, "error": str(error)})
        return False
    problems = configdiff.structural_changes(current, candidate)
    if problems:
        log.error("config version refused: a running app cannot switch partitions or topics",
                  extra={"version": version.version, "problems": problems})
        return False
    app_module.config = candidate
    registry.inc("survey_streams_config_switches_total")
    publish_version_metrics()
    log.warning("switched to config version", extra={"version": candidate.version, "from": current.version})
    return True


async def redecide(config) -> None:
    """Tick every user this worker holds whose decision `config` changes (paced)."""
    started, looked, ticked = time.monotonic(), 0, 0
    now = int(time.time() * 1000)
    for user, state in stored_states():
        looked += 1
        if configdiff.moved(user, state, config, now) is not None:
            await send(names.USER_COMMANDS, user, {"kind": "tick"})
            ticked += 1
        if looked % REDECIDE_CHUNK == 0:
            registry.inc("survey_streams_config_users_redecided_total", REDECIDE_CHUNK)
            behind = looked / REDECIDE_PER_S - (time.monotonic() - started)
            await asyncio.sleep(max(behind, 0))
    registry.inc("survey_streams_config_users_redecided_total", looked % REDECIDE_CHUNK)
    registry.inc("survey_streams_config_decisions_changed_total", ticked)
    log.warning("users re-decided under the new config", extra={
        "version": config.version, "users": looked, "changed": ticked, "seconds": round(time.monotonic() - started, 1)})


def _start_redeciding() -> None:
    global _redeciding
    if _redeciding is not None and not _redeciding.done():
        _redeciding.cancel()  # a newer version: its own scan covers everyone
    _redeciding = asyncio.get_running_loop().create_task(redecide(app_module.config))


@app.task
async def follow_config() -> None:
    """Switch to each version published after this worker started (supervised: a failure
    is logged and the topic read again)."""
    publish_version_metrics()
    topic = app_module.config.topics[names.CONFIG]
    while True:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False)
        try:
            await consumer.start()
            partition = TopicPartition(topic, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            while True:
                fetched = await consumer.getmany(partition, timeout_ms=1000)
                versions = [v for v in (liveconfig.Version.of(r.value) for r in fetched.get(partition, ())
                                        if r.key == liveconfig.KEY) if v is not None]
                if versions and switch_to(versions[-1]):  # the latest of what arrived
                    _start_redeciding()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("reading the config topic failed; again in 5 s", extra={"error": repr(error)})
            await asyncio.sleep(5)
        finally:
            try:
                await consumer.stop()
            except Exception:
                pass
