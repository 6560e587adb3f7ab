"""Fuzzing the HTTP bridge (CONTRACT 5, 7) of running workers with Hypothesis-generated requests.

Two workers share the session's broker: `plain` (write, widget and admin keys set) and
`secure` (the same plus STREAMS_SECURE_SECRET). Hypothesis draws whole requests: method,
request target (path segments, query), headers (as raw bytes, so non-ASCII and invalid
UTF-8 values reach the server), body (valid-ish Segment messages with fuzzed fields,
batches, widget events, arbitrary JSON, bytes, truncated JSON) and its framing
(Content-Encoding, Transfer-Encoding: chunked). Requests go over raw sockets, one at a
time; the answers are parsed with http.client.

Hypothesis is used as a seeded, bounded generator: the inner @given function records every
answer and never fails, so there is no shrinking and one run finds every failing shape.
After the generated requests, a sweep reads back every user the run wrote (admin state,
explain, eligibility), which finds failures that need state first (e.g. an identify with a
timestamp in year 1, then GET /v1/users/{id}); a few reads before any write open each run.
The tests then assert on the recorded run:
no 5xx and no hang, 4xx bodies are JSON with `error`, (xfail) `code`/`message` too, and
the workers survived and still process a fresh identify.

Knobs (environment): FUZZ_EXAMPLES (plain worker, default 4000), FUZZ_SECURE_EXAMPLES
(default 1000), FUZZ_SEED (default 20261130), FUZZ_BUDGET_S (wall-clock cap on the generated
requests of both workers, default 75; the sweep gets 15 s more; requests past it are skipped
and counted in the summary). Summary: printed (pytest -s) and written to test-output/fuzz-summary.json.
"""
from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import hmac
import http.client
import json
import math
import os
import re
import socket
import time
import uuid
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.harness import Worker

pytestmark = pytest.mark.integration

WRITE_KEY, SECOND_WRITE_KEY = "test-write-key", "fuzz-write-key-2"
ADMIN_KEY = "test-admin-key"
WIDGET_KEY = "fuzz-widget-key"
SECURE_SECRET = "fuzz-secure-secret"

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4000"))
SECURE_EXAMPLES = int(os.environ.get("FUZZ_SECURE_EXAMPLES", "1000"))
SEED = int(os.environ.get("FUZZ_SEED", "20261130"))
BUDGET_S = float(os.environ.get("FUZZ_BUDGET_S", "75"))
TIMEOUT_S = 8.0          # an answer slower than this is a hang
SWEEP_USERS = 250        # at most this many written users are read back
NOW = datetime.now(timezone.utc).replace(microsecond=0)


# --- JSON text with things the stdlib encoder cannot write ------------------------------------

@dataclass(frozen=True)
class Raw:
    """A JSON token written as is: 1e400, NaN, lone surrogate escapes, 30-digit integers."""
    text: str


@dataclass(frozen=True)
class Deep:
    """`depth` nested objects (or arrays) around a leaf, written without recursion."""
    depth: int
    arrays: bool = False


def to_json(value, ascii_only: bool = True) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Deep):
        opening, closing = ("[", "]") if value.arrays else ('{"d":', "}")
        return opening * value.depth + "1" + closing * value.depth
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(str(k), ensure_ascii=ascii_only) + ":" + to_json(v, ascii_only)
                              for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(to_json(v, ascii_only) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    return json.dumps(value, ensure_ascii=ascii_only)


def encode(value, ascii_only: bool = True) -> bytes:
    return to_json(value, ascii_only).encode("utf-8", "surrogatepass")


def depth_of(value) -> int:
    if isinstance(value, Deep):
        return value.depth
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


def describe(value, limit: int = 48) -> str:
    """A short description of a generated body: what a developer needs to rebuild it."""
    if isinstance(value, dict):
        parts = []
        for key, item in list(value.items())[:14]:
            small = isinstance(item, (dict, list)) and len(item) <= 8 and len(text := repr(item)) <= 3 * limit
            if small:
                parts.append(f"{key}={text}")
            elif isinstance(item, (dict, list, Deep)):
                size = len(item) if isinstance(item, (dict, list)) else 1
                parts.append(f"{key}:{type(item).__name__}(n={size},depth={depth_of(item)})")
            else:
                text = repr(item)
                parts.append(f"{key}={text[:limit]}{'…' if len(text) > limit else ''}")
        more = f", +{len(value) - 14} keys" if len(value) > 14 else ""
        return "{" + ", ".join(parts) + more + "}"
    if isinstance(value, list):
        items = "; ".join(describe(v, 24) for v in value[:3])
        return f"[{len(value)} items: {items}" + (" …]" if len(value) > 3 else "]")
    text = repr(value)
    return text[:limit * 2] + ("…" if len(text) > limit * 2 else "")


# --- the request model and the raw client ----------------------------------------------------

@dataclass
class Req:
    method: str
    target: bytes                     # path and query, sent as is
    pattern: str                      # the route it aims at, for grouping
    headers: list = field(default_factory=list)   # [(bytes, bytes)]
    body: bytes = b""
    body_kind: str = "none"
    header_variant: str = "-"
    app_owned: bool = True            # the app's view (not aiohttp's router/parser) must answer
    chunked: bool = False
    raw_wire: bytes | None = None     # protocol-level oddities: sent instead of the built request
    note: str = ""                    # describe() of the body
    writes: tuple = ()                # (user id, message description) a 2xx makes the worker store
    user: str | None = None           # the user a read is about (sweep)

    def shape(self, variant: str) -> tuple:
        return (variant, self.method, self.pattern, self.body_kind, self.header_variant)

    def wire(self) -> bytes:
        if self.raw_wire is not None:
            return self.raw_wire
        lines = [self.method.encode("latin-1") + b" " + self.target + b" HTTP/1.1",
                 b"Host: 127.0.0.1", b"Connection: close"]
        if self.chunked:
            lines.append(b"Transfer-Encoding: chunked")
            parts = [self.body[i:i + 700] for i in range(0, len(self.body), 700)]
            body = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"
        else:
            if self.body or self.method in ("POST", "PUT", "PATCH"):
                lines.append(b"Content-Length: %d" % len(self.body))
            body = self.body
        lines += [name + b": " + value for name, value in self.headers]
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    def short(self) -> str:
        headers = ", ".join(f"{n.decode('latin-1')}: {v[:60]!r}{'…' if len(v) > 60 else ''}" for n, v in self.headers)
        target = self.target[:140]
        body = f"{len(self.body)}B {self.body[:100]!r}{'…' if len(self.body) > 100 else ''}" if self.body else "-"
        raw = f" raw_wire={self.raw_wire[:120]!r}" if self.raw_wire is not None else ""
        return (f"{self.method} {target!r}{'…' if len(self.target) > 140 else ''} [{self.header_variant}] "
                f"headers=[{headers}] body({self.body_kind})={body}{' ' + self.note if self.note else ''}{raw}")


@dataclass
class Answer:
    status: int | None          # None: no answer
    content_type: str = ""
    body: bytes = b""
    problem: str = ""           # "hang: ..." or "no answer: ..."
    seconds: float = 0.0


def send(port: int, req: Req, timeout: float = TIMEOUT_S) -> Answer:
    started = time.monotonic()
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as exc:
        return Answer(None, problem=f"no answer: connect failed: {exc!r}")
    send_error = None
    try:
        try:
            sock.sendall(req.wire())
        except OSError as exc:      # the server may answer (413) and close before the body is in
            send_error = exc
        response = http.client.HTTPResponse(sock, method=req.method)
        try:
            response.begin()
            body = response.read()
        except (TimeoutError, socket.timeout):
            return Answer(None, problem=f"hang: no complete answer within {timeout}s",
                          seconds=time.monotonic() - started)
        except (http.client.HTTPException, OSError) as exc:
            reason = f" (after send error {send_error!r})" if send_error else ""
            return Answer(None, problem=f"no answer: {exc!r}{reason}", seconds=time.monotonic() - started)
        return Answer(response.status, response.getheader("Content-Type") or "", body,
                      seconds=time.monotonic() - started)
    finally:
        sock.close()


# --- strategies ------------------------------------------------------------------------------

def weighted(*pairs):
    """st.sampled_from over (weight, value) pairs, as a list with repeats (deterministic)."""
    return st.sampled_from([value for weight, value in pairs for _ in range(weight)])


# Users that many requests share, so that reads meet the state the writes left.
POOL = ["fuzz-pool-0", "fuzz-pool-1", "fuzz-pool-2", "fuzz-pool-3", "42", "Zoë-pool", "é" * 128,
        "😀" * 64, "😀" * 65, "池" * 86, "x" * 300, "a/b?c#d", "sp ace", "nul\x00byte", "rtl\u202eid", "%2F"]
ODD_STRINGS = ["", " ", "\x00", "\ufeff", "\u202e", "\\", "\"", "null", "undefined", "NaN", "0", "-1",
               "💥" * 3, "A\u0301", "\U0010ffff", "\r\n", "<script>alert(1)</script>", "%s%n", "../../etc/passwd",
               "ä" * 300]
SIZED_IDS = ["a" * 255, "a" * 256, "a" * 257, "é" * 127 + "a", "é" * 128, "é" * 129, "池" * 85, "池" * 86,
             "😀" * 63, "😀" * 64, "😀" * 65, "😀" * 1000, "x" * 5000, "y" * 40000]
RAW_NUMBERS = [Raw("1e400"), Raw("-1e400"), Raw("1e-400"), Raw("-0"), Raw("-0.0"),
               Raw("123456789012345678901234567890"),
               Raw("-99999999999999999999999"), Raw("18446744073709551616"), Raw("9223372036854775808"),
               Raw("1.7976931348623157e308"), Raw("5e-324"), Raw("NaN"), Raw("Infinity"), Raw("-Infinity")]
RAW_STRINGS = [Raw('"\\ud800"'), Raw('"\\udc80x"'), Raw('"a\\u0000b"'), Raw('"\\ud83d\\ude00"'),
               Raw('"\\uDFFF\\uD800"')]
TIMESTAMPS = [
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z", "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00-14:00",
    "0001-01-01", "0001-01-02T00:00:00Z", "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59+14:00", "9999-12-31", "0000-01-01T00:00:00Z", "1970-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999Z", "1900-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "2000-01-01T00:00:00Z",
    "2038-01-19T03:14:08Z", "2024-02-29T12:00:00Z", "2026-02-29T00:00:00Z", "2020-13-01T00:00:00Z",
    "2020-01-01T24:00:00Z", "2020-01-01T00:00:00.123456789Z", "2020-01-01T00:00:00+99:99", "2020-01-01 00:00:00",
    "20200101T000000Z", "2020-W01-1", "２０２０-01-01T00:00:00Z", "2020-01-01T00:00:00Z" + " " * 30, "now",
    "", "garbage-timestamp", "2020-01-01T00:00:00Zjunk", "2100-01-01T00:00:00Z",
]
CREATED_AT_NUMBERS = [0, -1, 1, 10**11, 10**11 - 1, 10**15, 10**17, 10**20, -10**20, 253402300800, 253402300800000,
                      -62135596801, -62135596800000, 1.5e300, -1.5e300, "99999999999999999999", "-99999999999",
                      "1700000000", "1700000000000", "0", "1e5", " 42 "]
EVENTS = ["Report Exported", "Signed Up", "", " ", "x" * 3000, "Report Exported\x00", "😀"]
KINDS = ["identify", "track", "page", "group", "alias", "screen"]
TYPE_VALUES = KINDS + ["batch", "import", "", "IDENTIFY", "Identify ", "widget", "unknown"]
SURVEYS = ["nps-main", "csat-export"]
QUESTIONS = {"nps-main": ["score", "reason"], "csat-export": ["score", "comment"]}
WIDGET_TYPES = ["shown", "answered", "closed", "submitted"]


def recent(draw) -> str:
    moment = NOW - timedelta(seconds=draw(st.integers(0, 20 * 86400)))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-2**70, 2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
    st.sampled_from(ODD_STRINGS), st.sampled_from(RAW_NUMBERS + RAW_STRINGS))
json_any = st.recursive(json_leaf, lambda children: st.lists(children, max_size=4)
                        | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=14)
any_id = st.one_of(
    st.sampled_from(POOL), st.text(min_size=1, max_size=16), st.text(max_size=64),
    st.text(st.characters(min_codepoint=0x80), min_size=1, max_size=90), st.sampled_from(SIZED_IDS),
    st.integers(), st.sampled_from([2**63, 2**64, -2**63 - 1, 10**30]), st.floats(), st.booleans(), st.none(),
    st.sampled_from(ODD_STRINGS), st.sampled_from(RAW_NUMBERS + RAW_STRINGS),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
user_id = st.one_of(st.sampled_from(POOL), st.sampled_from(POOL), any_id)
EXTREME_TIMESTAMPS = [t for t in TIMESTAMPS if t.startswith(("0001", "9999", "0000"))]
timestamp = st.one_of(
    st.sampled_from(TIMESTAMPS), st.sampled_from(TIMESTAMPS), st.sampled_from(EXTREME_TIMESTAMPS),
    st.sampled_from(EXTREME_TIMESTAMPS),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59),
                 timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=14)),
                                            timezone(timedelta(hours=-14))])).map(lambda d: d.isoformat()),
    st.integers(-2**40, 2**60), st.floats(), st.none(), st.booleans(), st.just([]), st.just({}), st.text(max_size=45))
created_at = st.one_of(timestamp, st.sampled_from(CREATED_AT_NUMBERS), st.sampled_from(RAW_NUMBERS))
trait_key = st.one_of(st.sampled_from(["plan", "createdAt", "email", "company", "", "__proto__", "a.b", "\x00",
                                       "😀", "k" * 300, "group.plan", "constructor"]), st.text(max_size=12))
DEPTHS = [3, 64, 200, 253, 254, 255, 256, 300, 500, 1000, 1023, 1024, 1025, 3000, 100_000]
many_keys = st.sampled_from([50, 500, 2500, 3500, 20_000]).map(lambda n: {f"k{i}": i for i in range(n)})
traits = st.one_of(
    st.dictionaries(trait_key, json_any, max_size=6),
    st.fixed_dictionaries({"plan": st.sampled_from(["pro", "team", "free", 1, None]), "createdAt": created_at}),
    st.fixed_dictionaries({"createdAt": created_at}),
    st.tuples(st.sampled_from(DEPTHS), st.booleans()).map(lambda d: {"plan": "pro", "nest": Deep(*d)}),
    many_keys,
    st.sampled_from([[], "traits", 1, True, [1, 2], Raw("1e400")]),
)


@st.composite
def segment_message(draw, kind: str, valid: bool = False) -> dict:
    """A Segment message of `kind`: valid (with a fresh or pooled user) or with fuzzed fields."""
    if valid:
        user = draw(st.one_of(st.sampled_from(POOL[:5]), st.uuids().map(lambda u: f"fuzz-{u.hex[:12]}")))
        message = {"type": kind, "userId": user, "messageId": f"m-{draw(st.uuids()).hex}", "timestamp": recent(draw)}
        if kind == "identify":
            message["traits"] = {"plan": draw(st.sampled_from(["pro", "team", "free"])),
                                 "createdAt": "2020-01-01T00:00:00Z"}
        elif kind == "track":
            message["event"] = "Report Exported"
            message["properties"] = {"format": draw(st.sampled_from(["pdf", "csv", "xlsx"]))}
        elif kind in ("page", "screen"):
            message["name"] = "Pricing"
        elif kind == "group":
            message.update(groupId="g-1", traits={"name": "Acme", "plan": "team"})
        elif kind == "alias":
            message["previousId"] = f"anon-{draw(st.uuids()).hex[:12]}"
        return message
    message = {}
    if draw(st.integers(0, 9)):
        message["type"] = kind if draw(st.integers(0, 5)) else draw(st.one_of(st.sampled_from(TYPE_VALUES), json_leaf))
    if draw(st.integers(0, 5)):
        message["userId"] = draw(user_id)
    if draw(st.integers(0, 2)) == 0:
        message["anonymousId"] = draw(user_id)
    if draw(st.booleans()):
        message["messageId"] = draw(st.one_of(st.uuids().map(str), any_id))
    if kind == "track" or draw(st.integers(0, 9)) == 0:
        message["event"] = draw(st.one_of(st.sampled_from(EVENTS), json_leaf))
    if kind == "alias" or draw(st.integers(0, 9)) == 0:
        message["previousId"] = draw(user_id)
    if kind == "group":
        message["groupId"] = draw(any_id)
    if kind in ("page", "screen"):
        message["name"] = draw(st.one_of(st.text(max_size=20), json_leaf))
    for name in ("timestamp", "originalTimestamp", "sentAt", "receivedAt"):
        if draw(st.integers(0, 2)) == 0:
            message[name] = draw(timestamp)
    if kind in ("identify", "group") or draw(st.integers(0, 4)) == 0:
        message["traits"] = draw(traits)
    if kind in ("track", "page", "screen") or draw(st.integers(0, 5)) == 0:
        message["properties"] = draw(traits)
    if draw(st.integers(0, 2)) == 0:
        message["context"] = draw(st.one_of(
            st.fixed_dictionaries({"traits": traits}),
            st.fixed_dictionaries({"library": st.fixed_dictionaries({"name": st.text(max_size=10),
                                                                     "version": json_leaf})}),
            json_any))
    if draw(st.integers(0, 6)) == 0:
        message.update(draw(st.dictionaries(st.text(max_size=10), json_any, max_size=4)))
    return message


@st.composite
def twisted_message(draw, kind: str) -> dict:
    """A valid message with one or two odd values where the worker computes with them."""
    message = draw(segment_message(kind, valid=True))
    for _ in range(draw(st.integers(1, 2))):
        twist = draw(st.sampled_from(["timestamp", "timestamp", "skew", "createdAt", "context-createdAt", "user", "anonymous",
                                      "messageId", "traits-odd", "event", "timestamp-only-original"]))
        if twist == "timestamp":
            message["timestamp"] = draw(st.sampled_from(EXTREME_TIMESTAMPS) | timestamp)
        elif twist == "skew":   # event time = receivedAt - (sentAt - originalTimestamp)
            message.pop("timestamp", None)
            message["sentAt"] = draw(timestamp)
            message["originalTimestamp"] = draw(timestamp)
        elif twist == "timestamp-only-original":
            message.pop("timestamp", None)
            message["originalTimestamp"] = draw(timestamp)
        elif twist == "createdAt":
            if not isinstance(message.get("traits"), dict):
                message["traits"] = {}
            message["traits"]["createdAt"] = draw(created_at)
        elif twist == "context-createdAt":
            message["context"] = {"traits": {"createdAt": draw(created_at), "plan": "pro"}}
        elif twist == "user":
            message["userId"] = draw(st.one_of(st.sampled_from(POOL + SIZED_IDS), any_id))
        elif twist == "anonymous":
            message["anonymousId"] = draw(st.one_of(st.sampled_from(POOL + SIZED_IDS), any_id))
        elif twist == "messageId":
            message["messageId"] = draw(st.one_of(st.sampled_from(SIZED_IDS), any_id))
        elif twist == "traits-odd":
            message["traits"] = draw(traits)
        elif twist == "event" and kind == "track":
            message["event"] = draw(st.one_of(st.sampled_from(EVENTS), json_leaf))
    return message


@st.composite
def oversized(draw, kind: str, target_bytes: int) -> dict:
    message = draw(segment_message(kind, valid=True))
    message.setdefault("properties", {})["pad"] = "x" * target_bytes
    return message


@st.composite
def batch_body(draw) -> dict:
    items = []
    for _ in range(draw(st.integers(0, 6))):
        items.append(draw(st.one_of(
            st.sampled_from(KINDS).flatmap(lambda k: segment_message(k, valid=True)),
            st.sampled_from(KINDS).flatmap(segment_message),
            st.sampled_from(KINDS).flatmap(twisted_message),
            st.sampled_from(KINDS).flatmap(twisted_message),
            st.sampled_from(KINDS).flatmap(lambda k: oversized(k, 33 * 1024)),
            json_leaf)))
    body = {"batch": items}
    if draw(st.integers(0, 9)) == 0:
        body["batch"] = items * draw(st.sampled_from([50, 120]))   # many items (some over 500 KB whole)
    if draw(st.integers(0, 3)) == 0:
        body["context"] = draw(st.one_of(json_any, st.fixed_dictionaries({"traits": traits})))
    if draw(st.integers(0, 3)) == 0:
        body["sentAt"] = draw(timestamp)
    if draw(st.integers(0, 5)) == 0:
        body["integrations"] = draw(json_any)
    if draw(st.integers(0, 9)) == 0:
        body["batch"] = draw(st.one_of(json_leaf, st.just(Deep(300, arrays=True)), st.just({"0": {}})))
    return body


def written_users(value) -> tuple:
    """(user id as the worker normalises it, description of the message) for each message of
    this body that a 2xx may turn into user state."""
    messages = value.get("batch") if isinstance(value, dict) and isinstance(value.get("batch"), list) else [value]
    found = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        for name in ("userId", "anonymousId", "previousId"):
            given = message.get(name)
            if isinstance(given, bool):
                continue
            if isinstance(given, str) and given:
                found.append((given, describe(message, 40)))
            elif isinstance(given, int):
                found.append((str(given), describe(message, 40)))
            elif isinstance(given, float) and math.isfinite(given):
                found.append((str(int(given)) if given.is_integer() else repr(given), describe(message, 40)))
    return tuple(found)


@functools.cache
def gzip_bomb(inflated: int) -> bytes:
    """Small on the wire, `inflated` bytes once inflated (built once, on first use)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"x" * (1 << 20)
    parts = [compressor.compress(b'{"userId": "bomb", "traits": {"pad": "')]
    for _ in range(inflated // len(chunk)):
        parts.append(compressor.compress(chunk))
    parts.append(compressor.compress(b'"}}') + compressor.flush())
    return b"".join(parts)


BOMBS = {"gzip-bomb-2MB": 2 << 20, "gzip-bomb-64MB": 64 << 20}


def basic(user: bytes, password: bytes = b"") -> bytes:
    return b"Basic " + base64.b64encode(user + b":" + password)


AUTH_INGEST = [  # (weight, label, header value or None)
    (30, "basic-ok", basic(WRITE_KEY.encode())),
    (3, "basic-ok2-password", basic(SECOND_WRITE_KEY.encode(), b"secret")),
    (1, "basic-ok-nocolon", b"Basic " + base64.b64encode(WRITE_KEY.encode())),
    (1, "basic-ok-lowercase-scheme", b"basic " + base64.b64encode(WRITE_KEY.encode() + b":")),
    (1, "basic-ok-spaces", b"Basic    " + base64.b64encode(WRITE_KEY.encode() + b":") + b"   "),
    (1, "basic-wrong", basic(b"wrong-key")),
    (1, "basic-empty-user", basic(b"")),
    (1, "absent", None),
    (1, "empty", b""),
    (1, "bearer", b"Bearer " + WRITE_KEY.encode()),
    (1, "basic-invalid-b64", b"Basic not-base64!"),
    (1, "basic-b64-unpadded", b"Basic " + base64.b64encode(WRITE_KEY.encode() + b":").rstrip(b"=")),
    (1, "basic-b64-of-invalid-utf8", b"Basic " + base64.b64encode(b"\xff\xfe\xfd:")),
    (1, "basic-b64-of-latin1", b"Basic " + base64.b64encode("clé:".encode("latin-1"))),
    (1, "basic-b64-of-nul", b"Basic " + base64.b64encode(b"test-write-key\x00:")),
    (2, "latin1-bytes", b"Basic \xe9t\xe9"),
    (2, "invalid-utf8-bytes", b"Basic \xff\xfe\xfd"),
    (1, "utf8-bytes", "Basic clé😀".encode()),
    (1, "huge", b"Basic " + b"QUFB" * 1500),
    (1, "scheme-only", b"Basic"),
]
AUTH_ADMIN = [
    (30, "bearer-ok", ("Bearer " + ADMIN_KEY).encode()),
    (1, "bearer-ok-spaces", ("Bearer   " + ADMIN_KEY + "  ").encode()),
    (1, "bearer-lowercase", ("bearer " + ADMIN_KEY).encode()),
    (1, "bearer-wrong", b"Bearer wrong"),
    (1, "basic", basic(ADMIN_KEY.encode())),
    (1, "absent", None),
    (1, "empty", b""),
    (1, "bearer-empty", b"Bearer "),
    (2, "latin1-bytes", b"Bearer \xe9\xe9"),
    (2, "invalid-utf8-bytes", b"Bearer \xff\xfe"),
    (1, "utf8-bytes", "Bearer clé😀".encode()),
    (1, "bearer-nul-ish", ("Bearer " + ADMIN_KEY + "\x7f").encode()),
    (1, "huge", b"Bearer " + b"k" * 7000),
]
WIDGET_KEYS = [
    (30, "widget-ok", WIDGET_KEY.encode()),
    (1, "widget-ok-spaces", b"  " + WIDGET_KEY.encode() + b"  "),
    (1, "widget-wrong", b"wrong"),
    (1, "absent", None),
    (1, "empty", b""),
    (2, "latin1-bytes", b"cl\xe9"),
    (2, "invalid-utf8-bytes", b"\xff\xfe\xfd"),
    (1, "utf8-bytes", "clé😀".encode()),
    (1, "huge", b"w" * 7000),
    (1, "prefix-only", WIDGET_KEY[:-1].encode()),
]
CONTENT_TYPES = [
    (20, "json", b"application/json"), (2, "absent", None), (1, "text", b"text/plain"),
    (1, "form", b"application/x-www-form-urlencoded"), (1, "multipart", b"multipart/form-data; boundary=zz"),
    (1, "json-utf16", b"application/json; charset=utf-16"), (1, "garbage-bytes", b"\xff\xfe/\x00"),
    (1, "json-latin1", b"application/json; charset=latin-1"),
]
ENCODINGS = ["none"] * 24 + ["gzip", "gzip", "gzip-invalid", "gzip-invalid", "gzip-truncated", "gzip-bomb-2MB",
                             "gzip-bomb-64MB", "deflate", "deflate-invalid", "br-invalid", "zstd-invalid",
                             "x-unknown", "GZIP-uppercase", "identity", "gzip-no-header", "gzip-twice",
                             "gzip-header-twice", "chunked", "chunked+gzip"]


# Encodings whose errors aiohttp's parser answers itself (400, text), before or instead of the view:
# no decoder installed (br, zstd), or a stream found broken only at its end (feed_eof).
PARSER_ENCODINGS = {"br-invalid", "zstd-invalid", "deflate-invalid", "gzip-truncated"}
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def parser_accepts(headers: list) -> bool:
    """Whether aiohttp's HTTP parser lets these headers through to the app (no control bytes)."""
    return not any(_CONTROL.search(value) for _, value in headers)


def pick(draw, table):
    return draw(weighted(*[(w, (label, value)) for w, label, value in table]))


def encode_body(draw, body: bytes) -> tuple[bytes, list, str, bool]:
    """(wire body, extra headers, label, chunked) for a Content-Encoding variant."""
    label = draw(st.sampled_from(ENCODINGS))
    gz = lambda data: gzip.compress(data, compresslevel=1, mtime=0)  # noqa: E731
    if label == "none":
        return body, [], label, False
    if label in ("gzip", "GZIP-uppercase"):
        return gz(body), [(b"Content-Encoding", b"gzip" if label == "gzip" else b"GZIP")], label, False
    if label == "gzip-invalid":
        return body or b"not gzip", [(b"Content-Encoding", b"gzip")], label, False
    if label == "gzip-truncated":
        data = gz(body)
        return data[:max(2, len(data) // 2)], [(b"Content-Encoding", b"gzip")], label, False
    if label in BOMBS:
        return gzip_bomb(BOMBS[label]), [(b"Content-Encoding", b"gzip")], label, False
    if label == "deflate":
        return zlib.compress(body), [(b"Content-Encoding", b"deflate")], label, False
    if label == "deflate-invalid":
        return b"\x78\x9c" + body, [(b"Content-Encoding", b"deflate")], label, False
    if label == "br-invalid":
        return body, [(b"Content-Encoding", b"br")], label, False
    if label == "zstd-invalid":
        return body, [(b"Content-Encoding", b"zstd")], label, False
    if label == "x-unknown":
        return gz(body), [(b"Content-Encoding", b"x-compress-\xe9")], label, False
    if label == "identity":
        return body, [(b"Content-Encoding", b"identity")], label, False
    if label == "gzip-no-header":
        return gz(body), [], label, False
    if label == "gzip-twice":
        return gz(gz(body)), [(b"Content-Encoding", b"gzip")], label, False
    if label == "gzip-header-twice":
        return gz(gz(body)), [(b"Content-Encoding", b"gzip, gzip")], label, False
    if label == "chunked":
        return body, [], label, True
    return gz(body), [(b"Content-Encoding", b"gzip")], label, True  # chunked+gzip


def body_bytes(draw, value) -> tuple[bytes, str]:
    """Serialise a generated JSON value in one of several (mostly valid) ways."""
    how = draw(weighted((12, "utf8"), (4, "ascii"), (1, "latin1"), (1, "bom"), (1, "utf16"), (1, "truncated"),
                        (1, "invalid-utf8-inside"), (1, "trailing-garbage")))
    if how == "utf8":
        return encode(value, ascii_only=False), ""
    if how == "ascii":
        return encode(value), ""
    text = to_json(value, ascii_only=False)
    if how == "latin1":
        return text.encode("latin-1", "replace"), "+latin1"
    if how == "bom":
        return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass"), "+bom"
    if how == "utf16":
        return text.encode("utf-16", "surrogatepass"), "+utf16"
    data = text.encode("utf-8", "surrogatepass")
    if how == "truncated":
        return data[:draw(st.integers(0, max(0, len(data) - 1)))], "+truncated"
    if how == "invalid-utf8-inside":
        middle = data.find(b'"', 1)
        middle = middle + 1 if middle > 0 else len(data) // 2
        return data[:middle] + b"\xff\xc3\x28" + data[middle:], "+invalid-utf8"
    return data + b"}garbage", "+trailing-garbage"


@st.composite
def ingest_request(draw, kind: str) -> Req:
    mode = draw(weighted((5, "message"), (2, "valid"), (5, "twisted"), (1, "json-any"), (1, "bytes"),
                        (1, "empty"), (1, "oversize"), (1, "deep"), (1, "many-keys")))
    batchy = kind in ("batch", "import", "webhook")
    message_kind = "identify" if kind in ("batch", "import", "webhook") else kind
    value = None
    if mode in ("message", "valid", "twisted") and batchy:
        item = {"message": segment_message, "valid": lambda k: segment_message(k, valid=True),
                "twisted": twisted_message}[mode]
        value = draw(batch_body()) if mode == "message" else {
            "batch": draw(st.lists(st.sampled_from(KINDS).flatmap(item), min_size=1, max_size=5))}
        if kind == "webhook" and draw(st.booleans()):  # the webhook also takes one message
            value = draw(st.sampled_from(KINDS).flatmap(item))
    elif mode in ("message", "valid"):
        value = draw(segment_message(message_kind, valid=mode == "valid"))
    elif mode == "twisted":
        value = draw(twisted_message(message_kind))
    elif mode == "json-any":
        value = draw(json_any)
    elif mode == "oversize":
        size = draw(st.sampled_from([32 * 1024 - 200, 32 * 1024 + 1, 40 * 1024, 520 * 1024, 1100 * 1024]))
        value = draw(oversized(message_kind, size))
        if batchy:
            value = {"batch": [value]}
    elif mode == "deep":
        depth = draw(st.sampled_from(DEPTHS))
        where = draw(st.sampled_from(["traits", "properties", "context", "extra"]))
        value = draw(segment_message(message_kind, valid=True))
        value[where] = {"nest": Deep(depth, draw(st.booleans()))}
        if batchy:
            value = {"batch": [value, draw(segment_message("track", valid=True))]}
        mode = f"deep{depth}-{where}"
    elif mode == "many-keys":
        value = draw(segment_message(message_kind, valid=True))
        value["traits"] = draw(many_keys)
        if batchy:
            value = {"batch": [value]}
    if mode == "bytes":
        body, suffix = draw(st.binary(max_size=300)), ""
    elif mode == "empty":
        body, suffix = b"", ""
    else:
        body, suffix = body_bytes(draw, value)
    body, encoding_headers, encoding, chunked = encode_body(draw, body)
    auth_label, auth = pick(draw, AUTH_INGEST)
    ctype_label, ctype = pick(draw, CONTENT_TYPES)
    headers = [(b"Authorization", auth)] if auth is not None else []
    if draw(st.integers(0, 29)) == 0:   # a second Authorization header, valid after invalid
        headers = [(b"Authorization", b"Basic \xff")] + [(b"Authorization", basic(WRITE_KEY.encode()))]
        auth_label = "two-authorization-headers"
    headers += [(b"Content-Type", ctype)] if ctype is not None else []
    headers += encoding_headers
    if kind == "webhook" and draw(st.booleans()):
        headers.append((b"X-Signature", draw(st.sampled_from([b"00" * 20, b"\xff" * 40, b"", b"zz"]))))
        auth_label += "+x-signature"
    extra_label, extra = draw(st.sampled_from(EXTRA_HEADERS))
    headers += extra
    routable = parser_accepts(headers) and encoding not in PARSER_ENCODINGS
    writes = written_users(value) if isinstance(value, dict) and suffix == "" and mode != "oversize" else ()
    return Req("POST", f"/v1/{kind}".encode(), f"/v1/{kind}", headers, body, f"{mode}{suffix}",
               f"auth={auth_label}|enc={encoding}|ct={ctype_label}|{extra_label}", routable, chunked,
               note=describe(value) if value is not None else "", writes=writes)


EXTRA_HEADERS = [("x", [])] * 20 + [
    ("origin", [(b"Origin", b"https://example.com")]),
    ("origin-bytes", [(b"Origin", b"https://\xe9\xff.example")]),
    ("cookie-bytes", [(b"Cookie", b"a=\xff\xfe; b=\x01")]),
    ("xff-garbage", [(b"X-Forwarded-For", b"not-an-ip, \xff, 999.1.1.1")]),
    ("accept-encoding", [(b"Accept-Encoding", b"gzip, br, zstd, *;q=0")]),
    ("expect-100", [(b"Expect", b"100-continue")]),
    ("user-agent-long", [(b"User-Agent", b"u" * 4000)]),
    ("many-headers", [(b"X-Fuzz-%d" % i, b"v") for i in range(90)]),
]


def user_segment(draw, secret: str | None) -> tuple[bytes, str, bool, str | None]:
    """(path segment, label, routable, decoded user id or None) for a {userId} in a path."""
    choice = draw(weighted((8, "pool"), (4, "fuzzed"), (2, "sized"), (1, "raw")))
    if choice in ("pool", "fuzzed", "sized"):
        strategy = {"pool": st.sampled_from(POOL), "fuzzed": st.text(min_size=1, max_size=40),
                    "sized": st.sampled_from(SIZED_IDS[:12])}[choice]
        user = draw(strategy)
        segment = quote(user, safe="").encode()
        # aiohttp's `{name}` matches [^{}/]+ on the decoded path: braces never reach the view
        routable = segment not in (b".", b"..") and len(segment) < 7000 and not set("{}") & set(user)
        return segment, f"user-{choice}", routable, user
    raw_label, segment, routable, user = draw(st.sampled_from([
        ("pct-ff", b"%FF", True, None), ("pct-invalid-utf8", b"%C3%28", True, None), ("pct-nul", b"%00", True, "\x00"),
        ("pct-slash", b"a%2Fb", True, "a/b"), ("pct-surrogate", b"%ED%A0%80", True, None),
        ("pct-beyond-unicode", b"%F4%90%80%80", True, None), ("pct-double", b"%252F", True, "%2F"),
        ("pct-dot", b"%2e%2e", False, None), ("dotdot", b"..", False, None), ("dot", b".", False, None),
        ("semicolon", b"u;p=1", True, "u;p=1"), ("tilde", b"~u", True, "~u"), ("plus", b"a+b", True, "a+b"),
        ("pct-lowercase", b"%c3%a9", True, "é"), ("pct-incomplete", b"%E", True, "%E"),
        ("pct-bad-hex", b"%zz", True, "%zz"), ("long-8000", b"u" * 8000, False, None),
        ("raw-utf8", "é😀".encode(), False, None), ("raw-latin1", b"\xe9", False, None),
        ("raw-space", b"a b", False, None), ("empty", b"", False, None), ("slashes", b"a/b/c", False, None),
        ("double-slash", b"/u", False, None), ("backslash", b"a\\b", True, "a\\b"),
    ]))
    return segment, f"raw-{raw_label}", routable, user


def user_hash(secret: str, user: str) -> str:
    return hmac.new(secret.encode(), user.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def hash_query(draw, secret: str | None, user: str | None) -> tuple[bytes, str, bool]:
    good = user_hash(secret or SECURE_SECRET, user) if user is not None else "0" * 64
    label, query = draw(weighted(
        (10, ("valid", b"?userHash=" + good.encode())), (4, ("none", b"")),
        (1, ("valid-upper", b"?userHash=" + good.upper().encode())),
        (1, ("valid-spaces", b"?userHash=%20" + good.encode() + b"%20")),
        (1, ("valid-twice", b"?userHash=" + good.encode() + b"&userHash=x")),
        (1, ("wrong", b"?userHash=" + b"0" * 64)), (1, ("empty", b"?userHash=")), (1, ("bare", b"?userHash")),
        (1, ("pct-ff", b"?userHash=%FF%FE")), (1, ("pct-nul", b"?userHash=%00")),
        (1, ("unicode", b"?userHash=%C3%A9%F0%9F%98%80")), (1, ("long", b"?userHash=" + b"a" * 5000)),
        (1, ("other-params", b"?foo=bar&&&=&userHash=zz&%FF=%FF")), (1, ("just-question-mark", b"?")),
        (1, ("raw-bytes", b"?userHash=\xff")), (1, ("plus", b"?userHash=" + good[:10].encode() + b"+x")),
    ))
    return query, f"hash={label}", label != "raw-bytes"


def header(name: bytes, value) -> list:
    return [(name, value)] if value is not None else []


@st.composite
def eligibility_request(draw, secret: str | None) -> Req:
    segment, seg_label, routable, user = user_segment(draw, secret)
    query, q_label, q_ok = hash_query(draw, secret, user)
    key_label, key = pick(draw, WIDGET_KEYS)
    method = draw(weighted((12, "GET"), (1, "HEAD")))
    headers = header(b"X-Widget-Key", key)
    admin = ""
    if draw(st.integers(0, 5)) == 0:   # CONTRACT 7: the admin key adds reason/eligibleAt
        admin_label, value = pick(draw, AUTH_ADMIN)
        headers += header(b"Authorization", value)
        admin = f"|admin={admin_label}"
    return Req(method, b"/v1/eligibility/" + segment + query, "/v1/eligibility/{userId}", headers,
               body_kind=seg_label, header_variant=f"key={key_label}|{q_label}{admin}",
               app_owned=routable and q_ok and parser_accepts(headers))


@st.composite
def admin_request(draw, explain: bool) -> Req:
    segment, seg_label, routable, _ = user_segment(draw, None)
    label, value = pick(draw, AUTH_ADMIN)
    method = draw(weighted((12, "GET"), (1, "HEAD")))
    suffix = b"/explain" if explain else b""
    query = draw(weighted((8, b""), (1, b"?now=0001-01-01"), (1, b"?%FF=%FF")))
    return Req(method, b"/v1/users/" + segment + suffix + query,
               "/v1/users/{userId}" + ("/explain" if explain else ""), header(b"Authorization", value),
               body_kind=seg_label, header_variant=f"auth={label}",
               app_owned=routable and parser_accepts(header(b"Authorization", value)))


@st.composite
def widget_event(draw, secret: str | None, valid: bool) -> dict:
    survey = draw(st.sampled_from(SURVEYS))
    user = draw(st.sampled_from(POOL) | st.uuids().map(lambda u: f"w-{u.hex[:10]}"))
    kind = draw(st.sampled_from(WIDGET_TYPES))
    event = {"messageId": f"wm-{draw(st.uuids()).hex}", "userId": user, "surveyId": survey,
             "displayId": f"d-{draw(st.integers(0, 50))}", "type": kind}
    if kind == "answered":
        question = draw(st.sampled_from(QUESTIONS[survey]))
        event["questionId"] = question
        event["value"] = draw(st.integers(1, 5)) if question == "score" else draw(st.text(max_size=30))
    if draw(st.booleans()):
        event["timestamp"] = recent(draw)
    if secret and draw(st.integers(0, 5)):
        event["userHash"] = user_hash(secret, user)
    if valid:
        return event
    for _ in range(draw(st.integers(1, 4))):     # fuzz a few fields
        name = draw(st.sampled_from(["messageId", "userId", "surveyId", "displayId", "type", "questionId", "value",
                                     "timestamp", "userHash", "displayToken", "extra"]))
        event[name] = draw(st.one_of(
            json_leaf, any_id, timestamp, st.sampled_from(WIDGET_TYPES + SURVEYS + ["score", "comment", "reason"]),
            st.integers(-10**20, 10**20), st.just("t" * 2001), st.just(Deep(300)), st.just(Deep(2000, True))))
    if draw(st.integers(0, 9)) == 0:
        del event[draw(st.sampled_from(sorted(event)))]
    return event


@st.composite
def widget_request(draw, secret: str | None) -> Req:
    mode = draw(weighted((5, "event"), (3, "valid"), (2, "batch"), (1, "json-any"), (1, "bytes"), (1, "empty"),
                        (1, "big-batch"), (1, "huge"), (1, "deep")))
    value = None
    if mode in ("event", "valid"):
        value = draw(widget_event(secret, mode == "valid"))
    elif mode == "batch":
        value = {"batch": draw(st.lists(widget_event(secret, True) | widget_event(secret, False), max_size=4))}
    elif mode == "big-batch":
        value = {"batch": [draw(widget_event(secret, True))] * draw(st.sampled_from([100, 101, 5000]))}
    elif mode == "json-any":
        value = draw(json_any)
    elif mode == "huge":
        value = draw(widget_event(secret, True))
        value["value"] = "x" * draw(st.sampled_from([2001, 40_000, 1_100_000]))
    elif mode == "deep":
        value = {"batch": Deep(draw(st.sampled_from(DEPTHS)), True)} if draw(st.booleans()) else Deep(
            draw(st.sampled_from(DEPTHS)))
    if mode == "bytes":
        body, suffix = draw(st.binary(max_size=300)), ""
    elif mode == "empty":
        body, suffix = b"", ""
    else:
        body, suffix = body_bytes(draw, value)
    body, encoding_headers, encoding, chunked = encode_body(draw, body)
    key_label, key = pick(draw, WIDGET_KEYS)
    ctype_label, ctype = pick(draw, CONTENT_TYPES)
    extra_label, extra = draw(st.sampled_from(EXTRA_HEADERS))
    headers = header(b"X-Widget-Key", key) + header(b"Content-Type", ctype) + encoding_headers + extra
    return Req("POST", b"/v1/widget/events", "/v1/widget/events", headers, body, f"{mode}{suffix}",
               f"key={key_label}|enc={encoding}|ct={ctype_label}|{extra_label}",
               parser_accepts(headers) and encoding not in PARSER_ENCODINGS, chunked,
               note=describe(value) if value is not None else "")


SERVED = {  # pattern -> (example path, methods the app's view serves)
    "/v1/{kind}": (b"/v1/identify", {"POST", "OPTIONS"}),
    "/v1/eligibility/{userId}": (b"/v1/eligibility/fuzz-pool-0", {"GET", "HEAD", "OPTIONS"}),
    "/v1/widget/events": (b"/v1/widget/events", {"POST", "OPTIONS"}),
    "/v1/users/{userId}": (b"/v1/users/fuzz-pool-0", {"GET", "HEAD", "OPTIONS"}),
    "/v1/users/{userId}/explain": (b"/v1/users/fuzz-pool-0/explain", {"GET", "HEAD", "OPTIONS"}),
    "/health": (b"/health", {"GET", "HEAD", "OPTIONS"}),
    "/metrics": (b"/metrics", {"GET", "HEAD", "OPTIONS"}),
    "/widget.js": (b"/widget.js", {"GET", "HEAD", "OPTIONS"}),
    "/example": (b"/example", {"GET", "HEAD", "OPTIONS"}),
}


@st.composite
def other_method_request(draw) -> Req:
    """OPTIONS (CORS preflight) on every route, and methods a route does not serve."""
    pattern = draw(st.sampled_from(sorted(SERVED)))
    path, methods = SERVED[pattern]
    method = draw(weighted((6, "OPTIONS"), (1, "GET"), (1, "POST"), (1, "PUT"), (1, "DELETE"), (1, "PATCH"),
                           (1, "HEAD"), (1, "TRACE"), (1, "PROPFIND")))
    headers = []
    if method == "OPTIONS":
        headers = draw(st.sampled_from([
            [], [(b"Origin", b"https://example.com"), (b"Access-Control-Request-Method", b"POST"),
                 (b"Access-Control-Request-Headers", b"content-type, x-widget-key, authorization")],
            [(b"Origin", b"\xff\xfe"), (b"Access-Control-Request-Method", b"\xe9")],
            [(b"Origin", b"null"), (b"Access-Control-Request-Method", b"DELETE")]]))
    body = draw(st.sampled_from([b"", b"{}", b"\xff" * 10])) if method not in ("GET", "HEAD", "OPTIONS") else b""
    label = "preflight" if headers else "plain"
    return Req(method, path, pattern, headers, body, "method", f"{method}-{label}",
               app_owned=method in methods and method != "HEAD")


@st.composite
def static_request(draw) -> Req:
    path = draw(st.sampled_from([b"/health", b"/metrics", b"/widget.js", b"/example", b"/widget.js?v=%FF",
                                 b"/example?userId=%F0%9F%98%80&widgetKey=%FF&userHash=<x>", b"/health?x=1"]))
    pattern = path.split(b"?")[0].decode()
    extra_label, extra = draw(st.sampled_from(EXTRA_HEADERS))
    headers = extra + draw(st.sampled_from([[], [(b"If-None-Match", b'"\xff"')], [(b"Range", b"bytes=5-1")],
                                            [(b"If-Modified-Since", b"0001-01-01")]]))
    return Req(draw(weighted((6, "GET"), (1, "HEAD"))), path, pattern, headers, body_kind="static",
               header_variant=extra_label, app_owned=parser_accepts(headers))


RANDOM_SEGMENTS = ["v1", "v2", "users", "eligibility", "widget", "events", "explain", "batch", "identify", "..",
                   ".", "", "%2F", "%FF", "%00", "%2e%2e", "a" * 300, "%F0%9F%98%80", "widget.js", "health",
                   "metrics", "static", "admin", "..%2F..%2Fetc%2Fpasswd", "%u0041", "*", "~", "?a=%FF", "#frag"]


@st.composite
def random_path_request(draw) -> Req:
    segments = draw(st.lists(st.one_of(st.sampled_from(RANDOM_SEGMENTS),
                                       st.text(max_size=12).map(lambda s: quote(s, safe=""))), min_size=0, max_size=6))
    path = ("/" + "/".join(segments)).encode()
    if draw(st.integers(0, 9)) == 0:
        path = b"/" + b"x" * draw(st.sampled_from([2000, 8100, 9000, 70_000]))
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH"]))
    body = draw(st.binary(max_size=64)) if method in ("POST", "PUT", "PATCH") else b""
    return Req(method, path, "random", body=body, body_kind="random-path", header_variant="-", app_owned=False)


PROTOCOL = [  # raw requests that only the HTTP parser sees; they must still be answered (4xx)
    ("http10", b"GET /health HTTP/1.0\r\n\r\n"),
    ("no-host", b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n"),
    ("lowercase-method", b"get /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ("http99", b"GET /health HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ("obs-fold", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\nConnection: close\r\n\r\n"),
    ("space-in-name", b"GET /health HTTP/1.1\r\nHost: x\r\nBad Name: v\r\nConnection: close\r\n\r\n"),
    ("nul-in-value", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\nConnection: close\r\n\r\n"),
    ("two-content-lengths", b"POST /v1/identify HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n"
                            b"Connection: close\r\n\r\n{}"),
    ("negative-length", b"POST /v1/identify HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\nConnection: close\r\n\r\n"),
    ("te-and-cl", b"POST /v1/identify HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n"
                  b"Connection: close\r\n\r\n0\r\n\r\n"),
    ("bad-chunk", b"POST /v1/widget/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  b"X-Widget-Key: " + WIDGET_KEY.encode() + b"\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
    ("bad-chunk-ingest", b"POST /v1/identify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         b"Authorization: " + basic(WRITE_KEY.encode())
                         + b"\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
    ("absolute-form", b"GET http://127.0.0.1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ("asterisk-form", b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n"),
    ("bare-lf", b"GET /health HTTP/1.1\nHost: x\nConnection: close\n\n"),
    ("huge-header", b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20000 + b"\r\nConnection: close\r\n\r\n"),
    ("pipelined", b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
]


@st.composite
def protocol_request(draw) -> Req:
    label, wire = draw(st.sampled_from(PROTOCOL))
    method = "GET" if label != "asterisk-form" else "OPTIONS"
    return Req(method, wire.split(b"\r\n")[0][:80], "protocol", body_kind=label, header_variant="-",
               app_owned=False, raw_wire=wire)


def requests(secret: str | None):
    ingest_kinds = ["identify", "identify", "track", "track", "page", "group", "alias", "batch", "batch",
                    "screen", "import", "webhook", "nope"]
    return st.one_of(
        st.sampled_from(ingest_kinds).flatmap(ingest_request),
        st.sampled_from(ingest_kinds).flatmap(ingest_request),
        st.sampled_from(ingest_kinds).flatmap(ingest_request),
        st.sampled_from(ingest_kinds).flatmap(ingest_request),
        eligibility_request(secret), eligibility_request(secret),
        widget_request(secret), widget_request(secret), widget_request(secret),
        admin_request(False), admin_request(False), admin_request(True), admin_request(True),
        other_method_request(), static_request(), random_path_request(), protocol_request(),
    )


# --- the run ---------------------------------------------------------------------------------

TRACEBACK_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+), in (\S+)')
RECORD_START = re.compile(r"^(\[\d{4}-\d\d-\d\d |\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d )")


class LogTail:
    """New tracebacks in a worker's log since the last look, as short signatures."""

    def __init__(self, path: Path):
        self.path, self.offset = path, path.stat().st_size if path.exists() else 0

    def new_errors(self) -> list[dict]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return []
        cut = data.rfind(b"\n") + 1   # only whole lines
        self.offset += cut
        records, current = [], []
        for line in data[:cut].decode("utf-8", "replace").splitlines():
            if RECORD_START.match(line) and current:
                records.append(current)
                current = []
            current.append(line)
        if current:
            records.append(current)
        return [summary for record in records if (summary := self._summarise(record))]

    @staticmethod
    def _summarise(lines: list[str]) -> dict | None:
        if not any(line.startswith("Traceback") for line in lines):
            return None
        last_chain = max(i for i, line in enumerate(lines) if line.startswith("Traceback"))
        frames = [m.groups() for line in lines[last_chain:] if (m := TRACEBACK_FRAME.match(line))]
        chain = lines[last_chain:]
        at = next((i for i in range(len(chain) - 1, -1, -1)
                   if chain[i] and not chain[i][0].isspace() and not chain[i].startswith("Traceback")), None)
        exception = chain[at] if at is not None else "?"
        if at is not None and exception.endswith("message:"):   # aiohttp: the message is on the next line
            exception += " " + next((line.strip() for line in chain[at + 1:] if line.strip()), "")
        ours = [f for f in frames if "/streams/" in f[0] and "site-packages" not in f[0]]
        innermost = (frames or [("?", "?", "?")])[-1]

        def short(frame: tuple) -> str:
            path = frame[0].split("/streams/")[-1] if "/streams/" in frame[0] else frame[0].split("site-packages/")[-1]
            return f"{path}:{frame[1]} in {frame[2]}"

        # the call chain inside streams/ (the project's code) names the place to fix
        where = " > ".join(short(f) for f in (ours[-4:] or frames[-3:])) if frames else "?"
        kind = ("http" if "Error handling request" in lines[0]
                else "agent" if "processing failed" in lines[0] else "other")
        return {"kind": kind, "exception": exception[:300], "type": exception.split(":")[0],
                "where": where, "innermost": short(innermost), "first_line": lines[0][:200]}


@dataclass
class Run:
    variant: str
    worker: Worker
    started: float = field(default_factory=time.monotonic)
    requests: int = 0
    shapes: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    patterns: Counter = field(default_factory=Counter)
    pattern_statuses: Counter = field(default_factory=Counter)
    findings: list = field(default_factory=list)       # 5xx, hangs, no answer, crash
    bodies: list = field(default_factory=list)         # 4xx body checks: (req, answer, problem)
    code_message: list = field(default_factory=list)   # 4xx/5xx JSON bodies without code/message
    written: dict = field(default_factory=dict)        # user id -> accepted messages (described)
    log_errors: list = field(default_factory=list)     # tracebacks not tied to one answer (agents)
    skipped: int = 0
    crashed: bool = False
    seconds: float = 0.0

    def exchange(self, req: Req, origin: str = "fuzz") -> Answer:
        answer = send(self.worker.port, req)
        self.requests += 1
        self.shapes[req.shape(self.variant)] += 1
        self.patterns[req.pattern] += 1
        outcome = answer.status if answer.status is not None else answer.problem.split(":")[0]
        self.statuses[outcome] += 1
        self.pattern_statuses[(req.pattern, outcome)] += 1
        if answer.status is None or answer.status >= 500:
            time.sleep(0.02)   # let the worker's log catch up
            errors = self.worker_errors()
            http_errors = [e for e in errors if e["kind"] == "http"] or errors
            if answer.status is None and self.worker.proc.poll() is not None:
                self.crashed = True
            self.findings.append({"variant": self.variant, "origin": origin, "req": req, "answer": answer,
                                  "trace": http_errors[-1] if http_errors else None,
                                  "state_from": self.written.get(req.user) if origin == "sweep" else None,
                                  "crashed": self.crashed})
        if answer.status is not None:
            self.check_body(req, answer)
            if 200 <= answer.status < 300 and req.writes:
                for user, message in req.writes:
                    self.written.setdefault(user, []).append(f"{req.method} {req.pattern} {message[:400]}")
        return answer

    def worker_errors(self) -> list:
        errors = self.worker.log.new_errors()
        self.log_errors += [e for e in errors if e["kind"] != "http"]
        return errors

    def check_body(self, req: Req, answer: Answer) -> None:
        """4xx from the app's views: a JSON object with a string `error`; any 4xx/5xx JSON
        object: `code` (= `error`) and `message` too (CONTRACT 7)."""
        if req.method == "HEAD" or not req.app_owned or not 400 <= answer.status < 600:
            return
        document, problem = None, None
        if "json" not in answer.content_type:
            problem = f"not JSON (Content-Type {answer.content_type!r})"
        else:
            try:
                document = json.loads(answer.body)
            except ValueError:
                problem = "Content-Type says JSON, body does not parse"
        if document is not None and not (isinstance(document, dict) and isinstance(document.get("error"), str)):
            problem = "JSON without a string `error`"
        if problem and answer.status < 500:   # a 5xx is a finding of its own
            self.bodies.append((req, answer, problem))
        if isinstance(document, dict) and not (
                document.get("code") == document.get("error") and isinstance(document.get("message"), str)):
            self.code_message.append((req, answer, "no `code` equal to `error` and string `message`"))


def fuzz(run: Run, strategy, examples: int, deadline: float) -> None:
    @seed(SEED)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(strategy)
    def one(req: Req) -> None:
        if run.crashed or time.monotonic() > deadline:
            run.skipped += 1
            return
        run.exchange(req)

    one()


def cold_reads(run: Run, secret: str | None) -> None:
    """The first requests a worker gets: reads of users before anything was written."""
    for user in POOL[:2]:
        query = b"?userHash=" + user_hash(secret, user).encode() if secret else b""
        admin = [(b"Authorization", f"Bearer {ADMIN_KEY}".encode())]
        for req in (Req("GET", f"/v1/users/{user}".encode(), "/v1/users/{userId}", admin, body_kind="cold",
                        header_variant="auth=bearer-ok"),
                    Req("GET", f"/v1/users/{user}/explain".encode(), "/v1/users/{userId}/explain", admin,
                        body_kind="cold", header_variant="auth=bearer-ok"),
                    Req("GET", f"/v1/eligibility/{user}".encode() + query, "/v1/eligibility/{userId}",
                        [(b"X-Widget-Key", WIDGET_KEY.encode())], body_kind="cold", header_variant="key=widget-ok"),
                    Req("GET", b"/metrics", "/metrics", body_kind="cold")):
            run.exchange(req, origin="cold")


def sweep(run: Run, secret: str | None, deadline: float) -> None:
    """Read back the users the run wrote: state, explain, eligibility (needs state first)."""
    for user in list(run.written)[:SWEEP_USERS]:
        if run.crashed or time.monotonic() > deadline:
            run.skipped += 1
            continue
        segment = quote(user, safe="").encode()
        if segment in (b".", b".."):
            continue
        query = b"?userHash=" + user_hash(secret, user).encode() if secret else b""
        admin = [(b"Authorization", f"Bearer {ADMIN_KEY}".encode())]
        for req in (Req("GET", b"/v1/users/" + segment, "/v1/users/{userId}", admin, body_kind="sweep",
                        header_variant="auth=bearer-ok"),
                    Req("GET", b"/v1/users/" + segment + b"/explain", "/v1/users/{userId}/explain", admin,
                        body_kind="sweep", header_variant="auth=bearer-ok"),
                    Req("GET", b"/v1/eligibility/" + segment + query, "/v1/eligibility/{userId}",
                        [(b"X-Widget-Key", WIDGET_KEY.encode())], body_kind="sweep", header_variant="key=widget-ok")):
            req.user = user
            req.app_owned = len(req.target) < 8000   # aiohttp's parser refuses longer request lines
            run.exchange(req, origin="sweep")


def identify_is_processed(worker: Worker, timeout_s: float = 30.0) -> tuple[bool, str]:
    """A normal identify for a fresh user shows up in GET /v1/users/{id} within timeout_s."""
    user = f"fuzz-fresh-{uuid.uuid4().hex[:10]}"
    message = {"userId": user, "messageId": f"m-{user}", "timestamp": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
               "traits": {"plan": "pro", "createdAt": "2020-01-01T00:00:00Z"}}
    req = Req("POST", b"/v1/identify", "/v1/identify",
              [(b"Authorization", basic(WRITE_KEY.encode())), (b"Content-Type", b"application/json")],
              encode(message))
    answer = send(worker.port, req)
    if answer.status != 200:
        return False, f"identify answered {answer.status} {answer.problem} {answer.body[:200]!r}"
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = send(worker.port, Req("GET", f"/v1/users/{user}".encode(), "/v1/users/{userId}",
                                     [(b"Authorization", f"Bearer {ADMIN_KEY}".encode())]))
        if last.status == 200 and json.loads(last.body).get("traits", {}).get("plan") == "pro":
            return True, f"{user} visible after {timeout_s - (deadline - time.monotonic()):.1f}s"
        time.sleep(0.3)
    return False, f"{user} not visible within {timeout_s}s; last answer {last.status if last else None} " \
                  f"{(last.body[:200] if last else b'')!r}"


# --- fixtures --------------------------------------------------------------------------------

VARIANTS = {
    "plain": {"STREAMS_WIDGET_KEY": WIDGET_KEY, "STREAMS_ADMIN_KEY": ADMIN_KEY,
              "STREAMS_WRITE_KEYS": f"{WRITE_KEY},{SECOND_WRITE_KEY}", "STREAMS_LOG_LEVEL": "INFO"},
    "secure": {"STREAMS_WIDGET_KEY": WIDGET_KEY, "STREAMS_ADMIN_KEY": ADMIN_KEY,
               "STREAMS_WRITE_KEYS": f"{WRITE_KEY},{SECOND_WRITE_KEY}", "STREAMS_SECURE_SECRET": SECURE_SECRET,
               "STREAMS_LOG_LEVEL": "INFO"},
}


@pytest.fixture(scope="module")
def fuzz_workers(kafka_bootstrap, tmp_path_factory):
    workers = {name: Worker(kafka_bootstrap, tmp_path_factory.mktemp(f"fuzz-{name}"), env=env)
               for name, env in VARIANTS.items()}
    try:
        with ThreadPoolExecutor(len(workers)) as pool:   # start both at once
            list(pool.map(lambda w: w.start(), workers.values()))
        for worker in workers.values():
            worker.log = LogTail(worker.log_path)
        yield workers
    finally:
        for worker in workers.values():
            worker.stop()


@pytest.fixture(scope="module")
def fuzz_run(fuzz_workers, output_dir):
    started = time.monotonic()
    runs = {"plain": Run("plain", fuzz_workers["plain"]), "secure": Run("secure", fuzz_workers["secure"])}
    cold_reads(runs["plain"], None)
    cold_reads(runs["secure"], SECURE_SECRET)
    fuzz(runs["plain"], requests(None), EXAMPLES, started + 0.8 * BUDGET_S)
    fuzz(runs["secure"], requests(SECURE_SECRET), SECURE_EXAMPLES, started + BUDGET_S)
    settled = {}
    for name, run in runs.items():   # let the agents catch up before reading state back
        settled[name] = identify_is_processed(run.worker) if not run.crashed else (False, "crashed")
        sweep(run, SECURE_SECRET if name == "secure" else None, started + BUDGET_S + 15)
        run.worker_errors()
        run.seconds = time.monotonic() - run.started
    result = {"runs": runs, "settled": settled, "seconds": time.monotonic() - started, "survival": {}}
    yield result
    summary = summarise(result)
    (output_dir / "fuzz-summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
    print("\n" + render_summary(summary))


# --- reporting -------------------------------------------------------------------------------

def finding_key(finding: dict) -> tuple:
    req, answer, trace = finding["req"], finding["answer"], finding["trace"]
    outcome = answer.status if answer.status is not None else answer.problem.split(":")[0]
    if trace:
        return (req.method, req.pattern, outcome, trace["type"], trace["where"])
    return (req.method, req.pattern, outcome, req.body_kind, req.header_variant)


def grouped_findings(runs) -> list[dict]:
    groups: dict[tuple, dict] = {}
    for run in runs.values():
        for finding in run.findings:
            group = groups.setdefault(finding_key(finding), {"count": 0, "variants": set(), "examples": [],
                                                             "shapes": set()})
            group["count"] += 1
            group["variants"].add(finding["variant"])
            shape = (finding["req"].body_kind, finding["req"].header_variant)
            if shape not in group["shapes"] and len(group["examples"]) < 3:
                group["examples"].append(finding)
            group["shapes"].add(shape)
    return [{"key": key, **group} for key, group in groups.items()]


ODD_VALUE = re.compile(r"'(0000|0001|9999)-|\d{12,}|e\+\d|Raw\(")


def render_findings(groups: list[dict]) -> str:
    causes: dict[tuple, list] = {}
    for group in groups:
        trace = group["examples"][0]["trace"]
        cause = (trace["type"], trace["where"]) if trace else (str(group["key"][2]), "no traceback")
        causes.setdefault(cause, [trace["exception"][:160] if trace else cause[0], []])[1].append(
            f"{group['key'][0]} {group['key'][1]}")
    lines = [f"{len(causes)} distinct cause(s) (exception @ where it was raised, in streams/ when it was):"]
    for (_, where), (exception, routes) in causes.items():
        lines.append(f"  - {exception} @ {where}: {', '.join(routes)}")
    lines.append(f"\n{len(groups)} distinct failing request shape(s) (method, route, outcome, cause):")
    for number, group in enumerate(groups, 1):
        method, pattern, outcome = group["key"][:3]
        first = group["examples"][0]
        trace = first["trace"]
        lines.append(f"\n[{number}] {method} {pattern} -> {outcome}  ({group['count']} request(s), "
                     f"{len(group['shapes'])} shape(s), worker(s): {', '.join(sorted(group['variants']))})")
        if trace:
            lines.append(f"    exception: {trace['exception']}")
            lines.append(f"    raised at: {trace['where']}  (innermost: {trace['innermost']})")
        for example in group["examples"]:
            answer = example["answer"]
            lines.append(f"    e.g. {example['req'].short()[:600]}")
            response = answer.body[:200].decode("utf-8", "replace") if answer.status is not None else answer.problem
            lines.append(f"         answer: {answer.status} {response!r}")
            if example["state_from"]:
                writes = sorted(example["state_from"], key=lambda w: not ODD_VALUE.search(w))
                lines.append(f"         user state written by ({len(writes)} accepted message(s), odd values first): "
                             f"{' || '.join(writes[:3])[:900]}")
        if first["crashed"]:
            lines.append("    the worker process exited")
    return "\n".join(lines)


def render_body_problems(items) -> str:
    seen, lines = {}, []
    for req, answer, problem in items:
        key = (req.method, req.pattern, answer.status, problem, answer.content_type)
        if key not in seen:
            seen[key] = (req, answer)
    lines.append(f"{len(seen)} distinct 4xx/5xx answer shape(s) from the app's routes with a body problem:")
    for (method, pattern, status, problem, ctype), (req, answer) in seen.items():
        lines.append(f"- {method} {pattern} -> {status}: {problem}; body {answer.body[:200]!r}\n"
                     f"    e.g. {req.short()[:400]}")
    return "\n".join(lines)


def summarise(result) -> dict:
    runs = result["runs"]
    shapes = set().union(*(run.shapes for run in runs.values()))
    groups = grouped_findings(runs)
    agent, other = Counter(), Counter()
    for run in runs.values():
        for error in run.log_errors:
            if error["kind"] == "agent":
                agent[(run.variant, error["kind"], error["type"], error["where"], error["exception"][:160])] += 1
            else:   # e.g. aiohttp's "Unhandled exception" for a payload it could not decode, already answered
                other[error["type"]] += 1
    return {
        "seed": SEED, "examples": {"plain": EXAMPLES, "secure": SECURE_EXAMPLES}, "budget_s": BUDGET_S,
        "seconds": round(result["seconds"], 1),
        "requests": sum(run.requests for run in runs.values()),
        "requests_by_worker": {name: run.requests for name, run in runs.items()},
        "skipped_by_budget": {name: run.skipped for name, run in runs.items()},
        "distinct_shapes": len(shapes),
        "distinct_shapes_by_pattern": dict(Counter(shape[2] for shape in shapes).most_common()),
        "requests_by_pattern": dict(sum((run.patterns for run in runs.values()), Counter()).most_common()),
        "statuses": {str(k): v for k, v in sum((run.statuses for run in runs.values()), Counter()).most_common()},
        "statuses_by_pattern": {
            f"{pattern} {outcome}": n for (pattern, outcome), n in
            sorted(sum((run.pattern_statuses for run in runs.values()), Counter()).items(), key=str)},
        "users_read_back": {name: min(len(run.written), SWEEP_USERS) for name, run in runs.items()},
        "settled": result["settled"], "survival": result["survival"],
        "findings": [{"method": g["key"][0], "pattern": g["key"][1], "outcome": g["key"][2], "count": g["count"],
                      "workers": sorted(g["variants"]), "shapes": len(g["shapes"]),
                      "exception": g["examples"][0]["trace"]["exception"] if g["examples"][0]["trace"] else None,
                      "where": g["examples"][0]["trace"]["where"] if g["examples"][0]["trace"] else None,
                      "examples": [e["req"].short()[:600] for e in g["examples"]],
                      "answer": (g["examples"][0]["answer"].body[:200].decode("utf-8", "replace")
                                 or g["examples"][0]["answer"].problem)} for g in groups],
        "body_problems": sorted({f"{r.method} {r.pattern} -> {a.status}: {p}" for run in runs.values()
                                 for r, a, p in run.bodies}),
        "code_message_missing": len({(r.method, r.pattern, a.status) for run in runs.values()
                                     for r, a, _ in run.code_message}),
        "agent_errors": [{"worker": k[0], "type": k[2], "where": k[3], "exception": k[4], "count": n}
                         for k, n in agent.most_common()],
        "other_tracebacks_in_logs": dict(other.most_common()),
    }


def render_summary(summary: dict) -> str:
    lines = [f"HTTP fuzz: {summary['requests']} requests ({summary['requests_by_worker']}), "
             f"{summary['distinct_shapes']} distinct shapes, {summary['seconds']}s, seed {summary['seed']}",
             f"  statuses: {summary['statuses']}",
             f"  requests by pattern: {summary['requests_by_pattern']}",
             f"  users read back: {summary['users_read_back']}; skipped by budget: {summary['skipped_by_budget']}",
             f"  5xx/hang/crash findings: {len(summary['findings'])}"]
    for finding in summary["findings"]:
        lines.append(f"   - {finding['method']} {finding['pattern']} -> {finding['outcome']} x{finding['count']} "
                     f"{finding['exception'] or ''} @ {finding['where'] or '-'}")
    lines.append(f"  4xx body problems: {len(summary['body_problems'])}; "
                 f"answer shapes without code/message: {summary['code_message_missing']}")
    for problem in summary["body_problems"]:
        lines.append(f"   - {problem}")
    if summary["agent_errors"]:
        lines.append("  agent errors in the worker logs (inputs answered 200 that failed in processing; "
                     "not asserted here):")
        for error in summary["agent_errors"]:
            lines.append(f"   - [{error['worker']}] x{error['count']} {error['exception'][:140]} @ {error['where']}")
    if summary["other_tracebacks_in_logs"]:
        lines.append(f"  other tracebacks in the worker logs (aiohttp, after an answer): "
                     f"{summary['other_tracebacks_in_logs']}")
    lines.append(f"  summary written to test-output/fuzz-summary.json")
    return "\n".join(lines)


# --- the tests -------------------------------------------------------------------------------

def test_no_5xx_no_hang_no_crash(fuzz_run):
    """Every request is answered, below 500, within the timeout; the sweep's reads too."""
    groups = grouped_findings(fuzz_run["runs"])
    assert not groups, render_findings(groups)


def test_4xx_bodies_are_json_objects_with_error(fuzz_run):
    """An error answered by the app's own routes is a JSON object with a string `error`."""
    problems = [item for run in fuzz_run["runs"].values() for item in run.bodies]
    assert not problems, render_body_problems(problems)



def test_error_bodies_carry_code_and_message(fuzz_run):
    """CONTRACT 7: every 4xx/5xx JSON body also carries `code` (= `error`) and `message`."""
    problems = [item for run in fuzz_run["runs"].values() for item in run.code_message]
    assert not problems, render_body_problems(problems)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_worker_survives_and_still_processes(fuzz_run, variant):
    run = fuzz_run["runs"][variant]
    worker = run.worker
    assert worker.proc.poll() is None, f"{variant} worker exited ({worker.proc.returncode}):\n{worker.log_tail(60)}"
    health = send(worker.port, Req("GET", b"/health", "/health"))
    assert health.status == 200, f"/health answered {health.status} {health.problem} {health.body[:200]!r}"
    ok, detail = identify_is_processed(worker)
    fuzz_run["survival"][variant] = {"health": health.status, "fresh_identify": detail}
    assert ok, f"{variant}: {detail}\n{worker.log_tail(60)}"
