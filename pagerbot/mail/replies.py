"""A reply read from the mailbox: which email it answers, who wrote it, its new text, its ticket number (pure).

The new text is what the vendor wrote above the email it quotes: quoted lines (``>``), the quoted email
after "On … wrote:", "-----Original Message-----" or Outlook's "From: … Sent: …" header block, and a
forwarded thread's "---------- Forwarded message ---------" are cut. An HTML-only reply is read as text,
with its ``<blockquote>`` (the quoted email) left out. Transfer encodings (quoted-printable, base64) and
charsets are decoded by the email package.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from html.parser import HTMLParser

from pagerbot.core.escaping import one_line

TEXT_LIMIT = 4000  # the new text kept; a reply longer than this is cut with a marker

_MSG_ID = re.compile(r"<[^<>\s]+>")
_QUOTE_HEADS = [
    re.compile(r"^\s*On\b.{0,300}\bwrote:\s*$", re.IGNORECASE | re.DOTALL),  # Gmail, Apple Mail, Thunderbird
    re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$", re.IGNORECASE),  # Outlook
    re.compile(r"^\s*-{2,}\s*Forwarded message\s*-{2,}\s*$", re.IGNORECASE),  # Gmail's forward
    re.compile(r"^\s*Begin forwarded message:\s*$", re.IGNORECASE),  # Apple Mail's forward
    re.compile(r"^\s*_{10,}\s*$"),  # Outlook's rule above "From: … Sent: …"
]
_OUTLOOK_FROM = re.compile(r"^\s*From:\s.+$", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(r"^\s*(Sent|Date|To|Subject):\s", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class VendorReply:
    message_id: str | None
    refers_to: tuple[str, ...]  # the Message-IDs in In-Reply-To and References, the nearest first
    sender: str  # "Name <addr>" or the address
    subject: str
    sent_at: datetime | None  # its Date header, UTC
    text: str  # the new text, without the quoted email
    attachments: tuple[str, ...]  # file names (a forwarded message: its subject)
    body: str  # the whole text, quoted part included (where a ticket number may be)


def parse_reply(raw: bytes) -> VendorReply:
    """Read one message. Never raises for a malformed message: what cannot be read is left empty."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    refs = _ids(message.get("In-Reply-To")) + list(reversed(_ids(message.get("References"))))
    body = _body_text(message)
    return VendorReply(
        message_id=next(iter(_ids(message.get("Message-ID"))), None),
        refers_to=tuple(dict.fromkeys(refs)),
        sender=one_line(_header(message, "From"), 300),
        subject=one_line(_header(message, "Subject"), 300),
        sent_at=_date(message),
        text=_clip(new_text(body)),
        attachments=tuple(_attachments(message)),
        body=body,
    )


def new_text(body: str) -> str:
    """``body`` without the email it quotes or forwards."""
    lines = body.replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        if any(head.match(line) for head in _QUOTE_HEADS):
            break
        if _OUTLOOK_FROM.match(line) and any(_OUTLOOK_NEXT.match(n) for n in lines[index + 1:index + 3]):
            break
        # "On Tue, … <x@y>" wrapped onto two lines before "wrote:"
        if line.strip().lower().startswith("on ") and index + 1 < len(lines) and \
                lines[index + 1].strip().lower().endswith("wrote:") and len(line) + len(lines[index + 1]) < 300:
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def find_ticket(pattern: str | None, *texts: str) -> str | None:
    """The first match of the vendor's ``ticket_pattern`` in ``texts`` (the subject first), or None."""
    if not pattern:
        return None
    compiled = re.compile(pattern)
    for text in texts:
        found = compiled.search(text or "")
        if found and found.group(0).strip():
            return one_line(found.group(0), 128)
    return None


def _ids(value: object) -> list[str]:
    return _MSG_ID.findall(str(value)) if value is not None else []


def _header(message: EmailMessage, name: str) -> str:
    try:
        return str(message.get(name) or "")
    except (ValueError, TypeError, IndexError):  # a header the parser cannot make sense of
        return ""


def _date(message: EmailMessage) -> datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(_header(message, "Date"))
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):  # an unknown charset or a broken encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    return html_text(content) if part.get_content_type() == "text/html" else content


def _attachments(message: EmailMessage) -> list[str]:
    names: list[str] = []
    for part in message.iter_attachments():
        if part.get_content_type() == "message/rfc822":
            inner = part.get_content()
            subject = one_line(str(inner.get("Subject") or ""), 150) if isinstance(inner, EmailMessage) else ""
            names.append(f"forwarded message: {subject}" if subject else "forwarded message")
            continue
        names.append(one_line(part.get_filename() or part.get_content_type(), 150))
    return names


def _clip(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT].rstrip() + "\n… (cut here; the mailbox has it all)"


class _HtmlText(HTMLParser):
    """Text from HTML: blocks become lines; script, style and the quoted email (``<blockquote>``, Gmail's and
    Thunderbird's quote containers) are left out."""

    _BLOCKS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "table", "ul", "ol", "hr"})
    _SKIP = frozenset({"script", "style", "blockquote", "head", "title"})
    _VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.open: list[tuple[str, bool]] = []  # (tag, whether it started a skipped stretch)

    @property
    def skipping(self) -> bool:
        return any(skips for _, skips in self.open)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = " ".join(v or "" for k, v in attrs if k == "class")
        if tag in self._BLOCKS and not self.skipping:
            self.parts.append("\n")
        if tag not in self._VOID:
            self.open.append((tag, tag in self._SKIP or "gmail_quote" in classes or "moz-cite-prefix" in classes))

    def handle_endtag(self, tag: str) -> None:
        if any(t == tag for t, _ in self.open):
            while self.open and self.open.pop()[0] != tag:
                pass
        if tag in self._BLOCKS and not self.skipping:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(re.sub(r"\s+", " ", data))  # lines are trimmed at the end


def html_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
