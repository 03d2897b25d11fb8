"""The email as it travels: the reviewed draft, address and header checks, and the MIME message built from it.

Pure: no I/O and no clock reads (``date`` is given). Header values are checked for CR/LF.
"""

from __future__ import annotations

import base64
import email.policy
import email.utils
import html as html_lib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from pagerbot.core.escaping import one_line
from pagerbot.core.records import EscalationRecord

SUBJECT_LIMIT = 200

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ADDR_SPEC = re.compile(r"^[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+$")
_MSG_ID = re.compile(r"^<[^\s<>@]+@[^\s<>@]+>$")



@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str  # "image/png"
    data: bytes


@dataclass(slots=True)
class Draft:
    """What a person reviews in Slack before pressing Send. ``text`` is the body people edit."""

    to: list[str]
    cc: list[str]
    subject: str
    text: str
    html: str
    attachments: list[Attachment] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (attachments base64) for the store and the outbox."""
        return {
            "to": list(self.to),
            "cc": list(self.cc),
            "reply_to": list(self.reply_to),
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "data": base64.b64encode(a.data).decode("ascii"),
                }
                for a in self.attachments
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Draft:
        return cls(
            to=list(data["to"]),
            cc=list(data.get("cc", [])),
            subject=str(data["subject"]),
            text=str(data["text"]),
            html=str(data["html"]),
            attachments=[
                Attachment(a["filename"], a["content_type"], base64.b64decode(a["data"]))
                for a in data.get("attachments", [])
            ],
            reply_to=list(data.get("reply_to", [])),
        )


def check_address(value: str) -> str:
    """One address (``a@b.example`` or ``Name <a@b.example>``); ValueError naming it otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"email address must be text, got {value!r}")
    if "\r" in value or "\n" in value or _CONTROL.search(value):
        raise ValueError(f"email address {value!r} contains a line break or control character")
    text = value.strip()
    if not text:
        raise ValueError("email address is empty")
    _, addr = email.utils.parseaddr(text)
    if not addr or not _ADDR_SPEC.match(addr) or ("<" in text and not text.endswith(">")):
        raise ValueError(f"{value!r} is not an email address (expected name@domain)")
    if "<" not in text and addr != text:
        raise ValueError(f"{value!r} is not an email address (expected name@domain)")
    return text


def check_addresses(values: Iterable[str], what: str = "recipient") -> list[str]:
    checked = []
    for value in values:
        try:
            checked.append(check_address(value))
        except ValueError as exc:
            raise ValueError(f"{what}: {exc}") from None
    return checked


def clean_subject(subject: str) -> str:
    """One line: CR/LF, tabs and other control characters become spaces; capped in length."""
    return one_line(_CONTROL.sub(" ", subject), SUBJECT_LIMIT)


def new_message_id(domain: str) -> str:
    """A fresh ``<...@domain>`` Message-ID."""
    domain = domain.strip()
    if not domain or _CONTROL.search(domain) or any(c in domain for c in " <>@"):
        raise ValueError(f"{domain!r} is not a domain for a Message-ID")
    return email.utils.make_msgid(idstring="pagerbot", domain=domain)


def _check_msg_id(value: str, header: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"{header} {value!r} contains a line break")
    value = value.strip()
    if not _MSG_ID.match(value):
        raise ValueError(f"{header} {value!r} is not a message id (expected <id@domain>)")
    return value


def thread_headers(previous: Sequence[EscalationRecord]) -> tuple[str | None, list[str]]:
    """``(In-Reply-To, References)`` for a reply to the emails already sent, oldest first."""
    ids = [r.message_id for r in previous if r.status == "sent" and r.message_id]
    return (ids[-1] if ids else None), ids


def build_message(
    draft: Draft,
    *,
    sender: str,
    message_id: str,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    date: datetime,
) -> EmailMessage:
    """The message to send: multipart/alternative (text, HTML), inside multipart/mixed with the
    attachments when there are any. Raises ValueError for a bad address, id or missing recipient."""
    sender = check_address(sender)
    to = check_addresses(draft.to, "To")
    cc = check_addresses(draft.cc, "Cc")
    reply_to = check_addresses(draft.reply_to, "Reply-To")
    if not to:
        raise ValueError("the email has no recipient: give at least one To address")
    message_id = _check_msg_id(message_id, "Message-ID")
    refs = [_check_msg_id(r, "References") for r in references]
    if in_reply_to is not None:
        in_reply_to = _check_msg_id(in_reply_to, "In-Reply-To")
        if in_reply_to not in refs:
            refs.append(in_reply_to)
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)

    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    if reply_to:
        msg["Reply-To"] = ", ".join(reply_to)
    msg["Subject"] = clean_subject(draft.subject)
    msg["Date"] = email.utils.format_datetime(date)
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if refs:
        msg["References"] = " ".join(refs)
    msg.set_content(draft.text)
    msg.add_alternative(draft.html, subtype="html")
    for attachment in draft.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        filename = clean_subject(attachment.filename).replace('"', "") or "attachment"
        msg.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype or "octet-stream", filename=filename
        )
    return msg


def html_from_text(text: str) -> str:
    """An HTML alternative for a body a person edited: the text, escaped, in a preformatted block."""
    return (
        '<!DOCTYPE html>\n<html><body>\n<pre style="font-family: monospace; white-space: pre-wrap">'
        f"{html_lib.escape(text)}</pre>\n</body></html>\n"
    )


def edited(
    draft: Draft,
    *,
    to: Sequence[str] | None = None,
    cc: Sequence[str] | None = None,
    subject: str | None = None,
    text: str | None = None,
) -> Draft:
    """The draft after the Edit modal: addresses checked, subject one line; a changed body replaces
    the HTML alternative with the escaped text so both parts say the same thing."""
    changes: dict[str, Any] = {}
    if to is not None:
        changes["to"] = check_addresses([a for a in to if a.strip()], "To")
        if not changes["to"]:
            raise ValueError("the email has no recipient: give at least one To address")
    if cc is not None:
        changes["cc"] = check_addresses([a for a in cc if a.strip()], "Cc")
    if subject is not None:
        changes["subject"] = clean_subject(subject)
    if text is not None and text != draft.text:
        changes["text"] = text
        changes["html"] = html_from_text(text)
    return replace(draft, **changes)


