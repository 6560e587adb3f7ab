"""Forwarding to Segment, the parts without I/O: batching and what is worth a retry."""
from __future__ import annotations

# Segment's HTTP API takes batches up to 500 KB; stay well under it after the envelope.
BATCH_MAX_BYTES = 400 * 1024
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0


def chunks(messages: list[tuple[dict, int]]) -> list[list[dict]]:
    """Split (message, encoded size) pairs into batches under BATCH_MAX_BYTES, in order."""
    batches, current, size = [], [], 0
    for message, length in messages:
        if current and size + length > BATCH_MAX_BYTES:
            batches.append(current)
            current, size = [], 0
        current.append(message)
        size += length
    if current:
        batches.append(current)
    return batches


def retryable(status: int | None) -> bool:
    """Network errors (no status), 5xx and 429 may succeed later; other 4xx never will."""
    return status is None or status == 429 or status >= 500 or status in (408,)


def backoff(attempt: int) -> float:
    return min(BACKOFF_MAX_S, BACKOFF_FIRST_S * (2 ** attempt))
