"""Periodic ticks (APScheduler 3): reminders, live graphs, metric watches, auto-resolve.

Job state lives in the database, so a restart resumes. With several replicas on PostgreSQL one holds a
session advisory lock and runs the ticks; when it dies its connection closes, the lock frees, and
another replica takes over at its next tick.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pagerbot.services.context import Services

log = logging.getLogger("pagerbot.scheduler")
LEADER_LOCK = 7433002


class Leadership:
    """Who runs the ticks: always this process on SQLite; the advisory lock's holder on PostgreSQL."""

    def __init__(self, ctx: Services) -> None:
        self.ctx = ctx
        self._connection: AsyncConnection | None = None

    async def is_leader(self) -> bool:
        if self.ctx.store.dialect != "postgresql":
            return True
        try:
            if self._connection is not None:
                await self._connection.execute(text("SELECT 1"))
                return True
        except Exception:
            await self.release()
        try:
            connection = await self.ctx.store.engine.connect()
            got = (await connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK})).scalar()
            await connection.commit()
        except Exception as exc:
            log.warning("scheduler: cannot reach the database for leadership (%s)", type(exc).__name__)
            return False
        if got:
            self._connection = connection
            log.info("scheduler: this replica now runs the periodic ticks")
            return True
        await connection.close()
        return False

    async def release(self) -> None:
        if self._connection is not None:
            try:
                await self._connection.close()
            except Exception:
                pass
            self._connection = None


class Scheduler:
    def __init__(self, ctx: Services, *, tick_seconds: float = 30.0) -> None:
        self.ctx = ctx
        self.tick_seconds = tick_seconds
        self.leadership = Leadership(ctx)
        self._scheduler: AsyncIOScheduler | None = None
        self.ticks: list[tuple[str, Callable[[Services], Awaitable[Any]]]] = default_ticks()

    async def start(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler.add_job(self.tick, "interval", seconds=self.tick_seconds, id="tick", max_instances=1,
                                coalesce=True, misfire_grace_time=None)
        self._scheduler.start()

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        await self.leadership.release()

    async def tick(self) -> bool:
        """Run every periodic job once, if this replica leads. True when it ran."""
        if not await self.leadership.is_leader():
            return False
        for name, job in self.ticks:
            try:
                await job(self.ctx)
            except Exception:
                log.exception("scheduler: %s failed", name)
        return True


def default_ticks() -> list[tuple[str, Callable[[Services], Awaitable[Any]]]]:
    from pagerbot.services import graphs, reminders

    # metrics_poll first: graphs and watches then see the values it just read
    return [("metrics_poll", graphs.poll_metrics), ("reminders", reminders.remind),
            ("auto_resolve", reminders.auto_resolve), ("graphs", graphs.refresh_due),
            ("watches", graphs.evaluate_watches)]
