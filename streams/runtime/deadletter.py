"""Dead-letter records (docs/reference.md#dead-letter): what was rejected, why, and where it came from."""
from __future__ import annotations

from streams.core.errors import InvalidInput

PAYLOAD_MAX = 64 * 1024
DETAIL_MAX = 1024  # a detail may quote the input: never let it make the record large


def payload_text(payload: bytes | str | None) -> str:
    if payload is None:
        return ""
    if isinstance(payload, bytes):
        payload = payload[:PAYLOAD_MAX].decode("utf-8", errors="replace")
    return payload[:PAYLOAD_MAX]


def record(error: InvalidInput, source: dict, payload: bytes | str | None) -> dict:
    """`source` is {"topic", "partition", "offset"} or {"http": path}."""
    field = error.field[:DETAIL_MAX] if isinstance(error.field, str) else error.field
    detail = error.detail if field is None else f"{error.detail} (field '{field}')"
    return {"error": error.code, "detail": detail[:DETAIL_MAX], "field": field, "source": source,
            "payload": payload_text(payload)}
