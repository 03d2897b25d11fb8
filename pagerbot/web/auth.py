"""The one bearer check of the HTTP API and the alert webhooks (PAGERBOT_API_TOKEN)."""

from __future__ import annotations

from fastapi import Request

from pagerbot.intake.auth import check_token
from pagerbot.web.errors import ApiError


def require_api_token(request: Request, token: str | None, *, insecure: bool) -> None:
    """Raise a 401 unless the request carries ``token`` (Bearer, or Basic with it as the password).

    Without a configured token every request is refused, unless the server was started with
    ``--insecure-no-auth``.
    """
    if token is None:
        if insecure:
            return
        raise ApiError(401, "authentication required", "no API token is configured")
    if not check_token(request.headers.get("authorization"), token):
        raise ApiError(401, "invalid token",
                       "send Authorization: Bearer <PAGERBOT_API_TOKEN> (or Basic with it as the password)",
                       headers={"WWW-Authenticate": 'Bearer realm="pagerbot"'})
