"""The insights HTTP API (docs/reference.md#8-insights) and the page, with aiohttp.

Every `/v1/insights/...` call needs the admin key (`Authorization: Bearer`, compared as the
bridge does: streams.runtime.httpcommon); 401 without. Errors are JSON in the bridge's shape
(`error`/`code`, `detail`/`message`, `field`): 400 naming the parameter, 404 for an unknown
survey. Queries run in a small thread pool (DuckDB blocks); responses are streamed a
thousand rows at a time, CSV or JSON, so an export of a million rows is never in memory.
"""
from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
from aiohttp import web
from aiohttp.web_exceptions import HTTPException

from streams.core.config import Config
from streams.core.errors import InvalidInput
from streams.insights import params, queries
from streams.insights.store import Store
from streams.runtime.httpcommon import ADMIN_REQUIRED, bearer_ok, error_body

log = logging.getLogger(__name__)
PAGE = Path(__file__).parent / "page"
API_PREFIX = "/v1/insights/"
QUERY_THREADS = 4
# A spreadsheet runs a cell that starts with one of these as a formula: such text is written
# with a leading apostrophe (OWASP's advice for CSV exports); numbers are written as they are.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_FILENAME_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _json(body, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json",
                        headers={"Cache-Control": "no-store", **(headers or {})})


def _error(status: int, code: str, detail: str, field: str | None = None) -> web.Response:
    return _json(error_body(code, detail, field), status)


def csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if not isinstance(value, str):
        return orjson.dumps(value).decode()
    if value.startswith(_FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


def csv_lines(rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(rows)
    return out.getvalue()


@web.middleware
async def _errors(request: web.Request, handler):
    try:
        return await handler(request)
    except InvalidInput as error:
        return _error(400, error.code, error.detail, error.field)
    except _NotFound as missing:
        return missing.response()
    except HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, "not_found" if exc.status == 404 else "http_error", exc.reason or str(exc.status))
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("insights request failed", extra={"path": request.path})
        return _error(500, "internal_error", "internal error")


class Insights:
    """The views over one store; `reader` (streams.insights.reader.Reader) for /health."""

    def __init__(self, store: Store, admin_key: str, config: Config | None = None, reader=None):
        self.store = store
        self.admin_key = admin_key
        self.config = config
        self.reader = reader
        self.pool = ThreadPoolExecutor(QUERY_THREADS, thread_name_prefix="insights-query")

    async def _run(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, function, *args)

    def _query(self, function, *args):
        """`function(cursor, *args)` with a cursor of its own, closed after."""
        cursor = self.store.cursor()
        try:
            return function(cursor, *args)
        finally:
            cursor.close()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_errors, self._auth])
        app.router.add_get("/health", self.health)
        app.router.add_get("/v1/insights/status", self.status)
        app.router.add_get("/v1/insights/surveys", self.surveys)
        app.router.add_get("/v1/insights/surveys/{id}/scores", self.scores)
        app.router.add_get("/v1/insights/surveys/{id}/responses", self.responses)
        app.router.add_get("/v1/insights/surveys/{id}/funnel", self.funnel)
        app.router.add_get("/insights", self.page_redirect)
        app.router.add_get("/insights/", self.page)
        app.router.add_static("/insights/", PAGE, show_index=False, follow_symlinks=False)
        app.on_cleanup.append(self._close)
        return app

    async def _close(self, app) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        if request.path.startswith(API_PREFIX) and not bearer_ok(request.headers.get("Authorization"), self.admin_key):
            return _error(401, "unauthorized", ADMIN_REQUIRED)
        return await handler(request)

    # --- service ----------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        status = self.reader.status() if self.reader is not None else {"ready": True}
        return _json({"status": "ok" if status["ready"] else "starting", **status}, 200 if status["ready"] else 503)

    async def status(self, request: web.Request) -> web.Response:
        """How far the copy is: rows held, the offsets they were read up to, the lag."""
        counts = await self._run(self.store.counts)
        offsets = await self._run(self.store.offsets)
        by_topic: dict = {}
        for (topic, partition), offset in sorted(offsets.items()):
            by_topic.setdefault(topic, {})[str(partition)] = offset
        reader = self.reader.status() if self.reader is not None else {}
        return _json({**counts, "offsets": by_topic, **reader})

    # --- surveys ----------------------------------------------------------------------
    async def surveys(self, request: web.Request) -> web.Response:
        return _json(await self._run(self._query, queries.surveys))

    async def _survey(self, request: web.Request) -> queries.Survey:
        survey_id = request.match_info["id"]
        survey = await self._run(self._query, queries.survey, survey_id)
        if survey is None:
            raise _NotFound(survey_id)
        return survey

    async def scores(self, request: web.Request) -> web.Response:
        query = params.scores_query(request.query)
        survey = await self._survey(request)
        return _json(await self._run(self._query, queries.scores, survey, query))

    async def funnel(self, request: web.Request) -> web.Response:
        period = params.period(request.query)
        survey = await self._survey(request)
        return _json(await self._run(self._query, queries.funnel, survey, period))

    def _question_order(self, survey_id: str) -> tuple:
        configured = self.config.survey(survey_id) if self.config is not None else None
        return tuple(q.id for q in configured.questions) if configured is not None else ()

    async def responses(self, request: web.Request) -> web.StreamResponse:
        query = params.responses_query(request.query)
        survey = await self._survey(request)
        cursor = await self._run(self.store.cursor)
        try:
            columns = await self._run(queries.response_columns, cursor, survey, query,
                                      self._question_order(survey.id))
            total = await self._run(queries.response_count, cursor, survey, query)
            chunks = queries.response_rows(cursor, survey, query, columns)
            response = web.StreamResponse(headers=self._responses_headers(request, survey, query, total))
            await response.prepare(request)
            if query.format == "csv":
                await self._write_csv(response, chunks, columns)
            else:
                await self._write_json(response, chunks)
            await response.write_eof()
            return response
        finally:
            await self._run(cursor.close)

    def _responses_headers(self, request: web.Request, survey: queries.Survey, query: params.ResponsesQuery,
                           total: int) -> dict:
        headers = {"Cache-Control": "no-store", "X-Total-Count": str(total)}
        if query.format == "csv":
            name = _FILENAME_SAFE.sub("_", survey.id)[:100] or "survey"
            headers["Content-Type"] = "text/csv; charset=utf-8"
            headers["Content-Disposition"] = f'attachment; filename="{name}-responses.csv"'
        else:
            headers["Content-Type"] = "application/json"
        if query.limit is not None and query.offset + query.limit < total:
            following = request.rel_url.update_query(offset=str(query.offset + query.limit))
            headers["Link"] = f'<{following}>; rel="next"'
        return headers

    async def _chunks(self, chunks):
        while (rows := await self._run(next, chunks, None)) is not None:
            yield rows

    async def _write_csv(self, response: web.StreamResponse, chunks, columns: queries.Columns) -> None:
        names = columns.names
        await response.write(csv_lines([names]).encode())
        async for rows in self._chunks(chunks):
            await response.write(csv_lines([[csv_cell(row[name]) for name in names] for row in rows]).encode())

    async def _write_json(self, response: web.StreamResponse, chunks) -> None:
        await response.write(b"[")
        first = True
        async for rows in self._chunks(chunks):
            body = b",".join(orjson.dumps(row) for row in rows)
            await response.write(body if first else b"," + body)
            first = False
        await response.write(b"]")

    # --- page -------------------------------------------------------------------------
    async def page_redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/insights/")

    async def page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE / "index.html", headers={"Cache-Control": "no-cache"})


class _NotFound(Exception):
    def __init__(self, survey_id: str):
        super().__init__(survey_id)
        self.survey_id = survey_id

    def response(self) -> web.Response:
        return _error(404, "not_found", f"no survey {self.survey_id!r} (GET /v1/insights/surveys lists them)", "id")
