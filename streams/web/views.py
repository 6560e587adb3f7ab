"""HTTP views: thin adapters from requests to the pure modules and the topics."""
from __future__ import annotations

import asyncio
import hmac
import time
from pathlib import Path

import orjson
from aiohttp.web_exceptions import HTTPRequestEntityTooLarge
from aiohttp.web_protocol import RequestPayloadError
from faust.web import Request, Response, View

from .. import ingestion, targeting, topics as names
from ..app import app, config, settings, users
from ..errors import InvalidInput
from ..metrics import registry
from ..schemas import widget as widget_schema
from ..state import public_user
from ..timeutil import iso
from ..agents.emit import dead_letter, send
from ..agents.users import load as load_user

STATIC = Path(__file__).parent / "static"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, X-Widget-Key, Authorization, Content-Encoding",
    "Access-Control-Max-Age": "600",
}


def now_ms() -> int:
    return int(time.time() * 1000)


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class BridgeView(View):
    """JSON in and out with orjson, CORS for the widget, requests counted for /metrics."""

    path_label = "?"

    def reply(self, body, status: int = 200) -> Response:
        registry.inc("survey_streams_http_requests_total", path=self.path_label, status=str(status))
        return self.bytes(orjson.dumps(body), content_type="application/json", status=status, headers=dict(CORS))

    def refuse(self, status: int, error: str, detail: str, field: str | None = None) -> Response:
        return self.reply({"error": error, "detail": detail, "field": field}, status)

    async def options(self, request: Request, **kwargs) -> Response:
        return self.bytes(b"", status=204, headers=dict(CORS))

    def widget_key_ok(self, request: Request) -> bool:
        return not settings.widget_key or _same(request.headers.get("X-Widget-Key"), settings.widget_key)

    def admin_ok(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        return bool(settings.admin_key) and header.startswith("Bearer ") and _same(header[7:].strip(), settings.admin_key)


WIDGET_JS = (STATIC / "widget.js").read_bytes()
EXAMPLE_HTML = (STATIC / "example.html").read_bytes()


@app.page("/widget.js")
class WidgetScript(BridgeView):
    """The reference widget, loadable from any site (CORS) and cached briefly."""

    async def get(self, request: Request) -> Response:
        return self.bytes(WIDGET_JS, headers={**CORS, "Content-Type": "application/javascript; charset=utf-8",
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
        return self.reply({"status": "ok" if ready else "starting", "ready": ready}, 200 if ready else 503)


@app.page("/metrics")
class Metrics(BridgeView):
    async def get(self, request: Request) -> Response:
        return self.text(registry.render(), content_type="text/plain; version=0.0.4")


@app.page("/v1/{kind}")
class Ingest(BridgeView):
    """Segment-compatible ingestion: /v1/identify|track|page|group|alias|batch."""

    path_label = "/v1/{kind}"

    async def post(self, request: Request, kind: str) -> Response:
        if kind not in ingestion.KINDS:
            return self.refuse(404, "not_found", f"no endpoint /v1/{kind}")
        key = ingestion.write_key(request.headers.get("Authorization"))
        if key is None or key not in settings.write_keys:
            return self.refuse(401, "unauthorized", "a valid write key is required (HTTP Basic auth, key as user name)")
        limit = ingestion.MAX_BATCH_BYTES if kind == "batch" else ingestion.MAX_MESSAGE_BYTES
        try:
            raw = await request.read()
        except HTTPRequestEntityTooLarge:  # aiohttp's own cap (client_max_size), after inflating
            return self.refuse(413, "too_large", "body is over the request size limit", "body")
        except RequestPayloadError as exc:  # e.g. Content-Encoding: gzip on a body that is not gzip
            return self.refuse(400, "invalid_json", f"body cannot be decoded: {exc}", "body")
        try:
            # aiohttp already undoes Content-Encoding (auto_decompress): inflate only a body that
            # is still gzip (a JSON body never starts with the gzip magic bytes).
            encoding = request.headers.get("Content-Encoding") if raw[:2] == b"\x1f\x8b" else None
            body = ingestion.decompress(raw, encoding, limit)
            accepted, rejected = ingestion.unpack(kind, body, iso(now_ms()))
        except ingestion.TooLarge as error:
            return self.refuse(413, error.code, error.detail, error.field)
        except InvalidInput as error:
            return self.refuse(400, error.code, error.detail, error.field)
        for error, item in rejected:
            await dead_letter(error, {"http": f"/v1/{kind}"}, item)
        await _produce_all(accepted)
        registry.inc("survey_streams_messages_in_total", topic=f"http:/v1/{kind}", amount=len(accepted) + len(rejected))
        return self.reply({"success": True})


async def _produce_all(records) -> None:
    """Produce and wait for the broker's acks: a 2xx means the messages are in Kafka."""
    deliveries = [await send(logical, key, value) for logical, key, value in records]
    if deliveries:
        await asyncio.gather(*deliveries)


@app.page("/v1/eligibility/{user_id}")
class Eligibility(BridgeView):
    path_label = "/v1/eligibility/{userId}"

    @app.table_route(table=users, match_info="user_id")
    async def get(self, request: Request, user_id: str) -> Response:
        if not self.widget_key_ok(request):
            return self.refuse(401, "unauthorized", "missing or wrong X-Widget-Key")
        if settings.secure_secret and not widget_schema.check_user_hash(
                settings.secure_secret, user_id, request.query.get("userHash")):
            return self.refuse(403, "forbidden", "secure mode: userHash missing or wrong", "userHash")
        now = now_ms()
        decision = targeting.decide(_live_state(user_id), config, now, user_id)
        return self.reply(targeting.eligibility_response(decision, user_id, now))


def _live_state(user_id: str) -> dict | None:
    state = load_user(user_id)
    return None if state is None or state.get("aliasOf") else state


@app.page("/v1/widget/events")
class WidgetEvents(BridgeView):
    path_label = "/v1/widget/events"

    async def post(self, request: Request) -> Response:
        if not self.widget_key_ok(request):
            return self.refuse(401, "unauthorized", "missing or wrong X-Widget-Key")
        try:
            body = await request.read()
            try:
                document = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise InvalidInput("invalid_json", "body", None, f"body is not valid JSON: {exc}") from None
            events = widget_schema.parse_body(document, config)
        except InvalidInput as error:
            return self.refuse(400, error.code, error.detail, error.field)
        if settings.secure_secret:
            for event in events:
                if not widget_schema.check_user_hash(settings.secure_secret, event["userId"], event.get("userHash")):
                    return self.refuse(403, "forbidden", "secure mode: userHash missing or wrong", "userHash")
        received = iso(now_ms())
        records = []
        for event in events:
            event.pop("userHash", None)
            event.setdefault("timestamp", received)  # replays then yield the same outputs
            event["receivedAt"] = received
            records.append((names.LIFECYCLE, event["userId"], event))
        await _produce_all(records)
        return self.reply({"accepted": len(records)}, 202)


@app.page("/v1/users/{user_id}")
class UserState(BridgeView):
    path_label = "/v1/users/{userId}"

    @app.table_route(table=users, match_info="user_id")
    async def get(self, request: Request, user_id: str) -> Response:
        if not self.admin_ok(request):
            return self.refuse(401, "unauthorized", "admin key required (Authorization: Bearer <key>)")
        state = _live_state(user_id)
        if state is None:
            return self.refuse(404, "not_found", f"no state for user {user_id!r}")
        return self.reply(public_user(state, user_id))


@app.page("/v1/users/{user_id}/explain")
class Explain(BridgeView):
    path_label = "/v1/users/{userId}/explain"

    @app.table_route(table=users, match_info="user_id")
    async def get(self, request: Request, user_id: str) -> Response:
        if not self.admin_ok(request):
            return self.refuse(401, "unauthorized", "admin key required (Authorization: Bearer <key>)")
        now = now_ms()
        decision = targeting.decide(_live_state(user_id), config, now, user_id)
        return self.reply(targeting.explain_record(decision, user_id, now))
