"""Periodic ticks (APScheduler 3): reminders, live graphs, metric watches, auto-resolve.

Job state lives in the database, so a restart resumes. With several replicas on PostgreSQL one holds a
session advisory lock and runs the ticks; when it dies its connection closes, the lock frees, and
another replica takes over at its next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pagerbot.observability import SCHEDULER_LEADER, SCHEDULER_TICKS
from pagerbot.services import graphs, paging, reminders, replies
from pagerbot.services.context import Services
from pagerbot.store.repository import is_unavailable

log = logging.getLogger("pagerbot.scheduler")
LEADER_LOCK = 7433002


class Leadership:
    """Who runs the ticks: always this process on SQLite; the advisory lock's holder on PostgreSQL."""

    def __init__(self, ctx: Services) -> None:
        self.ctx = ctx
        self._connection: AsyncConnection | None = None

    async def is_leader(self) -> bool:
        if self.ctx.store.dialect != "postgresql":
            SCHEDULER_LEADER.set(1)
            return True
        if self._connection is not None:
            try:
                await self._connection.execute(text("SELECT 1"))
                return True
            except Exception as exc:
                log.warning("scheduler: lost the database connection that held leadership (%s)",
                            type(exc).__name__)
                await self.release()
        try:
            connection = await self.ctx.store.engine.connect()
        except Exception as exc:
            log.warning("scheduler: cannot reach the database for leadership (%s)", type(exc).__name__)
            return False
        try:
            got = (await connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK})).scalar()
            await connection.commit()
        except Exception as exc:
            log.warning("scheduler: cannot reach the database for leadership (%s)", type(exc).__name__)
            await _discard(connection)
            return False
        if got:
            self._connection = connection
            SCHEDULER_LEADER.set(1)
            log.info("scheduler: this replica now runs the periodic ticks")
            return True
        await connection.close()
        return False

    async def release(self) -> None:
        """Give up leadership: unlock, or drop the connection (a session lock ends with its session)."""
        connection, self._connection = self._connection, None
        SCHEDULER_LEADER.set(0)
        if connection is None:
            return
        try:
            await connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK})
            await connection.commit()
            await connection.close()
        except Exception:
            await _discard(connection)


async def _discard(connection: AsyncConnection) -> None:
    """Close a connection that may be broken without returning it to the pool."""
    with contextlib.suppress(Exception):
        await connection.invalidate()
    with contextlib.suppress(Exception):
        await connection.close()


class Scheduler:
    def __init__(self, ctx: Services, *, tick_seconds: float | None = None) -> None:
        self.ctx = ctx
        self.tick_seconds = tick_seconds if tick_seconds is not None else ctx.settings.config.server.tick_seconds
        self.leadership = Leadership(ctx)
        self._scheduler: AsyncIOScheduler | None = None
        self._running: asyncio.Task[Any] | None = None
        self.ticks: list[tuple[str, Callable[[Services], Awaitable[Any]]]] = default_ticks()

    async def start(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler.add_job(self.tick, "interval", seconds=self.tick_seconds, id="tick", max_instances=1,
                                coalesce=True, misfire_grace_time=None)
        self._scheduler.start()

    async def stop(self, timeout: float = 5.0) -> None:
        """No new ticks; the one running (if any) may finish within ``timeout``; then leadership is given up."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.pause()  # shutdown() would cancel the tick in progress
        running = self._running
        if running is not None and not running.done() and running is not asyncio.current_task():
            await asyncio.wait({running}, timeout=timeout)
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        await self.leadership.release()

    async def tick(self) -> bool:
        """Run every periodic job once, if this replica leads. True when it ran."""
        self._running = asyncio.current_task()
        if not await self.leadership.is_leader():
            return False
        SCHEDULER_TICKS.inc()
        for name, job in self.ticks:
            try:
                await job(self.ctx)
            except Exception as exc:
                if is_unavailable(exc):
                    log.warning("scheduler: %s skipped, the database is unavailable (%s)", name, type(exc).__name__)
                else:
                    log.exception("scheduler: %s failed", name)
        return True


def default_ticks() -> list[tuple[str, Callable[[Services], Awaitable[Any]]]]:
    # paging first: waking someone must not wait for a slow metrics source; metrics_poll before graphs and
    # watches, which then see the values it just read
    return [("paging", paging.escalate_due), ("metrics_poll", graphs.poll_metrics), ("reminders", reminders.remind),
            ("auto_resolve", reminders.auto_resolve), ("graphs", graphs.refresh_due),
            ("watches", graphs.evaluate_watches), ("vendor_replies", replies.poll_mailbox)]
