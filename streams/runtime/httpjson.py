"""A small blocking JSON-over-HTTP client for the demo, benchmarks and tests (stdlib + orjson)."""
from __future__ import annotations

import urllib.error
import urllib.request

import orjson


def request(method: str, url: str, body=None, headers: dict | None = None, timeout: float = 15.0):
    """(status, parsed JSON or text); never raises on an HTTP error status.

    A body that is not bytes is sent as JSON (with its Content-Type unless one is given);
    bytes are sent as they are, for malformed-input tests.
    """
    headers = dict(headers or {})
    data = body
    if body is not None and not isinstance(body, bytes):
        data = orjson.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    try:
        return status, orjson.loads(payload)
    except orjson.JSONDecodeError:
        return status, payload.decode(errors="replace")
