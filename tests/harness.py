"""Running pagerbot for tests and benchmarks: a real server over HTTP, in a thread or a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import uvicorn

from pagerbot.bootstrap import Runtime, build
from pagerbot.services.alerts import IntakeResult
from pagerbot.settings import FileConfig, Settings, parse_config
from pagerbot.store.migrate import upgrade
from pagerbot.web.app import create_app

API_TOKEN = "test-token-123"
SIGNING_SECRET = "test-signing-secret"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], T], timeout: float = 15.0, interval: float = 0.05, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}: last {last!r}")


# --- databases ---------------------------------------------------------------------------------------

@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    import asyncpg

    name = f"pb_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def database(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'pagerbot.db'}"
    else:
        with postgres_database() as url:
            yield url


def make_settings(database_url: str, *, slack_api_url: str | None = None, config: dict[str, Any] | None = None,
                  slack: bool = True) -> Settings:
    file_config: FileConfig = parse_config(config or {}, "test config")
    return Settings(
        database_url=database_url, api_token=API_TOKEN,
        slack_bot_token="xoxb-0000-fake-pagerbot-token" if slack else None,
        slack_signing_secret=SIGNING_SECRET if slack else None,
        slack_api_url=slack_api_url or "https://slack.invalid/api/", config=file_config)


# --- a server in a thread --------------------------------------------------------------------------------

@dataclass
class ServerThread:
    """`pagerbot serve`'s app under uvicorn, in its own thread and event loop, on a free port."""

    settings: Settings
    overrides: dict[str, Any] = field(default_factory=dict)
    migrate: bool = True
    port: int = field(default_factory=free_port)
    runtime: Runtime | None = None
    loop: asyncio.AbstractEventLoop | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        started = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._main(started))
            except BaseException as exc:  # reported to the test thread
                self._error = exc
                started.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=main, name="pagerbot-server", daemon=True)
        self._thread.start()
        started.wait(60)
        if self._error is not None:
            raise self._error
        wait_for(self._healthy, 30, what="server health")
        return self

    async def _main(self, started: threading.Event) -> None:
        if self.migrate:
            await upgrade(self.settings.database_url)
        self.runtime = build(self.settings, **self.overrides)
        app = create_app(self.runtime)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False,
                                lifespan="on", timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        started.set()
        try:
            await self._server.serve()
        finally:
            await self.runtime.close()

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def call(self, coroutine: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the server's loop (e.g. to drain the outbox) and wait for its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def apply_inbox(self, timeout: float = 30) -> IntakeResult:
        """Apply the deliveries the webhooks accepted (the inbox worker's job, done now): what that did."""
        assert self.runtime is not None
        return cast(IntakeResult, self.call(self.runtime.inbox.drain(), timeout))

    def drain(self, timeout: float = 30) -> bool:
        """Apply the inbox, then deliver everything the outbox holds."""
        assert self.runtime is not None
        self.apply_inbox(timeout)
        return bool(self.call(self.runtime.worker.drain(timeout, include_delayed=True), timeout + 5))

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(30)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- HTTP helpers ---

    def post_alerts(self, sender: str, body: Any, *, token: str = API_TOKEN, apply: bool = True,
                    **kwargs: Any) -> Posted:
        """POST a webhook; with ``apply``, a 2xx is followed by applying the inbox, so its effects can be read."""
        response = httpx.post(f"{self.url}/alerts/{sender}", json=body, headers={"Authorization": f"Bearer {token}"},
                              timeout=30, **kwargs)
        return Posted(response, self.apply_inbox() if apply and response.is_success else None)

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.url}{path}", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30)
        response.raise_for_status()
        return response.json()

    def slack(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(f"{self.url}/slack/events", content=body, headers=headers, timeout=30)


@dataclass
class Posted:
    """A webhook's answer, and what applying the inbox after it did (None when it was not applied)."""

    response: httpx.Response
    applied: IntakeResult | None

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def text(self) -> str:
        return self.response.text

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers

    def json(self) -> Any:
        return self.response.json()

    @property
    def result(self) -> IntakeResult:
        assert self.applied is not None, f"not applied: {self.response.status_code} {self.response.text}"
        return self.applied


# --- a server in a subprocess (restart, SIGKILL, replicas) ---------------------------------------------------

@dataclass
class ServerProcess:
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    log_format: str = "text"
    extra_args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> ServerProcess:
        env = {**os.environ, **self.env}
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pagerbot", "serve", "--port", str(self.port), "--log-format", self.log_format,
             *self.extra_args],
            env=env, stdout=log, stderr=log)
        def up() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"pagerbot serve exited with {self.process.returncode}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        wait_for(up, timeout, what="pagerbot serve")
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def terminate(self, timeout: float = 15) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
