"""The forwarder: `segment.outbound` to Segment's HTTP API, when SEGMENT_WRITE_KEY is set.

A plain aiokafka consumer in its own group, not a Faust agent: it commits an offset only
after Segment accepted every message before it, and retries with backoff while Segment
is down. A crash between a send and its commit sends those messages again on restart;
their deterministic messageIds let Segment drop the duplicates.

Supervised: nothing it meets takes the worker down. A record it cannot read goes to the
dead letter; any other failure (a commit refused after a rebalance, the broker gone)
restarts it from the committed offsets after a backoff. While Segment is down it pauses
its partitions and keeps polling, so it stays in its group (max_poll_interval_ms).
"""
from __future__ import annotations

import asyncio
import logging

import orjson
from aiokafka import AIOKafkaConsumer
from segment.analytics import request as segment_request

from streams.runtime import forwarding
from streams.core import topics as names
from streams.runtime.app import app, names_of, settings
from streams.core.errors import INVALID_JSON, NOT_AN_OBJECT, InvalidInput
from streams.runtime.metrics import registry
from streams.runtime.emit import dead_letter

log = logging.getLogger(__name__)
POLL_WHILE_WAITING_MS = 1000


def _post(batch: list[dict]) -> None:
    segment_request.post(settings.segment_write_key, host=settings.segment_host, gzip=True, timeout=15, batch=batch)


def _source(record) -> dict:
    return {"topic": record.topic, "partition": record.partition, "offset": record.offset}


async def _wait(consumer: AIOKafkaConsumer, seconds: float) -> None:
    """Sleep with the partitions paused, polling so the group keeps this member."""
    partitions = consumer.assignment()
    consumer.pause(*partitions)
    try:
        deadline = asyncio.get_running_loop().time() + seconds
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            await consumer.getmany(timeout_ms=int(min(left * 1000, POLL_WHILE_WAITING_MS)))
    finally:
        consumer.resume(*(partitions & consumer.assignment()))


async def deliver(consumer: AIOKafkaConsumer, batch: list[dict], records: list) -> None:
    """Send one batch, retrying until Segment accepts it or refuses it for good."""
    loop = asyncio.get_running_loop()
    attempt = 0
    while True:
        try:
            await loop.run_in_executor(None, _post, batch)
            registry.inc("survey_streams_forwarded_total", amount=len(batch))
            return
        except Exception as error:  # requests' and Segment's errors alike
            status = getattr(error, "status", None)
            registry.inc("survey_streams_forward_failures_total")
            if not forwarding.retryable(status):
                log.error("Segment refused a batch for good; dead-lettering it", extra={"status": status})
                for record in records:
                    await dead_letter(InvalidInput("segment_rejected", None, status, f"Segment answered {status}: {error}"),
                                      _source(record), record.value)
                return
            delay = forwarding.backoff(attempt)
            log.warning("Segment unavailable, retrying", extra={"status": status, "retry_in_s": delay})
            attempt += 1
            await _wait(consumer, delay)


async def _readable(records: list) -> list[tuple[dict, int, object]]:
    """(message, size, record) for each record that is a JSON object; the others are dead-lettered."""
    readable = []
    for record in records:
        try:
            message = orjson.loads(record.value) if record.value is not None else None
        except orjson.JSONDecodeError as exc:
            await dead_letter(InvalidInput(INVALID_JSON, None, None, f"outbound record is not JSON: {exc}"),
                              _source(record), record.value)
            continue
        if not isinstance(message, dict):
            await dead_letter(InvalidInput(NOT_AN_OBJECT, None, None, "an outbound record must be a JSON object"),
                              _source(record), record.value)
            continue
        readable.append((message, len(record.value), record))
    return readable


async def forward(consumer: AIOKafkaConsumer) -> None:
    while True:
        fetched = await consumer.getmany(timeout_ms=1000, max_records=500)
        records = [r for partition_records in fetched.values() for r in partition_records]
        if not records:
            continue
        readable = await _readable(records)
        start = 0
        for batch in forwarding.chunks([(message, size) for message, size, _ in readable]):
            await deliver(consumer, batch, [record for _, _, record in readable[start:start + len(batch)]])
            start += len(batch)
        await consumer.commit()


@app.task
async def forward_to_segment() -> None:
    if not settings.segment_write_key:
        return
    restarts = 0
    while True:
        consumer = AIOKafkaConsumer(
            names_of(names.OUTBOUND),
            bootstrap_servers=settings.bootstrap_servers,
            group_id=f"{settings.app_id}-segment-forwarder",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        try:
            await consumer.start()
            log.info("forwarding segment.outbound", extra={"host": settings.segment_host})
            await forward(consumer)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # supervised: restart from the committed offsets
            registry.inc("survey_streams_forwarder_restarts_total")
            delay = forwarding.backoff(restarts)
            restarts += 1
            log.warning("forwarder stopped; restarting it", extra={"error": repr(error), "retry_in_s": delay})
            await asyncio.sleep(delay)
        finally:
            try:
                await consumer.stop()
            except Exception:  # a consumer that never started, or a broker that is gone
                pass
