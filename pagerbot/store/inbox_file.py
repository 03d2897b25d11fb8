"""On SQLite the inbox is a file of its own beside the database, so a webhook never waits for the worker.

SQLite lets one writer at a time into a database file. With the inbox in the main file, each webhook's INSERT
waited while the inbox worker applied a batch (up to tens of milliseconds); in ``<database>-inbox`` it waits
only for other INSERTs, and for the worker's quick reads and DELETEs of this file.

Exactly once, without a transaction that spans the two files (SQLite commits attached WAL databases one by
one): the worker's transaction in the main database records the last delivery it applied (``inbox_progress``,
keyed by this file's identity). It claims only deliveries after that mark, and deletes the ones up to it from
this file when it next claims; a crash between the two commits leaves applied rows here that nobody claims
again. Ids come from AUTOINCREMENT, so they never fall back below the mark after deletions; a file that went
back in time (an older backup) is numbered past the mark when opened; and a lost or replaced file has a new
identity, so it starts its own mark.

Every statement runs on one connection in one thread of its own: webhooks and the worker's claims queue
there rather than in SQLite's busy handler (another process on the file still meets its busy timeout).
"""

from __future__ import annotations

import asyncio
import logging
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
log = logging.getLogger("pagerbot.inbox")

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
_FAIL = "UPDATE inbox SET failed_at = ?, error = ? WHERE id = ? AND id > ?"
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
    """The inbox file of the SQLite database at ``database``."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.path = inbox_path(database)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pagerbot-inbox")
        self._connection: sqlite3.Connection | None = None
        self._closed = False
        self._identity = ""
        self._forgotten_through = 0  # rows up to this id are already deleted

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise _closed_error()
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._call, work)

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:  # queued before close() and run after it
            raise _closed_error()
        if self._connection is None:  # opened in the thread that uses it
            self._connection = self._open()
        return work(self._connection)

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            sqlite_pragmas(connection)
            connection.executescript(_SCHEMA)
            connection.execute("INSERT INTO identity (key) SELECT ? WHERE NOT EXISTS (SELECT 1 FROM identity)",
                               (uuid.uuid4().hex,))
            self._identity = connection.execute("SELECT key FROM identity").fetchone()[0]
            self._number_after(connection, _mark(self.database, self._identity))
        except BaseException:
            connection.close()
            raise
        return connection

    def _number_after(self, connection: sqlite3.Connection, mark: int) -> None:
        """Make new deliveries' ids start after the mark. They always do, unless this file went back in time
        while the database did not (restored from an older backup; its last commits lost in a power cut):
        a new delivery numbered at or below the mark would count as applied, and be deleted unapplied."""
        row = connection.execute("SELECT seq FROM sqlite_sequence WHERE name = 'inbox'").fetchone()
        if mark <= (row[0] if row else 0):
            return
        log.warning("inbox: %s is behind the database (its last delivery %s, applied through %d): new "
                    "deliveries are numbered after %d", self.path, row[0] if row else "none", mark, mark)
        if row is None:
            connection.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('inbox', ?)", (mark,))
        else:
            connection.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'inbox'", (mark,))

    async def ping(self) -> None:
        """Raise unless the file takes writes now (readiness): the write lock taken and given back."""

        def ping(connection: sqlite3.Connection) -> None:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")

        await self._run(ping)

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

    async def fail(self, row_id: int, error: str, now: datetime, applied_through: int) -> None:
        """Keep a delivery aside as failed, unless it was applied after all (the failure came after its commit)."""
        await self._run(lambda connection: connection.execute(_FAIL, (_text(now), error, row_id, applied_through)))

    async def stats(self, applied_through: int) -> tuple[int, datetime | None, int]:
        """Waiting deliveries, the oldest one's arrival, and deliveries kept as failed."""
        pending, oldest, failed = await self._run(
            lambda connection: connection.execute(_STATS, (applied_through, applied_through)).fetchone())
        return int(pending), datetime.fromisoformat(oldest) if oldest else None, int(failed)

    async def close(self) -> None:
        """Close the connection once the statements queued before this ran; later ones raise (unavailable)."""

        def close() -> None:
            self._closed = True
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        if self._closed:
            return
        await asyncio.get_running_loop().run_in_executor(self._thread, close)
        self._thread.shutdown(wait=False)


def _closed_error() -> sqlite3.OperationalError:
    """What a closed inbox file raises: an unavailable database (a webhook answers 503, the worker retries)."""
    return sqlite3.OperationalError("the inbox file is closed: pagerbot is stopping")


def _mark(database: str, identity: str) -> int:
    """How far the worker applied the inbox file ``identity``, as committed in the database at ``database``."""
    if not Path(database).exists():
        return 0
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as main:
        main.execute("PRAGMA busy_timeout=10000")
        try:
            row = main.execute("SELECT applied_through FROM inbox_progress WHERE inbox = ?", (identity,)).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # a database not migrated yet has applied nothing
                return 0
            raise
    return int(row[0]) if row else 0


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _read_outside(database: str, read: Callable[[sqlite3.Connection, int], T], empty: T) -> T:
    """``read(connection, mark)`` on the inbox file of the SQLite database ``database``, opened read-only from
    outside the server (tests, benchmarks, an operator's script); ``empty`` when there is no file yet."""
    path = inbox_path(database)
    if not Path(path).exists():
        return empty
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as inbox:
        try:
            identity = inbox.execute("SELECT key FROM identity").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # created a moment ago, its tables not yet
                return empty
            raise
        return read(inbox, _mark(database, identity[0]) if identity else 0)


def waiting_in_file(database: str) -> list[Waiting]:
    """The deliveries waiting in the inbox file of ``database``: the rows after the mark, in order, failed
    ones left out."""
    return _read_outside(database, lambda inbox, mark: [Waiting(*row) for row in inbox.execute(_CLAIM, (mark, -1))],
                         [])


def pending_in_file(database: str) -> int:
    """How many deliveries wait in the inbox file of ``database`` (``waiting_in_file`` without reading them)."""
    return _read_outside(database, lambda inbox, mark: int(inbox.execute(_STATS, (mark, mark)).fetchone()[0]), 0)
