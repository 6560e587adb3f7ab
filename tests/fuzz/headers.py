"""Header tables the strategies pick from: credentials (valid and broken), content types,
extra headers; and which headers aiohttp's parser lets through to the app."""
from __future__ import annotations

import base64
import re

from tests.fuzz.config import ADMIN_KEY, SECOND_WRITE_KEY, WIDGET_KEY, WRITE_KEY
from tests.fuzz.credentials import basic
from tests.fuzz.values import weighted

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

_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def parser_accepts(headers: list) -> bool:
    """Whether aiohttp's HTTP parser lets these headers through to the app (no control bytes)."""
    return not any(_CONTROL.search(value) for _, value in headers)


def pick(draw, table):
    """Draw (label, value) from a table of (weight, label, value)."""
    return draw(weighted(*[(w, (label, value)) for w, label, value in table]))


def header(name: bytes, value) -> list:
    """[(name, value)], or no header at all when value is None ("absent" in the tables)."""
    return [(name, value)] if value is not None else []
