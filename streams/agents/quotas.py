"""Response limits across every partition and worker (docs/configuration.md, "Response limits").

- `count_response`: the scores agent (which reads `surveys.responses`, keyed by surveyId)
  counts each response into the `response_counts` table, once per responseId
  (streams.core.quotas.add_response), on the survey's partition.
- `follow_response_counts`: every worker reads the table's changelog, all partitions,
  read_committed (a transaction's tallies only once it commits), into
  streams.runtime.responsecounts, which every decision reads. When a survey reaches a limit,
  each worker re-decides the users it holds (streams.agents.configwatch: those whose decision
  changes get a tick, and a new decision `quota_reached`). A per-day limit lifts by time:
  the decisions carry eligibleAt = the next UTC midnight and the timers re-decide then.
"""
from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.agents import configwatch
from streams.core import quotas
from streams.runtime import app as app_module, responsecounts
from streams.runtime.app import app, response_counts, settings
from streams.runtime.metrics import registry

log = logging.getLogger(__name__)
registry.count_from("survey_streams_responses_counted_total", "survey", responsecounts.totals)


def count_response(survey_id: str, response_id: str, day: str) -> bool:
    """Count a response; False when its responseId was counted already."""
    tally = response_counts.get(survey_id)
    updated = quotas.add_response(tally, response_id, day)
    if updated is tally:
        return False
    response_counts[survey_id] = updated
    return True


def reached_limits(config, counts: dict, now: int) -> frozenset:
    """The surveys of `config` at one of their response limits at `now`."""
    return frozenset(survey.id for survey in config.surveys
                     if quotas.quota_reached(survey, counts.get(survey.id, quotas.NONE_YET), now)[0])


async def _read(topic: str) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False,
                                isolation_level="read_committed")
    try:
        await consumer.start()
        # The table's partitions (its changelog is made before the worker starts: streams.cli.worker).
        partitions = [TopicPartition(topic, p) for p in range(response_counts.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        reached = None  # the surveys at a limit when last looked (None: not caught up yet)
        while True:
            fetched = await consumer.getmany(*partitions, timeout_ms=200)
            for records in fetched.values():
                for record in records:
                    responsecounts.apply(record.key, record.value)
            if responsecounts.current() is None and all(
                    [await consumer.position(tp) >= end[tp] for tp in partitions]):
                responsecounts.caught_up()
                log.info("response counts caught up", extra={"surveys": len(responsecounts.totals)})
            if responsecounts.current() is not None and (fetched or reached is None):
                at_limit = reached_limits(app_module.config, responsecounts.current(), int(time.time() * 1000))
                if reached is not None and at_limit - reached:
                    log.warning("surveys reached a response limit; re-deciding the users held",
                                extra={"surveys": sorted(at_limit - reached)})
                    configwatch.redecide_all_held()
                reached = at_limit
    finally:
        try:
            await consumer.stop()
        except Exception:
            pass


@app.task
async def follow_response_counts() -> None:
    """Keep this worker's response counts current (supervised: a failure is logged and the
    changelog read again; the counts kept meanwhile stay, a re-read only replaces them)."""
    topic = response_counts.changelog_topic.get_topic_name()
    while True:
        try:
            await _read(topic)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("reading the response counts failed; again in 5 s", extra={"error": repr(error)})
            await asyncio.sleep(5)
