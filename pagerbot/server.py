"""`pagerbot serve`: migrations, the composition root, uvicorn; Socket Mode when SLACK_APP_TOKEN is set.

Shutdown (SIGTERM or Ctrl-C): stop accepting connections, let in-flight requests finish and the outbox
worker finish the batch in hand, all within ``server.shutdown_seconds`` (8 by default), then exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
from collections.abc import Callable, Iterator

import uvicorn

from pagerbot.bootstrap import build
from pagerbot.logs import configure
from pagerbot.settings import DEFAULT_PUBLIC_URL, ConfigError, Settings
from pagerbot.store.migrate import behind, current_revision, head_revision, upgrade
from pagerbot.web.app import create_app
from pagerbot.web.local_access import is_loopback
from pagerbot.web.slow_clients import header_timeout_protocol

log = logging.getLogger("pagerbot")


def serve(settings: Settings, *, host: str, port: int, migrate: bool = True, insecure: bool = False,
          insecure_public: bool = False, log_format: str = "json", log_level: str = "INFO") -> int:
    configure(log_format, log_level)
    if settings.api_token is None and not insecure:
        raise ConfigError("PAGERBOT_API_TOKEN: required to accept alerts (or pass --insecure-no-auth to try it out)")
    if insecure and not is_loopback(host):
        # Alerts and the incident API without a token, on an address others reach: only when asked twice.
        if not insecure_public:
            raise ConfigError(f"--insecure-no-auth on {host}, which is not a loopback address: anyone who reaches "
                              "it could post alerts and read incidents; bind to 127.0.0.1, set "
                              "PAGERBOT_API_TOKEN, or add --insecure-public-bind if that is really meant")
        log.warning("serving WITHOUT authentication on %s (--insecure-no-auth --insecure-public-bind)", host)
    # uvloop (and httptools, which uvicorn picks by itself when installed) cut the event loop's and the HTTP
    # parser's share of the CPU an alert costs; plain asyncio where uvloop is not available.
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_serve(settings, host=host, port=port, migrate=migrate, insecure=insecure))


def _tune_garbage_collector() -> None:
    """Keep the cyclic garbage collector's pauses short while a storm is applied.

    Measured during a 100,000-alert storm: full collections every 2-3 s, each holding the event loop (and
    every webhook) for 150-270 ms while finding almost nothing, because a storm makes objects that live for
    seconds (the parsed alerts waiting for the inbox worker) and so meet the collector's rule for a full
    collection again and again. Freezing what exists once the server is built (modules, the app, its
    configuration: never garbage) takes it out of every collection; a full collection then waits for a
    hundred young-generation collections instead of ten. Reference counting frees almost everything as
    before; only cyclic garbage waits longer. After this: the longest pause 40-85 ms, one full collection
    in a storm instead of eleven.
    """
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 100)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


class _Server(uvicorn.Server):
    """uvicorn's server, with signals handled on the event loop and a clean exit.

    uvicorn re-raises the signal it caught once it has shut down, so the process would die of SIGTERM
    (status 143) before pagerbot closes its pools; here the shutdown is the normal way out (status 0).
    """

    def __init__(self, config: uvicorn.Config, on_signal: Callable[[], None],
                 on_started: Callable[[int], None] = lambda port: None) -> None:
        super().__init__(config)
        self._on_signal = on_signal
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:  # the port it serves, which --port 0 leaves to the system
            bound = [s.getsockname()[1] for server in self.servers for s in (server.sockets or ())]
            self._on_started(int(bound[0]) if bound else self.config.port)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        handled = (signal.SIGINT, signal.SIGTERM)
        for sig in handled:
            loop.add_signal_handler(sig, self._signalled, sig)
        try:
            yield
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)

    def _signalled(self, sig: int) -> None:
        if not self.should_exit:
            log.info("%s received: finishing in-flight work, then exiting", signal.Signals(sig).name)
            self._on_signal()
        self.handle_exit(sig, None)


async def _serve(settings: Settings, *, host: str, port: int, migrate: bool, insecure: bool) -> int:
    if migrate:
        await upgrade(settings.database_url)
    else:
        # Started before the migrations it needs were applied, the server would answer 2xx to alerts that
        # its worker then cannot apply: say so and stop (an orchestrator starts it again).
        current = await current_revision(settings.database_url)
        head = head_revision()
        if behind(current):
            log.error("the database is at revision %s, this pagerbot needs %s: run `pagerbot db upgrade` "
                      "(or start without --no-migrate)", current or "(empty)", head)
            return 1
        if current != head:  # a later version migrated it (a rollback, or a rolling deploy under way)
            log.warning("the database is at revision %s, newer than this pagerbot's %s", current, head)
    runtime = build(settings)

    app = create_app(runtime, insecure=insecure, bind_host=host)
    _tune_garbage_collector()

    def started(served_port: int) -> None:
        if runtime.socket_mode is not None:
            where = "Slack (Socket Mode)"
        elif settings.slack_enabled:
            where = "Slack"
        else:
            where = f"the local workspace at {local_url(settings.public_url, host, served_port)}"
        log.info("pagerbot serving on http://%s:%d (chat: %s)", _url_host(host), served_port, where)
    budget = settings.config.server.shutdown_seconds
    # In-flight requests get most of the budget; the outbox batch runs meanwhile (begin_stop), and what
    # is left of the budget bounds the background stop in the lifespan's shutdown.
    limits = settings.config.server
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                            timeout_graceful_shutdown=max(1, int(budget * 0.75)), lifespan="on",
                            http=header_timeout_protocol(limits.header_timeout_seconds),
                            limit_concurrency=limits.max_connections, timeout_keep_alive=5)
    server = _Server(config, on_signal=lambda: runtime.begin_stop(budget), on_started=started)
    try:
        await server.serve()
    finally:
        await runtime.close()
    log.info("pagerbot stopped")
    return 0


def _url_host(host: str) -> str:
    """A host to put in a URL people open: every address (0.0.0.0, ::) is reachable on loopback."""
    if host in {"0.0.0.0", "::", ""}:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def local_url(public_url: str, host: str, port: int) -> str:
    """Where /local is: PAGERBOT_PUBLIC_URL when it was set (a proxy in front), else the address served."""
    if public_url.rstrip("/") != DEFAULT_PUBLIC_URL:
        return f"{public_url.rstrip('/')}/local"
    return f"http://{_url_host(host)}:{port}/local"
