"""Read new messages from an IMAP mailbox (imaplib, in a thread): implicit TLS or STARTTLS, login with an
app password, the mailbox opened read-only and bodies fetched with BODY.PEEK, so nothing is marked read,
moved or deleted. Every failure is a :class:`MailboxError` with one clear line.
"""

from __future__ import annotations

import asyncio
import imaplib
import re
import ssl
from dataclasses import dataclass, field

from pagerbot.core.escaping import one_line
from pagerbot.services.ports import Fetched

BATCH = 50  # messages read per poll at most; the rest wait for the next one


class MailboxError(Exception):
    """The mailbox could not be read: ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ImapSettings:
    host: str
    port: int = 993
    tls: bool = True
    starttls: bool = False
    username: str = ""
    password: str = field(default="", repr=False)
    mailbox: str = "INBOX"
    timeout: float = 20.0
    tls_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> str:
        """Names the mailbox in pagerbot's progress table (another account or server starts afresh)."""
        return f"{self.username}@{self.host}:{self.port}/{self.mailbox}"[:255]

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


_UID = re.compile(rb"UID (\d+)")


def _connect(settings: ImapSettings) -> imaplib.IMAP4:
    context = settings.tls_context or ssl.create_default_context()
    if settings.tls:
        return imaplib.IMAP4_SSL(settings.host, settings.port, ssl_context=context, timeout=settings.timeout)
    client = imaplib.IMAP4(settings.host, settings.port, timeout=settings.timeout)
    if settings.starttls:
        client.starttls(ssl_context=context)
    return client


def _check(status: str, data: list[object], what: str) -> None:
    if status != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        raise imaplib.IMAP4.error(f"{what} refused: {detail}")


def fetch_new(settings: ImapSettings, after_uid: int, uidvalidity: int, limit: int = BATCH) -> Fetched:
    """Messages with a UID above ``after_uid`` (all of them when the mailbox's UIDVALIDITY is no longer
    ``uidvalidity``: its UIDs were renumbered), oldest first, at most ``limit``."""
    try:
        client = _connect(settings)
    except (OSError, ssl.SSLError) as exc:
        raise MailboxError(_reason(exc, settings)) from exc
    try:
        try:
            client.login(settings.username, settings.password)
        except imaplib.IMAP4.error as exc:
            raise MailboxError(f"IMAP server {settings.where} refused the login for {settings.username!r}: "
                               f"{one_line(_text(exc), 160)}") from exc
        status, _ = client.select(_quoted(settings.mailbox), readonly=True)
        if status != "OK":
            raise MailboxError(f"IMAP server {settings.where} has no mailbox {settings.mailbox!r}")
        _, answer = client.response("UIDVALIDITY")
        current = int(answer[0]) if answer and answer[0] else 0
        start = after_uid + 1 if current == uidvalidity else 1
        status, found = client.uid("SEARCH", f"UID {start}:*")
        _check(status, list(found), "SEARCH")
        # "N:*" always names the newest message, even when its UID is below N
        uids = sorted(int(u) for u in (found[0] or b"").split() if int(u) >= start)[:limit]
        messages: list[tuple[int, bytes]] = []
        for uid in uids:
            status, parts = client.uid("FETCH", str(uid), "(UID BODY.PEEK[])")
            _check(status, list(parts), "FETCH")
            for part in parts:
                if isinstance(part, tuple) and _UID.search(part[0]):
                    messages.append((uid, bytes(part[1])))
                    break
        return Fetched(current, messages)
    except MailboxError:
        raise
    except (imaplib.IMAP4.error, OSError, ssl.SSLError) as exc:
        raise MailboxError(_reason(exc, settings)) from exc
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError, ssl.SSLError):
            pass


async def read_new(settings: ImapSettings, after_uid: int, uidvalidity: int, limit: int = BATCH) -> Fetched:
    """:func:`fetch_new` off the event loop."""
    return await asyncio.to_thread(fetch_new, settings, after_uid, uidvalidity, limit)


def _quoted(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(exc: BaseException) -> str:
    return str(exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc)


def _reason(exc: BaseException, settings: ImapSettings) -> str:
    where = settings.where
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS with IMAP server {where} failed: certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS with IMAP server {where} failed: {one_line(exc.reason or str(exc), 160)}"
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot connect to IMAP server {where}: connection refused"
    if isinstance(exc, TimeoutError):
        return f"timed out talking to IMAP server {where} after {settings.timeout:g} s"
    if isinstance(exc, OSError):
        return f"cannot reach IMAP server {where}: {exc.strerror or exc}"
    return f"IMAP server {where}: {one_line(_text(exc), 200)}"


@dataclass(frozen=True, slots=True)
class ImapMailbox:
    """The mailbox port (``services.ports.Mailbox``) over IMAP."""

    settings: ImapSettings

    @property
    def key(self) -> str:
        return self.settings.key

    async def read_new(self, after_uid: int, uidvalidity: int) -> Fetched:
        return await read_new(self.settings, after_uid, uidvalidity)
