"""HTTP views: thin adapters from requests to the pure modules and the topics.

What they share (JSON errors, keys, CORS on every response, routing) is in bridge.py.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
from pathlib import Path

import orjson
from faust.web import Request, Response

from streams.runtime import app as app_module, responsecounts
from streams.core import client as clients, devices, displays, targeting
from streams.web import ingestion
from streams.core import topics as names
from streams.runtime.app import app, settings
from streams.core.errors import INVALID_FIELD, INVALID_JSON, InvalidInput
from streams.core.pages import MAX_URL_CHARS
from streams.runtime.metrics import registry
from streams.schemas import widget as widget_schema
from streams.core.state import public_user
from streams.core.timeutil import iso
from streams.runtime.emit import dead_letter, send
from streams.runtime.userstore import read_state as load_user
from streams.runtime.httpcommon import same_secret
from streams.web.bridge import BridgeView, now_ms, user_path

STATIC = Path(__file__).parent / "static"
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
    and /v1/webhook for Segment's Webhooks destination (docs/reference.md#ingestion)."""

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
    return same_secret(signature.strip().lower(), expected)


async def produce_all(records) -> None:
    """Produce and wait for the broker's acks: a 2xx means the messages are in Kafka."""
    deliveries = [await send(logical, key, value) for logical, key, value in records]
    if deliveries:
        await asyncio.gather(*deliveries)


@app.page("/v1/eligibility/{user_id}")
class Eligibility(BridgeView):
    """docs/reference.md#eligibility: the decision for now, with a display to open when eligible: the
    one open already, else the user's next (streams.core.displays.hand_out).

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
        try:
            request_client = await _request_client(request, app_module.config)
        except InvalidInput as error:
            return self.refuse_input(400, error)
        now, config = now_ms(), app_module.config
        state = _live_state(user_id)
        decision, display_id = displays.hand_out(app_module.display_id_key, state, config, user_id, now, request_client,
                                                 responsecounts.current())
        locale = displays.locale_of(state, decision.survey, display_id, request_client.locale) \
            if decision.survey is not None else None
        body = targeting.eligibility_response(decision, user_id, now, locale)
        if display_id is not None:
            body["display"] = displays.issue(app_module.display_secret, user_id, decision.survey.id,
                                             display_id, now, config.project.display_token_minutes)
        if not (settings.secure_secret or self.admin_ok(request)):
            del body["reason"], body["eligibleAt"]
        return self.reply(body)


async def _request_client(request: Request, config) -> clients.Request:
    """What an eligibility request says of the page (`?url=`), the device (`?device=`, else
    its User-Agent) and the locale (`?locale=`; one that is no language tag is ignored)."""
    query = request.query
    device = query.get("device")
    if device is not None:
        if device not in devices.DEVICE_TYPES:
            raise InvalidInput(INVALID_FIELD, "device", device[:64],
                               f"'device' must be one of {', '.join(devices.DEVICE_TYPES)}")
    elif config.uses_devices and request.headers.get("User-Agent"):
        # Parsing a new User-Agent takes milliseconds: off the event loop (cached: streams.core.devices).
        device = await asyncio.to_thread(devices.device_of, request.headers["User-Agent"][:devices.MAX_USER_AGENT_CHARS])
    url = query.get("url")
    return clients.Request(url=url[:MAX_URL_CHARS] if url else None, device=device, locale=query.get("locale"))


@app.task
async def warm_device_parser() -> None:
    """The User-Agent parser loads its rules on first use (seconds of CPU): in a thread at
    start, when a survey has a device rule, rather than in the first request's."""
    if app_module.config.uses_devices:
        await asyncio.to_thread(devices.warm_up)


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
            body = await self.body(request, ingestion.MAX_WIDGET_BODY_BYTES)
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
        refused_or_routed = await self.admin_user(request, user_id)
        if refused_or_routed is not None:
            return refused_or_routed
        state = _live_state(user_id)
        if state is None:
            return self.refuse(404, "not_found", "no state for this user", "userId")
        return self.reply(public_user(state, user_id))


@app.page("/v1/users/{user_id}/explain")
class Explain(BridgeView):
    path_label = "/v1/users/{userId}/explain"

    async def get(self, request: Request, user_id: str) -> Response:
        refused_or_routed = await self.admin_user(request, user_id)
        if refused_or_routed is not None:
            return refused_or_routed
        try:
            request_client = await _request_client(request, app_module.config)
        except InvalidInput as error:
            return self.refuse_input(400, error)
        now = now_ms()
        decision = targeting.decide(_live_state(user_id), app_module.config, now, user_id, every_rule=True,
                                    request=request_client, response_counts=responsecounts.current())
        return self.reply(targeting.explain_record(decision, user_id, now))
