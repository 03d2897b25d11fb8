"""The mail wiring the composition root uses: the SMTP sender from the ``smtp`` config, the IMAP mailbox from
the ``imap`` config."""

from __future__ import annotations

import email.utils
import ssl
from dataclasses import replace
from email.message import EmailMessage
from typing import Any

from pagerbot.mail.imap import ImapMailbox, ImapSettings
from pagerbot.mail.smtp import SmtpSettings, send_message
from pagerbot.services.ports import MailSender
from pagerbot.settings import Settings


def smtp_settings(settings: Settings) -> SmtpSettings:
    """The ``smtp`` config as the mail library's settings (implicit TLS wins over STARTTLS when both are on)."""
    smtp = settings.config.smtp
    return SmtpSettings(host=smtp.host, port=smtp.port, starttls=smtp.starttls and not smtp.tls, tls=smtp.tls,
                        username=smtp.username or None, password=smtp.password, sender=smtp.sender,
                        timeout=smtp.timeout_seconds)


def smtp_sender(settings: Settings, *, tls_context: Any = None) -> MailSender | None:
    """The production mail sender (``send_message`` with the config's SMTP), or None when nothing sends email
    (no vendors, no on-call email contacts)."""
    if not settings.config.vendors and not any(
            contact.email for contacts in settings.config.oncall.contacts.values() for contact in contacts):
        return None
    smtp = smtp_settings(settings)
    if tls_context is not None:
        smtp = replace(smtp, tls_context=tls_context)

    async def send(message: EmailMessage) -> dict[str, str]:
        return await send_message(message, smtp)

    return send


def sender_domain(address: str) -> str:
    """The domain of the ``From`` address, for Message-IDs (``pagerbot.invalid`` when it has none)."""
    _, addr = email.utils.parseaddr(address)
    domain = addr.rpartition("@")[2].strip()
    return domain or "pagerbot.invalid"


def imap_mailbox(settings: Settings, *, tls_context: ssl.SSLContext | None = None) -> ImapMailbox | None:
    """The mailbox the vendors' replies arrive in (the ``imap`` config), or None when it is not configured."""
    imap = settings.config.imap
    if imap is None:
        return None
    return ImapMailbox(ImapSettings(host=imap.host, port=imap.port, tls=imap.tls, starttls=imap.starttls,
                                    username=imap.username, password=imap.password, mailbox=imap.mailbox,
                                    timeout=imap.timeout_seconds, tls_context=tls_context))
