"""HTTP load on the bridge from a process of its own: bounded concurrency, bounded time.

    python -m bench.httpload BASE_URL USERS_FILE CONCURRENCY SECONDS [WIDGET_KEY]

CONCURRENCY aiohttp tasks share one keep-alive connection pool to 127.0.0.1 and each
sends GET /v1/eligibility/{userId} back to back, for users taken round-robin from
USERS_FILE (one id a line), until SECONDS pass (the first second is a warm-up, not
measured). Prints one JSON line: requests/s, latency percentiles, status counts and this
client's own CPU use (to tell a saturated client from a saturated server).
"""
from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from urllib.parse import quote

import aiohttp
import orjson

WARMUP_S = 1.0


def percentile(sorted_values: list, q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))]


async def main(base_url: str, users: list[str], concurrency: int, seconds: float, widget_key: str) -> dict:
    paths = [f"{base_url}/v1/eligibility/{quote(u, safe='')}" for u in users]
    headers = {"X-Widget-Key": widget_key} if widget_key else {}
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=10)
    latencies: list = []
    statuses: Counter = Counter()
    errors: Counter = Counter()
    start = time.perf_counter()
    measure_from = start + WARMUP_S
    end = start + seconds

    async def client(index: int, session: aiohttp.ClientSession) -> None:
        k = index
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                return
            try:
                async with session.get(paths[k % len(paths)], headers=headers) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                errors[type(error).__name__] += 1
                continue
            finally:
                k += concurrency
            t1 = time.perf_counter()
            if t0 >= measure_from:
                latencies.append(t1 - t0)
                statuses[status] += 1

    cpu0 = time.process_time()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(i, session) for i in range(concurrency)))
    elapsed = time.perf_counter() - measure_from
    cpu = time.process_time() - cpu0
    latencies.sort()
    return {
        "concurrency": concurrency,
        "seconds": elapsed,
        "requests": len(latencies),
        "requests_per_s": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p90_ms": percentile(latencies, 90) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": (latencies[-1] * 1000) if latencies else float("nan"),
        "statuses": {str(k): v for k, v in statuses.items()},
        "errors": dict(errors),
        "client_cpu_share": cpu / (time.perf_counter() - start),
    }


if __name__ == "__main__":
    base_url, users_file, concurrency, seconds, *rest = sys.argv[1:]
    users = [line.strip() for line in open(users_file) if line.strip()]
    result = asyncio.run(main(base_url, users, int(concurrency), float(seconds), rest[0] if rest else ""))
    print(orjson.dumps(result).decode(), flush=True)
