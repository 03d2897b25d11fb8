"""On SQLite the inbox is a file of its own beside the database, so a webhook never waits for the worker.

SQLite lets one writer at a time into a database file. With the inbox in the main file, each webhook's INSERT
waited while the inbox worker applied a batch (up to tens of milliseconds); in ``<database>-inbox`` it waits
only for other INSERTs, and for the worker's quick DELETE of rows it has applied.

Exactly once, without a transaction that spans the two files (SQLite commits attached WAL databases one by
one): the worker's transaction in the main database records the last delivery it applied (``inbox_progress``,
keyed by this file's identity). It claims only deliveries after that mark, and deletes the ones up to it from
this file when it next claims; a crash between the two commits leaves applied rows here that nobody claims
again. Ids come from AUTOINCREMENT, so they never fall back below the mark after deletions, and a lost or
replaced file has a new identity, so it starts its own mark.

Every statement runs on one connection in one thread of its own: webhooks and the worker's claims queue
there rather than in SQLite's busy handler (another process on the file still meets its busy timeout).
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from pagerbot.store.db import sqlite_pragmas

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at TEXT NOT NULL,
    failed_at TEXT,
    error TEXT
);
CREATE TABLE IF NOT EXISTS identity (key TEXT NOT NULL);
"""
_PUT = "INSERT INTO inbox (source, kind, payload, received_at) VALUES (?, ?, ?, ?)"
_FORGET = "DELETE FROM inbox WHERE id <= ? AND failed_at IS NULL"
_CLAIM = "SELECT id, source, kind, payload FROM inbox WHERE id > ? AND failed_at IS NULL ORDER BY id LIMIT ?"
_FAIL = "UPDATE inbox SET failed_at = ?, error = ? WHERE id = ?"
_STATS = ("SELECT count(*) FILTER (WHERE failed_at IS NULL AND id > ?),"
          " min(received_at) FILTER (WHERE failed_at IS NULL AND id > ?),"
          " count(*) FILTER (WHERE failed_at IS NOT NULL) FROM inbox")


def inbox_path(database: str) -> str:
    """Where the inbox of the SQLite database ``database`` lives (back the two up together)."""
    return f"{database}-inbox"


@dataclass(frozen=True, slots=True)
class Waiting:
    """A delivery in the file as the worker claims it (store/inbox.Delivery, without importing it here)."""

    id: int
    source: str
    kind: str
    payload: str


class InboxFile:
    def __init__(self, path: str) -> None:
        self.path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pagerbot-inbox")
        self._connection: sqlite3.Connection | None = None
        self._identity = ""
        self._forgotten_through = 0  # rows up to this id are already deleted

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._call, work)

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._connection is None:  # opened in the thread that uses it
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                sqlite_pragmas(connection)
                connection.executescript(_SCHEMA)
                connection.execute("INSERT INTO identity (key) SELECT ? WHERE NOT EXISTS (SELECT 1 FROM identity)",
                                    (uuid.uuid4().hex,))
                self._identity = connection.execute("SELECT key FROM identity").fetchone()[0]
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        return work(self._connection)

    async def identity(self) -> str:
        """This file's identity, made when the file was: the key of its mark in the main database."""
        return self._identity or await self._run(lambda _connection: self._identity)

    async def put(self, source: str, kind: str, payload: str, now: datetime) -> None:
        row = (source, kind, payload, _text(now))
        await self._run(lambda connection: connection.execute(_PUT, row))

    async def claim(self, applied_through: int, limit: int) -> list[Waiting]:
        """The oldest deliveries after ``applied_through`` (the mark committed in the main database), after
        deleting the ones up to it."""

        def claim(connection: sqlite3.Connection) -> list[Waiting]:
            if applied_through > self._forgotten_through:
                connection.execute(_FORGET, (applied_through,))
                self._forgotten_through = applied_through
            return [Waiting(*row) for row in connection.execute(_CLAIM, (applied_through, limit))]

        return await self._run(claim)

    async def fail(self, row_id: int, error: str, now: datetime) -> None:
        await self._run(lambda connection: connection.execute(_FAIL, (_text(now), error, row_id)))

    async def stats(self, applied_through: int) -> tuple[int, datetime | None, int]:
        """Waiting deliveries, the oldest one's arrival, and deliveries kept as failed."""
        pending, oldest, failed = await self._run(
            lambda connection: connection.execute(_STATS, (applied_through, applied_through)).fetchone())
        return int(pending), datetime.fromisoformat(oldest) if oldest else None, int(failed)

    async def close(self) -> None:
        def close(_connection: sqlite3.Connection) -> None:
            _connection.close()
            self._connection = None

        if self._connection is not None:
            await self._run(close)
        self._thread.shutdown(wait=False)


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def waiting_in_file(database: str) -> list[Waiting]:
    """The deliveries waiting in the inbox file of the SQLite database ``database``, read from outside the
    server (tests, benchmarks, an operator's script): the rows after the mark, in order, failed ones left out."""
    path = inbox_path(database)
    if not Path(path).exists():
        return []
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as inbox:
        identity = inbox.execute("SELECT key FROM identity").fetchone()
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as main:
            mark = main.execute("SELECT applied_through FROM inbox_progress WHERE inbox = ?",
                                (identity[0] if identity else "",)).fetchone()
        return [Waiting(*row) for row in inbox.execute(_CLAIM, (mark[0] if mark else 0, -1))]
