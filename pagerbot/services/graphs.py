"""Live graphs and host summaries: fetch from the metrics source, diagnose, render in the worker
process, and post through the outbox (a new upload, the pinned header pointing at it, the old file
deleted). A source that is down never blocks the incident: the post says so and the next tick retries.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pagerbot.core.alerts import AlertEvent, AlertState, Severity
from pagerbot.core.diagnosis import summarize_hosts, summary_json
from pagerbot.core.escaping import mrkdwn
from pagerbot.core.graph_frame import Window, capacity_of, export_window, live_window, wave_windows
from pagerbot.core.graph_frame import caption as graph_caption
from pagerbot.core.records import AlertRecord, IncidentRecord
from pagerbot.core.series import ALL_METRICS, CPU_BUSY, CPUS, IOWAIT, LOAD1, Series
from pagerbot.core.watches import evaluate
from pagerbot.graphs.markers import Marker, Span
from pagerbot.observability import GRAPH_RENDER
from pagerbot.services.actor import ActionRefused, Actor
from pagerbot.services.alerts import accept_alerts
from pagerbot.services.context import Services
from pagerbot.services.delivery import Handler, Job, Persist, UndeliverableError
from pagerbot.services.opening import enqueue_post, enqueue_refresh
from pagerbot.services.ports import ChatError, MetricsUnavailable, MetricsUnreachable
from pagerbot.store.repository import Graph, Session, incident_record

log = logging.getLogger("pagerbot.graphs")
_WINDOW = re.compile(r"^(\d{1,3})([mhd])$")


def parse_window(text: str, default: timedelta) -> timedelta:
    match = _WINDOW.match(text.strip().lower())
    if not match:
        raise ActionRefused(f"{text!r} is not a window: use e.g. 30m, 6h or 2d")
    amount, unit = int(match.group(1)), match.group(2)
    window = {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}[unit]
    if not timedelta(minutes=5) <= window <= timedelta(days=7):
        raise ActionRefused("the window must be between 5 minutes and 7 days")
    return window


def _step(window: timedelta) -> int:
    # About 360 points a series: plenty for a 960-pixel graph, well under Prometheus's 11,000.
    return max(60, int(window.total_seconds() // 360 // 60 * 60))


async def _fetch(ctx: Services, hosts: Sequence[str] | None, window: Window,
                 metrics: Sequence[str] = ALL_METRICS) -> list[Series]:
    if ctx.metrics is None:
        raise ActionRefused("no metrics source is configured (metrics.source in the config)")
    return await ctx.metrics.fetch(metrics, window.start, window.end, _step(window.length), hosts)


def _scope(ctx: Services, target: str | None) -> tuple[str, list[str] | None]:
    pools = ctx.settings.config.metrics.pools
    if not target:
        return "cluster", None
    if target in pools:
        return f"pool {target}", list(pools[target])
    return f"host {target}", [target]


@dataclass(frozen=True, slots=True)
class RenderedGraph:
    png: bytes
    title: str  # what it shows and when: "Load, cluster, 06:04–08:15 PDT, 2026-03-10"
    kind: str  # stacked_load (the cluster or a pool) or host_panels (one host)
    summary: dict[str, Any]  # diagnosis.summary_json


@dataclass(frozen=True, slots=True)
class Fired:
    """One firing of an alert, as graphs mark it."""

    name: str
    started: datetime
    ended: datetime | None  # None while it fires


def fired_of(alerts: Sequence[AlertRecord]) -> list[Fired]:
    return [Fired(a.name, a.starts_at or a.first_received_at,
                  (a.ends_at or a.last_received_at) if a.state == "resolved" else None) for a in alerts]


def incident_start(incident: IncidentRecord, fired: Sequence[Fired]) -> datetime:
    """When the incident began: its opening, or its first alert's start when that was earlier."""
    return min([incident.opened_at, *(f.started for f in fired if f.started.year >= 2000)])


def live_graph_window(ctx: Services, incident: IncidentRecord, fired: Sequence[Fired],
                      requested: timedelta | None = None) -> Window:
    """The window asked for (the last ``requested``), or the incident framed: from an hour before its start to
    now, at most ``metrics.window_hours`` long."""
    now = ctx.clock.now()
    if requested is not None:
        return Window(now - requested, now)
    return live_window(incident_start(incident, fired), now, timedelta(hours=ctx.settings.config.metrics.window_hours))


MAX_ALERT_MARKERS = 12


def _frame(incident: IncidentRecord, fired: Sequence[Fired], window: Window) -> tuple[list[Marker], list[Span]]:
    """The markers (the opening, each later wave's start, the first firing of each alert name in each wave,
    the resolve) and the shaded spans (the incident, each wave) of a graph of ``incident`` over ``window``."""
    end = min(window.end, incident.resolved_at or window.end)
    waves = [Span(w.start, w.end, f"wave {n}", "wave")
             for n, w in enumerate(wave_windows([(f.started, f.ended) for f in fired], end), start=1)]
    markers = [Marker(at=incident.opened_at, label=f"{incident.ref} opened", kind="event")]
    for n, wave in enumerate(waves, start=1):
        if n > 1:
            markers.append(Marker(at=wave.start, label=wave.label, kind="event"))
        members = [(f.started, f.name) for f in fired if wave.start <= f.started <= wave.end]
        markers += [Marker(at=at, label=name) for at, name in first_firings(members, window.start, window.end)]
    if incident.resolved_at is not None:
        markers.append(Marker(at=incident.resolved_at, label="resolved", kind="event"))
    markers = [mk for mk in markers if window.start <= mk.at <= window.end]
    alerts = sorted((mk for mk in markers if mk.kind == "alert"), key=lambda mk: mk.at)
    dropped = {id(mk) for mk in alerts[MAX_ALERT_MARKERS:]}
    markers = [mk for mk in markers if id(mk) not in dropped]
    spans = [Span(max(incident_start(incident, fired), window.start), end, incident.ref, "incident")]
    spans += [wave for wave in waves if wave.end > window.start]
    return markers, spans


async def make_graph(ctx: Services, incident: IncidentRecord, target: str | None, window: Window,
                     fired: Sequence[Fired] = ()) -> RenderedGraph:
    """Fetch, summarise and render. Raises MetricsUnavailable (NoLoadData when nothing is known of target)."""
    label, hosts = _scope(ctx, target)
    series = await _fetch(ctx, hosts, window)
    pools = ctx.settings.config.metrics.pools
    shown_pools = pools
    if hosts is not None:  # a pool's or a host's graph: the hosts not fetched are not "silent"
        shown_pools = {name: [h for h in members if h in hosts] for name, members in pools.items()}
    summary = summarize_hosts(series, now=window.end,
                              pools={name: members for name, members in shown_pools.items() if members})
    loads = {s.host: s for s in series if s.metric == LOAD1}
    if not loads:
        raise NoLoadData(f"the metrics source has no load data for {label}")
    markers, spans = _frame(incident, fired, window)
    caption = graph_caption(window, ctx.settings.tz)
    common = {"caption": caption, "tz": ctx.settings.tz, "markers": markers, "spans": spans, "pools": pools,
              "window": window}
    started = ctx.clock.now()
    assert ctx.graphs is not None
    if hosts is not None and len(hosts) == 1 and target not in pools:
        # one host: its load against its cores, CPU busy and iowait, one panel under another
        kind, title = "host_panels", f"Load, CPU and iowait, {label}"
        png = await ctx.graphs.render(kind, series=series, hosts=hosts, title=title, **common)
    else:
        kind, title = "stacked_load", f"Load, {label}"
        cores = {s.host: _last_value(s) for s in series if s.metric == CPUS and s.host in loads}
        png = await ctx.graphs.render(kind, series_by_host=loads, title=f"{title} (1-minute load, stacked)",
                                      capacity=capacity_of(cores), **common)
    GRAPH_RENDER.observe((ctx.clock.now() - started).total_seconds())
    return RenderedGraph(png, f"{title}, {caption}", kind, summary_json(summary))


def _last_value(s: Series) -> float:
    finite = [v for v in s.values if math.isfinite(v)]
    return float(finite[-1]) if finite else math.nan


MAX_EXPORT_HOSTS = 4


async def incident_graphs(ctx: Services, incident: IncidentRecord,
                          alerts: Sequence[AlertRecord]) -> list[RenderedGraph]:
    """The graphs that tell a whole incident, for the postmortem and the all-clear email: the cluster's load,
    and the panels of the hosts its alerts name (the busiest few), from an hour before its start to half an
    hour after its resolve. Raises MetricsUnavailable or ActionRefused (no source) like make_graph."""
    fired = fired_of(alerts)
    window = export_window(incident_start(incident, fired), incident.resolved_at, ctx.clock.now())
    graphs = [await make_graph(ctx, incident, None, window, fired)]
    hosts = sorted({a.host for a in alerts if a.host})
    if hosts:
        label = hosts[0] if len(hosts) == 1 else f"{len(hosts)} alerting hosts"
        try:
            graphs.append(await _host_graph(ctx, incident, hosts, label, window, fired))
        except NoLoadData:
            pass  # the alerts name hosts the metrics source does not know
    return graphs


async def span_graph(ctx: Services, incident_id: int) -> RenderedGraph | None:
    """The cluster's load over the whole incident (as in the postmortem), for the all-clear email; None when
    the metrics source cannot draw it (the email then goes without)."""
    async with ctx.store.sessions() as session:
        row = await ctx.store.incident(session, incident_id)
        alerts = await ctx.store.alerts_of(session, incident_id) if row is not None else []
    if row is None or ctx.metrics is None:
        return None
    record = incident_record(row)
    fired = fired_of(alerts)
    window = export_window(incident_start(record, fired), record.resolved_at, ctx.clock.now())
    try:
        return await make_graph(ctx, record, None, window, fired)
    except MetricsUnavailable as exc:
        log.warning("all-clear graph for INC-%s: %s", incident_id, exc, extra={"incident_id": incident_id})
        return None


async def keep_graph(ctx: Services, session: Session, incident_id: int, graph: RenderedGraph, now: datetime) -> int:
    """Store a graph that is not posted in the channel (an email's attachment); returns its id."""
    row = Graph(incident_id=incident_id, kind=graph.kind, title=graph.title, png=graph.png, summary=graph.summary,
                slack_file_id=None, created_at=now)
    await ctx.store.add_graph(session, row)
    return row.id


async def _host_graph(ctx: Services, incident: IncidentRecord, hosts: Sequence[str], label: str, window: Window,
                      fired: Sequence[Fired]) -> RenderedGraph:
    series = await _fetch(ctx, hosts, window, (LOAD1, CPUS, CPU_BUSY, IOWAIT))
    if not any(s.metric == LOAD1 for s in series):
        raise NoLoadData(f"the metrics source has no load data for {label}")
    markers, spans = _frame(incident, fired, window)
    caption = graph_caption(window, ctx.settings.tz)
    title = f"Load, CPU and iowait, {label}"
    assert ctx.graphs is not None
    png = await ctx.graphs.render("host_panels", series=series, title=title, caption=caption, tz=ctx.settings.tz,
                                  markers=markers, spans=spans, pools=ctx.settings.config.metrics.pools,
                                  window=window, max_hosts=MAX_EXPORT_HOSTS)
    return RenderedGraph(png, f"{title}, {caption}", "host_panels", {})


def first_firings(alert_times: Sequence[tuple[datetime, str]], start: datetime, end: datetime,
                  limit: int = MAX_ALERT_MARKERS) -> list[tuple[datetime, str]]:
    """When each alert name first fired inside [start, end], earliest first, at most ``limit`` names: one
    line per kind of alert, not one per host, so the labels stay readable."""
    first: dict[str, datetime] = {}
    for at, name in sorted(alert_times):
        if start <= at <= end:
            first.setdefault(name, at)
    return sorted(((at, name) for name, at in first.items()))[:limit]


def _human(window: timedelta) -> str:
    minutes = int(window.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


# Seconds before an outbox row's creation that a retry looks back for its earlier upload (Slack's clock and
# ours may differ).
FILE_CLOCK_SKEW = 300


class NoLoadData(MetricsUnavailable):
    """The source answered, but had no load series for what was asked (an unknown host or pool)."""


def _no_graph_text(exc: Exception, *, retried: bool) -> str:
    if isinstance(exc, MetricsUnreachable):
        text = f":warning: No graph: the metrics source is unreachable. {mrkdwn(str(exc))}"
    else:
        text = f":warning: No graph: {mrkdwn(str(exc)).rstrip('.')}."
    if retried:
        text += " pagerbot tries again at the next refresh."
    return text


async def refresh_graph(ctx: Services, job: Job) -> Persist | None:
    """Render, upload, and for the live graph point the pinned header at it and delete the superseded file.

    The timeline records the first graph, each requested one, and when the source becomes unavailable and
    available again; routine refreshes are not recorded. When the source fails, the channel is told once per
    outage (and at every request); the scheduler's next tick tries again.
    """
    if job.incident_id is None:
        raise UndeliverableError("refresh_graph needs an incident")
    reason = str(job.payload.get("reason") or "refresh")
    live = bool(job.payload.get("live", True))
    async with ctx.store.sessions() as session:
        row = await ctx.store.incident(session, job.incident_id)
        if row is None:
            raise UndeliverableError(f"incident {job.incident_id} does not exist")
        alerts = await ctx.store.alerts_of(session, row.id)
        state = await ctx.store.last_graph_event(session, row.id)
    if not row.channel_id:
        raise UndeliverableError("the incident has no channel")
    if live and reason == "refresh" and row.resolved_at is not None:
        return None  # resolved since the refresh was queued: the last graph stays as it is
    record = incident_record(row)
    target = job.payload.get("target")
    asked = job.payload.get("window_seconds")
    fired = fired_of(alerts)
    window = live_graph_window(ctx, record, fired, timedelta(seconds=float(asked)) if asked else None)
    try:
        graph = await make_graph(ctx, record, target, window, fired)
    except (MetricsUnavailable, ActionRefused) as exc:
        log.warning("graph for INC-%s: %s", row.id, exc, extra={"incident_id": row.id})
        if live and state == "graph_unavailable":
            return None  # already said; the next tick tries again
        failed_at, post, why = ctx.clock.now(), _no_graph_text(exc, retried=live), f"No graph: {exc}"

        async def tell(session: Session) -> None:
            await enqueue_post(ctx, session, row.id, post, now=failed_at)
            await ctx.store.add_timeline(session, row.id, at=failed_at, kind="graph_unavailable", source="pagerbot",
                                         actor=None, text=why, now=failed_at)
        return tell
    # Named after this outbox row, so that a retry can tell its own earlier upload from any other file.
    queued = job.created_at.astimezone(ctx.settings.tz)
    name = f"load-{target or 'cluster'}-{queued:%H%M}-{job.id}.png".replace("/", "-")
    stands_out = graph.summary["stands_out"]
    comment = graph.title + ("\n" + "\n".join(f"• {s}" for s in stands_out) if stands_out else "")
    file_id = None
    if job.maybe_sent:  # the last attempt may have shared the file before its answer was lost
        try:
            file_id = await ctx.chat.find_file(row.channel_id, name, job.created_at.timestamp() - FILE_CLOCK_SKEW)
        except ChatError as exc:
            if exc.retryable:
                raise
            # cannot look (a scope taken away): a second copy beats no graph
            log.warning("graph for INC-%s: cannot look for the earlier upload (%s); uploading", row.id, exc,
                        extra={"incident_id": row.id})
    if file_id is None:
        # The live graph is shown by the pinned header's image block, edited to each new file before the old
        # one is deleted: shared into the channel, every refresh would leave a "This file was deleted." line.
        file_id = await ctx.chat.upload_file(row.channel_id, name, graph.title, graph.png, comment=mrkdwn(comment),
                                             shared=not live)
    old_file = row.graph_file_id if live else None
    now = ctx.clock.now()

    async def persist(session: Session) -> None:
        await ctx.store.add_graph(session, Graph(incident_id=row.id, kind=graph.kind, title=graph.title,
                                                 png=graph.png, summary=graph.summary, slack_file_id=file_id,
                                                 created_at=now))
        if reason != "refresh" or state != "graph":
            back = " (the metrics source answers again)" if state == "graph_unavailable" else ""
            await ctx.store.add_timeline(session, row.id, at=now, kind="graph", source="pagerbot", actor=None,
                                         text=f"Graph posted: {graph.title}{back}", data={"file_id": file_id},
                                         now=now)
        if live:
            await ctx.store.set_live_graph(session, row.id, file_id)
            await enqueue_refresh(ctx, session, row.id, now, topic=False)
            if old_file:
                await ctx.store.enqueue(session, row.id, "delete_file", {"file_id": old_file}, now=now)
                # after the incident row's UPDATE above: an email being drafted locks that row, so the two
                # never cross (the draft attaches a graph it sees with its image, or waits for this)
                await ctx.store.forget_png(session, row.id, old_file)

    return persist


async def delete_file(ctx: Services, job: Job) -> Persist | None:
    await ctx.chat.delete_file(str(job.payload["file_id"]))
    return None


def outbox_handlers() -> dict[str, Handler]:
    return {"refresh_graph": refresh_graph, "delete_file": delete_file}


async def refresh_due(ctx: Services) -> int:
    """Every refresh_minutes while an incident is open: queue a fresh live graph (at every tick while the
    incident has none yet, e.g. because the source was down)."""
    if ctx.metrics is None:
        return 0
    now = ctx.clock.now()
    interval = timedelta(minutes=ctx.settings.config.metrics.refresh_minutes)
    queued = 0
    async with ctx.store.transaction() as session:
        for incident in await ctx.store.open_incidents(session):
            if not incident.channel_id:
                continue
            last = None
            if incident.graph_file_id:  # the live graph (a requested one does not postpone it)
                last = await ctx.store.graph_posted_at(session, incident.id, incident.graph_file_id)
            if last is None or now - last >= interval:
                await ctx.store.enqueue(session, incident.id, "refresh_graph", {"reason": "refresh"}, now=now,
                                        coalesce_key=f"graph:{incident.id}")
                queued += 1
    if queued:
        ctx.wake_outbox()
    return queued


async def request_graph(ctx: Services, incident_id: int, argument: str, actor: Actor) -> str:
    """`/incident graph [pool|host] [window]`: a one-off graph, posted through the outbox."""
    if ctx.metrics is None:
        raise ActionRefused("no metrics source is configured (metrics.source in the config)")
    words = argument.split()
    target: str | None = None
    window: timedelta | None = None  # the incident framed, as the live graph
    for word in words:
        if _WINDOW.match(word.lower()):
            window = parse_window(word, timedelta(hours=1))
        else:
            target = word
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        await ctx.store.enqueue(session, incident_id, "refresh_graph",
                                {"reason": "request", "target": target,
                                 "window_seconds": window.total_seconds() if window else None,
                                 "live": False, "by": actor.user_id}, now=now)
    ctx.wake_outbox()
    span = f"over the last {_human(window)}" if window else "from an hour before the incident began"
    return f"Drawing the load of {_scope(ctx, target)[0]} {span}…"


MAX_HOST_LINES = 20


async def host_summary_text(ctx: Services, incident_id: int) -> str:
    """`/incident hosts`: each host's numbers over the last hour and what stands out. A read-only answer, to
    the one who asked (as `timeline` is); `/incident graph` posts for everyone. Says so when the source
    cannot be used."""
    now = ctx.clock.now()
    try:
        series = await _fetch(ctx, None, Window(now - timedelta(hours=1), now))
    except MetricsUnreachable as exc:
        return f":warning: The metrics source is unreachable: {mrkdwn(str(exc))}"
    except MetricsUnavailable as exc:
        return f":warning: No host summary: {mrkdwn(str(exc))}"
    summary = summarize_hosts(series, now=ctx.clock.now(), pools=ctx.settings.config.metrics.pools)
    ranked = sorted(summary.hosts, key=lambda h: (not h.has_data,
                                                  -(h.load_per_core if math.isfinite(h.load_per_core) else -1)))
    lines = [f"*Hosts* (last hour, busiest first; {len(ranked)} in all)" if len(ranked) > MAX_HOST_LINES
             else "*Hosts* (last hour)"]
    for h in ranked[:MAX_HOST_LINES]:
        if not h.has_data:
            lines.append(f"• *{mrkdwn(h.host)}*: no data")
            continue
        lines.append(f"• *{mrkdwn(h.host)}*: load {_num(h.load1)} on {_num(h.cpus, 0)} cores, "
                     f"CPU busy {_num(h.cpu_busy, 0)} %, iowait {_num(h.iowait, 0)} %, "
                     f"memory available {_num(h.mem_available_pct, 0)} %")  # the findings' and emails' words
    if len(ranked) > MAX_HOST_LINES:
        lines.append(f"…and {len(ranked) - MAX_HOST_LINES} more")
    tail = ["*What stands out*", *(f"• {mrkdwn(s)}" for s in summary.stands_out)] if summary.stands_out else []
    text = "\n".join(tail)
    text = "\n".join(lines)[:2900 - len(text)] + ("\n" + text if text else "")
    return text


def _num(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "?"


async def poll_metrics(ctx: Services) -> int:
    """Sources that keep their own history (Ganglia without readable RRD files) read the current values."""
    poll = getattr(ctx.metrics, "poll", None)
    if poll is None:
        return 0
    try:
        return len(await poll())
    except MetricsUnavailable as exc:
        log.warning("metrics poll: %s", exc)
        return 0


WATCH_SOURCE = "watch"


async def evaluate_watches(ctx: Services) -> int:
    """Threshold rules from the config (``metrics.watches``), for shops without Alertmanager.

    Results become alerts through the same intake as a webhook's (source ``watch``, labels ``alertname``,
    ``host`` and ``cluster: watches``, so by default every watch alert joins one incident). A firing result
    is sent at every tick (repeats change nothing); a resolve only for an alert that is firing. A source that
    cannot be reached is logged and tried again at the next tick. Returns the number of alerts sent."""
    watches = ctx.settings.config.metrics.watches
    if not watches or ctx.metrics is None:
        return 0
    now = ctx.clock.now()
    longest = max(w.for_minutes for w in watches)
    metrics = sorted({w.metric for w in watches} | ({CPUS} if any(w.per_core for w in watches) else set()))
    hosts = None if any(not w.hosts and not w.pool for w in watches) else sorted(
        {h for w in watches for h in (w.hosts or ctx.settings.config.metrics.pools.get(w.pool or "", []))})
    try:
        series = await ctx.metrics.fetch(metrics, now - timedelta(minutes=longest + 5), now, 60, hosts)
    except MetricsUnavailable as exc:
        log.warning("watches: %s", exc)
        return 0
    results = evaluate(watches, series, ctx.settings.config.metrics.pools, now=now.timestamp())
    async with ctx.store.sessions() as session:
        firing = await ctx.store.firing_fingerprints(session, WATCH_SOURCE)
    events = [AlertEvent(
        source=WATCH_SOURCE, fingerprint=f"{r.watch}:{r.host}",
        state=AlertState.FIRING if r.firing else AlertState.RESOLVED, name=r.watch, title=r.text,
        severity=Severity.parse(r.severity, Severity.SEV3),
        labels={"alertname": r.watch, "host": r.host, "cluster": "watches"}, host=r.host,
        ends_at=now if not r.firing else None)
        for r in results if r.firing or f"{r.watch}:{r.host}" in firing]
    if events:
        await accept_alerts(ctx, "watch", events)
    return len(events)
