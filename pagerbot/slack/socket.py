"""Socket Mode: with SLACK_APP_TOKEN, pagerbot opens a websocket to Slack and needs no public URL.

The connection is made in the background, so pagerbot starts (and takes alerts) while Slack is
unreachable; slack-sdk's client reconnects by itself once connected. The same Bolt app handles the
requests as over HTTP, and ``POST /slack/events`` refuses them (nothing there checks a signature).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

log = logging.getLogger("pagerbot.slack")


class SocketMode:
    def __init__(self, bolt: Any, app_token: str, *, ping_interval: float = 10.0) -> None:
        self.bolt = bolt
        self.app_token = app_token
        self.ping_interval = ping_interval
        self.handler: Any = None
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._connect(), name="socket-mode")

    async def _connect(self) -> None:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
        from slack_sdk.errors import SlackApiError

        self.handler = AsyncSocketModeHandler(self.bolt, self.app_token, ping_interval=self.ping_interval)
        client = self.handler.client
        delay = 1.0
        # slack-sdk's connect() retries forever on its own but gives up on a refused token; asking for the
        # websocket URL here first turns a bad token into one clear log line, and a Slack outage into retries.
        while not self._closed:
            try:
                client.wss_uri = await client.issue_new_wss_url()
                break
            except SlackApiError as exc:
                error = exc.response.get("error") if exc.response is not None else None
                if error in {"invalid_auth", "not_allowed_token_type", "not_authed", "account_inactive"}:
                    log.error("Socket Mode: Slack refused SLACK_APP_TOKEN (%s); no Slack requests will arrive",
                              error)
                    return
                log.warning("Socket Mode: apps.connections.open failed (%s); retrying in %.0f s", error, delay)
            except Exception as exc:
                log.warning("Socket Mode: cannot reach Slack (%s); retrying in %.0f s", type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
        if self._closed:
            return
        await client.connect()
        self.connected.set()
        log.info("connected to Slack in Socket Mode")

    async def close(self) -> None:
        """Stop taking requests from Slack (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=3)
        if self.handler is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.handler.close_async(), timeout=3)
