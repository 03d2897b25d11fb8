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
from pagerbot.store.lanes import Progress, fair_claim

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
    error TEXT,
    lane TEXT
);
CREATE TABLE IF NOT EXISTS identity (key TEXT NOT NULL);
"""
_PUT = "INSERT INTO inbox (source, kind, payload, received_at, lane) VALUES (?, ?, ?, ?, ?)"
# Not yet applied: after the mark, and not among the deliveries applied out of order (a JSON list of ids).
_UNAPPLIED = "id > :mark AND id NOT IN (SELECT value FROM json_each(:applied))"
_FORGET = "DELETE FROM inbox WHERE failed_at IS NULL AND (id <= :mark OR id IN (SELECT value FROM json_each(:applied)))"
_CLAIM = fair_claim("inbox", _UNAPPLIED)
_IN_ORDER = f"SELECT id, source, kind, payload FROM inbox WHERE failed_at IS NULL AND {_UNAPPLIED} ORDER BY id"
_OLDEST = f"SELECT min(id) FROM inbox WHERE failed_at IS NULL AND {_UNAPPLIED}"
_FAIL = f"UPDATE inbox SET failed_at = :now, error = :error WHERE id = :id AND {_UNAPPLIED}"
_STATS = (f"SELECT count(*) FILTER (WHERE failed_at IS NULL AND {_UNAPPLIED}),"
          f" min(received_at) FILTER (WHERE failed_at IS NULL AND {_UNAPPLIED}),"
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
    in_lane: int = 1  # deliveries waiting in its lane, itself included


class InboxFile:
    """The inbox file of the SQLite database at ``database``."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.path = inbox_path(database)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pagerbot-inbox")
        self._connection: sqlite3.Connection | None = None
        self._closed = False
        self._identity = ""
        self._forgotten = Progress(0)  # rows applied as of this progress are already deleted

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
            if "lane" not in {row[1] for row in connection.execute("PRAGMA table_info(inbox)")}:
                connection.execute("ALTER TABLE inbox ADD COLUMN lane TEXT")  # a file made before lanes
            connection.execute("INSERT INTO identity (key) SELECT ? WHERE NOT EXISTS (SELECT 1 FROM identity)",
                               (uuid.uuid4().hex,))
            self._identity = connection.execute("SELECT key FROM identity").fetchone()[0]
            self._number_after(connection, _progress(self.database, self._identity).mark)
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

    async def put(self, source: str, kind: str, payload: str, now: datetime, lane: str | None = None) -> None:
        row = (source, kind, payload, _text(now), lane)
        await self._run(lambda connection: connection.execute(_PUT, row))

    async def claim(self, applied: Progress, limit: int) -> list[Waiting]:
        """The next deliveries not yet ``applied`` (as committed in the main database), in fair order
        (store/lanes.py), after deleting the applied ones."""

        def claim(connection: sqlite3.Connection) -> list[Waiting]:
            if applied != self._forgotten:
                connection.execute(_FORGET, applied.params())
                self._forgotten = applied
            return [Waiting(*row) for row in connection.execute(_CLAIM, {**applied.params(), "limit": limit})]

        return await self._run(claim)

    async def oldest_unapplied(self, applied: Progress) -> int | None:
        """The first delivery not ``applied`` (nor kept aside as failed): the mark may move up to it."""
        return await self._run(lambda connection: connection.execute(_OLDEST, applied.params()).fetchone()[0])

    async def fail(self, row_id: int, error: str, now: datetime, applied_through: int = 0,
                   applied_after: frozenset[int] = frozenset()) -> None:
        """Keep a delivery aside as failed, unless it was applied after all (the failure came after its commit)."""
        params = {**Progress(applied_through, applied_after).params(), "now": _text(now), "error": error, "id": row_id}
        await self._run(lambda connection: connection.execute(_FAIL, params))

    async def stats(self, applied_through: int, applied_after: frozenset[int] = frozenset()
                    ) -> tuple[int, datetime | None, int]:
        """Waiting deliveries, the oldest one's arrival, and deliveries kept as failed."""
        params = Progress(applied_through, applied_after).params()
        pending, oldest, failed = await self._run(lambda connection: connection.execute(_STATS, params).fetchone())
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


def _progress(database: str, identity: str) -> Progress:
    """How far the worker applied the inbox file ``identity``, as committed in the database at ``database``."""
    if not Path(database).exists():
        return Progress(0)
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as main:
        main.execute("PRAGMA busy_timeout=10000")
        try:
            row = main.execute("SELECT applied_through, applied_after FROM inbox_progress WHERE inbox = ?",
                               (identity,)).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # a database not migrated yet has applied nothing
                return Progress(0)
            if "no such column" in str(exc):  # migrated before lanes: everything applied was in order
                row = main.execute("SELECT applied_through, NULL FROM inbox_progress WHERE inbox = ?",
                                   (identity,)).fetchone()
            else:
                raise
    return Progress.from_columns(*row) if row else Progress(0)


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _read_outside(database: str, read: Callable[[sqlite3.Connection, Progress], T], empty: T) -> T:
    """``read(connection, progress)`` on the inbox file of the SQLite database ``database``, opened read-only from
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
        return read(inbox, _progress(database, identity[0]) if identity else Progress(0))


def waiting_in_file(database: str) -> list[Waiting]:
    """The deliveries waiting in the inbox file of ``database``: the rows not yet applied, in arrival order,
    failed ones left out."""
    return _read_outside(database, lambda inbox, applied: [
        Waiting(*row) for row in inbox.execute(_IN_ORDER, applied.params())], [])


def pending_in_file(database: str) -> int:
    """How many deliveries wait in the inbox file of ``database`` (``waiting_in_file`` without reading them)."""
    return _read_outside(database, lambda inbox, applied: int(inbox.execute(_STATS, applied.params()).fetchone()[0]),
                         0)
