"""The intake queue: one INSERT per delivery before the 2xx, claimed and applied by the inbox worker.

``put`` is the webhook's whole database cost. On PostgreSQL it is one statement through asyncpg's own pool:
one round trip, committed on its own (no BEGIN/COMMIT around it), where a Core INSERT in a transaction takes
three round trips and several times the CPU; the worker deletes what it applied in the same transaction. On
a SQLite file the queue is a file of its own (store/inbox_file.py), so webhooks never wait for SQLite's one
write lock while the worker applies a batch; there the worker's transaction records how far it applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import asyncpg
from sqlalchemy import Table, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pagerbot.store.errors import connection_lost
from pagerbot.store.inbox_file import InboxFile
from pagerbot.store.lanes import Progress, fair_claim
from pagerbot.store.tables import InboxProgress, InboxRow

# Any 64-bit number unique to this lock among pagerbot's advisory locks (the scheduler's is another):
# the inbox worker holding it is the only one applying deliveries, so they are applied in order.
INBOX_LOCK = 0x7061676572_1B0C

_PG_PUT = "INSERT INTO inbox (source, kind, payload, received_at, lane) VALUES ($1, $2, $3, $4, $5)"

# What an inbox row's payload holds (InboxRow.kind).
BODY = "body"  # the sender's body as received, for the parser of the route named in ``source``
EVENTS = "events"  # a JSON list of AlertEvent dicts (alerts pagerbot made, from metric watches)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A waiting delivery as the worker claims it."""

    id: int
    source: str
    kind: str
    payload: str
    in_file: bool = False  # waiting in the SQLite inbox file, not in the inbox table
    in_lane: int = field(default=1, compare=False)  # deliveries waiting in its lane when claimed, itself included


async def _nothing_to_reset(connection: asyncpg.Connection) -> None:
    """The pool's reset on release. Its default runs RESET ALL, UNLISTEN *, CLOSE ALL and
    pg_advisory_unlock_all() on every release: a second round trip for each delivery. A connection of this
    pool only ever runs the one INSERT, which leaves no session state behind (asyncpg itself still rolls back
    a transaction left open)."""


class Inbox:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.postgresql = engine.dialect.name == "postgresql"
        table = cast(Table, InboxRow.__table__)
        self._claim = text(fair_claim(table.name))
        self._remove = delete(table).where(table.c.id.in_(bindparam("ids", expanding=True)))
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self.file: InboxFile | None = None
        if not self.postgresql:
            database = engine.url.database or ""
            if database in ("", ":memory:"):
                raise ValueError("pagerbot keeps its SQLite database in a file: give database_url a path")
            self.file = InboxFile(database)
        # The inbox table of a SQLite file may still hold deliveries an earlier version accepted: the worker
        # applies those first. Nothing is put there any more, so once found empty it stays empty.
        self._table_drained = False

    async def put(self, source: str, kind: str, payload: str, now: datetime, lane: str | None = None) -> None:
        """Store one delivery (``kind``: BODY or EVENTS) in ``lane`` (core/lanes.py), committed when this returns.

        A connection the server dropped (it restarted; a proxy cut it) is discarded and the INSERT tried
        once more on a fresh one; a database still down raises again.
        """
        if self.file is not None:
            await self.file.put(source, kind, payload, now, lane)
            return
        for attempt in (1, 2):
            try:
                pool = self._pool or await self._asyncpg_pool()
                async with pool.acquire() as connection:
                    await connection.execute(_PG_PUT, source, kind, payload, now, lane)
                return
            except Exception as exc:
                if attempt == 2 or not connection_lost(exc):
                    raise

    async def _asyncpg_pool(self) -> asyncpg.Pool:
        """asyncpg's own pool, opened on the first delivery: the webhook's one statement without SQLAlchemy's
        connection and greenlet wrapping, which cost as much as the INSERT."""
        async with self._pool_lock:  # the first deliveries arrive together
            if self._pool is None:
                url = self.engine.url.set(drivername="postgresql")
                self._pool = await asyncpg.create_pool(url.render_as_string(hide_password=False), min_size=0,
                                                       max_size=10, timeout=5, command_timeout=10,
                                                       reset=_nothing_to_reset)
            return self._pool

    async def close(self) -> None:
        if self.file is not None:
            await self.file.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def lock(self, session: AsyncSession) -> bool:
        """Take the inbox for this transaction; False when another replica's worker has it."""
        if not self.postgresql:
            return True  # SQLite serves one process, whose worker applies alone (InboxWorker._applying)
        return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(INBOX_LOCK))))

    async def claim(self, session: AsyncSession, limit: int) -> list[Delivery]:
        """The next waiting deliveries, in fair order (store/lanes.py): the heads of every lane first."""
        if self.file is None or not self._table_drained:
            rows = await session.execute(self._claim, {"limit": limit})
            waiting = [Delivery(int(row_id), source, kind, payload, in_lane=int(in_lane))
                       for row_id, source, kind, payload, in_lane in rows]
            if waiting or self.file is None:
                return waiting
            self._table_drained = True
        return [Delivery(row.id, row.source, row.kind, row.payload, in_file=True, in_lane=row.in_lane)
                for row in await self.file.claim(await self._progress(session), limit)]

    async def remove(self, session: AsyncSession, deliveries: Sequence[Delivery]) -> None:
        """Take applied deliveries out of the queue, in the transaction that applied them."""
        in_file = {delivery.id for delivery in deliveries if delivery.in_file}
        if in_file:  # the file's rows are deleted at the next claim, once this progress is committed
            assert self.file is not None
            progress = await self._progress(session)
            oldest = await self.file.oldest_unapplied(Progress(progress.mark, progress.after | in_file))
            progress = progress.with_applied(in_file, oldest)
            mark = sqlite_insert(InboxProgress).values(inbox=await self.file.identity(), applied_through=progress.mark,
                                                       applied_after=progress.after_json())
            await session.execute(mark.on_conflict_do_update(index_elements=[InboxProgress.inbox], set_={
                "applied_through": mark.excluded.applied_through, "applied_after": mark.excluded.applied_after}))
        in_table = [delivery.id for delivery in deliveries if not delivery.in_file]
        if in_table:
            # On the table, not through the ORM: an ORM delete first matches every loaded object against the ids.
            await session.execute(self._remove, {"ids": in_table})

    async def fail(self, session: AsyncSession, delivery: Delivery, error: str, now: datetime) -> None:
        if delivery.in_file:
            assert self.file is not None
            progress = await self._progress(session)
            await self.file.fail(delivery.id, error[:4000], now, progress.mark, progress.after)
            return
        await session.execute(update(InboxRow).where(InboxRow.id == delivery.id)
                              .values(failed_at=now, error=error[:4000]))

    async def stats(self, session: AsyncSession) -> tuple[int, datetime | None, int]:
        """Waiting deliveries, the oldest one's arrival, and deliveries kept as failed."""
        row: Any = (await session.execute(select(
            func.count().filter(InboxRow.failed_at.is_(None)),
            func.min(InboxRow.received_at).filter(InboxRow.failed_at.is_(None)),
            func.count().filter(InboxRow.failed_at.is_not(None))))).one()
        pending, oldest, failed = int(row[0] or 0), row[1], int(row[2] or 0)
        if self.file is not None:
            progress = await self._progress(session)
            in_file, oldest_in_file, failed_in_file = await self.file.stats(progress.mark, progress.after)
            pending, failed = pending + in_file, failed + failed_in_file
            oldest = min(filter(None, (oldest, oldest_in_file)), default=None)
        return pending, oldest, failed

    async def _progress(self, session: AsyncSession) -> Progress:
        """How far the inbox file was applied, as committed in the main database."""
        assert self.file is not None
        row = (await session.execute(select(InboxProgress.applied_through, InboxProgress.applied_after)
                                     .where(InboxProgress.inbox == await self.file.identity()))).first()
        return Progress.from_columns(*row) if row else Progress(0)
