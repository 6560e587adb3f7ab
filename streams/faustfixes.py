"""A fix to faust-streaming's start-up seek, applied when streams.app is imported.

Faust positions its stream partitions with aiokafka's `seek_to_committed`, which moves a
partition only when its committed offset is > 0. A partition with no commit (None) or a
commit at 0 keeps the fetch position it already had. When the worker had fetched records
of that partition in an earlier generation of the same start-up (a rebalance while the
group was forming) and dropped them at the revoke, that position is past them: Faust then
processes the next record and commits beyond the skipped ones, and they are lost. Seen in
about 1 restart in 8 (tools/probes/restart_loss_probe.py).

The fix: after `seek_to_committed`, put such partitions where a fresh consumer with
`auto_offset_reset=earliest` would start: offset 0 when 0 is committed, the beginning of
the log when nothing is. Changelog partitions are left alone: table recovery positions them.
"""
from __future__ import annotations

import os

from faust.transport.drivers import aiokafka as faust_aiokafka

_CHANGELOG_SUFFIX = "-changelog"


async def _seek_to_committed_exactly(consumer) -> dict:
    committed = await consumer.seek_to_committed()
    to_beginning = []
    for tp, offset in committed.items():
        if tp.topic.endswith(_CHANGELOG_SUFFIX):
            continue
        if offset == 0:
            consumer.seek(tp, 0)
        elif offset is None or offset < 0:
            to_beginning.append(tp)
    if to_beginning:
        # One offset reset for all of them: each call waits for the fetcher's next round
        # (up to fetch_max_wait_ms), so one call per partition made a fresh group's start
        # wait partitions x fetch_max_wait_ms (5 s with 49 partitions at 100 ms).
        await consumer.seek_to_beginning(*to_beginning)
    return committed


async def seek_to_committed(self) -> dict:
    return await self.call_thread(_seek_to_committed_exactly, self._ensure_consumer())


def apply() -> None:
    # STREAMS_FAUST_SEEK_FIX=off exists only to reproduce the loss with the probe.
    if os.environ.get("STREAMS_FAUST_SEEK_FIX", "on") == "off":
        return
    faust_aiokafka.AIOKafkaConsumerThread.seek_to_committed = seek_to_committed
