"""Escalation emails to a hosting vendor: drafts from templates, and the MIME message that is sent.

Pure: no I/O and no clock reads (``now`` is given). Text from alerts and people reaches the templates
only as data; the HTML part is autoescaped; header values are checked for CR/LF.
"""

from __future__ import annotations

import base64
import email.policy
import email.utils
import html as html_lib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from pagerbot.core.asks import suggest_asks as suggest_asks  # re-exported: the rule lives in core
from pagerbot.core.escaping import one_line
from pagerbot.core.findings import Finding
from pagerbot.core.people import humanize_entry, humanize_incident, name_of
from pagerbot.core.records import EscalationRecord, IncidentRecord, TimelineEntry
from pagerbot.core.timezones import aware, zone
from pagerbot.mail.templates import TemplateSet

SUBJECT_LIMIT = 200
TIMELINE_LIMIT = 15
GRAPH_FILENAME = "load.png"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ADDR_SPEC = re.compile(r"^[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+$")
_MSG_ID = re.compile(r"^<[^\s<>@]+@[^\s<>@]+>$")
_RE_PREFIX = re.compile(r"^\s*((re|aw|sv|fwd?)\s*:\s*)+", re.IGNORECASE)


# --- the draft and the message --------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class VendorInfo:
    """A vendor from the config. ``template`` picks ``<template>.escalation.txt.j2`` and friends
    (falling back to the default templates for any that do not exist); ``phone`` and ``portal_url``
    are the vendor's, shown in Slack."""

    name: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    account: str = ""
    phone: str | None = None
    portal_url: str | None = None
    template: str | None = None
    key: str = ""  # the config key, e.g. "contegix"


@dataclass(frozen=True, slots=True)
class HostSummary:
    """Current numbers for one host. Percentages are 0-100; None when unknown."""

    host: str
    load: float | None = None  # 1-minute load average
    cpus: int | None = None
    iowait: float | None = None  # % of CPU time waiting on I/O
    cpu_busy: float | None = None  # % of CPU time not idle
    mem_available_pct: float | None = None
    findings: tuple[str, ...] = ()  # sentences; when empty, the context's findings for this host are used
    pool: str | None = None

    @property
    def load_per_cpu(self) -> float | None:
        if self.load is None or not self.cpus:
            return None
        return self.load / self.cpus

    def numbers(self) -> str:
        """'load 14.2 on 8 CPUs (1.8 per CPU), iowait 62 %, CPU busy 97 %, memory available 12 %' (percentages
        as pagerbot writes them everywhere: the findings, Slack, the postmortem)."""
        parts: list[str] = []
        if self.load is not None:
            text = f"load {self.load:.1f}"
            if self.cpus:
                plural = "s" if self.cpus != 1 else ""
                text += f" on {self.cpus} CPU{plural} ({self.load / self.cpus:.1f} per CPU)"
            parts.append(text)
        if self.iowait is not None:
            parts.append(f"iowait {self.iowait:.0f} %")
        if self.cpu_busy is not None:
            parts.append(f"CPU busy {self.cpu_busy:.0f} %")
        if self.mem_available_pct is not None:
            parts.append(f"memory available {self.mem_available_pct:.0f} %")
        return ", ".join(parts) if parts else "no current numbers"


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationContext:
    """Everything one email is written from. ``now`` is when the draft is made (UTC, aware)."""

    incident: IncidentRecord
    vendor: VendorInfo
    now: datetime
    tz: str = "UTC"
    title: str | None = None  # the short title in the subject; the incident's title when None
    hosts: Sequence[HostSummary] = ()
    findings: Sequence[Finding] = ()
    stands_out: Sequence[str] = ()  # sentences: what stands out, most important first
    asks: Sequence[str] = ()
    timeline: Sequence[TimelineEntry] = ()
    timeline_limit: int = TIMELINE_LIMIT
    graph_png: bytes | None = None
    graph_filename: str = GRAPH_FILENAME
    reply_to: str = ""
    contact_name: str | None = None  # who signs the email
    contact_phone: str | None = None  # a number the vendor can call back
    previous: EscalationRecord | None = None  # the last email sent about this incident
    changes_since_previous: Sequence[TimelineEntry] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)  # more data for overridden templates
    # user ID -> name (from Slack's profiles): a vendor reads names, not Slack IDs or <@U123> mentions
    names: Mapping[str, str] = field(default_factory=dict)


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


# --- drafting -------------------------------------------------------------------------------------


def draft_escalation(ctx: EscalationContext, templates: TemplateSet) -> Draft:
    """The first email to the vendor about this incident."""
    return _draft("escalation", ctx, templates)


def draft_followup(ctx: EscalationContext, templates: TemplateSet) -> Draft:
    """A later email in the same thread: what changed since ``ctx.previous`` was sent."""
    return _draft("followup", ctx, templates)


def draft_all_clear(ctx: EscalationContext, templates: TemplateSet) -> Draft:
    """The incident is resolved: when, and the summary."""
    return _draft("allclear", ctx, templates)


def template_names(kind: str, vendor_template: str | None = None) -> dict[str, list[str]]:
    """Candidate template names for one kind of email, the vendor's own first."""
    names: dict[str, list[str]] = {}
    for part in ("txt", "html"):
        own = [f"{vendor_template}.{kind}.{part}.j2"] if vendor_template else []
        names[part] = [*own, f"{kind}.{part}.j2"]
    names["subject"] = [*([f"{vendor_template}.subject.txt.j2"] if vendor_template else []), "subject.txt.j2"]
    return names


def _draft(kind: str, ctx: EscalationContext, templates: TemplateSet) -> Draft:
    to = check_addresses(ctx.vendor.to, f"vendor {ctx.vendor.name} to")
    if not to:
        raise ValueError(f"vendor {ctx.vendor.key or ctx.vendor.name} has no email address (to)")
    cc = check_addresses(ctx.vendor.cc, f"vendor {ctx.vendor.name} cc")
    reply_to = check_addresses([ctx.reply_to], "reply_to") if ctx.reply_to.strip() else []
    data = template_data(kind, ctx)
    names = template_names(kind, ctx.vendor.template)
    subject = clean_subject(templates.render(templates.first_existing(names["subject"]), data))
    text = templates.render(templates.first_existing(names["txt"]), data)
    html = templates.render(templates.first_existing(names["html"]), data)
    attachments = []
    if ctx.graph_png:
        attachments.append(Attachment(ctx.graph_filename, "image/png", ctx.graph_png))
    return Draft(
        to=to, cc=cc, subject=subject, text=text, html=html, attachments=attachments, reply_to=reply_to
    )


# --- what the templates see -----------------------------------------------------------------------


def format_when(dt: datetime, tz: str) -> str:
    """'2024-03-05 06:12 PST (14:12 UTC)'; the UTC date is repeated when it differs."""
    dt = aware(dt)
    shown_in = zone(tz)
    local = dt.astimezone(shown_in)
    utc = dt.astimezone(UTC)
    head = f"{local:%Y-%m-%d %H:%M} {local.tzname()}"
    if shown_in is UTC:
        return f"{utc:%Y-%m-%d %H:%M} UTC"
    tail = f"{utc:%H:%M} UTC" if utc.date() == local.date() else f"{utc:%Y-%m-%d %H:%M} UTC"
    return f"{head} ({tail})"


def format_clock(dt: datetime, tz: str) -> str:
    """'06:12 PST' (with the date when it is not today's in ``tz``... kept short for timelines)."""
    local = aware(dt).astimezone(zone(tz))
    return f"{local:%H:%M} {local.tzname()}"


def format_duration(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min"


_CHANGE_GROUPS = {
    "alert": "new_alerts",
    "wave": "new_alerts",
    "alert_resolved": "alerts_resolved",
    "status": "status_changes",
    "note": "notes",
    "pin": "notes",
}


def _entry_view(entry: TimelineEntry, tz: str, names: Mapping[str, str]) -> dict[str, Any]:
    entry = humanize_entry(entry, names)
    return {
        "at": aware(entry.at),
        "when": format_when(entry.at, tz),
        "clock": format_clock(entry.at, tz),
        "kind": entry.kind,
        "source": entry.source,
        "actor": entry.actor or "",
        "text": one_line(entry.text, 400),
    }


def template_data(kind: str, ctx: EscalationContext) -> dict[str, Any]:
    """The plain data every email template gets (also documented in the templates' comments)."""
    names = ctx.names
    inc = humanize_incident(ctx.incident, names)  # lead, participants and mentions as names
    tz = ctx.tz or "UTC"
    now = aware(ctx.now)
    since = aware(inc.opened_at)
    title = one_line(ctx.title or inc.title, SUBJECT_LIMIT)

    by_host: dict[str, list[str]] = {}
    for finding in ctx.findings:
        by_host.setdefault(finding.host, []).append(finding.sentence)
    hosts = [
        {
            "host": h.host,
            "pool": h.pool,
            "load": h.load,
            "cpus": h.cpus,
            "load_per_cpu": h.load_per_cpu,
            "iowait": h.iowait,
            "cpu_busy": h.cpu_busy,
            "mem_available_pct": h.mem_available_pct,
            "numbers": h.numbers(),
            "findings": list(h.findings) or by_host.get(h.host, []),
        }
        for h in ctx.hosts
    ]

    entries = sorted(ctx.timeline, key=lambda e: aware(e.at))
    limit = max(0, ctx.timeline_limit)
    shown = entries[-limit:] if limit else []
    changes: dict[str, list[dict[str, Any]]] = {
        "new_alerts": [],
        "alerts_resolved": [],
        "status_changes": [],
        "notes": [],
        "other": [],
    }
    for entry in sorted(ctx.changes_since_previous, key=lambda e: aware(e.at)):
        changes[_CHANGE_GROUPS.get(entry.kind, "other")].append(_entry_view(entry, tz, names))

    previous = None
    if ctx.previous is not None:
        sent = ctx.previous.sent_at or ctx.previous.created_at
        previous = {
            "subject": ctx.previous.subject,
            "sent_at": aware(sent),
            "when": format_when(sent, tz),
            "sent_by": name_of(ctx.previous.sent_by, names) if ctx.previous.sent_by else None,
            "message_id": ctx.previous.message_id,
        }
    resolved_at = aware(inc.resolved_at) if inc.resolved_at else None
    end = resolved_at or now

    return {
        "kind": kind,
        "incident": inc,
        "ref": inc.ref,
        "title": title,
        "severity": f"SEV{inc.severity}",
        "status": inc.status,
        "vendor": ctx.vendor,
        "account": ctx.vendor.account,
        "tz": tz,
        "now": now,
        "now_when": format_when(now, tz),
        "since": since,
        "since_when": format_when(since, tz),
        "duration": format_duration(end - since),
        "description": inc.description or "",
        "lead": inc.lead or "",
        "participants": [p for p in inc.participants if p != inc.lead],
        "hosts": hosts,
        "findings": list(ctx.findings),
        "stands_out": [one_line(s, 400) for s in ctx.stands_out],
        "asks": [one_line(a, 400) for a in ctx.asks if a.strip()],
        "timeline": [_entry_view(e, tz, names) for e in shown],
        "timeline_omitted": len(entries) - len(shown),
        "graph": ctx.graph_filename if ctx.graph_png else None,
        "reply_to": ctx.reply_to.strip(),
        "reply_to_addr": email.utils.parseaddr(ctx.reply_to.strip())[1] if ctx.reply_to.strip() else "",
        "contact_name": ctx.contact_name or "",
        "contact_phone": ctx.contact_phone or "",
        "previous": previous,
        "previous_subject": _RE_PREFIX.sub("", ctx.previous.subject) if ctx.previous else "",
        "changes": changes,
        "has_changes": any(changes.values()),
        "resolved_at": resolved_at,
        "resolved_when": format_when(resolved_at, tz) if resolved_at else "",
        "summary": inc.summary or "",
        "extra": dict(ctx.extra),
    }
