"""The Segment-compatible ingestion API's logic (docs/reference.md#ingestion), free of HTTP and Kafka.

`unpack` turns a decoded request body into the messages to produce and the items to
dead-letter; the view does auth, gzip, size limits and producing.
"""
from __future__ import annotations

import base64
import gzip
import zlib

import orjson

from streams.runtime import topics as names
from streams.core.errors import INVALID_FIELD, INVALID_JSON, MISSING_FIELD, NOT_AN_OBJECT, TOO_LARGE, InvalidInput
from streams.schemas import segment as segment_schema

MAX_MESSAGE_BYTES = segment_schema.MAX_MESSAGE_BYTES  # as the client sent it (docs/reference.md#ingestion)
MAX_BATCH_BYTES = 500 * 1024
MAX_WIDGET_BODY_BYTES = 4 * MAX_MESSAGE_BYTES  # POST /v1/widget/events: up to 100 small events
# What one batch request may make (docs/security.md): the envelope is copied into every
# item, so the records are bounded in total, not only the body; and so are the items and
# the dead letters one request can cause.
MAX_BATCH_ITEMS = 2500
MAX_BATCH_RECORD_BYTES = 1024 * 1024
MAX_REJECTED_ITEMS = 100
KINDS = ("identify", "track", "page", "screen", "group", "alias", "batch", "import")
# analytics.js (browser) posts to <apiHost>/t, /i, /p, /s, /g, /a, and /b when batching,
# with the write key in the body: the same endpoints under its names.
SHORT_KINDS = {"t": "track", "i": "identify", "p": "page", "s": "screen", "g": "group", "a": "alias", "b": "batch"}
# Endpoints that take a batch: `import` is Segment's name for the same thing (docs/reference.md#ingestion).
BATCH_KINDS = ("batch", "import")
# Fields of a batch envelope that Segment libraries expect to apply to every item.
_ENVELOPE_FIELDS = ("context", "integrations", "sentAt")


class TooLarge(InvalidInput):
    """The body (HTTP 413) is over its limit."""

    def __init__(self, field: str, size: int, limit: int, unit: str = "bytes", at_least: bool = False):
        # at_least: reading stopped at `size`; the whole is larger still.
        detail = f"{field} is over the limit of {limit} {unit} (refused after {size})" if at_least \
            else f"{field} is {size} {unit}, over the limit of {limit}"
        super().__init__(TOO_LARGE, field, size, detail)


def body_write_key(body: bytes) -> str | None:
    """The `writeKey` a body carries (analytics.js sends it there, as text/plain), or None."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    key = document.get("writeKey") if isinstance(document, dict) else None
    return key if isinstance(key, str) and key else None


def write_key(authorization: str | None) -> str | None:
    """The write key from HTTP Basic auth (user name, empty password), or None."""
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded.split(":", 1)[0] or None


WEBHOOK = "webhook"


def body_limit(kind: str) -> int:
    """The most a request body may hold: a batch for the batch endpoints and the webhook."""
    return MAX_BATCH_BYTES if kind in BATCH_KINDS or kind == WEBHOOK else MAX_MESSAGE_BYTES


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
    Sizes (docs/reference.md#ingestion): a message is measured as the client sent it (at most 32 KB); the
    record produced from it, with `receivedAt` and a batch's envelope, must also fit the
    inbound record limit, so that no worker refuses later what is answered 200 here.
    """
    batch = kind in BATCH_KINDS
    limit = body_limit(kind)
    if len(body) > limit:
        raise TooLarge("batch" if batch else "message", len(body), limit)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(INVALID_JSON, "body", None, f"body is not valid JSON: {exc}") from None
    if kind == WEBHOOK and isinstance(document, list):
        # Segment's Webhooks (Actions) destination with batching on posts a JSON array of events.
        document = {"batch": document}
    if not isinstance(document, dict):
        raise InvalidInput(NOT_AN_OBJECT, "body", type(document).__name__, "body must be a JSON object")
    # Bracket count in C first: only a body that may nest too deep is walked, item by item.
    deep = body.count(b"{") + body.count(b"[") > segment_schema.MAX_DEPTH
    if kind == WEBHOOK:  # Segment's Webhooks destination: any type, one message or a batch
        batch = "batch" in document
        if not batch:
            if len(body) > MAX_MESSAGE_BYTES:
                raise TooLarge("message", len(body), MAX_MESSAGE_BYTES)
            kind = document.get("type")
            if not isinstance(kind, str) or kind not in segment_schema.KNOWN_TYPES:
                segment_schema.validate(document)  # raises the error that names the type
    document.pop("writeKey", None)  # a credential, never a part of the message produced
    if not batch:
        if deep:
            segment_schema.check_depth(document, field="body")
        document.setdefault("type", kind)
        if document["type"] != kind:
            raise InvalidInput(INVALID_FIELD, "type", document["type"], f"/v1/{kind} takes only {kind} messages")
        return [_accept(segment_schema.validate(document), received_at, "message")[:3]], []
    items = document.get("batch")
    if not isinstance(items, list):
        raise InvalidInput(MISSING_FIELD if items is None else INVALID_FIELD, "batch", None, "body must carry a 'batch' list")
    if len(items) > MAX_BATCH_ITEMS:
        raise TooLarge("batch", len(items), MAX_BATCH_ITEMS, unit="items")
    envelope = {k: document[k] for k in _ENVELOPE_FIELDS if k in document}
    if deep:
        segment_schema.check_depth(envelope, field="batch envelope")
    accepted, rejected, total = [], [], 0
    for index, item in enumerate(items):
        where = f"batch[{index}]"
        try:
            if not isinstance(item, dict):
                raise InvalidInput(NOT_AN_OBJECT, where, type(item).__name__, "batch item must be an object")
            if deep:
                segment_schema.check_depth(item, field=where)
            item.pop("writeKey", None)
            size = len(orjson.dumps(item))  # as the client sent it
            if size > MAX_MESSAGE_BYTES:
                raise TooLarge(where, size, MAX_MESSAGE_BYTES)
            for k, v in envelope.items():
                item.setdefault(k, v)
            accepted.append(_accept(segment_schema.validate(item), received_at, where))
        except InvalidInput as error:
            rejected.append((error, item_text(item)))
            if len(rejected) > MAX_REJECTED_ITEMS:
                raise InvalidInput(error.code, f"batch[{index}]", None,
                                   f"more than {MAX_REJECTED_ITEMS} invalid items; the last: {error.detail}") from None
            continue
        total += accepted[-1][3]
        if total > MAX_BATCH_RECORD_BYTES:
            raise TooLarge("batch", total, MAX_BATCH_RECORD_BYTES, unit="bytes once the envelope is copied into its items")
    return [record[:3] for record in accepted], rejected


def item_text(item) -> bytes:
    """A batch item as JSON for its dead letter. One nested too deep to be written back keeps
    its top-level fields (type, ids) and a note in place of its nested ones."""
    try:
        return orjson.dumps(item)
    except (orjson.JSONEncodeError, TypeError):
        if not isinstance(item, dict):
            return b'"(nested too deep to be written back)"'
        return orjson.dumps({k: "(nested too deep to be written back)" if isinstance(v, (dict, list)) else v
                             for k, v in item.items()})


def _accept(message: dict, received_at: str, where: str) -> tuple[str, str, dict, int]:
    message["receivedAt"] = received_at
    size = len(orjson.dumps(message))
    if size > segment_schema.MAX_RECORD_BYTES:  # what the batch envelope added
        raise TooLarge(where, size, segment_schema.MAX_RECORD_BYTES)
    return names.TOPIC_FOR_TYPE[message["type"]], segment_schema.user_key(message), message, size
