"""One hypothesis strategy per kind of request, and any_request() mixing them (the fuzzer's
input). Each request says which route it aims at, which shape it has (body kind, header
variant) and whether the app's own view, rather than aiohttp's parser or router, must answer."""
from __future__ import annotations

from urllib.parse import quote

from hypothesis import strategies as st

from tests.fuzz.bodies import (
    batch_body, oversized, segment_message, serialised_body, twisted_message, widget_event, written_users)
from tests.fuzz.client import Request
from tests.fuzz.config import WIDGET_KEY, WRITE_KEY
from tests.fuzz.credentials import basic
from tests.fuzz.encodings import PARSER_ENCODINGS, encode_body
from tests.fuzz.headers import (
    AUTH_ADMIN, AUTH_INGEST, CONTENT_TYPES, EXTRA_HEADERS, WIDGET_KEYS, header, parser_accepts, pick)
from tests.fuzz.jsontext import Deep, describe
from tests.fuzz.paths import RANDOM_SEGMENTS, hash_query, user_segment
from tests.fuzz.values import DEPTHS, KINDS, json_any, many_keys, weighted

INGEST_KINDS = ["identify", "identify", "track", "track", "page", "group", "alias", "batch", "batch",
                "screen", "import", "webhook", "nope"]


def reaches_app(headers: list, encoding: str) -> bool:
    """Whether the app's view answers a body request, rather than aiohttp's parser."""
    return parser_accepts(headers) and encoding not in PARSER_ENCODINGS


@st.composite
def ingest_request(draw, kind: str) -> Request:
    """POST /v1/{kind}: a Segment message or batch (valid, fuzzed, twisted, oversized, deep),
    its serialisation, encoding and headers."""
    mode = draw(weighted((5, "message"), (2, "valid"), (5, "twisted"), (1, "json-any"), (1, "bytes"),
                        (1, "empty"), (1, "oversize"), (1, "deep"), (1, "many-keys")))
    batchy = kind in ("batch", "import", "webhook")
    message_kind = "identify" if batchy else kind
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
    body, suffix = serialised_body(draw, mode, value)
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
    routable = reaches_app(headers, encoding)
    writes = written_users(value) if isinstance(value, dict) and suffix == "" and mode != "oversize" else ()
    return Request("POST", f"/v1/{kind}".encode(), f"/v1/{kind}", headers, body, f"{mode}{suffix}",
                   f"auth={auth_label}|enc={encoding}|ct={ctype_label}|{extra_label}", routable, chunked,
                   note=describe(value) if value is not None else "", writes=writes)


@st.composite
def eligibility_request(draw, secret: str | None) -> Request:
    """GET/HEAD /v1/eligibility/{userId}?userHash=… with a widget key, sometimes the admin key."""
    segment, seg_label, routable, user = user_segment(draw)
    query, q_label, q_ok = hash_query(draw, secret, user)
    key_label, key = pick(draw, WIDGET_KEYS)
    method = draw(weighted((12, "GET"), (1, "HEAD")))
    headers = header(b"X-Widget-Key", key)
    admin = ""
    if draw(st.integers(0, 5)) == 0:   # docs/reference.md#eligibility: the admin key adds reason/eligibleAt
        admin_label, value = pick(draw, AUTH_ADMIN)
        headers += header(b"Authorization", value)
        admin = f"|admin={admin_label}"
    return Request(method, b"/v1/eligibility/" + segment + query, "/v1/eligibility/{userId}", headers,
                   body_kind=seg_label, header_variant=f"key={key_label}|{q_label}{admin}",
                   app_owned=routable and q_ok and parser_accepts(headers))


@st.composite
def admin_request(draw, explain: bool) -> Request:
    """GET/HEAD /v1/users/{userId}[/explain] with admin credentials (valid or broken)."""
    segment, seg_label, routable, _ = user_segment(draw)
    label, value = pick(draw, AUTH_ADMIN)
    method = draw(weighted((12, "GET"), (1, "HEAD")))
    suffix = b"/explain" if explain else b""
    query = draw(weighted((8, b""), (1, b"?now=0001-01-01"), (1, b"?%FF=%FF")))
    return Request(method, b"/v1/users/" + segment + suffix + query,
                   "/v1/users/{userId}" + ("/explain" if explain else ""), header(b"Authorization", value),
                   body_kind=seg_label, header_variant=f"auth={label}",
                   app_owned=routable and parser_accepts(header(b"Authorization", value)))


@st.composite
def widget_request(draw, secret: str | None) -> Request:
    """POST /v1/widget/events: one event or a batch (valid, fuzzed, huge, deep), encoded."""
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
    body, suffix = serialised_body(draw, mode, value)
    body, encoding_headers, encoding, chunked = encode_body(draw, body)
    key_label, key = pick(draw, WIDGET_KEYS)
    ctype_label, ctype = pick(draw, CONTENT_TYPES)
    extra_label, extra = draw(st.sampled_from(EXTRA_HEADERS))
    headers = header(b"X-Widget-Key", key) + header(b"Content-Type", ctype) + encoding_headers + extra
    return Request("POST", b"/v1/widget/events", "/v1/widget/events", headers, body, f"{mode}{suffix}",
                   f"key={key_label}|enc={encoding}|ct={ctype_label}|{extra_label}",
                   reaches_app(headers, encoding), chunked,
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
def other_method_request(draw) -> Request:
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
    return Request(method, path, pattern, headers, body, "method", f"{method}-{label}",
                   app_owned=method in methods and method != "HEAD")


@st.composite
def static_request(draw) -> Request:
    """GET/HEAD of the health, metrics and static routes, with odd query strings and headers."""
    path = draw(st.sampled_from([b"/health", b"/metrics", b"/widget.js", b"/example", b"/widget.js?v=%FF",
                                 b"/example?userId=%F0%9F%98%80&widgetKey=%FF&userHash=<x>", b"/health?x=1"]))
    pattern = path.split(b"?")[0].decode()
    extra_label, extra = draw(st.sampled_from(EXTRA_HEADERS))
    headers = extra + draw(st.sampled_from([[], [(b"If-None-Match", b'"\xff"')], [(b"Range", b"bytes=5-1")],
                                            [(b"If-Modified-Since", b"0001-01-01")]]))
    return Request(draw(weighted((6, "GET"), (1, "HEAD"))), path, pattern, headers, body_kind="static",
                   header_variant=extra_label, app_owned=parser_accepts(headers))


@st.composite
def random_path_request(draw) -> Request:
    """Any method on a path made of route-like and random segments: the router answers."""
    segments = draw(st.lists(st.one_of(st.sampled_from(RANDOM_SEGMENTS),
                                       st.text(max_size=12).map(lambda s: quote(s, safe=""))), min_size=0, max_size=6))
    path = ("/" + "/".join(segments)).encode()
    if draw(st.integers(0, 9)) == 0:
        path = b"/" + b"x" * draw(st.sampled_from([2000, 8100, 9000, 70_000]))
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH"]))
    body = draw(st.binary(max_size=64)) if method in ("POST", "PUT", "PATCH") else b""
    return Request(method, path, "random", body=body, body_kind="random-path", header_variant="-", app_owned=False)


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
def protocol_request(draw) -> Request:
    """One of the raw PROTOCOL requests, sent as is."""
    label, wire = draw(st.sampled_from(PROTOCOL))
    method = "GET" if label != "asterisk-form" else "OPTIONS"
    return Request(method, wire.split(b"\r\n")[0][:80], "protocol", body_kind=label, header_variant="-",
                   app_owned=False, raw_wire=wire)


def any_request(secret: str | None):
    """Every kind of request, for a worker with this userHash secret (or none). st.one_of picks
    a branch uniformly, so a branch listed twice is drawn twice as often."""
    return st.one_of(
        *[st.sampled_from(INGEST_KINDS).flatmap(ingest_request) for _ in range(4)],
        eligibility_request(secret), eligibility_request(secret),
        widget_request(secret), widget_request(secret), widget_request(secret),
        admin_request(False), admin_request(False), admin_request(True), admin_request(True),
        other_method_request(), static_request(), random_path_request(), protocol_request(),
    )
