"""/local is its owner's: a loopback bind, or a login; the Host header named; never framed; and `pagerbot
serve` refuses to run without authentication on a public address unless told twice. /metrics can want a token.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from pagerbot.web.local_access import LocalAccess, local_access
from tests.harness import API_TOKEN, ServerProcess, ServerThread, make_settings, wait_for
from tests.integration.production import server_env

EVIL = "rebind.evil.example"


def _basic(password: str, user: str = "owner") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def local_server(sqlite_url: str) -> Any:
    with ServerThread(make_settings(sqlite_url, slack=False)) as server:
        yield server


def test_a_rebinding_host_is_refused(local_server: ServerThread) -> None:
    url = local_server.url
    assert httpx.get(f"{url}/local", headers={"Host": EVIL}).status_code == 403
    # the same-origin check alone let this through: Host and Origin both the attacker's name
    declared = httpx.post(f"{url}/local/-/command", data={"text": "/incident declare pwned", "user": "U0ALICE"},
                          headers={"Host": EVIL, "Origin": f"http://{EVIL}"})
    assert declared.status_code == 403 and "Host" in declared.json()["error"]
    assert local_server.get("/incidents") == []
    for host in ("127.0.0.1", f"127.0.0.1:{local_server.port}", f"localhost:{local_server.port}", "[::1]:8080"):
        assert httpx.get(f"{url}/local", headers={"Host": host}).status_code in (200, 303), host


def test_local_pages_cannot_be_framed_and_run_only_their_own_script(local_server: ServerThread) -> None:
    url = local_server.url
    posted = httpx.post(f"{url}/local/-/command", data={"text": "/incident declare Framed", "user": "U0ALICE"},
                        follow_redirects=True, timeout=30)
    assert posted.status_code == 200
    channel = str(wait_for(lambda: local_server.get("/incidents/1")["channel_id"], what="the channel"))
    page = httpx.get(f"{url}/local/{channel}")
    assert page.headers["x-frame-options"] == "DENY"
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    scripts = re.findall(r"<script>(.*?)</script>", page.text, re.S)
    assert scripts, "the page follows its channel live with its own script"
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    for path in ("/local", "/local/no-such-channel", f"/local/{channel}/version"):
        assert httpx.get(f"{url}{path}").headers["x-frame-options"] == "DENY", path
    assert "x-frame-options" not in httpx.get(f"{url}/healthz").headers


def test_a_local_password_asks_for_a_login_even_on_loopback(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, slack=False).replace(local_password="owner-pass")
    with ServerThread(settings) as server:
        refused = httpx.get(f"{server.url}/local")
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
        assert httpx.get(f"{server.url}/local", headers=_basic("wrong")).status_code == 401
        assert httpx.get(f"{server.url}/local", headers=_basic("owner-pass")).status_code in (200, 303)


def test_on_a_public_bind_local_wants_a_login_or_is_not_served(tmp_path: Path) -> None:
    env = server_env(f"sqlite:///{tmp_path / 'a.db'}", None)
    with_token = ServerProcess(env, log_path=tmp_path / "a.log", extra_args=["--host", "0.0.0.0"]).start()
    try:
        assert httpx.get(f"{with_token.url}/local").status_code == 401
        assert httpx.get(f"{with_token.url}/local", headers=_basic(API_TOKEN)).status_code in (200, 303)
    finally:
        with_token.stop()

    no_token = {k: v for k, v in server_env(f"sqlite:///{tmp_path / 'b.db'}", None).items()
                if k != "PAGERBOT_API_TOKEN"}
    args = ["--host", "0.0.0.0", "--insecure-no-auth"]
    refused = subprocess.run([sys.executable, "-m", "pagerbot", "serve", "--port", "1", *args],
                             env={**os.environ, **no_token} | {"PAGERBOT_API_TOKEN": ""}, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 2
    assert "--insecure-public-bind" in refused.stderr and "Traceback" not in refused.stderr
    public = ServerProcess(no_token | {"PAGERBOT_API_TOKEN": ""}, log_path=tmp_path / "b.log",
                           extra_args=[*args, "--insecure-public-bind"]).start()
    try:
        closed = httpx.get(f"{public.url}/local")
        assert closed.status_code == 404 and "not served" in closed.json()["error"]
        assert "WITHOUT authentication" in (tmp_path / "b.log").read_text()
    finally:
        public.stop()


def test_the_container_image_does_not_serve_an_open_local_page() -> None:
    dockerfile = (Path(__file__).parents[2] / "Dockerfile").read_text()
    command = re.findall(r'^CMD \[(.*)\]', dockerfile, re.M)[-1]
    words = [w.strip().strip('"') for w in command.split(",")]
    host = words[words.index("--host") + 1] if "--host" in words else "127.0.0.1"
    assert "--insecure-public-bind" not in words
    # whatever the environment the image is run with: no password, the token only, a local password
    for password, token in ((None, None), (None, "t"), ("p", None)):
        assert local_access(host, password, token) is not LocalAccess.OPEN, (host, password, token)


def test_metrics_can_want_a_token(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, slack=False).replace(metrics_token="scrape-me")
    with ServerThread(settings) as server:
        assert httpx.get(f"{server.url}/metrics").status_code == 401
        scraped = httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert scraped.status_code == 200 and "pagerbot_" in scraped.text
    with ServerThread(make_settings(sqlite_url, slack=False)) as server:
        assert httpx.get(f"{server.url}/metrics").status_code == 200  # open by default
