"""Engines and sessions: the async driver is chosen from the user's URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
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


def sqlite_pragmas(dbapi_connection: Any, _record: Any = None) -> None:
    """What every pagerbot connection to a SQLite file sets (the engine's, and the inbox's own)."""
    cursor = dbapi_connection.cursor()
    # WAL lets readers run while one writer commits; busy_timeout waits for the writer instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    url = async_url(database_url)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    # No pre-ping: it cost a round trip on every checkout (a tenth of an alert's cost at intake). A connection
    # the server dropped fails its first statement instead; SQLAlchemy then invalidates every pooled connection
    # older than the failure, so one error reconnects the whole pool (the inbox worker and the outbox retry on
    # their next turn; the webhook's own INSERT goes through asyncpg's pool and retries once, store/inbox.py).
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
    return create_async_engine(url, connect_args=connect_args, **kwargs)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
