"""POST /slack/events: bounded and verified before Bolt sees it.

The route is public when Slack uses HTTP, so an unauthenticated request costs as little as possible: the
body is read only up to ``slack.max_body_bytes`` (413 past it, unread), the signature headers are checked
for shape and the signature verified here, and a refusal logs one line (remote address, reason), never
the body. Only then is the request handed to Bolt.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_sdk.signature import SignatureVerifier

from pagerbot.settings import Settings
from pagerbot.web.alerts import read_limited
from pagerbot.web.errors import ApiError

log = logging.getLogger("pagerbot.slack")

# Slack's scheme: a Unix timestamp in seconds and "v0=" with a hex HMAC-SHA256.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
MAX_AGE_SECONDS = 300  # Slack's advice: older signed requests are replays


def refusal(settings: Settings, headers: Any, body: bytes, now: float) -> str | None:
    """Why this request is not from Slack (one short phrase), or None when it is signed by Slack."""
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if timestamp is None or signature is None:
        return "no X-Slack-Signature or X-Slack-Request-Timestamp header"
    if not _TIMESTAMP.fullmatch(timestamp):
        return "X-Slack-Request-Timestamp is not a Unix time"
    if abs(now - int(timestamp)) > MAX_AGE_SECONDS:
        return "stale X-Slack-Request-Timestamp"
    if not _SIGNATURE.fullmatch(signature):
        return "X-Slack-Signature is not v0=<hex>"
    verifier = SignatureVerifier(str(settings.slack_signing_secret))
    if not verifier.is_valid(body, timestamp, signature):
        return "bad signature"
    return None


def router(settings: Settings, bolt_app: Any) -> APIRouter:
    api = APIRouter(include_in_schema=False)
    limit = settings.config.slack.max_body_bytes

    @api.post("/slack/events")
    async def slack_events(request: Request) -> Response:
        body = await read_limited(request, limit, "slack.max_body_bytes")
        try:
            body.decode("utf-8")  # Slack's bodies always are; the verifier and Bolt decode it
        except UnicodeDecodeError:
            reason: str | None = "body is not UTF-8"
        else:
            reason = refusal(settings, request.headers, body, time.time())
        if reason is not None:
            where = request.client.host if request.client else "unknown"
            log.warning("Slack request refused from %s: %s", where, reason)
            raise ApiError(401, "invalid request", reason)
        try:  # Bolt parses the body here: JSON or a form, as the Content-Type says
            bolt_request = to_async_bolt_request(request, body)
        except (ValueError, RecursionError):
            raise ApiError(400, "malformed body", "expected Slack's form or JSON payload") from None
        return to_starlette_response(await bolt_app.async_dispatch(bolt_request))

    return api
