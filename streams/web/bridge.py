"""What every HTTP view shares: JSON answers and errors, keys, CORS, routing to the owner.

Every caller is untrusted (docs/security.md): every request gets an answer below 500
(JSON errors carry `error`/`code`, `detail`/`message` and `field`), and every response,
local or routed from another worker, carries the CORS headers.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import socket
import time
from functools import lru_cache

import orjson
from aiohttp import ClientError, ClientTimeout, web
from aiohttp.web_exceptions import HTTPException
from aiohttp.web_protocol import RequestPayloadError
from aiokafka.errors import KafkaError
from faust.exceptions import ProducerSendError
from faust.web import Request, Response, View
from yarl import URL

from streams.runtime import app as app_module
from streams.web import ingestion
from streams.runtime import peers
from streams.runtime.app import app, settings, users
from streams.runtime.emit import DeadLetterFailed
from streams.core.errors import INVALID_JSON, InvalidInput
from streams.runtime.metrics import registry
from streams.schemas import segment as segment_schema
from streams.runtime.signing import derived_key

log = logging.getLogger(__name__)
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, X-Widget-Key, Authorization, Content-Encoding, X-Signature",
    "Access-Control-Max-Age": "600",
}
# Set on a request one worker forwards to the owner of its user: never forwarded twice.
ROUTED_HEADER = "X-Streams-Routed"
ROUTE_TIMEOUT = ClientTimeout(total=10)
# Kafka being unavailable is no fault of the request: 503, and the client retries.
UNAVAILABLE = (KafkaError, ProducerSendError, DeadLetterFailed, asyncio.TimeoutError)


def now_ms() -> int:
    return int(time.time() * 1000)


def same_secret(given: str | None, expected: str) -> bool:
    # Header values that are not UTF-8 arrive with surrogate escapes: compare their bytes.
    return given is not None and hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())


def error_body(status_code: str, detail: str, field: str | None = None) -> dict:
    """An error answer (docs/reference.md#every-answer): `code`/`message` as Segment's and RudderStack's SDKs read
    them, with `error`/`detail` as before and the field that failed."""
    return {"error": status_code, "code": status_code, "detail": detail, "message": detail, "field": field}


def json_response(body, status: int) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


# --- headers and errors on every response ---------------------------------------------------

async def _with_cors(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in CORS.items():
        response.headers.setdefault(name, value)


@web.middleware
async def _errors_as_json(request: web.Request, handler):
    """aiohttp's own errors (404, 405, 413, bad requests) and unexpected ones, as JSON."""
    try:
        return await handler(request)
    except HTTPException as exc:
        if exc.status < 400:
            raise
        code = "not_found" if exc.status == 404 else "too_large" if exc.status == 413 else "http_error"
        return json_response(error_body(code, exc.reason or str(exc.status)), exc.status)
    except UNAVAILABLE as exc:
        log.warning("Kafka unavailable while answering", extra={"path": request.path, "error": repr(exc)})
        response = json_response(error_body("unavailable", "the event log is unavailable, retry later"), 503)
        response.headers["Retry-After"] = "1"
        return response
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("request failed", extra={"path": request.path})
        return json_response(error_body("internal_error", "internal error"), 500)


app.web.web_app.on_response_prepare.append(_with_cors)
app.web.web_app.middlewares.append(_errors_as_json)


class BridgeView(View):
    """JSON in and out with orjson, requests counted for /metrics."""

    path_label = "?"

    def reply(self, body, status: int = 200) -> Response:
        registry.inc("survey_streams_http_requests_total", path=self.path_label, status=str(status))
        return self.bytes(orjson.dumps(body), content_type="application/json", status=status)

    def refuse(self, status: int, error: str, detail: str, field: str | None = None) -> Response:
        return self.reply(error_body(error, detail, field), status)

    def refuse_input(self, status: int, error: InvalidInput) -> Response:
        return self.refuse(status, error.code, error.detail, error.field)

    def unavailable(self, detail: str) -> Response:
        response = self.refuse(503, "unavailable", detail)
        response.headers["Retry-After"] = "1"
        return response

    async def options(self, request: Request, **kwargs) -> Response:
        return self.bytes(b"", status=204)

    def widget_key_ok(self, request: Request) -> bool:
        return not settings.widget_key or same_secret(request.headers.get("X-Widget-Key"), settings.widget_key)

    def admin_ok(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        return bool(settings.admin_key) and header.startswith("Bearer ") and same_secret(header[7:].strip(), settings.admin_key)

    async def body(self, request: Request, limit: int) -> bytes:
        """The request body (inflated if the client said gzip), or InvalidInput / TooLarge.

        Refused (TooLarge, a 413) before it is read whole (docs/security.md, "Limits"): at
        once when its Content-Length is over `limit`, else as soon as more than `limit`
        bytes arrived, inflated or not. The rest is never read into memory.
        """
        declared = request.content_length
        if declared is not None and declared > limit:
            raise ingestion.TooLarge("body", declared, limit)
        chunks, size = [], 0
        try:
            while chunk := await request.content.readany():
                size += len(chunk)
                if size > limit:  # aiohttp has inflated gzip already (auto_decompress)
                    raise ingestion.TooLarge("body", size, limit, at_least=True)
                chunks.append(chunk)
        except RequestPayloadError as exc:  # e.g. Content-Encoding: gzip on a body that is not gzip
            raise InvalidInput(INVALID_JSON, "body", None, f"body cannot be decoded: {exc}") from None
        raw = b"".join(chunks)
        # aiohttp already undoes Content-Encoding (auto_decompress): inflate only a body that
        # is still gzip (a JSON body never starts with the gzip magic bytes).
        encoding = request.headers.get("Content-Encoding") if raw[:2] == b"\x1f\x8b" else None
        return ingestion.decompress(raw, encoding, limit)

    async def admin_user(self, request: Request, user_id: str) -> Response | None:
        """The prologue of an admin view of one user (admin key, id, owner): None when this
        worker answers, else the refusal or the owning worker's answer."""
        if not self.admin_ok(request):
            return self.refuse(401, "unauthorized", "admin key required (Authorization: Bearer <key>)")
        bad_id = user_path(user_id)
        if bad_id is not None:
            return self.refuse_input(400, bad_id)
        return await self.owner_or_forward(request, user_id)

    # Routing: requests about a user go to the worker holding the user's partition.
    async def owner_or_forward(self, request: Request, user_id: str) -> Response | None:
        """None when this worker answers for `user_id`; else the owner's answer (or a 503)."""
        try:
            owner = app.router.key_store(users.name, user_id)
        except Exception:  # noqa: BLE001 (Faust's router raises several kinds while assignments change)
            # No assignment yet (a rebalance: KeyError), or, just after start, no metadata for
            # the table's changelog in the producer yet (TypeError), and the like.
            return self.unavailable("no worker holds this user yet (rebalancing), retry")
        if _same_worker(owner):
            return None
        if same_secret(request.headers.get(ROUTED_HEADER), routed_mark()):
            # The sender thought we own it, we think it does: assignments are changing.
            return self.unavailable("the user's worker is changing (rebalancing), retry")
        return await self.forward(request, owner)

    async def forward(self, request: Request, owner: URL) -> Response:
        """The owner's answer with its status, type and body; our headers go on top.

        The request goes to the owner's checked address (docs/security.md, "Peers") with
        the path and query it came with: nothing of it is read from its Host header, which
        is anyone's ("x:notaport" once made the URL fail to build, a 500).
        """
        try:
            peer = peers.target(owner)
            address = await peer_address(peer)
        except peers.PeerNotAllowed as refused:
            _warn_refused_peer(refused)
            # The URL and why are in this worker's log: the caller learns nothing of the topology.
            return self.unavailable("the worker holding this user advertises an address outside "
                                    "STREAMS_PEER_NETWORKS: not called (see this worker's log)")
        except OSError as exc:  # the name does not resolve (socket.gaierror)
            log.info("routing failed", extra={"owner": str(owner), "error": repr(exc)})
            return self.unavailable("the worker holding this user could not be found, retry")
        url = URL.build(scheme=peer.scheme, host=address, port=peer.port).join(request.rel_url)
        headers = {name: value for name, value in request.headers.items()
                   if name.lower() in ("x-widget-key", "authorization", "accept")}
        headers[ROUTED_HEADER] = routed_mark()
        headers["Host"] = peer.host_header
        tls_name = peer.host if peer.scheme == "https" and peer.literal is None else None
        try:
            async with app.http_client.request(request.method, url, headers=headers, timeout=ROUTE_TIMEOUT,
                                               allow_redirects=False, server_hostname=tls_name) as answer:
                if 300 <= answer.status < 400:
                    log.warning("a peer answered a redirect: not followed",
                                extra={"owner": peer.url, "status": answer.status,
                                       "location": answer.headers.get("Location", "")[:256]})
                    registry.inc("survey_streams_http_routed_total", status=str(answer.status))
                    return self.unavailable(f"the worker holding this user answered a redirect ({answer.status}), "
                                            "which is not followed")
                body = await answer.read()
                registry.inc("survey_streams_http_routed_total", status=str(answer.status))
                return self.bytes(body, status=answer.status, content_type=answer.content_type or "application/json")
        except (ClientError, asyncio.TimeoutError, OSError) as exc:
            log.info("routing failed", extra={"owner": str(owner), "error": repr(exc)})
            return self.unavailable("the worker holding this user did not answer, retry")


# --- peers (docs/security.md, "Peers") -------------------------------------------------------

RESOLVED_TTL_S = 10.0
RESOLVED_MAX = 256  # advertised names are the group members': a few
_resolved: dict = {}  # (host, port) -> (addresses, monotonic expiry)
REFUSED_LOG_EVERY_S = 60.0
_refused_logged: dict = {}  # url -> monotonic time of its last warning


async def peer_address(peer: peers.Target) -> str:
    """The address to connect to for `peer`, checked against STREAMS_PEER_NETWORKS:
    PeerNotAllowed when any address its host resolves to is outside (never a call)."""
    if peer.literal is not None:
        return peers.check_addresses(peer, [peer.literal], settings.peer_networks)
    key, now = (peer.host, peer.port), time.monotonic()
    cached = _resolved.get(key)
    if cached is None or cached[1] < now:
        infos = await asyncio.get_running_loop().getaddrinfo(peer.host, peer.port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        if len(_resolved) >= RESOLVED_MAX:
            _resolved.clear()
        cached = _resolved[key] = (addresses, now + RESOLVED_TTL_S)
    return peers.check_addresses(peer, cached[0], settings.peer_networks)


def _warn_refused_peer(refused: peers.PeerNotAllowed) -> None:
    """A warning per refused URL at most once a minute (a rogue member would otherwise
    write one per request), the metric for every refusal."""
    registry.inc("survey_streams_peer_refused_total")
    now = time.monotonic()
    last = _refused_logged.get(refused.url)
    if last is None or now - last >= REFUSED_LOG_EVERY_S:
        if len(_refused_logged) >= RESOLVED_MAX:
            _refused_logged.clear()
        _refused_logged[refused.url] = now
        log.warning("a peer's advertised URL is outside STREAMS_PEER_NETWORKS: not called",
                    extra={"url": refused.url[:512], "reason": refused.reason})


def _url_ident(url) -> tuple[str, int]:
    url = URL(str(url))
    return (url.host or "").lower(), url.port or 80


def _same_worker(owner) -> bool:
    return _url_ident(owner) == _url_ident(app.conf.canonical_url)


def routed_mark() -> str:
    """ROUTED_HEADER's value, made from the app secret: only a worker can say a request was
    routed (a client sending the header got a 503 for its own request, never routed)."""
    return _routed_mark(app_module.display_secret)


@lru_cache(maxsize=2)
def _routed_mark(secret: bytes) -> str:  # once per secret, not an HMAC per request
    return derived_key(secret, "routed-request").hex()


def user_path(user_id: str) -> InvalidInput | None:
    """A user id from a URL path is an id like any other (at most 256 bytes)."""
    try:
        segment_schema.check_id("userId", user_id)
    except InvalidInput as error:
        return error
    return None
