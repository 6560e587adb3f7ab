"""The forwarder: `segment.outbound` to Segment's HTTP API, when SEGMENT_WRITE_KEY is set.

A plain aiokafka consumer in its own group, not a Faust agent: it commits an offset only
after Segment accepted every message before it, and retries with backoff while Segment
is down. A crash between a send and its commit sends those messages again on restart;
their deterministic messageIds let Segment drop the duplicates.
"""
from __future__ import annotations

import asyncio
import logging

import orjson
from aiokafka import AIOKafkaConsumer
from segment.analytics import request as segment_request

from .. import forwarding, topics as names
from ..app import app, names_of, settings
from ..errors import InvalidInput
from ..metrics import registry
from .emit import dead_letter

log = logging.getLogger("streams.forwarder")


def _post(batch: list[dict]) -> None:
    segment_request.post(settings.segment_write_key, host=settings.segment_host, gzip=True, timeout=15, batch=batch)


async def deliver(batch: list[dict], records: list) -> None:
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
                                      {"topic": record.topic, "partition": record.partition, "offset": record.offset},
                                      record.value)
                return
            delay = forwarding.backoff(attempt)
            log.warning("Segment unavailable, retrying", extra={"status": status, "retry_in_s": delay})
            attempt += 1
            await asyncio.sleep(delay)


@app.task
async def forward_to_segment() -> None:
    if not settings.segment_write_key:
        return
    consumer = AIOKafkaConsumer(
        names_of(names.OUTBOUND),
        bootstrap_servers=settings.bootstrap_servers,
        group_id=f"{settings.app_id}-segment-forwarder",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    log.info("forwarding segment.outbound", extra={"host": settings.segment_host})
    try:
        while True:
            fetched = await consumer.getmany(timeout_ms=1000, max_records=500)
            records = [r for partition_records in fetched.values() for r in partition_records]
            if not records:
                continue
            sized = [(orjson.loads(r.value), len(r.value)) for r in records]
            start = 0
            for batch in forwarding.chunks(sized):
                await deliver(batch, records[start:start + len(batch)])
                start += len(batch)
            await consumer.commit()
    finally:
        await consumer.stop()
