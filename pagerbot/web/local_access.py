"""Who may open /local, the local workspace's page (docs/security.md, "The local page").

/local declares, resolves and escalates incidents and sends email, as whoever its user picks: it is meant for
its owner. So:

- On a loopback bind it is open to the machine's own browser, unless ``PAGERBOT_LOCAL_PASSWORD`` is set.
- On any other bind it asks for a login (HTTP Basic: any user name, the password ``PAGERBOT_LOCAL_PASSWORD``,
  else ``PAGERBOT_API_TOKEN``); with neither set it is not served at all.
- Whatever the bind, the Host header must name a loopback host or ``PAGERBOT_PUBLIC_URL``'s host: a page of
  another site that rebinds its own name to 127.0.0.1 (DNS rebinding) is refused.
- Its pages may not be framed (``X-Frame-Options: DENY``) and run only their own script (a CSP).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pagerbot.intake.auth import check_token
from pagerbot.web.errors import ApiError

LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})
_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


class LocalAccess(Enum):
    OPEN = "open"  # loopback bind, no password set: the machine's own browser
    LOGIN = "login"  # HTTP Basic with the password
    OFF = "off"  # a non-loopback bind without any password: not served


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or a Host header's name, without port) is this machine only."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def local_access(bind_host: str, local_password: str | None, api_token: str | None) -> LocalAccess:
    """How /local is served on ``bind_host``, given the passwords configured."""
    if local_password:
        return LocalAccess.LOGIN
    if is_loopback(bind_host):
        return LocalAccess.OPEN
    return LocalAccess.LOGIN if api_token else LocalAccess.OFF


def _host_name(host_header: str) -> str:
    """The name of a Host header, without its port (``[::1]:8080`` → ``::1``)."""
    return urlsplit(f"//{host_header}").hostname or ""


@dataclass(frozen=True)
class LocalGuard:
    """The check every /local request passes before its handler (a FastAPI dependency)."""

    access: LocalAccess
    password: str | None
    public_host: str

    async def __call__(self, request: Request) -> None:
        if self.access is LocalAccess.OFF:
            raise ApiError(404, "the local page is not served on this address",
                           "it changes incidents as anyone: bind to 127.0.0.1, or set PAGERBOT_LOCAL_PASSWORD "
                           "(or PAGERBOT_API_TOKEN) to have it ask for a login")
        name = _host_name(request.headers.get("host") or "")
        if not (is_loopback(name) or (self.public_host and name == self.public_host)):
            raise ApiError(403, "unexpected Host header",
                           "open /local by a loopback address or by PAGERBOT_PUBLIC_URL's host")
        if self.access is LocalAccess.LOGIN and not check_token(
                request.headers.get("authorization"), self.password or ""):
            raise ApiError(401, "login required", "the password is PAGERBOT_LOCAL_PASSWORD (else PAGERBOT_API_TOKEN)",
                           headers={"WWW-Authenticate": 'Basic realm="pagerbot local", charset="UTF-8"'})


def local_guard(bind_host: str, local_password: str | None, api_token: str | None, public_url: str) -> LocalGuard:
    access = local_access(bind_host, local_password, api_token)
    return LocalGuard(access, local_password or api_token, (urlsplit(public_url).hostname or "").lower())


def page_headers(own_scripts: Iterable[str] = ()) -> dict[str, str]:
    """Headers of a /local answer: never framed, and of inline scripts only ``own_scripts`` (the ``<script>``
    elements pagerbot wrote into the page) may run, by their hashes."""
    hashes = "".join(f" 'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
                     for script in own_scripts for body in _SCRIPT.findall(script))
    policy = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
              f"script-src 'self'{hashes}; connect-src 'self'; object-src 'none'; base-uri 'none'; "
              "form-action 'self'; frame-ancestors 'none'")
    # Referrer-Policy same-origin, not no-referrer: under no-referrer a browser posts the forms with "Origin:
    # null", which the page's cross-site check (web/local.py) must refuse.
    return {"Content-Security-Policy": policy, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin"}


class LocalPageHeaders:
    """ASGI middleware: every answer under /local (pages, files, errors) carries :func:`page_headers` unless its
    handler set its own (a page with its script's hash). Other routes pass untouched, at no cost."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.defaults = [(k.lower().encode(), v.encode()) for k, v in page_headers().items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == "/local" or path.startswith("/local/")):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in self.defaults if k not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)
