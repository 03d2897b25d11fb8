"""SIGTERM to a serving `pagerbot serve` in the middle of traffic, then a restart on the same database.

On SIGTERM it stops accepting connections, lets the request in flight finish (its body is still arriving
when the signal lands), finishes the outbox batch in hand and hands back what it could not finish, and
exits 0 within 10 seconds. Nothing answered 2xx is lost; the restarted server delivers what was left in
the outbox, once. The server runs with ``--log-format text``: its log is plain lines, not JSON.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.fakes.slack_api import FakeSlack
from tests.harness import API_TOKEN, ServerProcess, postgres_database, wait_for
from tests.integration.production import FAST, AlertTraffic, query, server_env, write_config
from tests.payloads import am_alert, am_notification

pytestmark = pytest.mark.postgres


def _alert(name: str) -> dict[str, object]:
    return am_notification([am_alert(name, instance=f"{name.lower()}:9100", summary=f"{name} fired")])


class SlowRequest:
    """A webhook whose body arrives in two parts, over a raw socket: in flight for as long as the test likes."""

    def __init__(self, port: int, body: bytes) -> None:
        self.body = body
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        head = (f"POST /alerts/alertmanager HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {API_TOKEN}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        self.sock.sendall(head + body[:20])

    def finish(self) -> int:
        self.sock.sendall(self.body[20:])
        answer = b""
        while chunk := self.sock.recv(65536):
            answer += chunk
        self.sock.close()
        return int(answer.split(b" ", 2)[1])


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_sigterm_mid_traffic_then_restart(tmp_path: Path, fake_slack: FakeSlack) -> None:
    fake_slack.latency = 0.1  # the outbox is busy when the signal lands
    config = write_config(tmp_path, {"slack": {"announce_channel": "incidents"}, "server": FAST})
    with postgres_database() as database_url:
        log = tmp_path / "serve.log"
        server = ServerProcess(server_env(database_url, fake_slack, config), log_path=log)
        try:
            server.start()
            with AlertTraffic(server.url, _alert) as traffic:
                wait_for(lambda: len(traffic.answered) >= 10, 20, what="traffic")
                slow = SlowRequest(server.port, json.dumps(_alert("Slow")).encode())
                time.sleep(0.2)  # its headers are in: a request in flight

                assert server.process is not None
                signalled = time.monotonic()
                server.process.terminate()
                wait_for(lambda: _refused(server.port), 5, what="the listening socket to close")
                assert server.process.poll() is None  # still finishing what is in flight
                assert slow.finish() == 202
                traffic.answered.append("Slow")
                status = server.process.wait(15)
                took = time.monotonic() - signalled
            assert status == 0, log.read_text()[-3000:]
            assert took < 10, took

            # every alert answered 2xx was stored
            stored = {r["name"] for r in query(database_url, "SELECT name FROM alerts")}
            assert set(traffic.answered) <= stored
            # no outbox row is left claimed by the stopped process: a restart need not wait for a lease
            assert query(database_url, "SELECT count(*) AS n FROM outbox WHERE claimed_by IS NOT NULL")[0]["n"] == 0
            left = query(database_url, "SELECT count(*) AS n FROM outbox WHERE status = 'pending'")[0]["n"]

            # the log is plain text lines, the incident id shown as [INC-n]
            lines = [line for line in log.read_text().splitlines() if line.strip()]
            assert not any(line.lstrip().startswith("{") for line in lines)
            assert all(re.match(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+\S+: ", line)
                       or line.startswith(" ") or line.startswith("Traceback") for line in lines)
            assert any(re.search(r"INC-1 opened .* \[INC-1\]$", line) for line in lines)

            # restart: what was left in the outbox goes out, once
            fake_slack.latency = 0.0
            restarted = time.monotonic()
            server.start()

            def settled() -> bool:
                return query(database_url, "SELECT count(*) AS n FROM outbox WHERE status <> 'done'")[0]["n"] == 0

            wait_for(settled, 30, interval=0.2, what=f"the {left} rows left in the outbox to go out")
            assert time.monotonic() - restarted < FAST["outbox_lease_seconds"] + 20
            assert len([c for c in fake_slack.calls_to("conversations.create") if c.ok]) == 1
            channel = next(c.id for c in fake_slack.channels.values() if c.name.startswith("inc-"))
            posted = Counter(((m.metadata or {}).get("event_payload") or {}).get("outbox_id")
                             for m in fake_slack.messages(channel) if m.metadata)
            assert posted and max(posted.values()) == 1
        finally:
            server.stop()
