"""Which database errors mean "not reachable now" (answer 503, retry later) rather than a bad statement."""

from __future__ import annotations

import sqlite3

import asyncpg
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import InterfaceError as SAInterfaceError


class DatabaseUnavailable(Exception):
    """The database did not answer: webhooks answer 503 so senders retry."""


# PostgreSQL SQLSTATEs of a database that cannot be used right now (prefixes): connection exceptions,
# the database does not exist (dropped, not yet created), authentication, too many connections or out of
# resources, shut down by an administrator or starting up.
_UNAVAILABLE_SQLSTATES = ("08", "3D000", "28", "53", "57P")


def connection_lost(exc: BaseException) -> bool:
    """A driver error (asyncpg's, raw or as SQLAlchemy's ``orig``) saying the connection or server is gone."""
    if isinstance(exc, asyncpg.InterfaceError | ConnectionError | OSError | TimeoutError):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES)


def is_unavailable(exc: BaseException) -> bool:
    """Errors that mean "the database is not answering" (as opposed to a bug in a statement)."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or (exc.orig is not None and connection_lost(exc.orig)):
            return True
    # sqlite3's own OperationalError comes from the inbox file (store/inbox_file.py: locked, unwritable, disk
    # full, or closed while pagerbot stops).
    return (isinstance(exc, DatabaseUnavailable | OperationalError | SAInterfaceError | sqlite3.OperationalError)
            or connection_lost(exc))
