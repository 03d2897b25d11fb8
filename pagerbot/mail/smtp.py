"""Send one message over SMTP (aiosmtplib): STARTTLS or implicit TLS, AUTH when a username is set.

Every failure is a :class:`MailError` with one clear line (connection refused, login refused, recipient
refused, timeout, TLS) and a ``retryable`` flag the outbox uses to decide between retrying and giving up.
"""

from __future__ import annotations

import copy
import email.utils
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage

import aiosmtplib

from pagerbot.core.escaping import one_line


class MailError(Exception):
    """Sending failed. ``kind`` is one of: config, connect, timeout, tls, auth, sender, recipient,
    rejected, protocol. ``retryable``: worth trying again later (the Retry button, the outbox)."""

    def __init__(self, reason: str, *, kind: str, retryable: bool, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.retryable = retryable
        self.code = code


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """``starttls``: upgrade a plain connection (port 587); ``tls``: TLS from the start (port 465).
    ``tls_context`` (e.g. trusting a test CA) or ``validate_certs=False`` change certificate checks."""

    host: str
    port: int = 587
    starttls: bool = True
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = ""
    timeout: float = 30.0
    validate_certs: bool = True
    tls_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    local_hostname: str | None = None

    def __post_init__(self) -> None:
        if self.starttls and self.tls:
            raise ValueError(
                "smtp: choose either starttls (port 587) or tls (implicit TLS, port 465), not both"
            )
        if not self.host:
            raise ValueError("smtp: host is empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"smtp: port {self.port} is not a TCP port")

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def envelope_recipients(message: EmailMessage) -> list[str]:
    """The addresses in To, Cc and Bcc, each once, in order."""
    values = [str(v) for header in ("To", "Cc", "Bcc") for v in (message.get_all(header) or [])]
    seen: list[str] = []
    for _, addr in email.utils.getaddresses(values):
        if addr and addr not in seen:
            seen.append(addr)
    return seen


async def send_message(message: EmailMessage, settings: SmtpSettings) -> dict[str, str]:
    """Deliver ``message`` to its To/Cc/Bcc recipients (Bcc is not transmitted).

    Returns the recipients the server refused while accepting others (address → reply); raises
    MailError when nothing was delivered.
    """
    recipients = envelope_recipients(message)
    if not recipients:
        raise MailError("the email has no recipients (To, Cc or Bcc)", kind="config", retryable=False)
    sender = settings.sender or email.utils.parseaddr(str(message.get("From", "")))[1]
    if not sender:
        raise MailError("smtp: no sender address (set smtp.from)", kind="config", retryable=False)
    if message.get("Bcc") is not None:
        message = _copy_without_bcc(message)

    try:
        errors, _ = await aiosmtplib.send(
            message,
            sender=sender,
            recipients=recipients,
            hostname=settings.host,
            port=settings.port,
            username=settings.username or None,
            password=(settings.password or "") if settings.username else None,
            use_tls=settings.tls,
            start_tls=settings.starttls if not settings.tls else False,
            validate_certs=settings.validate_certs,
            tls_context=settings.tls_context,
            timeout=settings.timeout,
            local_hostname=settings.local_hostname,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise mail_error(exc, settings) from exc
    return {addr: f"{resp.code} {one_line(resp.message, 160)}" for addr, resp in errors.items()}


async def check_connection(settings: SmtpSettings) -> None:
    """Connect, set up TLS, log in when a username is set, and quit: for ``pagerbot check``."""
    client = aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.port,
        use_tls=settings.tls,
        start_tls=settings.starttls if not settings.tls else False,
        validate_certs=settings.validate_certs,
        tls_context=settings.tls_context,
        timeout=settings.timeout,
        local_hostname=settings.local_hostname,
    )
    try:
        await client.connect()
        if settings.username:
            await client.login(settings.username, settings.password or "")
        await client.quit()
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise mail_error(exc, settings) from exc
    finally:
        if client.is_connected:
            client.close()


def mail_error(exc: BaseException, settings: SmtpSettings) -> MailError:
    """One clear line for an aiosmtplib, TLS or socket failure."""
    where = settings.where
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = "; ".join(f"{r.recipient} ({r.code} {one_line(r.message, 120)})" for r in exc.recipients)
        retry = all(400 <= r.code < 500 for r in exc.recipients)
        return MailError(
            f"SMTP server {where} refused the recipients: {refused}", kind="recipient", retryable=retry
        )
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return MailError(
            f"SMTP server {where} refused the login for user {settings.username!r}: "
            f"{exc.code} {one_line(exc.message, 160)}",
            kind="auth",
            retryable=False,
            code=exc.code,
        )
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return MailError(
            f"SMTP server {where} refused the sender {exc.sender}: {exc.code} {one_line(exc.message, 160)}",
            kind="sender",
            retryable=400 <= exc.code < 500,
            code=exc.code,
        )
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        what = "connecting to" if isinstance(exc, aiosmtplib.SMTPConnectTimeoutError) else "waiting for"
        return MailError(
            f"timed out {what} SMTP server {where} after {settings.timeout:g} s",
            kind="timeout",
            retryable=True,
        )
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return MailError(
            f"SMTP server {where}: {_not_supported(exc, settings)}", kind="config", retryable=False
        )
    if isinstance(exc, aiosmtplib.SMTPConnectError):
        return MailError(_connect_reason(exc, settings), kind=_connect_kind(exc), retryable=True)
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        tls_problem = _ssl_cause(exc)
        if tls_problem is not None:
            return MailError(
                f"TLS with SMTP server {where} failed: {tls_problem}", kind="tls", retryable=False
            )
        return MailError(
            f"SMTP server {where} closed the connection unexpectedly", kind="connect", retryable=True
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return MailError(
            f"SMTP server {where} answered {exc.code} {one_line(exc.message, 160)}",
            kind="rejected",
            retryable=400 <= exc.code < 500,
            code=exc.code,
        )
    if isinstance(exc, aiosmtplib.SMTPException):
        return MailError(
            f"SMTP with {where} failed: {one_line(str(exc), 200)}", kind="protocol", retryable=True
        )
    if isinstance(exc, ssl.SSLError):
        return MailError(
            f"TLS with SMTP server {where} failed: {_ssl_text(exc)}", kind="tls", retryable=False
        )
    if isinstance(exc, TimeoutError):
        return MailError(
            f"timed out talking to SMTP server {where} after {settings.timeout:g} s",
            kind="timeout",
            retryable=True,
        )
    if isinstance(exc, OSError):
        return MailError(
            f"cannot reach SMTP server {where}: {exc.strerror or exc}", kind="connect", retryable=True
        )
    return MailError(f"SMTP with {where} failed: {one_line(str(exc), 200)}", kind="protocol", retryable=True)


def _copy_without_bcc(message: EmailMessage) -> EmailMessage:
    clone = copy.copy(message)
    del clone["Bcc"]
    return clone


def _ssl_cause(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return _ssl_text(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def _ssl_text(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    return one_line(exc.reason or str(exc), 160)


def _connect_kind(exc: aiosmtplib.SMTPConnectError) -> str:
    return "tls" if _ssl_cause(exc) is not None else "connect"


def _connect_reason(exc: aiosmtplib.SMTPConnectError, settings: SmtpSettings) -> str:
    tls_problem = _ssl_cause(exc)
    if tls_problem is not None:
        return f"TLS with SMTP server {settings.where} failed: {tls_problem}"
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ConnectionRefusedError):
        return f"cannot connect to SMTP server {settings.where}: connection refused"
    if isinstance(cause, OSError) and cause.strerror:
        return f"cannot connect to SMTP server {settings.where}: {cause.strerror}"
    text = one_line(str(exc), 200)
    if "refused" in text.lower():
        return f"cannot connect to SMTP server {settings.where}: connection refused"
    return f"cannot connect to SMTP server {settings.where}: {text}"


def _not_supported(exc: aiosmtplib.SMTPNotSupported, settings: SmtpSettings) -> str:
    text = one_line(str(exc), 160)
    lowered = text.lower()
    if "starttls" in lowered:
        return "it does not offer STARTTLS (set smtp.starttls: false, or tls: true for port 465)"
    if "auth" in lowered:
        return "it does not offer AUTH on this connection (is TLS required before login?)"
    return text
