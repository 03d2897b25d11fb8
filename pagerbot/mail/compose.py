"""Escalation emails to a hosting vendor: the data a draft is written from, and the templates rendered with it.

Pure: no I/O and no clock reads (``now`` is given). Text from alerts and people reaches the templates
only as data; the HTML part is autoescaped. The MIME message built from a draft is in :mod:`pagerbot.mail.mime`.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pagerbot.core.asks import suggest_asks as suggest_asks  # re-exported: the rule lives in core
from pagerbot.core.escaping import one_line
from pagerbot.core.findings import Finding
from pagerbot.core.notes import tagged
from pagerbot.core.onset import Onset
from pagerbot.core.people import humanize_entry, humanize_incident, name_of
from pagerbot.core.records import EscalationRecord, IncidentRecord, TimelineEntry
from pagerbot.core.timezones import aware, zone
from pagerbot.mail.mime import SUBJECT_LIMIT, Attachment, Draft, check_addresses, clean_subject
from pagerbot.mail.templates import TemplateSet

TIMELINE_LIMIT = 15
TIMELINE_FIRST = 5  # of those, how many tell how it began (the rest are the latest)
GRAPH_FILENAME = "load.png"
# Timeline entries a vendor has no use for: slash-command echoes and pagerbot's own mechanics (channel
# created, topic set, graph posted, a draft written; the email itself is what they read).
MECHANICS = frozenset({"command", "slack", "graph", "graph_unavailable", "escalation", "email", "postmortem"})

_RE_PREFIX = re.compile(r"^\s*((re|aw|sv|fwd?)\s*:\s*)+", re.IGNORECASE)


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
    host_graphs: Sequence[Attachment] = ()  # one graph per host a finding names, attached beside the cluster's
    reply_to: str | Sequence[str] = ""  # the lead's address and the team's
    contact_name: str | None = None  # who signs the email
    contact_phone: str | None = None  # a number the vendor can call back
    contact_email: str | None = None
    alerts_since: datetime | None = None  # the earliest alert's start
    onsets: Sequence[Onset] = ()  # where the metrics show the finding's trouble beginning
    measured_at: datetime | None = None  # when the hosts' numbers and findings were taken (the graph's time)
    previous: EscalationRecord | None = None  # the last email sent about this incident
    ticket: str | None = None  # the vendor's ticket number, from its replies: follow-ups carry it in the subject
    changes_since_previous: Sequence[TimelineEntry] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)  # more data for overridden templates
    # user ID -> name (from Slack's profiles): a vendor reads names, not Slack IDs or <@U123> mentions
    names: Mapping[str, str] = field(default_factory=dict)


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
    reply_to = check_addresses(_reply_to(ctx), "reply_to")
    data = template_data(kind, ctx)
    names = template_names(kind, ctx.vendor.template)
    subject = clean_subject(templates.render(templates.first_existing(names["subject"]), data))
    text = templates.render(templates.first_existing(names["txt"]), data)
    html = templates.render(templates.first_existing(names["html"]), data)
    attachments = []
    if ctx.graph_png:
        attachments.append(Attachment(ctx.graph_filename, "image/png", ctx.graph_png))
    attachments.extend(ctx.host_graphs)
    return Draft(
        to=to, cc=cc, subject=subject, text=text, html=html, attachments=attachments, reply_to=reply_to
    )


def _reply_to(ctx: EscalationContext) -> list[str]:
    values = [ctx.reply_to] if isinstance(ctx.reply_to, str) else list(ctx.reply_to)
    return list(dict.fromkeys(v.strip() for v in values if v.strip()))


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


_ONSET_WORDS = {"iowait": "iowait", "load1": "load", "swap_used": "swap use"}
PLAUSIBLE_ALERT_AGE = timedelta(days=7)  # an alert "started" long before the incident is a sender's placeholder


def _since(ctx: EscalationContext, opened: datetime, tz: str) -> tuple[datetime, list[str]]:
    """When the problem began, and how we know: the metrics' onsets that came before the alerts, the
    earliest alert's start, the incident's opening ("iowait on db1 rising since 05:40 PDT", ...)."""
    first_signal = _first_alert(ctx, opened)
    alerts = first_signal if first_signal != opened else None
    parts: list[str] = []
    onsets = sorted((o for o in ctx.onsets if aware(o.at) < first_signal), key=lambda o: aware(o.at))
    for onset in onsets:
        what = _ONSET_WORDS.get(onset.metric, onset.metric)
        parts.append(f"{what} on {one_line(onset.host, 80)} rising since {format_clock(onset.at, tz)}")
    if alerts is not None:
        parts.append(f"alerts since {format_clock(alerts, tz)}")
    if parts:  # alone, the opening says nothing the date after "since" does not
        parts.append(f"incident opened at {format_clock(opened, tz)}")
    began = min([first_signal, *(aware(o.at) for o in onsets)])
    return began, parts


def _first_alert(ctx: EscalationContext, opened: datetime) -> datetime:
    alerts = aware(ctx.alerts_since) if ctx.alerts_since is not None else None
    return alerts if alerts is not None and opened - PLAUSIBLE_ALERT_AGE <= alerts <= opened else opened


def story(entries: Sequence[TimelineEntry], *, repeat_after: timedelta = timedelta(minutes=15)) -> list[TimelineEntry]:
    """The timeline as the vendor should read it, oldest first: without slash-command echoes, pagerbot's
    mechanics, and lines that repeat one from the same person within ``repeat_after``."""
    last_seen: dict[tuple[str, str], datetime] = {}
    kept: list[TimelineEntry] = []
    for entry in sorted(entries, key=lambda e: aware(e.at)):
        if entry.kind in MECHANICS:
            continue
        key = (entry.actor or "", " ".join(entry.text.split()).casefold())
        at = aware(entry.at)
        previous = last_seen.get(key)
        last_seen[key] = at
        if previous is not None and at - previous <= repeat_after:
            continue
        kept.append(entry)
    return kept


def _beginning_and_latest(entries: Sequence[TimelineEntry], limit: int,
                          first: int) -> tuple[list[TimelineEntry], int, list[TimelineEntry]]:
    """How it began (the first ``first`` entries), how many are left out between, and the latest."""
    if len(entries) <= limit:
        return list(entries), 0, []
    head = min(first, limit)
    tail = limit - head
    return list(entries[:head]), len(entries) - limit, list(entries[len(entries) - tail:]) if tail else []


def _people_said(entries: Sequence[TimelineEntry], tz: str, names: Mapping[str, str],
                 tag: str, *, pins: bool) -> list[dict[str, Any]]:
    """Notes tagged ``tag:`` (and, with ``pins``, pinned messages), oldest first, each once."""
    said: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in sorted(entries, key=lambda e: aware(e.at)):
        text = tagged(entry.text, tag) if entry.kind == "note" else (entry.text if pins and entry.kind == "pin"
                                                                      else None)
        if not text or text.casefold() in seen:
            continue
        seen.add(text.casefold())
        view = _entry_view(TimelineEntry(at=entry.at, kind=entry.kind, source=entry.source, actor=entry.actor,
                                         text=text), tz, names)
        said.append(view)
    return said


def template_data(kind: str, ctx: EscalationContext) -> dict[str, Any]:
    """The plain data every email template gets (also documented in the templates' comments)."""
    names = ctx.names
    inc = humanize_incident(ctx.incident, names)  # lead, participants and mentions as names
    tz = ctx.tz or "UTC"
    now = aware(ctx.now)
    opened = aware(inc.opened_at)
    since, since_parts = _since(ctx, opened, tz)
    title = one_line(ctx.title or inc.title, SUBJECT_LIMIT)
    measured = aware(ctx.measured_at) if ctx.measured_at is not None else now

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

    told = story(ctx.timeline)
    first, omitted, latest = _beginning_and_latest(told, max(0, ctx.timeline_limit),
                                                   min(TIMELINE_FIRST, max(0, ctx.timeline_limit)))
    our_findings = _people_said(ctx.timeline, tz, names, "cause", pins=True)
    our_asks = [e["text"] for e in _people_said(ctx.timeline, tz, names, "ask", pins=False)]
    asks = list(dict.fromkeys([*our_asks, *(one_line(a, 400) for a in ctx.asks if a.strip())]))
    changes: dict[str, list[dict[str, Any]]] = {
        "new_alerts": [],
        "alerts_resolved": [],
        "status_changes": [],
        "notes": [],
        "other": [],
    }
    for entry in story(ctx.changes_since_previous):
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
    reply_to = _reply_to(ctx)

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
        "since_line": "; ".join(since_parts),
        "opened_when": format_when(opened, tz),
        # when the first alert (whose description the incident keeps) fired
        "first_alert_when": format_when(_first_alert(ctx, opened), tz),
        "duration": format_duration(end - since),
        "measured_when": format_when(measured, tz),
        "description": inc.description or "",
        "lead": inc.lead or "",
        "participants": [p for p in inc.participants if p != inc.lead],
        "hosts": hosts,
        "findings": list(ctx.findings),
        "stands_out": [one_line(s, 400) for s in ctx.stands_out],
        "asks": asks,
        "our_findings": our_findings,
        "timeline": [_entry_view(e, tz, names) for e in first + latest],
        "timeline_first": [_entry_view(e, tz, names) for e in first],
        "timeline_latest": [_entry_view(e, tz, names) for e in latest],
        "timeline_omitted": omitted,
        "graph": ctx.graph_filename if ctx.graph_png else None,
        "host_graphs": [a.filename for a in ctx.host_graphs],
        "reply_to": ", ".join(reply_to),
        "reply_to_addr": email.utils.parseaddr(reply_to[0])[1] if reply_to else "",
        "contact_name": ctx.contact_name or "",
        "contact_phone": ctx.contact_phone or "",
        "contact_email": ctx.contact_email or "",
        "previous": previous,
        "previous_subject": _RE_PREFIX.sub("", ctx.previous.subject) if ctx.previous else "",
        "ticket": ctx.ticket or "",
        "changes": changes,
        "has_changes": any(changes.values()),
        "resolved_at": resolved_at,
        "resolved_when": format_when(resolved_at, tz) if resolved_at else "",
        "summary": inc.summary or "",
        "extra": dict(ctx.extra),
    }
