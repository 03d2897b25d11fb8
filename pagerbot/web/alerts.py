"""POST /alerts/{sender}: read at most the size limit, authenticate, parse, store in the inbox, then answer 202."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pagerbot.intake.auth import SeenSignatures, check_grafana_signature
from pagerbot.intake.bodies import PARSERS, body_text, parse_body
from pagerbot.intake.errors import MalformedBody, PayloadError
from pagerbot.intake.pagerduty import success_body
from pagerbot.observability import ALERTS_RECEIVED, WEBHOOK_LATENCY
from pagerbot.services.alerts import accept_alerts
from pagerbot.services.context import Services
from pagerbot.store.repository import is_unavailable
from pagerbot.web.auth import require_api_token
from pagerbot.web.errors import ApiError

ALERT_BODY_SCHEMA: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}}}},
    "responses": {
        "400": {"description": "malformed JSON or not UTF-8 (PagerDuty's route: any invalid event)"},
        "401": {"description": "missing or wrong token"},
        "413": {"description": "body over the size limit"}, "422": {"description": "not a valid body of this format"},
        "503": {"description": "database unavailable; retry"}},
}


def too_large(limit: int, setting: str = "intake.max_body_bytes") -> ApiError:
    return ApiError(413, f"payload too large: the limit is {limit} bytes ({setting})", {"limit_bytes": limit})


async def read_limited(request: Request, limit: int, setting: str = "intake.max_body_bytes") -> bytes:
    """The body, read only while it stays within ``limit``: a declared or streamed excess is a 413 at once."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit, setting)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit, setting)
        chunks.append(chunk)
    return b"".join(chunks)


def authenticate(ctx: Services, request: Request, body: bytes, sender: str, insecure: bool,
                 seen: SeenSignatures) -> None:
    intake = ctx.settings.config.intake
    if sender == "grafana" and intake.grafana_secret:
        headers = dict(request.headers)
        now = ctx.clock.now().timestamp()
        if not check_grafana_signature(body, headers, intake.grafana_secret, header=intake.grafana_signature_header,
                                       timestamp_header=intake.grafana_timestamp_header, now=now):
            stamp = f" and {intake.grafana_timestamp_header} (within 5 minutes)" if intake.grafana_timestamp_header \
                else ""
            raise ApiError(401, "invalid signature",
                           f"the Grafana HMAC headers {intake.grafana_signature_header}{stamp} are missing or wrong")
        if intake.grafana_timestamp_header and not seen.first_time(
                headers.get(intake.grafana_signature_header.lower(), ""), now):
            raise ApiError(401, "replayed request", "this signed request was already received")
        return
    require_api_token(request, ctx.settings.api_token, insecure=insecure)


def pagerduty_error(exc: ApiError) -> JSONResponse:
    """A refused event as PagerDuty's Events API answers it (400, ``status``/``message``/``errors``), which
    its client libraries expect, with pagerbot's own ``error``/``detail`` beside them."""
    return JSONResponse({"status": "invalid event", "message": "Event object is invalid", "errors": [exc.error],
                         "error": exc.error, "detail": exc.detail}, status_code=400)


def router(ctx: Services, *, insecure: bool = False) -> APIRouter:
    api = APIRouter()
    limit = ctx.settings.config.intake.max_body_bytes
    seen = SeenSignatures()

    async def receive(sender: str, request: Request) -> JSONResponse:
        started = time.perf_counter()
        try:
            body = await read_limited(request, limit)
            authenticate(ctx, request, body, sender, insecure, seen)
            try:
                text = body_text(body)
                events = parse_body(sender, text)
            except MalformedBody as exc:
                raise ApiError(400, exc.problem, exc.detail) from None
            except PayloadError as exc:
                raise ApiError(422, f"not a valid {sender} body: {exc}", exc.to_dict()) from None
            try:
                await accept_alerts(ctx, sender, events, body=text)
            except Exception as exc:
                if is_unavailable(exc):
                    raise ApiError(503, "database unavailable", "the alert was not stored; retry",
                                   headers={"Retry-After": "5"}) from None
                raise
        except ApiError as exc:
            refusal = pagerduty_error(exc) if sender == "pagerduty" and exc.status in (400, 422) else None
            ALERTS_RECEIVED.labels(source=sender, outcome=str(refusal.status_code if refusal else exc.status)).inc()
            if refusal is not None:
                return refusal
            raise
        finally:
            WEBHOOK_LATENCY.labels(route=sender).observe(time.perf_counter() - started)
        ALERTS_RECEIVED.labels(source=sender, outcome="accepted").inc(len(events))
        if sender == "pagerduty":
            answer: dict[str, Any] = success_body(events[0]) if len(events) == 1 else {
                "status": "success", "message": "Events processed",
                "dedup_keys": [e.fingerprint for e in events]}
            return JSONResponse(answer, status_code=202)
        # Stored, not yet applied: the inbox worker groups the alerts and opens or updates the incident.
        return JSONResponse({"status": "accepted", "alerts": len(events)}, status_code=202)

    def endpoint_for(sender: str) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> JSONResponse:
            return await receive(sender, request)
        return endpoint

    for sender in PARSERS:
        api.add_api_route(f"/alerts/{sender}", endpoint_for(sender), methods=["POST"], name=f"alerts_{sender}",
                          summary=f"Receive {sender} alerts", openapi_extra=ALERT_BODY_SCHEMA,
                          status_code=202)
    return api
