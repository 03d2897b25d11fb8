"""Which database errors mean "unavailable" (a webhook answers 503 and the sender retries)."""

from __future__ import annotations

import sqlite3

from pagerbot.store.errors import is_unavailable


def test_sqlite_operational_errors_mean_unavailable() -> None:
    """The SQLite inbox file is written through sqlite3 itself: a locked or unwritable file is a 503."""
    assert is_unavailable(sqlite3.OperationalError("database is locked"))
    assert is_unavailable(sqlite3.OperationalError("attempt to write a readonly database"))
    assert not is_unavailable(sqlite3.IntegrityError("UNIQUE constraint failed"))
