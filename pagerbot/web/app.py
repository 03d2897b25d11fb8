"""The FastAPI application: Slack's endpoint, alert webhooks, the read API, health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from pagerbot import __version__
from pagerbot.store.repository import is_unavailable
from pagerbot.web import alerts, incidents, oncall
from pagerbot.web.auth import require_api_token
from pagerbot.web.errors import ApiError, error_response
from pagerbot.web.local import router as local_router
from pagerbot.web.local_access import LocalAccess, LocalPageHeaders, local_guard

if TYPE_CHECKING:  # for the annotation only: the composition root builds the Runtime this app serves
    from pagerbot.bootstrap import Runtime

log = logging.getLogger("pagerbot.web")


def create_app(runtime: Runtime, *, insecure: bool = False, background: bool = True,
               bind_host: str = "127.0.0.1") -> FastAPI:
    """``background`` runs the outbox worker and the scheduler inside the server's lifespan; ``bind_host`` is
    the address served, which decides whether /local asks for a login (web/local_access.py)."""
    ctx = runtime.ctx

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if background:
            await runtime.start_background()
        try:
            yield
        finally:
            await runtime.stop_background()

    app = FastAPI(title="pagerbot", version=__version__, lifespan=lifespan,
                  description="Alert webhooks and the incident API of pagerbot.")

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid request", [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg")} for e in exc.errors()])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        if is_unavailable(exc):
            return error_response(503, "database unavailable", "retry later", {"Retry-After": "5"})
        log.exception("unhandled error")
        return error_response(500, "internal error", "see pagerbot's log")

    def require_token(request: Request) -> None:
        require_api_token(request, ctx.settings.api_token, insecure=insecure)

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: the database answers")
    async def readyz() -> JSONResponse:
        try:
            await asyncio.wait_for(ctx.store.ping(), timeout=3)
        except Exception as exc:
            return error_response(503, "database unavailable", type(exc).__name__)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if ctx.settings.metrics_token is not None:  # open unless PAGERBOT_METRICS_TOKEN is set (docs/security.md)
            require_api_token(request, ctx.settings.metrics_token, insecure=False)
        # The outbox and inbox gauges are read from the database at scrape time (all replicas see the same outbox);
        # without the database the last values are served, and /readyz says why.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runtime.worker.observe(), timeout=2)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runtime.inbox.observe(), timeout=2)
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(alerts.router(ctx, insecure=insecure))
    app.include_router(incidents.router(ctx, require_token))
    app.include_router(oncall.router(ctx, require_token))

    if runtime.slack_handler is not None:
        from pagerbot.web.slack_events import router as slack_router

        app.include_router(slack_router(ctx.settings, runtime.bolt))
    elif runtime.socket_mode is not None:

        @app.post("/slack/events", include_in_schema=False)
        async def slack_events_refused(_request: Request) -> Response:
            return error_response(404, "Socket Mode is on", "SLACK_APP_TOKEN is set: Slack's requests arrive over "
                                  "the websocket pagerbot opens, not at this URL")

    if runtime.local is not None:
        settings = ctx.settings
        guard = local_guard(bind_host, settings.local_password, settings.api_token, settings.public_url)
        if guard.access is LocalAccess.OFF:
            log.warning("/local is not served: %s is not a loopback address and no password is set "
                        "(PAGERBOT_LOCAL_PASSWORD or PAGERBOT_API_TOKEN)", bind_host)
        app.include_router(local_router(runtime), dependencies=[Depends(guard)])
        app.add_middleware(LocalPageHeaders)
    return app
