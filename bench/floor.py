"""The floor for bench/intake.py: a bare alert receiver that does nothing but parse and insert.

FastAPI on uvicorn (the same uvicorn settings as ``pagerbot serve``): check the bearer token, parse the
JSON body, one INSERT per alert (``executemany`` in one transaction), commit, answer 200. No validation
beyond what the INSERT needs, no grouping, no outbox. A unique key on (source, fingerprint, occurrence)
with ON CONFLICT DO NOTHING keeps Alertmanager's repeats from being stored twice, so its rows can be
checked like pagerbot's.

On PostgreSQL through asyncpg's pool (default settings); on SQLite through one aiosqlite connection with
pagerbot's pragmas (WAL, synchronous=NORMAL), which the requests share in turn, as a bare async receiver
on SQLite would.

    python bench/floor.py --database-url postgresql://postgres@127.0.0.1:5432/DB --port 8099 [--token T]
    python bench/floor.py --database-url sqlite:///path/floor.db --port 8099 [--token T]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite
import asyncpg
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pagerbot.store.db import SQLITE_PRAGMAS

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id BIGSERIAL PRIMARY KEY,
    source TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    occurrence TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    labels JSONB NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (source, fingerprint, occurrence)
)
"""
INSERT = ("INSERT INTO alerts (source, fingerprint, occurrence, title, status, labels) "
          "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING")
SQLITE_SCHEMA = SCHEMA.replace("BIGSERIAL", "INTEGER").replace("JSONB", "TEXT").replace(
    "TIMESTAMPTZ NOT NULL DEFAULT now()", "TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP")
SQLITE_INSERT = ("INSERT INTO alerts (source, fingerprint, occurrence, title, status, labels) "
                 "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")


def create_app(database_url: str, token: str | None) -> FastAPI:
    pool: asyncpg.Pool | None = None
    sqlite: aiosqlite.Connection | None = None
    sqlite_path = database_url.removeprefix("sqlite:///") if database_url.startswith("sqlite:") else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        nonlocal pool, sqlite
        if sqlite_path is not None:
            sqlite = await aiosqlite.connect(sqlite_path)
            for pragma in SQLITE_PRAGMAS:
                await sqlite.execute(f"PRAGMA {pragma}")
            await sqlite.execute(SQLITE_SCHEMA)
            await sqlite.commit()
            try:
                yield
            finally:
                await sqlite.close()
            return
        pool = await asyncpg.create_pool(database_url, min_size=2, max_size=10)
        async with pool.acquire() as connection:
            await connection.execute(SCHEMA)
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan)
    sqlite_turn = asyncio.Lock()  # one transaction at a time on the shared connection

    async def store(rows: list[tuple[Any, ...]]) -> None:
        if sqlite is not None:
            async with sqlite_turn:
                await sqlite.executemany(SQLITE_INSERT, rows)
                await sqlite.commit()
            return
        assert pool is not None
        async with pool.acquire() as connection, connection.transaction():
            await connection.executemany(INSERT, rows)

    def authorized(request: Request) -> bool:
        return token is None or request.headers.get("authorization") == f"Bearer {token}"

    @app.post("/alerts/generic")
    async def generic(request: Request) -> JSONResponse:
        if not authorized(request):
            return JSONResponse({"error": "invalid token"}, status_code=401)
        body = json.loads(await request.body())
        items = body["alerts"] if "alerts" in body else [body]
        rows = [("generic", a.get("key") or a["title"], a.get("starts_at") or "", a["title"],
                 a.get("status", "firing"), json.dumps(a.get("labels") or {})) for a in items]
        await store(rows)
        return JSONResponse({"status": "ok", "stored": len(rows)})

    @app.post("/alerts/alertmanager")
    async def alertmanager(request: Request) -> JSONResponse:
        if not authorized(request):
            return JSONResponse({"error": "invalid token"}, status_code=401)
        body = json.loads(await request.body())
        rows = [("alertmanager", a["fingerprint"], a["startsAt"], a["annotations"].get("summary", ""),
                 a["status"], json.dumps(a["labels"])) for a in body["alerts"]]
        await store(rows)
        return JSONResponse({"status": "ok", "stored": len(rows)})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="postgresql://user@host:port/db or sqlite:///path")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--token", help="require Authorization: Bearer TOKEN")
    args = parser.parse_args(argv)
    app = create_app(args.database_url, args.token)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
