"""`pagerbot serve` names the local workspace's URL on the port it actually serves, not a default one."""

from __future__ import annotations

from pathlib import Path

from pagerbot.server import local_url
from tests.harness import ServerProcess
from tests.integration.production import server_env, serving


def test_the_start_up_log_names_local_on_the_port_served(sqlite_url: str, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    server = ServerProcess(server_env(sqlite_url, None, PAGERBOT_PUBLIC_URL=""), log_path=log)
    assert server.port != 8080
    with serving(server):
        text = log.read_text(encoding="utf-8")
    assert f"(chat: the local workspace at http://127.0.0.1:{server.port}/local)" in text, text
    assert ":8080" not in text


def test_the_local_url_follows_the_public_url_when_one_is_set() -> None:
    assert local_url("http://127.0.0.1:8080", "127.0.0.1", 9001) == "http://127.0.0.1:9001/local"
    assert local_url("http://127.0.0.1:8080", "0.0.0.0", 9001) == "http://127.0.0.1:9001/local"
    assert local_url("http://127.0.0.1:8080", "::1", 9001) == "http://[::1]:9001/local"
    assert local_url("https://pagerbot.example.com/", "0.0.0.0", 8080) == "https://pagerbot.example.com/local"
