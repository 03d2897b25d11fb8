"""`pagerbot check`: one line per dependency, exit 1 if any fails."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from pagerbot.settings import Settings


async def run_checks(settings: Settings) -> int:
    checks: list[tuple[str, Callable[[], Awaitable[str]]]] = [("config", lambda: _config(settings)),
                                                             ("database", lambda: _database(settings))]
    if settings.slack_enabled:
        checks.append(("slack", lambda: _slack(settings)))
    if settings.config.metrics.source != "none":
        checks.append(("metrics", lambda: _metrics(settings)))
    if settings.config.vendors:
        checks.append(("smtp", lambda: _smtp(settings)))
    failed = 0
    for name, check in checks:
        try:
            detail = await asyncio.wait_for(check(), timeout=15)
            print(f"ok    {name}: {detail}")
        except Exception as exc:
            failed += 1
            print(f"FAIL  {name}: {exc or type(exc).__name__}")
    return 1 if failed else 0


async def _config(settings: Settings) -> str:
    where = settings.config_path or "defaults (no config file)"
    return f"{where}; timezone {settings.config.timezone}"


async def _database(settings: Settings) -> str:
    from pagerbot.store.migrate import current_revision, head_revision

    current = await current_revision(settings.database_url)
    head = head_revision()
    state = "up to date" if current == head else f"at {current}, head is {head}: run `pagerbot db upgrade`"
    if current != head:
        raise RuntimeError(state)
    return state


async def _slack(settings: Settings) -> str:
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    response = await client.auth_test()
    return f"auth.test ok as {response.get('user')} in {response.get('team')}"


async def _metrics(settings: Settings) -> str:
    from datetime import UTC, datetime

    from pagerbot.bootstrap import build_metrics
    from pagerbot.metrics.series import LOAD1

    source = build_metrics(settings)
    try:
        now = datetime.now(UTC)
        series = await source.fetch([LOAD1], now - timedelta(minutes=10), now, 60)
    finally:
        await source.close()
    return f"{settings.config.metrics.source} answered with {len(series)} hosts"


async def _smtp(settings: Settings) -> str:
    from pagerbot.mail.smtp import check_connection
    from pagerbot.services.escalation import smtp_settings

    smtp = smtp_settings(settings)
    await check_connection(smtp)
    return f"{smtp.host}:{smtp.port} accepted the connection"
