"""Alembic, driven from code: `pagerbot db upgrade` and `serve`'s start-up both come here."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from pagerbot.store.db import create_engine


def migrations_dir() -> Path:
    """The repository's migrations/ (next to the package), or PAGERBOT_MIGRATIONS in an installed image."""
    candidates = [
        Path(os.environ["PAGERBOT_MIGRATIONS"]) if os.environ.get("PAGERBOT_MIGRATIONS") else None,
        Path(__file__).resolve().parents[2] / "migrations",
        Path.cwd() / "migrations",
    ]
    for candidate in candidates:
        if candidate is not None and (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError("cannot find the migrations directory: set PAGERBOT_MIGRATIONS")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("pagerbot.database_url", database_url)
    return config


def _upgrade(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(database_url: str) -> None:
    """Apply pending migrations (idempotent). Serialised across replicas on PostgreSQL by an advisory lock."""
    config = alembic_config(database_url)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                from sqlalchemy import text

                await connection.execute(text("SELECT pg_advisory_lock(7433001)"))
            await connection.run_sync(_upgrade, config)
            await connection.commit()
            if connection.dialect.name == "postgresql":
                from sqlalchemy import text

                await connection.execute(text("SELECT pg_advisory_unlock(7433001)"))
    finally:
        await engine.dispose()


async def current_revision(database_url: str) -> str | None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current)
    finally:
        await engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def behind(current: str | None) -> bool:
    """Whether a database at revision ``current`` lacks migrations this code has (an empty one does). A
    revision this code does not know is newer (a later version migrated it), not behind."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    if current is None:
        return True
    known = {script.revision for script in scripts.walk_revisions()}
    return current in known and current != scripts.get_current_head()


def upgrade_sync(database_url: str) -> None:
    asyncio.run(upgrade(database_url))
