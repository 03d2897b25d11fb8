"""The intake queue's SQL: one INSERT per delivery before the 2xx, claimed and deleted by the inbox worker.

``put`` is the webhook's whole database cost, so on PostgreSQL it is one statement through asyncpg's own pool:
one round trip, committed on its own (no BEGIN/COMMIT around it), where a Core INSERT in a transaction takes
three round trips and several times the CPU.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import asyncpg
from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pagerbot.store.db import sqlite_pragmas
from pagerbot.store.errors import connection_lost
from pagerbot.store.tables import InboxRow
from pagerbot.store.turns import WriterTurns

# Any 64-bit number unique to this lock among pagerbot's advisory locks (the scheduler's is another):
# the inbox worker holding it is the only one applying deliveries, so they are applied in order.
INBOX_LOCK = 0x7061676572_1B0C

_PG_PUT = "INSERT INTO inbox (source, kind, payload, received_at) VALUES ($1, $2, $3, $4)"
_SQLITE_PUT = "INSERT INTO inbox (source, kind, payload, received_at) VALUES (?, ?, ?, ?)"

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


async def _nothing_to_reset(connection: asyncpg.Connection) -> None:
    """The pool's reset on release. Its default runs RESET ALL, UNLISTEN *, CLOSE ALL and
    pg_advisory_unlock_all() on every release: a second round trip for each delivery. A connection of this
    pool only ever runs the one INSERT, which leaves no session state behind (asyncpg itself still rolls back
    a transaction left open)."""


class SQLitePut:
    """The inbox INSERT on SQLite: one call on a connection of its own, in a thread of its own.

    Through SQLAlchemy and aiosqlite the INSERT took five hops between the event loop and aiosqlite's thread
    (checkout, BEGIN, INSERT, COMMIT, return), 1 ms a delivery; here one hop does the autocommitted INSERT.
    Callers take their writer turn first (WriterTurns), so this connection never waits for SQLite's lock held
    by the process's other connections.
    """

    def __init__(self, database: str, received_at: Callable[[Any], Any] | None) -> None:
        self.database = database
        self._received_at = received_at or (lambda value: value)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pagerbot-inbox")
        self._connection: sqlite3.Connection | None = None

    def _put(self, row: tuple[str, str, str, Any]) -> None:
        if self._connection is None:  # opened in the thread that uses it
            self._connection = sqlite3.connect(self.database, isolation_level=None, check_same_thread=False)
            sqlite_pragmas(self._connection)
        self._connection.execute(_SQLITE_PUT, row)

    async def put(self, source: str, kind: str, payload: str, now: datetime) -> None:
        row = (source, kind, payload, self._received_at(now))
        await asyncio.get_running_loop().run_in_executor(self._thread, self._put, row)

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=False)


class Inbox:
    def __init__(self, engine: AsyncEngine, writers: WriterTurns) -> None:
        self.engine = engine
        self.writers = writers
        self.postgresql = engine.dialect.name == "postgresql"
        table = cast(Table, InboxRow.__table__)
        self._insert = insert(table)
        self._claim = (select(table.c.id, table.c.source, table.c.kind, table.c.payload)
                       .where(table.c.failed_at.is_(None)).order_by(table.c.id).limit(bindparam("limit")))
        self._remove = delete(table).where(table.c.id.in_(bindparam("ids", expanding=True)))
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        database = engine.url.database or ""
        self._sqlite = (SQLitePut(database, table.c.received_at.type.bind_processor(engine.dialect))
                        if not self.postgresql and database not in ("", ":memory:") else None)

    async def put(self, source: str, kind: str, payload: str, now: datetime) -> None:
        """Store one delivery (``kind``: BODY or EVENTS), committed when this returns.

        A connection the server dropped (it restarted; a proxy cut it) is discarded and the INSERT tried
        once more on a fresh one; a database still down raises again.
        """
        if not self.postgresql:
            async with self.writers.turn():
                if self._sqlite is not None:
                    await self._sqlite.put(source, kind, payload, now)
                    return
                async with self.engine.begin() as connection:
                    await connection.execute(
                        self._insert, {"source": source, "kind": kind, "payload": payload, "received_at": now})
            return
        for attempt in (1, 2):
            try:
                pool = self._pool or await self._asyncpg_pool()
                async with pool.acquire() as connection:
                    await connection.execute(_PG_PUT, source, kind, payload, now)
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
        if self._sqlite is not None:
            await self._sqlite.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def lock(self, session: AsyncSession) -> bool:
        """Take the inbox for this transaction; False when another replica's worker has it."""
        if not self.postgresql:
            return True  # SQLite serves one process, and writers take turns anyway
        return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(INBOX_LOCK))))

    async def claim(self, session: AsyncSession, limit: int) -> list[Delivery]:
        """The oldest waiting deliveries, in the order they were answered."""
        rows = await session.execute(self._claim, {"limit": limit})
        return [Delivery(int(row_id), source, kind, payload) for row_id, source, kind, payload in rows]

    async def remove(self, session: AsyncSession, ids: Sequence[int]) -> None:
        # On the table, not through the ORM: an ORM delete first matches every loaded object against the ids.
        await session.execute(self._remove, {"ids": list(ids)})

    async def fail(self, session: AsyncSession, row_id: int, error: str, now: datetime) -> None:
        await session.execute(update(InboxRow).where(InboxRow.id == row_id).values(failed_at=now, error=error[:4000]))

    async def stats(self, session: AsyncSession) -> tuple[int, datetime | None, int]:
        """Waiting deliveries, the oldest one's arrival, and deliveries kept as failed."""
        row: Any = (await session.execute(select(
            func.count().filter(InboxRow.failed_at.is_(None)),
            func.min(InboxRow.received_at).filter(InboxRow.failed_at.is_(None)),
            func.count().filter(InboxRow.failed_at.is_not(None))))).one()
        return int(row[0] or 0), row[1], int(row[2] or 0)
