"""The composition root: everything is built here from settings; tests swap any part by keyword.

An adapter chosen by the settings is imported where it is chosen, so that a server loads only the clients
it uses: the recorded metrics bring numpy, Slack brings slack_bolt and aiohttp, the scheduler APScheduler
(an idle server stays small; see the README's Production section).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from pagerbot.chat.local import LocalChat
from pagerbot.clock import SystemClock
from pagerbot.graphs.worker import GraphRenderer
from pagerbot.mail.sender import imap_mailbox, smtp_sender
from pagerbot.outbox.handlers import all_handlers
from pagerbot.outbox.ops import default_handlers
from pagerbot.outbox.worker import OutboxWorker
from pagerbot.services.context import Services
from pagerbot.services.inbox import InboxWorker
from pagerbot.services.ports import ChatPort, Clock, Mailbox, MailSender, MetricsSource, Renderer
from pagerbot.settings import ConfigError, Settings
from pagerbot.store.db import create_engine
from pagerbot.store.repository import Store

if TYPE_CHECKING:  # the annotations of Runtime; the modules themselves are imported when chosen (above)
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncApp

    from pagerbot.scheduler import Scheduler
    from pagerbot.slack.socket import SocketMode

log = logging.getLogger("pagerbot")


@dataclass
class Runtime:
    settings: Settings
    ctx: Services
    engine: AsyncEngine
    worker: OutboxWorker
    inbox: InboxWorker
    local: LocalChat | None = None
    inbox_in_background: bool = True  # False: deliveries wait for inbox.drain() (the demo's replay; tests)
    bolt: AsyncApp | None = None
    slack_handler: AsyncSlackRequestHandler | None = None
    scheduler: Scheduler | None = None
    socket_mode: SocketMode | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _deadline: float | None = None

    async def start_background(self) -> None:
        self._stopping = asyncio.Event()
        self._deadline = None
        if self.inbox_in_background:
            self._tasks.append(asyncio.create_task(self.inbox.run(self._stopping), name="inbox"))
        self._tasks.append(asyncio.create_task(self.worker.run(self._stopping), name="outbox"))
        if self.scheduler is not None:
            await self.scheduler.start()
        if self.socket_mode is not None:
            self.socket_mode.start()

    def begin_stop(self, budget: float | None = None) -> None:
        """On SIGTERM: take no more Slack requests over Socket Mode; the outbox worker finishes the batch
        in hand and claims no new one; stop_background then waits at most until ``budget`` seconds from now."""
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + (self.settings.config.server.shutdown_seconds if budget is None else budget)
        self._stopping.set()
        if self.socket_mode is not None:
            self._tasks.append(asyncio.create_task(self.socket_mode.close(), name="socket-mode-close"))

    async def stop_background(self, timeout: float | None = None) -> None:
        """Stop the scheduler and the outbox worker within ``timeout`` (server.shutdown_seconds).

        Deliveries still running then are cancelled and their rows handed back (see release_claims).
        """
        loop = asyncio.get_running_loop()
        if timeout is not None:
            deadline = loop.time() + timeout
        elif self._deadline is not None:
            deadline = self._deadline - 1.0  # a second is left for closing the pools
        else:
            deadline = loop.time() + self.settings.config.server.shutdown_seconds
        self._stopping.set()
        if self.socket_mode is not None:
            await self.socket_mode.close()
        if self.scheduler is not None:
            await self.scheduler.stop(timeout=max(0.1, (deadline - loop.time()) / 2))
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=max(0.1, deadline - loop.time()))
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1)
                try:
                    await asyncio.wait_for(self.worker.release_claims(), timeout=2)
                except Exception as exc:  # the lease runs out instead
                    log.warning("outbox: could not release unfinished rows (%s)", type(exc).__name__)
            self._tasks.clear()
        if self.inbox_in_background:
            # Deliveries answered while the worker was stopping (in-flight requests finish after the signal)
            # are applied now if the budget allows; otherwise they wait in the inbox for the next start.
            try:
                await asyncio.wait_for(self.inbox.drain(), timeout=max(0.1, deadline - loop.time()))
            except Exception as exc:
                log.warning("inbox: deliveries left for the next start (%s)", type(exc).__name__)

    async def close(self) -> None:
        await self.stop_background()
        close = getattr(self.ctx.chat, "close", None)
        if close is not None:
            await close()
        if self.ctx.graphs is not None:
            await self.ctx.graphs.close()
        if self.ctx.metrics is not None:
            with contextlib.suppress(Exception):
                await self.ctx.metrics.close()
        await self.ctx.store.inbox.close()
        await self.engine.dispose()


def build_metrics(settings: Settings) -> MetricsSource | None:
    config = settings.config.metrics
    # Each source is imported when chosen (see the module's docstring).
    if config.source == "prometheus":
        from pagerbot.metrics.prometheus import PrometheusSource

        return PrometheusSource(str(config.url), queries=config.queries or None, timeout=config.timeout_seconds)
    if config.source == "ganglia":
        from pagerbot.metrics.ganglia import GangliaSource

        return GangliaSource(str(config.url), rrd_root=config.rrd_root, timeout=config.timeout_seconds)
    if config.source == "graphite":
        from pagerbot.metrics.graphite import GraphiteSource

        return GraphiteSource(str(config.url), targets=config.queries or None, timeout=config.timeout_seconds)
    if config.source == "recorded":
        if not config.path:
            raise ConfigError("metrics.path: required when metrics.source is recorded")
        from pagerbot.metrics.recorded import RecordedSource  # brings numpy

        return RecordedSource(Path(config.path))
    return None


def build(settings: Settings, *, chat: ChatPort | None = None, clock: Clock | None = None,
          metrics: MetricsSource | None = None, graphs: Renderer | None = None,
          mail_sender: MailSender | None = None, mailbox: Mailbox | None = None,
          engine: AsyncEngine | None = None,
          worker_id: str | None = None, with_slack: bool | None = None, with_scheduler: bool = True,
          with_inbox_worker: bool = True) -> Runtime:
    clock = clock or SystemClock()
    engine = engine or create_engine(
        settings.database_url, ping_after_idle_seconds=settings.config.server.db_ping_after_idle_seconds)
    store = Store(engine)
    local: LocalChat | None = None
    if chat is None:
        if settings.slack_enabled:
            from pagerbot.chat.slack import SlackChat  # imported when chosen (module docstring)

            chat = SlackChat.create(str(settings.slack_bot_token), settings.slack_api_url)
        else:
            local = LocalChat(store, clock)
            chat = local
    elif isinstance(chat, LocalChat):
        local = chat
    if metrics is None:
        metrics = build_metrics(settings)
    if graphs is None and metrics is not None:
        graphs = GraphRenderer()
    if mail_sender is None:
        mail_sender = smtp_sender(settings)
    if mailbox is None:
        mailbox = imap_mailbox(settings)
    ctx = Services(settings=settings, store=store, clock=clock, chat=chat, metrics=metrics, graphs=graphs,
                   mail_sender=mail_sender, mailbox=mailbox)
    worker = OutboxWorker(ctx, all_handlers(), worker_id=worker_id)
    ctx.wake_outbox = worker.wake
    inbox = InboxWorker(ctx)
    ctx.wake_inbox = inbox.wake
    runtime = Runtime(settings=settings, ctx=ctx, engine=engine, worker=worker, inbox=inbox, local=local,
                      inbox_in_background=with_inbox_worker)
    if with_slack if with_slack is not None else settings.slack_enabled:
        from pagerbot.slack.app import build_bolt  # imported when chosen (module docstring)

        runtime.bolt, runtime.slack_handler = build_bolt(ctx)
        if settings.slack_app_token:
            # Socket Mode: Slack's requests arrive over a websocket pagerbot opens; /slack/events refuses.
            from pagerbot.slack.socket import SocketMode  # imported when chosen

            runtime.socket_mode = SocketMode(runtime.bolt, settings.slack_app_token)
            runtime.slack_handler = None
    if with_scheduler:
        from pagerbot.scheduler import Scheduler  # imported when chosen (module docstring)

        runtime.scheduler = Scheduler(ctx)
    return runtime


__all__ = ["Runtime", "build", "default_handlers"]
