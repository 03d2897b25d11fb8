"""Nudges for open incidents: no status update for N minutes (per severity), no lead after 10 minutes."""

from __future__ import annotations

from datetime import timedelta

from pagerbot.services.actor import Actor
from pagerbot.services.context import Services
from pagerbot.services.incidents import resolve
from pagerbot.services.opening import enqueue_post


async def remind(ctx: Services) -> int:
    """Queue the nudges that are due; returns how many. Each is sent once per quiet period."""
    now = ctx.clock.now()
    config = ctx.settings.config.reminders
    sent = 0
    async with ctx.store.transaction() as session:
        for incident in await ctx.store.open_incidents(session):
            if not incident.channel_id:
                continue
            quiet = timedelta(minutes=config.status_minutes.get(f"sev{incident.severity}", 60))
            since = max(incident.last_status_at, incident.reminded_at or incident.last_status_at)
            if now - since >= quiet:
                minutes = int((now - incident.last_status_at).total_seconds() // 60)
                await enqueue_post(ctx, session, incident.id,
                                   f":alarm_clock: No status update for {minutes} minutes. "
                                   "Post one with `/incident status …` or add a `/incident note`.", now=now)
                incident.reminded_at = now
                sent += 1
            if (incident.lead is None and incident.lead_reminded_at is None
                    and now - incident.opened_at >= timedelta(minutes=config.no_lead_minutes)):
                await enqueue_post(ctx, session, incident.id,
                                   ":bust_in_silhouette: This incident has no lead yet. "
                                   "Acknowledge it, or `/incident lead @someone`.", now=now)
                incident.lead_reminded_at = now
                sent += 1
    if sent:
        ctx.wake_outbox()
    return sent


async def auto_resolve(ctx: Services) -> int:
    """With ``grouping.auto_resolve_minutes``, resolve incidents whose alerts all resolved that long ago."""
    minutes = ctx.settings.config.grouping.auto_resolve_minutes
    if not minutes:
        return 0
    now = ctx.clock.now()
    async with ctx.store.sessions() as session:
        due = await ctx.store.quiet_incidents(session, now - timedelta(minutes=minutes))
    for incident_id in due:
        await resolve(ctx, incident_id, Actor("pagerbot", "pagerbot"),
                      f"Every alert resolved more than {minutes} minutes ago (auto_resolve_minutes)")
    return len(due)
