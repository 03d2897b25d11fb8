"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, a free port, STARTTLS or implicit TLS, AUTH.

    with smtp_server(mode="starttls", users={"pagerbot": "s3cret"}) as peer:
        await send_message(msg, peer.settings(username="pagerbot", password="s3cret"))
        mail = peer.received[0]          # ReceivedMail: mail_from, rcpt_tos, content, message
        peer.stop(); ...; peer.start()   # the same port: "the SMTP server is down", then back

The certificate is self-signed for 127.0.0.1 and localhost, made with ``openssl req`` (the
``cryptography`` package is not installed); ``peer.tls.client_context()`` trusts it.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from pagerbot.mail.smtp import SmtpSettings

Mode = Literal["starttls", "tls", "plain"]


@dataclass(frozen=True)
class TlsFiles:
    cert: Path  # also the CA to trust: it is self-signed
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


def make_self_signed(directory: Path, common_name: str = "127.0.0.1") -> TlsFiles:
    """A self-signed certificate valid for 127.0.0.1 and localhost, written into ``directory``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is needed to make the test certificate (apt-get install openssl)")
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={common_name}",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return TlsFiles(cert=cert, key=key)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return cast(int, s.getsockname()[1])


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    login: str | None = None  # the AUTH user, when there was one

    @property
    def message(self) -> EmailMessage:
        return cast(EmailMessage, email.message_from_bytes(self.content, policy=email.policy.default))


class _Handler:
    def __init__(self, peer: SmtpPeer) -> None:
        self.peer = peer

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.peer.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = None
        if isinstance(session.auth_data, LoginPassword):
            login = session.auth_data.login.decode()
        content = envelope.original_content or envelope.content
        self.peer.received.append(
            ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), bytes(content), login)
        )
        return "250 Message accepted for delivery"


class _ImplicitTlsSMTP(SMTP):
    """aiosmtpd counts only STARTTLS as TLS for ``auth_require_tls``; a connection that is TLS from
    the first byte (port 465 style) is encrypted too, so AUTH is offered there."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if transport.get_extra_info("ssl_object") is not None:
            self._auth_require_tls = False


class _Controller(Controller):
    def factory(self) -> SMTP:
        if self.ssl_context is not None:
            return _ImplicitTlsSMTP(self.handler, **self.SMTP_kwargs)
        return SMTP(self.handler, **self.SMTP_kwargs)


@dataclass
class SmtpPeer:
    host: str
    port: int
    mode: Mode
    tls: TlsFiles | None
    users: dict[str, str] = field(default_factory=dict)
    refuse: set[str] = field(default_factory=set)
    received: list[ReceivedMail] = field(default_factory=list)
    _controller: Controller | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def running(self) -> bool:
        return self._controller is not None

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        ok = user in self.users and self.users[user] == password
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def start(self) -> None:
        with self._lock:
            if self._controller is not None:
                return
            kwargs: dict[str, Any] = {
                "hostname": self.host,
                "port": self.port,
                "server_hostname": "localhost",
            }
            if self.mode == "starttls":
                assert self.tls is not None
                kwargs.update(tls_context=self.tls.server_context(), require_starttls=True)
            elif self.mode == "tls":
                assert self.tls is not None
                kwargs["ssl_context"] = self.tls.server_context()
            if self.users:
                kwargs.update(authenticator=self._authenticate, auth_required=True, auth_require_tls=True)
            controller = _Controller(_Handler(self), **kwargs)
            controller.start()
            self._controller = controller

    def stop(self) -> None:
        with self._lock:
            if self._controller is not None:
                self._controller.stop()
                self._controller = None

    def settings(self, **overrides: Any) -> SmtpSettings:
        """SmtpSettings for this server, trusting its certificate."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "starttls": self.mode == "starttls",
            "tls": self.mode == "tls",
            "sender": "pagerbot@acme.example",
            "timeout": 5.0,
            "tls_context": self.tls.client_context() if self.tls else None,
        }
        values.update(overrides)
        return SmtpSettings(**values)


@contextmanager
def smtp_server(
    *,
    mode: Mode = "starttls",
    users: Mapping[str, str] | None = None,
    refuse: Iterable[str] = (),
    directory: Path | None = None,
) -> Iterator[SmtpPeer]:
    """A running SMTP server on 127.0.0.1; ``users`` (login → password) makes AUTH required."""
    with tempfile.TemporaryDirectory(prefix="pb-smtp-") as tmp:
        where = directory or Path(tmp)
        tls = make_self_signed(where) if mode != "plain" else None
        peer = SmtpPeer(
            host="127.0.0.1",
            port=free_port(),
            mode=mode,
            tls=tls,
            users=dict(users or {}),
            refuse={r.lower() for r in refuse},
        )
        peer.start()
        try:
            yield peer
        finally:
            peer.stop()
