"""Engines and sessions: the async driver is chosen from the user's URL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession  # re-export for callers


def async_url(database_url: str) -> URL:
    """``sqlite:///x.db`` → sqlite+aiosqlite, ``postgresql://`` / ``postgres://`` → postgresql+asyncpg."""
    url = make_url(database_url.replace("postgres://", "postgresql://", 1))
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        return url.set(drivername="postgresql+asyncpg")
    raise ValueError(f"unsupported database URL scheme {url.drivername!r}: use sqlite:/// or postgresql://")


def is_sqlite(engine_or_url: AsyncEngine | URL | str) -> bool:
    if isinstance(engine_or_url, AsyncEngine):
        return engine_or_url.dialect.name == "sqlite"
    url = make_url(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    return url.get_backend_name() == "sqlite"


# What every pagerbot connection to a SQLite file sets (the engine's, the inbox file's, bench/floor.py's):
# WAL lets readers run while one writer commits; busy_timeout waits for the writer instead of failing.
SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000", "foreign_keys=ON")


def sqlite_pragmas(dbapi_connection: Any, _record: Any = None) -> None:
    """Set SQLITE_PRAGMAS on a new connection (an engine "connect" listener, or called directly)."""
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _ping_after_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Test a pooled connection before use when it sat idle for ``idle_seconds``; replace it if it is dead.

    Testing every checkout (SQLAlchemy's pool_pre_ping) cost a round trip each time, a tenth of an alert's
    cost at intake. Without any test, a database restarted during a quiet spell failed the first statement
    of each pooled connection: a slash command answered "cannot reach its database" with the database
    back. Busy connections are never idle long, so a storm pays nothing; after a quiet spell, one quick test.
    """
    dialect = engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:  # the pool opens a fresh one (and says so if it cannot)
            raise DisconnectionError(f"a pooled connection was dead: {type(exc).__name__}") from exc


def create_engine(database_url: str, *, ping_after_idle_seconds: float | None = 10.0, **kwargs: Any) -> AsyncEngine:
    url = async_url(database_url)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    # No pre-ping on every checkout: it cost a round trip each time (a tenth of an alert's cost at intake).
    # Connections idle for a while are tested (_ping_after_idle). One the server dropped while in use fails
    # its statement; SQLAlchemy then invalidates every pooled connection older than the failure, so one
    # error reconnects the whole pool (the inbox worker and the outbox retry on their next turn; the
    # webhook's own INSERT goes through asyncpg's pool and retries once, store/inbox.py).
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_timeout", 5)
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("timeout", 5)
    connect_args.setdefault("command_timeout", 10)
    # asyncpg prepares every statement, and PostgreSQL settles on a generic plan after five runs: one made
    # while a table was small (the alerts of a fresh database, before autovacuum's first ANALYZE) stays a
    # sequential scan as a storm fills it (93 ms a lookup at 28,000 alerts, against 0.1 ms). Plan each run.
    connect_args.setdefault("server_settings", {}).setdefault("plan_cache_mode", "force_custom_plan")
    engine = create_async_engine(url, connect_args=connect_args, **kwargs)
    if ping_after_idle_seconds is not None:
        _ping_after_idle(engine, ping_after_idle_seconds)
    return engine

