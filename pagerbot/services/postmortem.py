"""Postmortem export: gather what the store recorded and render it (Markdown + graphs beside it).

Three ways out share this: `/incident postmortem` (uploads to the channel), `pagerbot postmortem`,
and GET /incidents/{id}/postmortem.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from pagerbot.core.durations import key_times
from pagerbot.core.people import is_user_id, user_ids
from pagerbot.core.records import AlertRecord, IncidentRecord
from pagerbot.core.timeline import merge_alerts
from pagerbot.core.timezones import aware
from pagerbot.postmortem.render import GraphFile, PostmortemInput, render_postmortem, write_postmortem
from pagerbot.services.actor import ActionRefused, Actor
from pagerbot.services.context import Services
from pagerbot.services.delivery import Handler, Job, Persist, UndeliverableError
from pagerbot.services.graphs import incident_graphs
from pagerbot.services.peak import find_peak
from pagerbot.services.people import names_for
from pagerbot.services.ports import MetricsUnavailable
from pagerbot.store.repository import Graph, incident_record

log = logging.getLogger("pagerbot.postmortem")


class NoSuchIncident(Exception):
    pass


def _template_dir(ctx: Services) -> Path | None:
    directory = ctx.settings.config.templates_dir
    return Path(directory) if directory else None


async def gather(ctx: Services, incident_id: int) -> tuple[PostmortemInput, dict[str, bytes]]:
    async with ctx.store.sessions() as session:
        row = await ctx.store.incident(session, incident_id)
        if row is None:
            raise NoSuchIncident(incident_id)
        alerts = await ctx.store.alerts_of(session, incident_id)
        recorded = await ctx.store.recorded_timeline(session, incident_id)
        escalations = await ctx.store.escalations(session, incident_id)
        graphs = await ctx.store.graphs_of(session, incident_id)
    # merging and scanning a storm's thousands of alerts costs tenths of a second of CPU: in a worker thread
    timeline = await asyncio.to_thread(merge_alerts, recorded, alerts)
    participants = sorted({e.actor for e in timeline if e.actor and is_user_id(e.actor)})
    record = incident_record(row, participants)
    wanted = await asyncio.to_thread(user_ids, timeline, record)
    names = await names_for(ctx, wanted)  # the IDs stay where a name is not found
    files, graph_files = await _graph_files(ctx, record, alerts, graphs)
    times = key_times(record, timeline, escalations, alerts=alerts)
    peak = await find_peak(ctx, incident_id, times.started, times.resolved or ctx.clock.now(),
                           [(aware(g.created_at), g.summary) for g in graphs])
    data = PostmortemInput(
        incident=record, alerts=alerts, timeline=timeline, escalations=escalations,
        findings=list(peak.findings) if peak else [], stands_out=list(peak.stands_out) if peak else [],
        graphs=graph_files, tz=ctx.settings.config.timezone, generated_at=ctx.clock.now(), names=names,
        peak_at=peak.at if peak else None, peak_load=peak.cluster_load if peak else None,
        peak_source=peak.source if peak else None, onsets=list(peak.onsets) if peak else [],
        user_facing=tuple(ctx.settings.config.postmortem.user_facing_alerts),
        vendor_names={key: vendor.name for key, vendor in ctx.settings.config.vendors.items()})
    return data, files


async def _graph_files(ctx: Services, record: IncidentRecord, alerts: Sequence[AlertRecord],
                       stored: Sequence[Graph]) -> tuple[dict[str, bytes], list[GraphFile]]:
    """Graphs that span the incident, drawn now from the metrics source (services.graphs.incident_graphs);
    when the source cannot draw them, the graphs posted during the incident that still have their image."""
    if ctx.metrics is None:
        return _stored_graph_files(stored)
    try:
        drawn = [(g.title, g.png) for g in await incident_graphs(ctx, record, alerts)]
    except (MetricsUnavailable, ActionRefused) as exc:
        log.warning("postmortem of INC-%s: graphs from the channel instead (%s)", record.id, exc,
                    extra={"incident_id": record.id})
        return _stored_graph_files(stored)
    return _files(drawn)


def _stored_graph_files(stored: Sequence[Graph]) -> tuple[dict[str, bytes], list[GraphFile]]:
    return _files([(g.title, g.png) for g in stored if g.png])


def _files(drawn: Sequence[tuple[str, bytes]]) -> tuple[dict[str, bytes], list[GraphFile]]:
    files = {f"graph-{n}.png": png for n, (_, png) in enumerate(drawn, start=1)}
    return files, [GraphFile(file_name=f"graph-{n}.png", caption=title) for n, (title, _) in enumerate(drawn, start=1)]


# Rendering a big incident (thousands of alerts, a long timeline) takes a second or more of CPU: it runs in a
# worker thread, so the event loop keeps answering webhooks and Slack meanwhile.

async def build_postmortem(ctx: Services, incident_id: int) -> tuple[str, dict[str, bytes]]:
    data, files = await gather(ctx, incident_id)
    return await asyncio.to_thread(render_postmortem, data, template_dir=_template_dir(ctx)), files


async def export(ctx: Services, incident_id: int, out_dir: Path) -> Path:
    data, files = await gather(ctx, incident_id)
    return await asyncio.to_thread(write_postmortem, data, files, out_dir, template_dir=_template_dir(ctx))


async def share_postmortem(ctx: Services, incident_id: int, actor: Actor) -> str:
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        await ctx.store.enqueue(session, incident_id, "upload_postmortem", {"by": actor.user_id}, now=now)
    ctx.wake_outbox()
    return "Exporting the postmortem; it will be uploaded to the channel."


async def upload_postmortem(ctx: Services, job: Job) -> Persist | None:
    if job.incident_id is None:
        raise UndeliverableError("upload_postmortem needs an incident")
    markdown, files = await build_postmortem(ctx, job.incident_id)
    async with ctx.store.sessions() as session:
        row = await ctx.store.incident(session, job.incident_id)
    if row is None or not row.channel_id:
        raise UndeliverableError("the incident has no channel")
    await ctx.chat.upload_file(row.channel_id, f"INC-{row.id}-postmortem.md", f"Postmortem of INC-{row.id}",
                               markdown.encode("utf-8"), comment=f":memo: Postmortem of INC-{row.id}, "
                               f"with {len(files)} graph{'s' if len(files) != 1 else ''}")
    for name, png in files.items():
        await ctx.chat.upload_file(row.channel_id, name, name, png)
    now = ctx.clock.now()

    async def persist(session):  # type: ignore[no-untyped-def]
        await ctx.store.add_timeline(session, row.id, at=now, kind="postmortem", source="pagerbot",
                                     actor=job.payload.get("by"), text="Postmortem exported", now=now)
    return persist


def outbox_handlers() -> dict[str, Handler]:
    return {"upload_postmortem": upload_postmortem}
