"""`pagerbot serve` bounds slow clients: a connection that does not finish sending a request's headers within
``server.header_timeout_seconds`` is closed (500 slowloris connections are not held for ever), and a real
sender's webhook is answered meanwhile."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx

from tests.harness import API_TOKEN, ServerProcess
from tests.integration.production import server_env, write_config

SLOW = 200


def test_slow_header_connections_are_closed(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"server": {"header_timeout_seconds": 1}})
    server = ServerProcess(server_env(f"sqlite:///{tmp_path / 'pagerbot.db'}", None, config),
                           log_path=tmp_path / "serve.log").start()
    sockets: list[socket.socket] = []
    try:
        for _ in range(SLOW):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"POST /alerts/generic HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the rest
            sockets.append(sock)
        started = time.monotonic()
        posted = httpx.post(f"{server.url}/alerts/generic", json={"title": "Disk full", "host": "db1"},
                            headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10)
        assert posted.status_code == 202
        for sock in sockets:  # a header line now and then does not keep a connection open
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                pass
        closed = 0
        for sock in sockets:
            sock.settimeout(max(0.1, started + 8 - time.monotonic()))
            try:
                closed += sock.recv(1024) == b""
            except ConnectionResetError:
                closed += 1
            except TimeoutError:
                pass
        assert closed == SLOW
        assert time.monotonic() - started < 8
    finally:
        for sock in sockets:
            sock.close()
        server.stop()
