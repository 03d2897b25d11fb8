"""What an email to the vendor is written from: the incident's alerts, timeline, graph summary and people.

Read from the store inside the drafting transaction; names are looked up in Slack before it (a slow Slack
must not hold the incident's lock). The result is the pure :class:`EscalationContext` the templates render.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pagerbot.core.asks import suggest_asks
from pagerbot.core.findings import Finding, FindingKind
from pagerbot.core.onset import MIN_RISE, ONSET_METRIC, Onset, rising_since
from pagerbot.core.people import is_user_id, user_ids
from pagerbot.core.records import AlertRecord, TimelineEntry
from pagerbot.mail.compose import EscalationContext, HostSummary, VendorInfo
from pagerbot.mail.mime import Attachment
from pagerbot.services.context import Services
from pagerbot.services.emails import record_of
from pagerbot.services.graphs import RenderedGraph, fired_of, live_graph_window, make_graph
from pagerbot.services.people import names_for, profiles_for
from pagerbot.services.ports import MetricsUnavailable
from pagerbot.settings import VendorConfig
from pagerbot.store.repository import Email, Graph, Incident, Session, incident_record

log = logging.getLogger("pagerbot.escalation")

MAX_HOST_GRAPHS = 3  # hosts a finding names whose own graph is attached, strongest findings first
ONSET_LOOKBACK = timedelta(hours=12)  # how far before the first alert the metrics are searched for the onset
ONSET_STEP_SECONDS = 60
METRICS_SECONDS = 20.0  # the most the onsets and host graphs may add to drafting an email
# findings about a host's own trouble (not its absence from the data): its graph and onset are worth showing
_HOST_TROUBLE = (FindingKind.IO_BOUND, FindingKind.OVERLOADED, FindingKind.SWAPPING, FindingKind.IMBALANCED_HIGH,
                 FindingKind.IMBALANCED_LOW)


@dataclass(frozen=True, slots=True)
class Contact:
    """Who signs the email, and the addresses the vendor's answer goes to."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    reply_to: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class People:
    """What Slack and the config say about the people an email names, read before the drafting transaction."""

    names: Mapping[str, str] = field(default_factory=dict)
    signer: Contact = field(default_factory=Contact)


@dataclass(frozen=True, slots=True)
class HostGraph:
    host: str
    filename: str  # what the attachment is called: "db1.png"
    graph: RenderedGraph


@dataclass(frozen=True, slots=True)
class MetricsEvidence:
    """What the metrics source adds, fetched before the drafting transaction: onsets and per-host graphs."""

    onsets: Sequence[Onset] = ()
    host_graphs: Sequence[HostGraph] = ()


def vendor_info(key: str, config: VendorConfig) -> VendorInfo:
    return VendorInfo(name=config.name, to=tuple(config.to), cc=tuple(config.cc), account=config.account or "",
                      phone=config.phone, portal_url=config.portal_url, template=config.template, key=key)


def findings_from(raw: Any) -> list[Finding]:
    """The findings a stored graph summary holds (entries that do not parse are skipped)."""
    found: list[Finding] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, Mapping):
            continue
        try:
            numbers = item.get("numbers") or {}
            found.append(Finding(kind=FindingKind(str(item["kind"])), host=str(item["host"]),
                                 sentence=str(item["sentence"]), score=float(item.get("score") or 0),
                                 pool=str(item["pool"]) if item.get("pool") else None,
                                 numbers={str(k): float(v) for k, v in dict(numbers).items()}))
        except (KeyError, ValueError, TypeError):
            continue
    return found


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def hosts_from(raw: Any) -> list[HostSummary]:
    """The hosts' numbers a stored graph summary holds."""
    hosts: list[HostSummary] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, Mapping) or not item.get("host"):
            continue
        cpus = _number(item.get("cpus"))
        findings = item.get("findings")
        hosts.append(HostSummary(
            host=str(item["host"]), load=_number(item.get("load")), cpus=int(cpus) if cpus else None,
            iowait=_number(item.get("iowait")), cpu_busy=_number(item.get("cpu_busy")),
            mem_available_pct=_number(item.get("mem_available_pct")),
            findings=tuple(str(f) for f in findings) if isinstance(findings, list) else (),
            pool=str(item["pool"]) if item.get("pool") else None))
    return hosts


async def contact(ctx: Services, user_id: str | None) -> Contact:
    """How the vendor reaches ``user_id``: the ``people`` config first, the Slack profile for the rest."""
    if not user_id or not is_user_id(user_id):
        return Contact()
    configured = ctx.settings.config.people.get(user_id)
    profile = None
    if configured is None or None in (configured.name, configured.phone, configured.email):
        profile = (await profiles_for(ctx, [user_id])).get(user_id)
    return Contact(name=(configured and configured.name) or (profile and profile.name) or None,
                   phone=(configured and configured.phone) or (profile and profile.phone) or None,
                   email=(configured and configured.email) or (profile and profile.email) or None)


async def people(ctx: Services, incident_id: int, drafted_by: str | None) -> People:
    """Names of the people the email mentions, and its signer: the person who asked for the draft (the lead
    when pagerbot drafts it by itself). Reply-To is the lead's address (the signer's without a lead) and the
    team's. Looked up before the drafting transaction (which locks the incident: a slow Slack must not hold
    up the alerts joining it); what cannot be found is left out, and unknown names stay IDs."""
    async with ctx.store.sessions() as session:
        incident = await ctx.store.incident(session, incident_id)
        if incident is None:
            return People()
        timeline = await ctx.store.timeline(session, incident_id)
    names = await names_for(ctx, user_ids(timeline, incident_record(incident)))
    signer_id = drafted_by if drafted_by and is_user_id(drafted_by) else incident.lead
    signer = await contact(ctx, signer_id)
    lead = signer if incident.lead in (None, signer_id) else await contact(ctx, incident.lead)
    addresses = [_named_address(lead.name, lead.email), ctx.settings.config.smtp.team_address]
    reply_to = tuple(dict.fromkeys(a for a in addresses if a))
    return People(names=names, signer=Contact(signer.name or (names.get(signer_id) if signer_id else None),
                                              signer.phone, signer.email, reply_to))


def _named_address(name: str | None, address: str | None) -> str | None:
    """``Name <address>``; the bare address when the name (from a profile) has characters a header
    would need quoting for."""
    if not address or any(c in address for c in "\r\n<>,;\" "):
        return None
    if not name or any(c in name for c in '\r\n"\\,;<>()@:[]'):
        return address
    return f"{name} <{address}>"


async def metrics_evidence(ctx: Services, incident_id: int) -> MetricsEvidence:
    """Onsets of the latest findings in the metrics, and a graph of each host they name. Nothing when there
    is no metrics source, no finding yet, or the source fails or takes longer than METRICS_SECONDS in all
    (logged; the email is drafted all the same: the person asking for it should not wait on a slow source)."""
    if ctx.metrics is None:
        return MetricsEvidence()
    try:
        return await asyncio.wait_for(_metrics_evidence(ctx, incident_id), METRICS_SECONDS)
    except TimeoutError:
        log.warning("the metrics source took over %s s: the email is drafted without onsets and host graphs",
                    METRICS_SECONDS, extra={"incident_id": incident_id})
        return MetricsEvidence()


async def _metrics_evidence(ctx: Services, incident_id: int) -> MetricsEvidence:
    assert ctx.metrics is not None
    async with ctx.store.sessions() as session:
        incident = await ctx.store.incident(session, incident_id)
        if incident is None:
            return MetricsEvidence()
        alerts = await ctx.store.alerts_of(session, incident_id)
        graph = await graph_for(ctx, session, incident_id, {a.host for a in alerts if a.host})
    summary = graph.summary if graph is not None and isinstance(graph.summary, dict) else {}
    findings = sorted((f for f in findings_from(summary.get("findings")) if f.kind in _HOST_TROUBLE),
                      key=lambda f: -f.score)
    if not findings:
        return MetricsEvidence()
    starts = [a.starts_at for a in alerts if a.starts_at is not None and a.starts_at <= incident.opened_at]
    first_signal = min([incident.opened_at, *starts])
    onsets = await _onsets(ctx, findings, first_signal - ONSET_LOOKBACK, incident_id)
    hosts = list(dict.fromkeys(f.host for f in findings))[:MAX_HOST_GRAPHS]
    return MetricsEvidence(onsets=onsets, host_graphs=await _host_graphs(ctx, incident, alerts, hosts))


async def _onsets(ctx: Services, findings: Sequence[Finding], start: datetime, incident_id: int) -> list[Onset]:
    assert ctx.metrics is not None
    wanted = list(dict.fromkeys((f.host, ONSET_METRIC[f.kind]) for f in findings if f.kind in ONSET_METRIC))
    end = ctx.clock.now()
    found: list[Onset] = []
    for host, metric in wanted:
        try:
            series = await ctx.metrics.fetch([metric], start, end, ONSET_STEP_SECONDS, [host])
        except MetricsUnavailable as exc:
            log.warning("no onset for %s on %s: %s", metric, host, exc, extra={"incident_id": incident_id})
            continue
        for s in series:
            if s.host == host and s.metric == metric:
                at = rising_since(s.times, s.values, min_rise=MIN_RISE[metric])
                if at is not None:
                    found.append(Onset(host, metric, at))
    return found


async def _host_graphs(ctx: Services, incident: Incident, alerts: Sequence[AlertRecord],
                       hosts: Sequence[str]) -> list[HostGraph]:
    """Each host's own graph, framed like the live graph (from an hour before the incident began)."""
    if ctx.graphs is None:
        return []
    record = incident_record(incident)
    fired = fired_of(alerts)
    window = live_graph_window(ctx, record, fired)
    made: list[HostGraph] = []
    for host in hosts:
        try:
            graph = await make_graph(ctx, record, host, window, fired)
        except MetricsUnavailable as exc:
            log.warning("no graph of %s for the email: %s", host, exc, extra={"incident_id": incident.id})
            continue
        made.append(HostGraph(host, f"{host}.png".replace("/", "-"), graph))
    return made


async def graph_for(ctx: Services, session: Session, incident_id: int, alert_hosts: set[str]) -> Graph | None:
    """The newest graph that shows every host the alerts name (the live cluster graph rather than a pool's
    graph someone asked for last); the newest of all when none does."""
    rows = await ctx.store.recent_graphs(session, incident_id)
    for row in rows:
        summary = row.summary if isinstance(row.summary, dict) else {}
        shown = {str(h.get("host")) for h in summary.get("hosts") or [] if isinstance(h, dict)}
        if alert_hosts <= shown:
            return row
    return rows[0] if rows else None


async def gather(ctx: Services, session: Session, incident: Incident, key: str, vendor: VendorConfig,
                 now: datetime, previous: Email | None, known: People,
                 metrics: MetricsEvidence = MetricsEvidence()) -> tuple[EscalationContext, Graph | None]:
    """The context one email is written from, and the graph it attaches (None without one)."""
    alerts = await ctx.store.alerts_of(session, incident.id)
    # Whom pagerbot paged, and how (a phone's email-to-SMS address), is the team's business, not the vendor's.
    timeline = [e for e in await ctx.store.timeline(session, incident.id) if e.kind != "page"]
    participants = sorted({e.actor for e in timeline if e.actor and is_user_id(e.actor)})
    graph = await graph_for(ctx, session, incident.id, {a.host for a in alerts if a.host})
    summary: Mapping[str, Any] = graph.summary if graph is not None and isinstance(graph.summary, dict) else {}
    findings = findings_from(summary.get("findings"))
    hosts = hosts_from(summary.get("hosts"))
    if not hosts:  # no graph yet: at least name the hosts the alerts are about
        hosts = [HostSummary(host=h) for h in sorted({a.host for a in alerts if a.host})]
    stands_out = [str(s) for s in summary.get("stands_out") or [] if isinstance(s, str)]
    changes: list[TimelineEntry] = []
    if previous is not None:
        since = previous.sent_at or previous.created_at
        changes = [e for e in timeline if e.at > since and e.kind not in ("escalation", "email")]
    starts = [a.starts_at for a in alerts if a.starts_at is not None]
    signer = known.signer
    context = EscalationContext(
        incident=incident_record(incident, participants), vendor=vendor_info(key, vendor), now=now,
        tz=ctx.settings.config.timezone, hosts=hosts, findings=findings, stands_out=stands_out,
        asks=suggest_asks(findings), timeline=timeline,
        graph_png=graph.png if graph is not None and graph.png else None,
        host_graphs=[Attachment(g.filename, "image/png", g.graph.png) for g in metrics.host_graphs],
        reply_to=list(signer.reply_to), contact_name=signer.name, contact_phone=signer.phone,
        contact_email=signer.email, alerts_since=min(starts) if starts else None, onsets=metrics.onsets,
        measured_at=graph.created_at if graph is not None else None,
        previous=record_of(previous) if previous is not None else None, changes_since_previous=changes,
        ticket=await ctx.store.vendor_ticket(session, incident.id, key), names=known.names)
    return context, (graph if graph is not None and graph.png else None)
