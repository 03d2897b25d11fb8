"""`pagerbot check`: one line per dependency, exit 1 if any fails.

Every failure is one line naming what to fix; never a traceback (the exceptions of drivers and clients
are reduced to their first line).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from pagerbot.bootstrap import build_metrics
from pagerbot.core.series import LOAD1
from pagerbot.mail.imap import read_new
from pagerbot.mail.sender import imap_mailbox, smtp_settings
from pagerbot.mail.smtp import check_connection
from pagerbot.settings import Settings
from pagerbot.store.db import async_url
from pagerbot.store.migrate import current_revision, head_revision

TIMEOUT = 15.0
_TOKEN_ERRORS = ("invalid_auth", "not_authed", "account_inactive", "token_revoked", "not_allowed_token_type")


class CheckFailed(Exception):
    """A check's own verdict, already one clear sentence."""


async def run_checks(settings: Settings) -> int:
    checks: list[tuple[str, Callable[[], Awaitable[str]]]] = [("config", lambda: _config(settings)),
                                                             ("database", lambda: _database(settings))]
    if settings.slack_enabled:
        checks.append(("slack", lambda: _slack(settings)))
        if settings.slack_app_token:
            checks.append(("slack socket mode", lambda: _socket_mode(settings)))
    if settings.config.metrics.source != "none":
        checks.append(("metrics", lambda: _metrics(settings)))
    if settings.config.vendors:
        checks.append(("smtp", lambda: _smtp(settings)))
    if settings.config.imap is not None:
        checks.append(("imap", lambda: _imap(settings)))
    failed = 0
    for name, check in checks:
        try:
            detail = await asyncio.wait_for(check(), timeout=TIMEOUT)
            print(f"ok    {name}: {detail}", flush=True)
        except Exception as exc:
            failed += 1
            print(f"FAIL  {name}: {describe(exc)}", flush=True)
    return 1 if failed else 0


def describe(exc: BaseException) -> str:
    """The first line of an exception's message (SQLAlchemy and slack-sdk add several more)."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {TIMEOUT:.0f} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = str(exc).strip().splitlines()[0].strip() if str(exc).strip() else ""
    if text.startswith("(") and ") " in text:  # SQLAlchemy's "(module.ErrorClass) message"
        text = text.split(") ", 1)[1]
    return text or type(exc).__name__


async def _config(settings: Settings) -> str:
    where = settings.config_path or "defaults (no config file)"
    return f"{where}; timezone {settings.config.timezone}"


async def _database(settings: Settings) -> str:
    where = async_url(settings.database_url).render_as_string(hide_password=True).split("://", 1)[1]
    try:
        current = await current_revision(settings.database_url)
    except Exception as exc:
        raise CheckFailed(f"cannot reach {where}: {describe(exc)}") from None
    head = head_revision()
    if current != head:
        raise CheckFailed(f"{where} is at revision {current or '(empty)'}, the code needs {head}: "
                          "run `pagerbot db upgrade`")
    return f"{where} is up to date (revision {head})"


async def _slack_call(settings: Settings, method: str, token: str) -> dict[str, object]:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(token=token, base_url=settings.slack_api_url, timeout=10, retry_handlers=[])
    try:
        response = await client.api_call(method)
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        status = exc.response.status_code if exc.response is not None else "?"
        raise CheckFailed(f"{method} at {settings.slack_api_url} answered {error or f'HTTP {status}'}") from None
    except Exception as exc:
        raise CheckFailed(f"cannot reach {settings.slack_api_url}: {describe(exc)}") from None
    return dict(response.data) if isinstance(response.data, dict) else {}


async def _slack(settings: Settings) -> str:
    try:
        data = await _slack_call(settings, "auth.test", str(settings.slack_bot_token))
    except CheckFailed as exc:
        if any(error in str(exc) for error in _TOKEN_ERRORS):
            raise CheckFailed(f"{exc}: check SLACK_BOT_TOKEN") from None
        raise
    return f"auth.test ok as {data.get('user')} in {data.get('team')}"


async def _socket_mode(settings: Settings) -> str:
    try:
        await _slack_call(settings, "apps.connections.open", str(settings.slack_app_token))
    except CheckFailed as exc:
        if any(error in str(exc) for error in _TOKEN_ERRORS):
            raise CheckFailed(f"{exc}: check SLACK_APP_TOKEN (an app-level token, xapp-...)") from None
        raise
    return "apps.connections.open ok (Socket Mode)"


async def _metrics(settings: Settings) -> str:
    source = build_metrics(settings)
    if source is None:
        raise CheckFailed(f"metrics.source {settings.config.metrics.source!r} has no client to check")
    try:
        now = datetime.now(UTC)
        series = await source.fetch([LOAD1], now - timedelta(minutes=10), now, 60)
    finally:
        await source.close()
    return f"{settings.config.metrics.source} answered with {len(series)} hosts"


async def _smtp(settings: Settings) -> str:
    smtp = smtp_settings(settings)
    await check_connection(smtp)
    return f"{smtp.host}:{smtp.port} accepted the connection"


async def _imap(settings: Settings) -> str:
    mailbox = imap_mailbox(settings)
    assert mailbox is not None
    await read_new(mailbox.settings, 0, 0, limit=0)  # log in and open the mailbox; read no message
    return f"{mailbox.settings.where} opened mailbox {mailbox.settings.mailbox}"
