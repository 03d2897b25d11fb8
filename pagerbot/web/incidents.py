"""The read API: GET /incidents, /incidents/{id}, /incidents/{id}/postmortem.md."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import PlainTextResponse

from pagerbot.core.records import IncidentRecord, TimelineEntry
from pagerbot.services.context import Services
from pagerbot.services.postmortem import NoSuchIncident, build_postmortem
from pagerbot.store.repository import incident_record
from pagerbot.web.errors import ApiError


def incident_json(record: IncidentRecord) -> dict[str, Any]:
    return {
        "id": record.id, "ref": record.ref, "title": record.title, "status": record.status,
        "severity": record.severity, "lead": record.lead, "channel_id": record.channel_id,
        "channel_name": record.channel_name, "opened_at": record.opened_at.isoformat(),
        "acknowledged_at": record.acknowledged_at.isoformat() if record.acknowledged_at else None,
        "resolved_at": record.resolved_at.isoformat() if record.resolved_at else None,
        "summary": record.summary,
    }


def entry_json(entry: TimelineEntry) -> dict[str, Any]:
    return {"at": entry.at.isoformat(), "kind": entry.kind, "source": entry.source, "actor": entry.actor,
            "text": entry.text}


# Incident numbers are 64-bit integers in the database; a larger one is a 422, not a failed query.
IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the number in INC-42")]


def router(ctx: Services, require_token: Any) -> APIRouter:
    api = APIRouter()

    @api.get("/incidents", summary="Incidents, newest first")
    async def list_incidents(request: Request, limit: int = 100) -> list[dict[str, Any]]:
        require_token(request)
        async with ctx.store.sessions() as session:
            rows = await ctx.store.list_incidents(session, limit=max(1, min(limit, 1000)))
        return [incident_json(incident_record(r)) for r in rows]

    @api.get("/incidents/{incident_id}", summary="One incident with its alerts and timeline")
    async def get_incident(request: Request, incident_id: IncidentId) -> dict[str, Any]:
        require_token(request)
        async with ctx.store.sessions() as session:
            row = await ctx.store.incident(session, incident_id)
            if row is None:
                raise ApiError(404, "no such incident", {"id": incident_id})
            alerts = await ctx.store.alerts_of(session, incident_id)
            timeline = await ctx.store.timeline(session, incident_id)
        data = incident_json(incident_record(row))
        data["alerts"] = [{"fingerprint": a.fingerprint, "source": a.source, "name": a.name, "title": a.title,
                           "severity": a.severity, "state": a.state, "host": a.host, "labels": dict(a.labels),
                           "starts_at": a.starts_at.isoformat() if a.starts_at else None,
                           "ends_at": a.ends_at.isoformat() if a.ends_at else None, "wave": a.wave}
                          for a in alerts]
        data["timeline"] = [entry_json(e) for e in timeline]
        return data

    @api.get("/incidents/{incident_id}/postmortem.md", response_class=PlainTextResponse,
             summary="The postmortem as Markdown")
    async def postmortem(request: Request, incident_id: IncidentId) -> PlainTextResponse:
        require_token(request)
        try:
            markdown, _graphs = await build_postmortem(ctx, incident_id)
        except NoSuchIncident:
            raise ApiError(404, "no such incident", {"id": incident_id}) from None
        return PlainTextResponse(markdown, media_type="text/markdown; charset=utf-8")

    return api
