"""`pagerbot db upgrade` on empty databases, twice; the models and the migrations agree."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

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
