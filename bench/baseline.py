"""The transport's ceiling in Python: a plain aiokafka consumer that reads the inbound
messages, decodes each with orjson, re-encodes it and produces it to another topic.

    python -m bench.baseline BOOTSTRAP OUT_TOPIC EXPECTED IN_TOPIC [IN_TOPIC ...]

Prints one JSON line: {"count", "seconds", "cpu_seconds"}, timed from the first record
read to the producer's flush after the last one.
"""
from __future__ import annotations

import asyncio
import os
import sys
import time

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

TIMEOUT_S = 600.0


async def main(bootstrap: str, out_topic: str, expected: int, in_topics: list[str]) -> dict:
    consumer = AIOKafkaConsumer(*in_topics, bootstrap_servers=bootstrap, group_id=f"bench-baseline-{os.getpid()}",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1)
    await consumer.start()
    await producer.start()
    count, first = 0, None
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while count < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            if first is None and batches:
                first = time.monotonic()
                cpu0 = time.process_time()
            for records in batches.values():
                for record in records:
                    value = orjson.dumps(orjson.loads(record.value))
                    await producer.send(out_topic, value=value, key=record.key)
                    count += 1
        await producer.flush()
        seconds = time.monotonic() - (first or time.monotonic())
        cpu = time.process_time() - cpu0 if first is not None else 0.0
        await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()
    return {"count": count, "seconds": seconds, "cpu_seconds": cpu}


if __name__ == "__main__":
    bootstrap, out_topic, expected, *in_topics = sys.argv[1:]
    print(orjson.dumps(asyncio.run(main(bootstrap, out_topic, int(expected), in_topics))).decode(), flush=True)
