"""The database goes away under a running `pagerbot serve` (a TCP proxy the test cuts) and comes back.

While it is away: webhooks answer 503 with Retry-After (senders retry), /readyz fails while /healthz
passes, and a slash command is answered ephemerally that pagerbot cannot reach its database. When it is
back, everything works again without a restart: a pooled connection the cut killed fails once and is
replaced (the pool tests only connections that sat idle), and the inbox worker applies what was accepted.
A database restart during a quiet spell fails nothing: idle connections are tested before use.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from pagerbot.slack.app import DB_DOWN
from pagerbot.store.db import create_engine
from tests.fakes.slack_api import FakeSlack
from tests.harness import ServerProcess, postgres_database, wait_for
from tests.integration.production import FAST, post_alerts, query, server_env, slash, write_config
from tests.payloads import am_alert, am_notification
from tests.peers.tcpproxy import tcp_proxy

pytestmark = pytest.mark.postgres


def _status(url: str, path: str) -> int:
    try:
        return httpx.get(f"{url}{path}", timeout=10).status_code
    except httpx.HTTPError:
        return 0


def test_database_cut_and_restored(tmp_path: Path, fake_slack: FakeSlack) -> None:
    general = fake_slack.add_channel("general", members=["U0ALICE"])
    config = write_config(tmp_path, {"slack": {"announce_channel": "incidents"}, "server": FAST})
    with postgres_database() as direct_url, tcp_proxy("127.0.0.1", 5432) as proxy:
        proxied = str(make_url(direct_url).set(port=proxy.port).render_as_string(hide_password=False))
        server = ServerProcess(server_env(proxied, fake_slack, config), log_path=tmp_path / "serve.log")
        try:
            server.start()
            first = post_alerts(server.url, "alertmanager", am_notification([am_alert("DiskFull", cluster="a")],
                                                                            cluster="a"))
            assert first.status_code == 202, first.text
            assert _status(server.url, "/readyz") == 200

            proxy.cut()
            late = am_notification([am_alert("HostDown", cluster="b")], cluster="b")
            refused = post_alerts(server.url, "alertmanager", late)
            assert refused.status_code == 503, refused.text
            assert refused.headers["Retry-After"].isdigit()
            assert refused.json()["error"] == "database unavailable"
            assert _status(server.url, "/readyz") == 503
            assert _status(server.url, "/healthz") == 200
            answer = slash(server.url, fake_slack, "status INC-1", channel_id=general)
            assert answer["text"] == DB_DOWN and answer.get("response_type") == "ephemeral"
            assert server.process is not None and server.process.poll() is None

            proxy.restore()
            wait_for(lambda: _status(server.url, "/readyz") == 200, 15, what="/readyz after the database is back")
            again = post_alerts(server.url, "alertmanager", late)  # what the sender's retry does
            assert again.status_code == 202, again.text
            # the first alert's incident, then the retried one (an insert cut off by the outage may have used an
            # id: PostgreSQL's sequences do not roll back)
            wait_for(lambda: [r["group_key"] for r in query(direct_url, "SELECT group_key FROM incidents ORDER BY id")]
                     == ["cluster=a", "cluster=b"], 15, what="the retried alert's incident")
            first_id = query(direct_url, "SELECT min(id) AS id FROM incidents")[0]["id"]
            answer = slash(server.url, fake_slack, f"status INC-{first_id}", channel_id=general)
            assert answer["text"] != DB_DOWN and f"*INC-{first_id}* DiskFull" in answer["text"], answer["text"]
            # the outbox carried on too: both incidents got their channel, each once
            wait_for(lambda: len([c for c in fake_slack.channels.values() if c.name.startswith("inc-")]) == 2, 20,
                     what="both incident channels")
            pending = query(direct_url, "SELECT count(*) AS n FROM outbox WHERE status <> 'done'")
            wait_for(lambda: query(direct_url, "SELECT count(*) AS n FROM outbox WHERE status <> 'done'")[0]["n"]
                     == 0, 20, what=f"an empty outbox (was {pending})")
            assert len([c for c in fake_slack.calls_to("conversations.create") if c.ok]) == 2
        finally:
            server.stop()



async def _restart_in_a_quiet_spell(postgres_url: str, ping_after_idle_seconds: float | None) -> None:
    """A pooled connection used, left idle (and still alive), used again; then every session of the database
    ended (as a PostgreSQL restart does) while it sat idle, and used again."""
    engine = create_engine(postgres_url, ping_after_idle_seconds=ping_after_idle_seconds, pool_size=1)
    backend = text("SELECT pg_backend_pid()")
    try:
        async with engine.connect() as connection:
            first = await connection.scalar(backend)
        await asyncio.sleep(0.3)
        async with engine.connect() as connection:
            assert await connection.scalar(backend) == first  # alive: tested and kept, not replaced
        killer = await asyncpg.connect(make_url(postgres_url).render_as_string(hide_password=False))
        try:
            ended = await killer.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
        finally:
            await killer.close()
        assert ended == 1
        await asyncio.sleep(0.3)
        async with engine.connect() as connection:
            assert await connection.scalar(backend) != first
    finally:
        await engine.dispose()


async def test_a_connection_idle_through_a_database_restart_is_replaced_before_use(postgres_url: str) -> None:
    """server.db_ping_after_idle_seconds: a connection idle that long is tested at checkout, so a database
    restart in a quiet spell costs no failed statement (a slash command would have answered DB_DOWN)."""
    await _restart_in_a_quiet_spell(postgres_url, ping_after_idle_seconds=0.2)


async def test_without_the_idle_test_the_first_statement_fails(postgres_url: str) -> None:
    """What the idle test is for: the same restart fails the first statement on the dead connection."""
    with pytest.raises(DBAPIError):
        await _restart_in_a_quiet_spell(postgres_url, ping_after_idle_seconds=None)
