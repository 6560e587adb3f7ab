"""What every HTTP service here answers alike (the worker's bridge, the insights service):
the comparison of keys and the JSON error shape (docs/reference.md#every-answer)."""
from __future__ import annotations

import hmac

ADMIN_REQUIRED = "admin key required (Authorization: Bearer <key>)"


def same_secret(given: str | None, expected: str) -> bool:
    # Header values that are not UTF-8 arrive with surrogate escapes: compare their bytes.
    return given is not None and hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())


def bearer_ok(header: str | None, key: str) -> bool:
    """`Authorization: Bearer <key>` with the admin key; never true when no key is set."""
    header = header or ""
    return bool(key) and header.startswith("Bearer ") and same_secret(header[7:].strip(), key)


def error_body(status_code: str, detail: str, field: str | None = None) -> dict:
    """An error answer (docs/reference.md#every-answer): `code`/`message` as Segment's and RudderStack's SDKs read
    them, with `error`/`detail` as before and the field that failed."""
    return {"error": status_code, "code": status_code, "detail": detail, "message": detail, "field": field}
