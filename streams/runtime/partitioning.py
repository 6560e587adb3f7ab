"""Key -> partition, as Kafka's default partitioner puts it (murmur2, as the Java client,
aiokafka, Segment's Kafka destination and this engine's tables all do), but cheaper.

aiokafka's murmur2 reads a key byte by byte in Python: it was the function with the most
self time in the latency profile (docs/benchmarks.md). This one reads 4-byte words at once
and remembers recent keys: every input produces several records keyed by the same user
(decision, Segment outputs, commands), and users come back. The result is the same for
every key (tests/runtime/test_partitioning.py checks it against aiokafka's).
"""
from __future__ import annotations

import random
import struct
from functools import lru_cache

_SEED, _M, _MASK = 0x9747B28C, 0x5BD1E995, 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of `data`, unsigned 32 bits (aiokafka.partitioner.murmur2)."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    words = length // 4
    for k in struct.unpack_from(f"<{words}I", data) if words else ():
        k = (k * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    rest = length & 3
    if rest:
        tail = length & ~3
        if rest >= 3:
            h ^= data[tail + 2] << 16
        if rest >= 2:
            h ^= data[tail + 1] << 8
        h = ((h ^ data[tail]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


@lru_cache(maxsize=65536)
def positive_hash(key: bytes) -> int:
    """The key's hash as the default partitioner uses it (murmur2, sign bit cleared)."""
    return murmur2(key) & 0x7FFFFFFF


class DefaultPartitioner:
    """aiokafka's default partitioner with the hash above: a key goes where Java's goes;
    no key, a random available partition."""

    def __call__(self, key: bytes | None, all_partitions: list, available: list) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        return all_partitions[positive_hash(key) % len(all_partitions)]
