"""The escalation chain: page the on-call people by the severity's policy until someone acknowledges.

An incident that opens with a policy for its severity gets an ``escalations`` row (its timer). The scheduler's
tick (``escalate_due``, on the leading replica only) takes every moment of the plan whose time has come, in one
transaction with the pages it queues, so a restart neither repeats nor skips one. Pages go through the outbox:
a Slack outage delays them, never loses or repeats them. Acknowledging (the page's button, ``/incident ack``,
the header's button) or resolving stops the chain; the tick notices any status move, so a chain never outlives
the incident's need for it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from pagerbot.core.lifecycle import Status
from pagerbot.core.policy import Moment, Step, due, next_moment, plan
from pagerbot.services import incidents
from pagerbot.services.actor import ActionRefused, Actor
from pagerbot.services.context import Services
from pagerbot.services.oncall import Calendars, fetch_calendars, person, shift_at
from pagerbot.settings import OncallStepConfig
from pagerbot.store.repository import Escalation, Incident, Session

log = logging.getLogger("pagerbot.paging")
PAGERBOT = Actor("pagerbot", "pagerbot")


def policy(ctx: Services, severity: int) -> list[Step]:
    wanted = f"sev{severity}"
    configured: list[OncallStepConfig] = next(
        (steps for key, steps in ctx.settings.config.oncall.policies.items() if key == wanted), [])
    return [Step(page=s.page, everyone=s.everyone, vendor=s.vendor, after_minutes=s.after_minutes,
                 working_hours_only=s.when == "working_hours", repeat_minutes=s.repeat_minutes, repeats=s.repeats)
            for s in configured]


def _plan(ctx: Services, escalation: Escalation) -> tuple[list[Step], list[Moment]]:
    from pagerbot.core.oncall import parse_working_hours

    steps = policy(ctx, escalation.severity)
    hours = parse_working_hours(ctx.settings.config.oncall.working_hours)
    return steps, plan(steps, escalation.started_at, hours=hours, tz=ctx.settings.tz)


async def begin(ctx: Services, session: Session, incident: Incident, now: datetime) -> None:
    """Start the chain of a new incident (in the transaction that opened it), when its severity has a policy."""
    if not policy(ctx, incident.severity):
        return
    escalation = Escalation(incident_id=incident.id, chain=1, severity=incident.severity, started_at=now, taken=0,
                            pagerduty_acknowledged=0, pagerduty_resolved=0)
    _, moments = _plan(ctx, escalation)
    escalation.next_at = next_moment(moments, 0)
    session.add(escalation)


async def severity_changed(ctx: Services, session: Session, incident: Incident, now: datetime) -> None:
    """An incident nobody has acknowledged yet, raised to a severity with a policy, starts paging now. (A chain
    already under way switches to the new severity's policy at the next tick.)"""
    if _stop_reason(incident) is not None:
        return
    if await ctx.store.oncall.has_chain(session, incident.id):
        return
    await begin(ctx, session, incident, now)


def _stop_reason(incident: Incident) -> str | None:
    if incident.resolved_at is not None or incident.status == Status.RESOLVED.value:
        return "resolved"
    if incident.acknowledged_at is not None or incident.status != Status.INVESTIGATING.value:
        return "acknowledged"
    return None


async def escalate_due(ctx: Services) -> int:
    """The scheduler's tick: take the moments that are due, stop the chains of handled incidents. Returns how
    many chains this call moved (one another replica moved first does not count)."""
    now = ctx.clock.now()
    async with ctx.store.sessions() as session:
        chains = await ctx.store.oncall.running_chains(session)
        closing = await ctx.store.oncall.resolved_unannounced(session)
    wanted = [c.incident_id for c in chains
              if (c.next_at is not None and c.next_at <= now) or c.acknowledged_at is not None
              or c.resolved_at is not None or c.status != Status.INVESTIGATING.value
              or c.severity_now != c.chain_severity]
    moved = 0
    calendars: Calendars | None = None
    for incident_id in wanted:
        if calendars is None:
            calendars = await fetch_calendars(ctx)
        if await _advance(ctx, incident_id, now, calendars):
            moved += 1
    for incident_id in closing:
        await _tell_pagerduty_resolved(ctx, incident_id, now)
    if moved or closing:
        ctx.wake_outbox()
    return moved


async def _escalation(ctx: Services, session: Session, incident_id: int) -> Escalation | None:
    return await ctx.store.oncall.chain(session, incident_id)


async def _advance(ctx: Services, incident_id: int, now: datetime, calendars: Calendars) -> bool:
    async with ctx.store.transaction() as session:
        incident = await ctx.store.incident(session, incident_id, lock=True)
        escalation = await _escalation(ctx, session, incident_id)
        if incident is None or escalation is None or escalation.stopped_at is not None:
            return False
        reason = _stop_reason(incident)
        if reason is not None:
            await _stop(ctx, session, incident, escalation, reason, now, await _acknowledger(ctx, session, incident))
            return True
        switched = incident.severity != escalation.severity
        if switched:
            escalation.chain += 1
            escalation.severity = incident.severity
            escalation.started_at = now
            escalation.taken = 0
            await _timeline(ctx, session, incident.id, now,
                            f"Severity is now SEV{incident.severity}: paging follows the SEV{incident.severity} policy"
                            if policy(ctx, incident.severity) else
                            f"Severity is now SEV{incident.severity}, which has no paging policy: paging stopped")
        steps, moments = _plan(ctx, escalation)
        taking = due(moments, escalation.taken, now)
        for moment in taking:
            await _take(ctx, session, incident, escalation, steps[moment.step], moment, now, calendars)
            escalation.taken += 1
        escalation.next_at = next_moment(moments, escalation.taken)
        return bool(taking) or switched


async def _timeline(ctx: Services, session: Session, incident_id: int, now: datetime, text: str,
                    data: dict[str, object] | None = None) -> None:
    await ctx.store.add_timeline(session, incident_id, at=now, kind="page", source="pagerbot", actor="pagerbot",
                                 text=text, data=data, now=now)


async def _targets(ctx: Services, session: Session, step: Step, now: datetime,
                   calendars: Calendars) -> list[str]:
    assert step.page is not None
    if step.everyone:
        members = list(ctx.settings.config.oncall.rotations[step.page].members)
        current = await shift_at(ctx, session, step.page, now, calendars)
        return list(dict.fromkeys([*([current.who] if current else []), *members]))
    shift = await shift_at(ctx, session, step.page, now, calendars)
    return [shift.who] if shift else []


async def _take(ctx: Services, session: Session, incident: Incident, escalation: Escalation, step: Step,
                moment: Moment, now: datetime, calendars: Calendars) -> None:
    number = moment.step + 1
    if step.vendor is not None:
        await _timeline(ctx, session, incident.id, now, f"Step {number}: nobody acknowledged; drafting the "
                        f"escalation email to {step.vendor}", {"step": moment.step, "vendor": step.vendor})
        await ctx.store.enqueue(session, incident.id, "oncall_vendor_draft", {"vendor": step.vendor}, now=now)
        return
    assert step.page is not None
    targets = await _targets(ctx, session, step, now, calendars)
    if not targets:
        await _timeline(ctx, session, incident.id, now, f"Step {number}: nobody is on call for {step.page}",
                        {"step": moment.step, "rotation": step.page})
        return
    contacts = ctx.settings.config.oncall.contacts
    for target in targets:
        page_id = await ctx.store.oncall.add_page(session, incident_id=incident.id, chain=escalation.chain,
                                                  step=moment.step, repeat=moment.repeat, target=target,
                                                  rotation=step.page, paged_at=now)
        if page_id is None:
            continue  # taken before (cannot happen while ``taken`` and the pages commit together; kept safe)
        role = f"everyone in {step.page}" if step.everyone else f"{step.page} on call"
        what = (f"Page repeated ({moment.repeat} of {step.repeats}) to {target} ({role})" if moment.repeat
                else f"Paged {target} ({role}), step {number}")
        await _timeline(ctx, session, incident.id, now, what,
                        {"page_id": page_id, "target": target, "step": moment.step, "repeat": moment.repeat,
                         "rotation": step.page})
        await ctx.store.enqueue(session, None, "page_dm", {"page_id": page_id}, now=now)
        await ctx.store.enqueue(session, incident.id, "page_mention", {"page_id": page_id}, now=now)
        for index, _contact in enumerate(contacts.get(target, [])):
            await ctx.store.enqueue(session, None, "page_contact", {"page_id": page_id, "contact": index}, now=now)


async def _acknowledger(ctx: Services, session: Session, incident: Incident) -> str | None:
    """Who moved the incident to acknowledged (else its lead)."""
    for actor, data in await ctx.store.oncall.status_moves(session, incident.id):
        if data.get("to") in {Status.ACKNOWLEDGED.value, Status.RESOLVED.value, Status.IDENTIFIED.value,
                                      Status.MONITORING.value}:
            return str(actor) if actor else incident.lead
    return incident.lead


async def _stop(ctx: Services, session: Session, incident: Incident, escalation: Escalation, reason: str,
                now: datetime, by: str | None) -> None:
    escalation.stopped_at = now
    escalation.stopped_reason = reason
    escalation.next_at = None
    at = incident.acknowledged_at or incident.resolved_at or now
    await ctx.store.oncall.acknowledge_pages(session, incident.id, at, by)
    await queue_page_dm_edits(ctx, session, incident.id, now)  # the button gives way to who acknowledged
    first = await ctx.store.oncall.first_page_at(session, incident.id)
    after = f", {_minutes(at - first)} after the first page" if first is not None else ""
    who = f" by {by}" if by else ""
    await _timeline(ctx, session, incident.id, now, f"Paging stopped: {reason}{who}{after}",
                    {"stopped": reason, "by": by})
    if reason == "acknowledged" and not escalation.pagerduty_acknowledged:
        escalation.pagerduty_acknowledged = 1
        await _queue_pagerduty(ctx, session, incident.id, "acknowledge", now)


async def queue_page_dm_edits(ctx: Services, session: Session, incident_id: int, now: datetime) -> None:
    """Have the incident's page messages show it as it is now (services/page_delivery.update_page_dms), when
    any was sent; one pending edit absorbs the next ones."""
    if await ctx.store.oncall.pages_with_dm(session, incident_id):
        await ctx.store.enqueue(session, None, "update_page_dms", {"incident_id": incident_id}, now=now,
                                coalesce_key=f"page_dms:{incident_id}")


def _minutes(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


async def _queue_pagerduty(ctx: Services, session: Session, incident_id: int, action: str,
                           now: datetime) -> None:
    """Tell PagerDuty, for every person this incident triggered there (their dedup key is per person)."""
    contacts = ctx.settings.config.oncall.contacts
    for target in await ctx.store.oncall.paged_people(session, incident_id):
        for index, contact in enumerate(contacts.get(target, [])):
            if contact.pagerduty is not None:
                await ctx.store.enqueue(session, None, "pagerduty_event",
                                        {"incident_id": incident_id, "target": target, "contact": index,
                                         "action": action}, now=now)


async def _tell_pagerduty_resolved(ctx: Services, incident_id: int, now: datetime) -> None:
    async with ctx.store.transaction() as session:
        if await ctx.store.oncall.claim_resolved_notice(session, incident_id):
            await _queue_pagerduty(ctx, session, incident_id, "resolve", now)
            await queue_page_dm_edits(ctx, session, incident_id, now)  # the pages say it resolved


async def acknowledge(ctx: Services, incident_id: int, actor: Actor) -> str:
    """Acknowledge from a page's button, ``/incident ack`` or the header's: the chain stops at once, and the
    acknowledger becomes the lead when there is none. Pressed when the incident is past that (acknowledged,
    resolved), it says so as ``incidents.acknowledge`` does; the chain stops all the same."""
    async with ctx.store.sessions() as session:
        incident = await ctx.store.incident(session, incident_id)
    if incident is None:
        raise ActionRefused(f"INC-{incident_id} does not exist")
    try:
        if incident.status not in {Status.INVESTIGATING.value, Status.RESOLVED.value} and incident.lead is None:
            return await incidents.set_lead(ctx, incident_id, actor.user_id, actor)
        return await incidents.acknowledge(ctx, incident_id, actor)
    finally:
        await _stop_now(ctx, incident_id, actor)


async def acknowledge_page(ctx: Services, incident_id: int, actor: Actor) -> str:
    """The Acknowledge button of a page, pressed in the DM: as :func:`acknowledge`, answered in the DM with what
    it did (the channel says the rest, to the people there)."""
    await acknowledge(ctx, incident_id, actor)
    async with ctx.store.sessions() as session:
        row = await ctx.store.incident(session, incident_id)
    assert row is not None
    lead = "you are the lead" if row.lead == actor.user_id else f"the lead is {person(str(row.lead))}"
    where = f" in <#{row.channel_id}>" if row.channel_id else ""
    return f":white_check_mark: You acknowledged INC-{incident_id}: the paging stopped, and {lead}{where}."


async def _stop_now(ctx: Services, incident_id: int, actor: Actor) -> None:
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        row = await ctx.store.incident(session, incident_id, lock=True)
        escalation = await _escalation(ctx, session, incident_id)
        if row is None or escalation is None or escalation.stopped_at is not None:
            return
        await _stop(ctx, session, row, escalation, _stop_reason(row) or "acknowledged", now, actor.user_id)
    ctx.wake_outbox()
