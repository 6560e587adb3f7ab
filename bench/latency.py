"""Decision latency at a fixed offered load (a process of its own, next to the worker).

    python -m bench.latency BOOTSTRAP IDENTIFY_TOPIC ELIGIBILITY_TOPIC PARTITIONS RATE SECONDS TAG

Produces identify messages for new users at RATE per second for SECONDS (paced in 5 ms
ticks), each with its produce time as the Kafka record timestamp and as the Segment
`timestamp`; consumes the eligibility topic and matches each decision to its identify by
user id (each new identified user gets exactly one first decision). Latency = the time
the decision is consumed here minus the identify's produce time, both from this
process's clock. Prints one JSON line with the percentiles over the inputs sent after a
warm-up (the first 2 s), and the split at the decision's own Kafka timestamp (the
worker's produce time): input -> worker produced the decision -> consumed here.
"""
from __future__ import annotations

import asyncio
import sys
import time

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.core.timeutil import iso

from .gen import Synth

WARMUP_S = 2.0
DRAIN_S = 15.0
TICK_S = 0.005


def percentile(sorted_values: list, q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


async def main(bootstrap: str, identify_topic: str, eligibility_topic: str, partitions: int, rate: float,
               seconds: float, tag: str) -> dict:
    synth = Synth(7, tag)
    total = int(rate * seconds)
    # Messages are made before the clock starts: the generator must not pace the load.
    messages = []
    for i in range(total):
        user_id = synth.user_id(i)
        messages.append((user_id, synth.identify(i, synth.now, user_id, None)))

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    tps = [TopicPartition(eligibility_topic, p) for p in range(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:  # resolve the positions now, not lazily after the first sends
        await consumer.position(tp)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
    await producer.start()

    sent_at: dict = {}
    received: dict = {}  # user -> (consumed at, decision's Kafka timestamp)
    stop_consuming = asyncio.Event()

    async def consume() -> None:
        while not stop_consuming.is_set():
            batches = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for records in batches.values():
                for record in records:
                    user = record.key.decode() if record.key else None
                    if user in sent_at and user not in received:
                        received[user] = (now, record.timestamp / 1000)

    consumer_task = asyncio.create_task(consume())
    start = time.time()
    sent = 0
    while sent < total:
        due = min(total, int((time.time() - start) * rate) + 1)
        while sent < due:
            user_id, message = messages[sent]
            now = time.time()
            message["timestamp"] = iso(int(now * 1000))
            sent_at[user_id] = now
            await producer.send(identify_topic, key=user_id.encode(), value=orjson.dumps(message),
                                timestamp_ms=int(now * 1000))
            sent += 1
        await asyncio.sleep(TICK_S)
    send_seconds = time.time() - start
    await producer.flush()
    deadline = time.time() + DRAIN_S
    while len(received) < total and time.time() < deadline:
        await asyncio.sleep(0.05)
    stop_consuming.set()
    await consumer_task
    await producer.stop()
    await consumer.stop()

    measured = [u for u, t in sent_at.items() if t - start >= WARMUP_S]
    # A decision not seen within the drain counts as infinitely late, not as absent.
    missing = [float("inf")] * sum(1 for u in measured if u not in received)
    latencies = sorted([(received[u][0] - sent_at[u]) * 1000 for u in measured if u in received] + missing)
    to_worker = sorted([(received[u][1] - sent_at[u]) * 1000 for u in measured if u in received] + missing)
    times = sorted(t for t, _ in received.values())
    decided_per_s = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
    return {
        "rate": rate,
        "decided_per_s": decided_per_s,
        "sent": total,
        "offered_per_s": total / send_seconds,
        "received": len(received),
        "measured": len(measured),
        "missing": len(missing),
        "p50_ms": percentile(latencies, 50),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else float("nan"),
        "to_decision_p50_ms": percentile(to_worker, 50),
        "to_decision_p99_ms": percentile(to_worker, 99),
    }


if __name__ == "__main__":
    bootstrap, identify_topic, eligibility_topic, partitions, rate, seconds, tag = sys.argv[1:]
    result = asyncio.run(main(bootstrap, identify_topic, eligibility_topic, int(partitions), float(rate),
                              float(seconds), tag))
    print(orjson.dumps(result).decode(), flush=True)
