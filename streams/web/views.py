"""HTTP views: thin adapters from requests to the pure modules and the topics.

Every caller is untrusted (docs/security.md): every request gets an answer below 500
(JSON errors carry `error`/`code`, `detail`/`message` and `field`), and every response,
local or routed from another worker, carries the CORS headers.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from pathlib import Path

import orjson
from aiohttp import ClientError, ClientTimeout, web
from aiohttp.web_exceptions import HTTPException, HTTPRequestEntityTooLarge
from aiohttp.web_protocol import RequestPayloadError
from aiokafka.errors import KafkaError
from faust.exceptions import ProducerSendError
from faust.web import Request, Response, View
from yarl import URL

from .. import app as app_module
from .. import displays, ingestion, targeting, topics as names
from ..app import app, settings, users
from ..errors import INVALID_JSON, InvalidInput
from ..metrics import registry
from ..schemas import segment as segment_schema
from ..schemas import widget as widget_schema
from ..state import public_user
from ..timeutil import iso
from ..agents.emit import DeadLetterFailed, dead_letter, send
from ..agents.users import load as load_user

log = logging.getLogger("streams.web")
STATIC = Path(__file__).parent / "static"
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


def _same(given: str | None, expected: str) -> bool:
    # Header values that are not UTF-8 arrive with surrogate escapes: compare their bytes.
    return given is not None and hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())


def error_body(status_code: str, detail: str, field: str | None = None) -> dict:
    """An error answer (CONTRACT 7): `code`/`message` as Segment's and RudderStack's SDKs read
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
        return not settings.widget_key or _same(request.headers.get("X-Widget-Key"), settings.widget_key)

    def admin_ok(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        return bool(settings.admin_key) and header.startswith("Bearer ") and _same(header[7:].strip(), settings.admin_key)

    async def body(self, request: Request, limit: int) -> bytes:
        """The request body (inflated if the client said gzip), or InvalidInput / TooLarge."""
        try:
            raw = await request.read()
        except HTTPRequestEntityTooLarge:  # aiohttp's own cap (client_max_size), after inflating
            raise ingestion.TooLarge("body", request.content_length or 0, limit) from None
        except RequestPayloadError as exc:  # e.g. Content-Encoding: gzip on a body that is not gzip
            raise InvalidInput(INVALID_JSON, "body", None, f"body cannot be decoded: {exc}") from None
        # aiohttp already undoes Content-Encoding (auto_decompress): inflate only a body that
        # is still gzip (a JSON body never starts with the gzip magic bytes).
        encoding = request.headers.get("Content-Encoding") if raw[:2] == b"\x1f\x8b" else None
        return ingestion.decompress(raw, encoding, limit)

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
        if request.headers.get(ROUTED_HEADER):
            # The sender thought we own it, we think it does: assignments are changing.
            return self.unavailable("the user's worker is changing (rebalancing), retry")
        return await self.forward(request, owner)

    async def forward(self, request: Request, owner: URL) -> Response:
        """The owner's answer with its status, type and body; our headers go on top."""
        url = request.url.with_scheme(owner.scheme).with_host(owner.host).with_port(owner.port)
        headers = {name: value for name, value in request.headers.items()
                   if name.lower() in ("x-widget-key", "authorization", "accept")}
        headers[ROUTED_HEADER] = "1"
        try:
            async with app.http_client.request(request.method, url, headers=headers, timeout=ROUTE_TIMEOUT) as answer:
                body = await answer.read()
                registry.inc("survey_streams_http_routed_total", status=str(answer.status))
                return self.bytes(body, status=answer.status, content_type=answer.content_type or "application/json")
        except (ClientError, asyncio.TimeoutError, OSError) as exc:
            log.info("routing failed", extra={"owner": str(owner), "error": repr(exc)})
            return self.unavailable("the worker holding this user did not answer, retry")


def _url_ident(url) -> tuple[str, int]:
    url = URL(str(url))
    return (url.host or "").lower(), url.port or 80


def _same_worker(owner) -> bool:
    return _url_ident(owner) == _url_ident(app.conf.canonical_url)


def user_path(user_id: str) -> InvalidInput | None:
    """A user id from a URL path is an id like any other (at most 256 bytes)."""
    try:
        segment_schema.check_id("userId", user_id)
    except InvalidInput as error:
        return error
    return None


WIDGET_JS = (STATIC / "widget.js").read_bytes()
EXAMPLE_HTML = (STATIC / "example.html").read_bytes()


@app.page("/widget.js")
class WidgetScript(BridgeView):
    """The reference widget, loadable from any site (CORS) and cached briefly."""

    async def get(self, request: Request) -> Response:
        return self.bytes(WIDGET_JS, headers={"Content-Type": "application/javascript; charset=utf-8",
                                              "Cache-Control": "public, max-age=300"})


@app.page("/example")
class WidgetExample(BridgeView):
    """An example page running the widget for ?userId=...&widgetKey=...&userHash=..."""

    async def get(self, request: Request) -> Response:
        return self.bytes(EXAMPLE_HTML, headers={"Content-Type": "text/html; charset=utf-8",
                                                 "Cache-Control": "no-cache"})


@app.page("/health")
class Health(BridgeView):
    path_label = "/health"

    async def get(self, request: Request) -> Response:
        ready = app.tables.recovery.completed.is_set() and not app.rebalancing
        return self.reply({"status": "ok" if ready else "starting", "ready": ready,
                           "configVersion": app_module.config.version}, 200 if ready else 503)


@app.page("/metrics")
class Metrics(BridgeView):
    async def get(self, request: Request) -> Response:
        return self.text(registry.render(), content_type="text/plain; version=0.0.4")


@app.page("/v1/{kind}")
class Ingest(BridgeView):
    """Segment-compatible ingestion: /v1/identify|track|page|screen|group|alias|batch|import,
    and /v1/webhook for Segment's Webhooks destination (CONTRACT 5.1, 7)."""

    path_label = "/v1/{kind}"

    async def post(self, request: Request, kind: str) -> Response:
        path = kind
        kind = ingestion.SHORT_KINDS.get(kind, kind)
        if kind not in ingestion.KINDS and kind != ingestion.WEBHOOK:
            return self.refuse(404, "not_found", "no such endpoint")
        key = ingestion.write_key(request.headers.get("Authorization"))
        by_write_key = key is not None and key in settings.write_keys
        signature = request.headers.get("X-Signature") if kind == ingestion.WEBHOOK else None
        def unauthorized() -> Response:
            return self.refuse(401, "unauthorized", "a valid write key is required (HTTP Basic auth, key as user "
                               "name, or `writeKey` in the body)" + (
                                   ", or an X-Signature made with the webhook secret" if signature is not None else ""))

        try:
            body = await self.body(request, ingestion.body_limit(kind))
        except InvalidInput as error:  # TooLarge included
            if not by_write_key and signature is None:
                return unauthorized()  # no credentials but in a body that cannot be read
            return self.refuse_input(413 if isinstance(error, ingestion.TooLarge) else 400, error)
        if not by_write_key:  # analytics.js sends the key in the body; Segment's Webhooks a signature
            in_body = ingestion.body_write_key(body)
            by_write_key = in_body is not None and in_body in settings.write_keys
        if not by_write_key and not _signed(body, signature):
            return unauthorized()
        try:
            accepted, rejected = ingestion.unpack(kind, body, iso(now_ms()))
        except ingestion.TooLarge as error:
            return self.refuse_input(413, error)
        except InvalidInput as error:
            return self.refuse_input(400, error)
        dead_letters = [dead_letter(error, {"http": f"/v1/{path}"}, item) for error, item in rejected]
        # 200 only once the broker has every record of the request, dead letters included.
        await asyncio.gather(produce_all(accepted), *dead_letters)
        registry.inc("survey_streams_messages_in_total", topic=f"http:/v1/{path}", amount=len(accepted) + len(rejected))
        return self.reply({"success": True})


def _signed(body: bytes, signature: str | None) -> bool:
    """Segment's Webhooks destination: X-Signature = hex HMAC-SHA1(shared secret, body)."""
    if not signature or not settings.webhook_secret:
        return False
    expected = hmac.new(settings.webhook_secret.encode(), body, hashlib.sha1).hexdigest()
    return _same(signature.strip().lower(), expected)


async def produce_all(records) -> None:
    """Produce and wait for the broker's acks: a 2xx means the messages are in Kafka."""
    deliveries = [await send(logical, key, value) for logical, key, value in records]
    if deliveries:
        await asyncio.gather(*deliveries)


@app.page("/v1/eligibility/{user_id}")
class Eligibility(BridgeView):
    """CONTRACT 5.2 and 7: the decision for now, with a display to open when eligible.

    Without secure mode anyone holding the widget key may ask about any user, so the
    answer says only whether to show a survey: `reason` and `eligibleAt` (which tell who
    exists, who matches which filters, and signup instants) need secure mode's userHash
    or the admin key.
    """

    path_label = "/v1/eligibility/{userId}"

    async def get(self, request: Request, user_id: str) -> Response:
        if not self.widget_key_ok(request):
            return self.refuse(401, "unauthorized", "missing or wrong X-Widget-Key")
        bad_id = user_path(user_id)
        if bad_id is not None:
            return self.refuse_input(400, bad_id)
        if settings.secure_secret and not widget_schema.check_user_hash(
                settings.secure_secret, user_id, request.query.get("userHash")):
            return self.refuse(403, "forbidden", "secure mode: userHash missing or wrong", "userHash")
        forwarded = await self.owner_or_forward(request, user_id)
        if forwarded is not None:
            return forwarded
        now, config = now_ms(), app_module.config
        decision = targeting.decide(_live_state(user_id), config, now, user_id)
        body = targeting.eligibility_response(decision, user_id, now)
        if decision.survey is not None:
            body["display"] = displays.issue(app_module.display_secret, user_id, decision.survey.id,
                                             displays.new_display_id(), now, config.project.display_token_minutes)
        if not (settings.secure_secret or self.admin_ok(request)):
            del body["reason"], body["eligibleAt"]
        return self.reply(body)


def _live_state(user_id: str) -> dict | None:
    state = load_user(user_id)
    return None if state is None or state.get("aliasOf") else state


@app.page("/v1/widget/events")
class WidgetEvents(BridgeView):
    path_label = "/v1/widget/events"

    async def post(self, request: Request) -> Response:
        if not self.widget_key_ok(request):
            return self.refuse(401, "unauthorized", "missing or wrong X-Widget-Key")
        config = app_module.config
        try:
            body = await self.body(request, ingestion.MAX_MESSAGE_BYTES * 4)
            try:
                document = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise InvalidInput(INVALID_JSON, "body", None, f"body is not valid JSON: {exc}") from None
            events = widget_schema.parse_body(document, config)
        except ingestion.TooLarge as error:
            return self.refuse_input(413, error)
        except InvalidInput as error:
            return self.refuse_input(400, error)
        now = now_ms()
        for event in events:
            if settings.secure_secret and not widget_schema.check_user_hash(
                    settings.secure_secret, event["userId"], event.get("userHash")):
                return self.refuse(403, "forbidden", "secure mode: userHash missing or wrong", "userHash")
            refused = displays.check_at_bridge(app_module.display_secret, event, config.project.display_timeout_minutes, now)
            if refused is not None:
                return self.refuse_input(403, refused)
        received = iso(now)
        records = []
        for event in events:
            event.pop("userHash", None)
            event.setdefault("timestamp", received)  # replays then yield the same outputs
            event["receivedAt"] = received
            records.append((names.LIFECYCLE, event["userId"], event))
        await produce_all(records)
        return self.reply({"accepted": len(records)}, 202)


@app.page("/v1/users/{user_id}")
class UserState(BridgeView):
    path_label = "/v1/users/{userId}"

    async def get(self, request: Request, user_id: str) -> Response:
        if not self.admin_ok(request):
            return self.refuse(401, "unauthorized", "admin key required (Authorization: Bearer <key>)")
        bad_id = user_path(user_id)
        if bad_id is not None:
            return self.refuse_input(400, bad_id)
        forwarded = await self.owner_or_forward(request, user_id)
        if forwarded is not None:
            return forwarded
        state = _live_state(user_id)
        if state is None:
            return self.refuse(404, "not_found", "no state for this user", "userId")
        return self.reply(public_user(state, user_id))


@app.page("/v1/users/{user_id}/explain")
class Explain(BridgeView):
    path_label = "/v1/users/{userId}/explain"

    async def get(self, request: Request, user_id: str) -> Response:
        if not self.admin_ok(request):
            return self.refuse(401, "unauthorized", "admin key required (Authorization: Bearer <key>)")
        bad_id = user_path(user_id)
        if bad_id is not None:
            return self.refuse_input(400, bad_id)
        forwarded = await self.owner_or_forward(request, user_id)
        if forwarded is not None:
            return forwarded
        now = now_ms()
        decision = targeting.decide(_live_state(user_id), app_module.config, now, user_id, every_rule=True)
        return self.reply(targeting.explain_record(decision, user_id, now))
