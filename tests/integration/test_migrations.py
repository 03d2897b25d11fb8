"""`pagerbot db upgrade` on empty databases, twice; the models and the migrations agree."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from pagerbot.store.db import create_engine
from pagerbot.store.tables import Base


def _upgrade(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pagerbot", "db", "upgrade"], capture_output=True, text=True,
                          env={**os.environ, "PAGERBOT_DATABASE_URL": url}, timeout=120)


def _differences(url: str) -> list[object]:
    async def run() -> list[object]:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}),
                                                  Base.metadata))
        finally:
            await engine.dispose()
    return asyncio.run(run())


def test_upgrade_twice_and_models_agree(database_url: str) -> None:
    first = _upgrade(database_url)
    assert first.returncode == 0, first.stderr
    second = _upgrade(database_url)
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout
    assert _differences(database_url) == []


def test_unreachable_database_is_one_clear_line() -> None:
    result = _upgrade("postgresql://postgres@127.0.0.1:1/none")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("pagerbot:")


def test_inbox_bodies_are_compressed_with_lz4_on_postgresql(postgres_url: str) -> None:
    """A storm's 40 KB bodies: lz4 where the server has it (Debian's PostgreSQL does), pglz cost three times
    as much of the database's time."""
    assert _upgrade(postgres_url).returncode == 0

    async def compression() -> tuple[bool, str]:
        engine = create_engine(postgres_url)
        try:
            async with engine.connect() as connection:
                has_lz4 = await connection.scalar(text(
                    "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"))
                method = await connection.scalar(text(
                    "SELECT attcompression FROM pg_attribute WHERE attrelid = 'inbox'::regclass "
                    "AND attname = 'payload'"))  # type "char": bytes from asyncpg
            return bool(has_lz4), method.decode() if isinstance(method, bytes) else str(method)
        finally:
            await engine.dispose()

    has_lz4, method = asyncio.run(compression())
    assert has_lz4, "this machine's PostgreSQL is built with lz4; the test would not tell anything otherwise"
    assert method == "l"
