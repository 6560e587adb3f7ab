"""The Segment-compatible ingestion API's logic (CONTRACT 5.1), free of HTTP and Kafka.

`unpack` turns a decoded request body into the messages to produce and the items to
dead-letter; the view does auth, gzip, size limits and producing.
"""
from __future__ import annotations

import base64
import gzip
import zlib

import orjson

from . import topics as names
from .errors import INVALID_FIELD, INVALID_JSON, MISSING_FIELD, NOT_AN_OBJECT, TOO_LARGE, InvalidInput
from .schemas import segment as segment_schema

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
KINDS = ("identify", "track", "page", "group", "alias", "batch")
# Fields of a batch envelope that Segment libraries expect to apply to every item.
_ENVELOPE_FIELDS = ("context", "integrations", "sentAt")


class TooLarge(InvalidInput):
    """The body (HTTP 413) is over its limit."""

    def __init__(self, field: str, size: int, limit: int):
        super().__init__(TOO_LARGE, field, size, f"{field} is {size} bytes, over the {limit} byte limit")


def write_key(authorization: str | None) -> str | None:
    """The write key from HTTP Basic auth (user name, empty password), or None."""
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded.split(":", 1)[0] or None


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo `Content-Encoding: gzip`, refusing to inflate past `limit` (+1 to detect it)."""
    if not encoding or encoding.strip().lower() == "identity":
        return body
    if encoding.strip().lower() != "gzip":
        raise InvalidInput(INVALID_FIELD, "Content-Encoding", encoding, "only gzip is supported")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise InvalidInput(INVALID_JSON, "body", None, f"body is not valid gzip: {exc}") from None
    if not inflater.eof and len(data) <= limit:  # input ended before the gzip trailer (CRC)
        raise InvalidInput(INVALID_JSON, "body", None, "body is truncated gzip")
    return data


def unpack(kind: str, body: bytes, received_at: str) -> tuple[list, list]:
    """Decode a request body into ([(topic, key, message)], [(error, item_bytes)]).

    Raises InvalidInput (HTTP 400) for a malformed body and TooLarge (HTTP 413) for one
    over its limit. Items of a valid batch that fail go to the second list (dead letter).
    """
    limit = MAX_BATCH_BYTES if kind == "batch" else MAX_MESSAGE_BYTES
    if len(body) > limit:
        raise TooLarge("batch" if kind == "batch" else "message", len(body), limit)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(INVALID_JSON, "body", None, f"body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidInput(NOT_AN_OBJECT, "body", type(document).__name__, "body must be a JSON object")
    if kind != "batch":
        document.setdefault("type", kind)
        if document["type"] != kind:
            raise InvalidInput(INVALID_FIELD, "type", document["type"], f"/v1/{kind} takes only {kind} messages")
        return [_accept(segment_schema.validate(document), received_at)], []
    items = document.get("batch")
    if not isinstance(items, list):
        raise InvalidInput(MISSING_FIELD if items is None else INVALID_FIELD, "batch", items, "body must carry a 'batch' list")
    envelope = {k: document[k] for k in _ENVELOPE_FIELDS if k in document}
    accepted, rejected = [], []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise InvalidInput(NOT_AN_OBJECT, f"batch[{index}]", type(item).__name__, "batch item must be an object")
            for k, v in envelope.items():
                item.setdefault(k, v)
            size = len(orjson.dumps(item))
            if size > MAX_MESSAGE_BYTES:
                raise TooLarge(f"batch[{index}]", size, MAX_MESSAGE_BYTES)
            accepted.append(_accept(segment_schema.validate(item), received_at))
        except InvalidInput as error:
            rejected.append((error, orjson.dumps(item)))
    return accepted, rejected


def _accept(message: dict, received_at: str) -> tuple[str, str, dict]:
    message["receivedAt"] = received_at
    return names.TOPIC_FOR_TYPE[message["type"]], segment_schema.user_key(message), message
