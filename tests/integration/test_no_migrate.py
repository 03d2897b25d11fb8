"""`pagerbot serve --no-migrate` (the migrations applied by a job of their own): a database that lacks this
version's migrations stops the start with one clear line, since the server would answer 2xx to alerts its
worker cannot apply; one a later version migrated is served, with a warning."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from pagerbot.store.migrate import head_revision, upgrade_sync
from tests.harness import API_TOKEN, free_port, wait_for


def _serve(database: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERBOT_", "SLACK_"))}
    env.update(PAGERBOT_DATABASE_URL=f"sqlite:///{database}", PAGERBOT_API_TOKEN=API_TOKEN)
    return subprocess.Popen([sys.executable, "-m", "pagerbot", "serve", "--no-migrate", "--port", str(port),
                             "--log-format", "text"], env=env, cwd=database.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_a_database_behind_this_version_stops_the_start(tmp_path: Path) -> None:
    database = tmp_path / "pagerbot.db"
    upgrade_sync(f"sqlite:///{database}")
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0003'")  # as before this version
    server = _serve(database, free_port())
    output, _ = server.communicate(timeout=60)
    assert server.returncode == 1, output
    assert (f"the database is at revision 0003, this pagerbot needs {head_revision()}: run `pagerbot db upgrade`"
            in output), output
    assert "Traceback" not in output


def test_a_database_a_later_version_migrated_is_served(tmp_path: Path) -> None:
    database = tmp_path / "pagerbot.db"
    upgrade_sync(f"sqlite:///{database}")
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    port = free_port()
    server = _serve(database, port)
    try:
        wait_for(lambda: _up(port), 30, what="the server")
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert f"the database is at revision 9999, newer than this pagerbot's {head_revision()}" in output


def _up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
