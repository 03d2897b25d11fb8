"""Use cases people drive from Slack (or the local page): declare, status moves, lead, notes, resolve."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import datetime

from pagerbot.chat import blocks
from pagerbot.core.alerts import Severity
from pagerbot.core.durations import key_times
from pagerbot.core.escaping import mrkdwn, one_line
from pagerbot.core.lifecycle import STATUS_EMOJI, IllegalMove, Status, check_move
from pagerbot.observability import INCIDENTS_OPENED

# Re-exported: callers long imported these two from here.
from pagerbot.services.actor import ActionRefused as ActionRefused
from pagerbot.services.actor import Actor as Actor
from pagerbot.services.context import Services
from pagerbot.services.escalation import offer_all_clear
from pagerbot.services.opening import enqueue_opening, enqueue_post, enqueue_refresh
from pagerbot.services.permissions import check_may_coordinate, check_may_resolve
from pagerbot.store.repository import Incident, Session, incident_record


async def _get(ctx: Services, session: Session, incident_id: int) -> Incident:
    incident = await ctx.store.incident(session, incident_id, lock=True)
    if incident is None:
        raise ActionRefused(f"INC-{incident_id} does not exist")
    return incident


async def _record(ctx: Services, session: Session, incident: Incident, actor: Actor, kind: str, text: str,
                  now: datetime, *, at: datetime | None = None, ref: str | None = None,
                  data: dict[str, object] | None = None) -> bool:
    return await ctx.store.add_timeline(session, incident.id, at=at or now, kind=kind, source=actor.source,
                                        actor=actor.user_id, text=text, now=now, ref=ref, data=data)


async def declare(ctx: Services, actor: Actor, title: str, *, severity: Severity = Severity.SEV3,
                  description: str | None = None) -> int:
    title = one_line(title, 500)
    if not title:
        raise ActionRefused("an incident needs a title: /incident declare TITLE")
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        key = f"declared:{secrets.token_hex(8)}"
        incident = Incident(title=title, description=description or None, severity=int(severity),
                            status=Status.INVESTIGATING.value, group_key=key, open_group_key=key, wave=1,
                            opened_at=now, last_status_at=now, created_by=actor.user_id)
        await ctx.store.add_incident(session, incident)
        await _record(ctx, session, incident, actor, "status", f"Incident declared by {actor.mention}: {title}", now)
        await enqueue_opening(ctx, session, incident, now)
        await ctx.store.enqueue(session, incident.id, "invite", {"users": [actor.user_id]}, now=now)
    INCIDENTS_OPENED.inc()
    ctx.wake_outbox()
    return incident.id


async def move(ctx: Services, incident_id: int, target: Status, actor: Actor, *, note: str | None = None,
               mitigated_at: datetime | None = None, impact: str | None = None) -> str:
    """A lifecycle move: topic and header follow, one short line is posted, the timeline records it.
    Resolving may say when the impact ended (``mitigated_at``) and what it was (``impact``, a note)."""
    now = ctx.clock.now()
    if mitigated_at is not None and mitigated_at > now:
        raise ActionRefused("the mitigation time is in the future; give the time the impact ended")
    async with ctx.store.transaction() as session:
        incident = await _get(ctx, session, incident_id)
        current = Status(incident.status)
        if Status.RESOLVED in (current, target):  # resolve, or reopen (a move out of resolved)
            check_may_resolve(ctx, actor)
        try:
            check_move(current, target)
        except IllegalMove as exc:
            raise ActionRefused(str(exc)) from None
        incident.status = target.value
        incident.last_status_at = now
        if target is Status.ACKNOWLEDGED and incident.acknowledged_at is None:
            incident.acknowledged_at = now
            incident.acknowledged_by = actor.user_id
        if target is Status.IDENTIFIED and incident.identified_at is None:
            incident.identified_at = now
        if target is Status.MONITORING and incident.mitigated_at is None:
            incident.mitigated_at = now
        if target is Status.RESOLVED:
            incident.resolved_at = now
            incident.open_group_key = None
            if note:
                incident.summary = note
            if mitigated_at is not None:
                incident.mitigated_at = mitigated_at  # what the person resolving says wins over the inferred
            if impact and impact.strip():
                await _record(ctx, session, incident, actor, "note", f"impact: {impact.strip()[:4000]}", now)
        if current is Status.RESOLVED:  # reopen
            incident.resolved_at = None
            incident.open_group_key = incident.group_key
            incident.all_resolved_offered_at = None
        took_lead = False
        if target is Status.ACKNOWLEDGED and incident.lead is None:
            incident.lead = actor.user_id
            took_lead = True
        verb = "reopened the incident" if current is Status.RESOLVED else f"moved the incident to {target.value}"
        text = f"{actor.mention} {verb}" + (f": {one_line(note, 500)}" if note else "")
        if took_lead:
            text += f"; {actor.mention} is the lead"
        await ctx.store.flush(session)
        await _record(ctx, session, incident, actor, "status", text.replace(actor.mention, actor.user_id), now,
                      data={"from": current.value, "to": target.value, "status": target.value})
        await enqueue_post(ctx, session, incident.id, f"{STATUS_EMOJI[target]} {mrkdwn_safe(text)}", now=now)
        await enqueue_refresh(ctx, session, incident.id, now)
        if target is Status.RESOLVED:
            if incident.all_resolved_offered_at is not None:  # the offer is answered
                await ctx.store.enqueue(session, incident.id, "withdraw_offer",
                                        {"at": now.isoformat(), "resolved_by": actor.mention}, now=now)
            post_text, offer = blocks.offer_postmortem(incident_record(incident))
            await enqueue_post(ctx, session, incident.id, post_text, offer, now=now)
            await offer_all_clear(ctx, session, incident, now)
    ctx.wake_outbox()
    return text


def mrkdwn_safe(text: str) -> str:
    """Our own text with user mentions kept, the rest escaped."""
    parts = text.split("<@")
    out = [mrkdwn(parts[0])]
    for part in parts[1:]:
        user, sep, rest = part.partition(">")
        user = user.split("|", 1)[0]  # Slack's escaped command text writes <@U123|name>
        out.append(f"<@{user}>{mrkdwn(rest)}" if sep and user.isalnum() else mrkdwn("<@" + part))
    return "".join(out)


async def acknowledge(ctx: Services, incident_id: int, actor: Actor) -> str:
    """Acknowledge; pressed again on an older message (or typed twice), says who did and changes nothing."""
    async with ctx.store.sessions() as session:
        row = await ctx.store.incident(session, incident_id)
    if row is not None and row.status == Status.RESOLVED.value:
        raise ActionRefused(f"INC-{row.id} is resolved: nothing to acknowledge (`/incident reopen` reopens it)")
    if row is not None and row.status != Status.INVESTIGATING.value:
        done = blocks.acknowledged_line(incident_record(row), ctx.settings.tz) or "nobody acknowledged it"
        raise ActionRefused(f"INC-{row.id} is {row.status} already ({done}): nothing changed")
    return await move(ctx, incident_id, Status.ACKNOWLEDGED, actor)


async def resolve(ctx: Services, incident_id: int, actor: Actor, summary: str | None = None, *,
                  mitigated_at: datetime | None = None, impact: str | None = None) -> str:
    check_may_resolve(ctx, actor)  # before the modal's summary is asked for, too (move checks again)
    async with ctx.store.sessions() as session:
        row = await ctx.store.incident(session, incident_id)
    if row is not None and row.resolved_at is not None:
        raise ActionRefused(f"INC-{row.id} is already resolved (since "
                            f"{blocks.clock(row.resolved_at, ctx.settings.tz)}): nothing changed")
    return await move(ctx, incident_id, Status.RESOLVED, actor, note=summary, mitigated_at=mitigated_at,
                      impact=impact)


async def mitigation_default(ctx: Services, incident_id: int) -> datetime:
    """What the resolve dialog offers as the mitigation time: the recorded one (the move to monitoring),
    else when the incident's last alert stopped firing (all of them having stopped), else now."""
    now = ctx.clock.now()
    async with ctx.store.sessions() as session:
        row = await _get(ctx, session, incident_id)
        record = dataclasses.replace(incident_record(row), resolved_at=now)
        alerts = await ctx.store.alerts_of(session, incident_id)
        timeline = await ctx.store.timeline(session, incident_id)
    return key_times(record, timeline, [], alerts=alerts).mitigated or now


async def stale_offer(ctx: Services, incident_id: int, offered_wave: int | None) -> str | None:
    """Why the "Every alert has resolved. Resolve?" offer pressed now no longer stands, or None if it does.

    The offer is withdrawn when alerts fire again; a press that crossed the withdrawal must not resolve an
    incident whose alerts are firing."""
    async with ctx.store.sessions() as session:
        row = await ctx.store.incident(session, incident_id)
        if row is None:
            raise ActionRefused(f"INC-{incident_id} does not exist")
        firing, _ = await ctx.store.alert_counts(session, incident_id)
    tz = ctx.settings.tz
    if row.resolved_at is not None:
        return f"INC-{row.id} is already resolved (since {blocks.clock(row.resolved_at, tz)}): nothing changed."
    if (offered_wave is not None and row.wave != offered_wave) or firing:
        since = f" at {blocks.clock(row.wave_started_at, tz)}" if row.wave_started_at else ""
        return (f"Alerts of INC-{row.id} fired again{since} (wave {row.wave}, {firing} firing): the incident stays "
                "open and nothing changed. If it is over anyway, use Resolve on the pinned header or "
                "`/incident resolve SUMMARY`.")
    return None


async def reopen(ctx: Services, incident_id: int, actor: Actor) -> str:
    return await move(ctx, incident_id, Status.INVESTIGATING, actor)


async def set_severity(ctx: Services, incident_id: int, severity: Severity, actor: Actor) -> str:
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        incident = await _get(ctx, session, incident_id)
        check_may_coordinate(ctx, incident.lead, actor)
        if incident.severity == int(severity):
            raise ActionRefused(f"the incident is already SEV{int(severity)}")
        previous = incident.severity
        incident.severity = int(severity)
        incident.last_status_at = now
        text = f"{actor.mention} changed the severity from SEV{previous} to SEV{int(severity)}"
        from pagerbot.services.paging import severity_changed

        await severity_changed(ctx, session, incident, now)
        await _record(ctx, session, incident, actor, "status", text.replace(actor.mention, actor.user_id), now)
        await enqueue_post(ctx, session, incident.id, f":rotating_light: {text}", now=now)
        await enqueue_refresh(ctx, session, incident.id, now)
    ctx.wake_outbox()
    return text


async def set_lead(ctx: Services, incident_id: int, lead: str, actor: Actor) -> str:
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        incident = await _get(ctx, session, incident_id)
        check_may_coordinate(ctx, incident.lead, actor)
        incident.lead = lead
        text = f"{actor.mention} made <@{lead}> the incident lead"
        await _record(ctx, session, incident, actor, "status", f"{actor.user_id} made {lead} the incident lead", now,
                      data={"lead": lead})
        await enqueue_post(ctx, session, incident.id, f":crown: {text}", now=now)
        await enqueue_refresh(ctx, session, incident.id, now)
        await ctx.store.enqueue(session, incident.id, "invite", {"users": [lead]}, now=now)
    ctx.wake_outbox()
    return text


async def add_note(ctx: Services, incident_id: int, text: str, actor: Actor) -> str:
    note = text.strip()
    if not note:
        raise ActionRefused("a note needs text: /incident note TEXT")
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        incident = await _get(ctx, session, incident_id)
        await _record(ctx, session, incident, actor, "note", note[:4000], now)
        incident.last_status_at = now  # a note is an update: the "no status update" reminder says so
        # the channel sees the note too, not only the one who typed it
        await enqueue_post(ctx, session, incident.id, f":memo: {actor.mention} noted: {mrkdwn_safe(note[:4000])}",
                           now=now)
    ctx.wake_outbox()
    return "Noted in the timeline."


async def record_command(ctx: Services, incident_id: int, actor: Actor, command_text: str) -> None:
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        await ctx.store.add_timeline(session, incident_id, at=now, kind="command", source=actor.source,
                                     actor=actor.user_id, text=f"/incident {one_line(command_text, 500)}", now=now)


async def record_event(ctx: Services, incident_id: int, actor: Actor, kind: str, text: str, *,
                       at: datetime | None = None, ref: str | None = None,
                       data: dict[str, object] | None = None) -> bool:
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        return await ctx.store.add_timeline(session, incident_id, at=at or now, kind=kind, source=actor.source,
                                            actor=actor.user_id, text=text, now=now, ref=ref, data=data)


async def forget_event(ctx: Services, incident_id: int, ref: str) -> bool:
    async with ctx.store.transaction() as session:
        return await ctx.store.remove_timeline(session, incident_id, ref)
