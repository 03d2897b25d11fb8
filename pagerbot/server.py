"""`pagerbot serve`: migrations, the composition root, uvicorn; Socket Mode when SLACK_APP_TOKEN is set."""

from __future__ import annotations

import asyncio
import logging

import uvicorn

from pagerbot.bootstrap import build
from pagerbot.logs import configure
from pagerbot.settings import ConfigError, Settings

log = logging.getLogger("pagerbot")


def serve(settings: Settings, *, host: str, port: int, migrate: bool = True, insecure: bool = False,
          log_format: str = "json", log_level: str = "INFO") -> int:
    configure(log_format, log_level)
    if settings.api_token is None and not insecure:
        raise ConfigError("PAGERBOT_API_TOKEN: required to accept alerts (or pass --insecure-no-auth to try it out)")
    return asyncio.run(_serve(settings, host=host, port=port, migrate=migrate, insecure=insecure))


async def _serve(settings: Settings, *, host: str, port: int, migrate: bool, insecure: bool) -> int:
    if migrate:
        from pagerbot.store.migrate import upgrade

        await upgrade(settings.database_url)
    runtime = build(settings)
    from pagerbot.web.app import create_app

    app = create_app(runtime, insecure=insecure)
    socket_mode = None
    if settings.slack_app_token and runtime.bolt is not None:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        socket_mode = AsyncSocketModeHandler(runtime.bolt, settings.slack_app_token)
        await socket_mode.connect_async()
        log.info("connected to Slack in Socket Mode")
    where = "Slack" if settings.slack_enabled else f"the local workspace at {settings.public_url}/local"
    log.info("pagerbot serving on http://%s:%d (chat: %s)", host, port, where)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                            timeout_graceful_shutdown=8, lifespan="on")
    server = uvicorn.Server(config)
    try:
        await server.serve()
    finally:
        if socket_mode is not None:
            await socket_mode.close_async()
        await runtime.close()
    return 0
