"""Live config: follow the app's config topic, switch versions without a restart, re-decide users.

Every worker reads the config topic (`<app id>-config`, one partition; no consumer group:
each reads all of it). A new version is parsed and validated as at start, then made current
in one step: each batch of inputs is applied under the version current when it began
(UserBatch.config), so a worker uses one version at a time. Then every user the worker
holds is re-decided in the background under the new version; each whose decision changes
gets a `tick` command, which the users agent processes like any input (it re-decides and
emits the new decision, with its configVersion). The scan is paced (STREAMS_REDECIDE_PER_S) so
that live traffic keeps its latency.

A scan can be cut short: the worker is killed, or a rebalance moves partitions. So once
every tick of a scan is acknowledged, the worker writes a marker per partition it scanned
to the config topic ("redecided/<partition>" -> version), and after every rebalance (and
at start) each worker re-decides the partitions it holds that have no marker for the
active version. A version published while no worker ran is applied the same way. A
re-decision is idempotent (only users whose decision changes get a tick), so a partition
scanned twice costs time, never a duplicate decision.
"""
from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.runtime import app as app_module
from streams.core import configdiff
from streams.runtime import liveconfig
from streams.core import topics as names
from streams.runtime.app import app, settings, users
from streams.runtime.metrics import registry
from streams.agents import timers
from streams.runtime import responsecounts, userstore
from streams.runtime.emit import send, send_command
from streams.agents.timers import stored_states

log = logging.getLogger(__name__)
REDECIDE_CHUNK = 100  # users decided between two yields to the event loop (a few ms)
# Ticks sent by a scan and not yet applied by the users agent. A live input waits behind the
# queued ones: without this bound, 1M users of which 770k changed queued every tick at
# once and live decisions took 40 s (docs/benchmarks.md, live config).
TICKS_IN_FLIGHT = 50
TICKS_WAIT_S = 10.0  # then go on anyway: the partition may have moved (the scan is cancelled then)
CATCH_UP_WAIT_S = 30.0  # how long a re-decision waits for the config topic's markers
_redeciding: asyncio.Task | None = None
_markers: dict[int, str] = {}  # partition -> the last version all its users were re-decided under
_caught_up = asyncio.Event()  # the config topic has been read to its end once


def publish_version_metrics() -> None:
    registry.replace("survey_streams_config_version_info", 1, version=app_module.config.version)


def switch_to(version: liveconfig.Version) -> bool:
    """Make `version` current on this worker, unless it is already or cannot be."""
    current = app_module.config
    if version.version == current.version:
        return False
    candidate = version.config()  # validated when read (liveconfig.classify)
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


def held_partitions() -> frozenset[int]:
    """The partitions of the users table this worker holds as active."""
    changelog = users.changelog_topic.get_topic_name()
    return frozenset(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == changelog)


def stale_partitions(held: frozenset[int], version: str) -> frozenset[int]:
    """The partitions of `held` not yet re-decided under `version`."""
    return frozenset(partition for partition in held if _markers.get(partition) != version)


async def redecide(config, partitions: frozenset[int]) -> None:
    """Tick every user of `partitions` whose decision `config` changes (paced), then mark
    the partitions re-decided under it."""
    started, looked, ticked, deliveries = time.monotonic(), 0, 0, []
    chunk = max(1, min(REDECIDE_CHUNK, int(settings.redecide_per_s)))  # a pause at least once a second
    now = int(time.time() * 1000)
    applied_before = timers.applied_ticks.count
    chunk_started = time.monotonic()
    for user, state in stored_states():
        if userstore.partition_of(user) not in partitions:
            continue
        looked += 1
        if configdiff.moved(user, state, config, now, responsecounts.current()) is not None:
            if ticked - (timers.applied_ticks.count - applied_before) >= TICKS_IN_FLIGHT:
                await timers.applied_ticks.wait_for(applied_before + ticked - TICKS_IN_FLIGHT // 2, TICKS_WAIT_S)
            deliveries.append(await send_command(user, {"kind": "tick"}))
            ticked += 1
        if looked % chunk == 0:
            registry.inc("survey_streams_config_users_redecided_total", chunk)
            at = time.monotonic()
            ahead = looked / settings.redecide_per_s - (at - started)
            # At most half of the event loop's time, however fast the pace asked: live
            # inputs get the other half (and the scan's ticks, applied by the agent, share it).
            await asyncio.sleep(max(ahead, at - chunk_started))
            chunk_started = time.monotonic()
    registry.inc("survey_streams_config_users_redecided_total", looked % chunk)
    registry.inc("survey_streams_config_decisions_changed_total", ticked)
    await asyncio.gather(*deliveries)  # the ticks are durable before the marker says "done"
    for partition in sorted(partitions):
        await _mark(partition, config.version)
    log.warning("users re-decided under the new config", extra={
        "version": config.version, "users": looked, "changed": ticked,
        "seconds": round(time.monotonic() - started, 1), "partitions": sorted(partitions)})


async def _mark(partition: int, version: str) -> None:
    try:
        await (await send(names.CONFIG, liveconfig.marker_key(partition), {"version": version}))
    except Exception as error:  # no marker: the partition is re-decided again later, harmlessly
        log.warning("could not mark a partition re-decided", extra={"partition": partition, "error": repr(error)})
        return
    _markers[partition] = version


async def _redecide_held(config) -> None:
    """Re-decide the held partitions not yet re-decided under `config`."""
    try:
        await asyncio.wait_for(_caught_up.wait(), CATCH_UP_WAIT_S)
    except asyncio.TimeoutError:  # markers unknown: scan everything held (idempotent)
        log.warning("config topic not read to its end; re-deciding every partition held")
    partitions = stale_partitions(held_partitions(), config.version)
    if not partitions:
        return
    await userstore.settled(config.version)  # batches of older versions are durable first
    await redecide(config, partitions)


def redecide_all_held() -> None:
    """Re-decide every partition this worker holds, under the current version, now: a survey
    reached a response limit (streams.agents.quotas), which changes decisions as a config
    switch does. A scan under way is replaced: this one covers all it would have."""
    global _redeciding
    if _redeciding is not None and not _redeciding.done():
        _redeciding.cancel()
    _redeciding = asyncio.get_running_loop().create_task(
        _supervised(redecide(app_module.config, held_partitions())))


def _start_redeciding() -> None:
    """(Re)start re-deciding what this worker holds under the current version; a version
    from a worker's own file (none published) has nothing to catch up on."""
    global _redeciding
    if _redeciding is not None and not _redeciding.done():
        _redeciding.cancel()  # its partitions stay unmarked: the new scan covers them
    config = app_module.config
    if not liveconfig.published(config.version):
        return
    _redeciding = asyncio.get_running_loop().create_task(_supervised(_redecide_held(config)))


async def _supervised(work) -> None:
    try:
        await work
    except asyncio.CancelledError:
        raise
    except Exception as error:  # a partition closed under the scan, say: the next rebalance retries
        log.warning("re-deciding users failed", extra={"error": repr(error)})


@users.on_recover
async def _recovered() -> None:
    """After every rebalance: partitions new to this worker may not be re-decided yet."""
    _start_redeciding()


@app.on_partitions_revoked.connect
async def _revoked(sender, revoked, **kwargs) -> None:
    """A scan must not mark a partition it may have lost half-way."""
    if _redeciding is not None and not _redeciding.done():
        _redeciding.cancel()


@app.task
async def follow_config() -> None:
    """Switch to each version published after this worker started (supervised: a failure
    is logged and the topic read again)."""
    publish_version_metrics()
    topic = app_module.topic_names[names.CONFIG]
    while True:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False)
        try:
            await consumer.start()
            partition = TopicPartition(topic, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            end = (await consumer.end_offsets([partition]))[partition]
            latest, caught_up = None, False  # the latest valid version read, not yet switched to
            while True:
                fetched = await consumer.getmany(partition, timeout_ms=1000)
                for record in fetched.get(partition, ()):
                    # A record that does not parse or validate is skipped (logged and counted
                    # by liveconfig): the latest valid version before it stays the one to run.
                    kind, value = liveconfig.classify(topic, record.offset, record.key, record.value)
                    if kind == "version":
                        latest = value
                    elif kind == "marker":
                        _markers[value[0]] = value[1]
                if not caught_up and await consumer.position(partition) >= end:
                    caught_up = True
                    _caught_up.set()
                # Until the end is reached only the topic's latest valid version counts: an
                # older one on the way would be switched to, then away from.
                if caught_up and latest is not None:
                    if switch_to(latest):
                        _start_redeciding()
                    latest = None
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
