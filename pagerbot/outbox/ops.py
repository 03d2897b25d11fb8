"""What each outbox op does. State is read at delivery time, so coalesced updates show the latest."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pagerbot.chat import blocks
from pagerbot.chat.port import ChatError
from pagerbot.core.escaping import unescape_slack
from pagerbot.core.naming import channel_name
from pagerbot.core.records import IncidentRecord
from pagerbot.services.context import Services
from pagerbot.services.delivery import Handler, Job, Persist, UndeliverableError, post_once
from pagerbot.services.paging import queue_page_dm_edits
from pagerbot.store.repository import incident_record, rowcount
from pagerbot.store.tables import Graph, Incident

log = logging.getLogger("pagerbot.outbox")
MAX_NAME_ATTEMPTS = 50


async def _load(ctx: Services, job: Job) -> tuple[Incident, IncidentRecord]:
    if job.incident_id is None:
        raise UndeliverableError(f"{job.op} needs an incident")
    async with ctx.store.sessions() as session:
        row = await ctx.store.incident(session, job.incident_id)
    if row is None:
        raise UndeliverableError(f"incident {job.incident_id} does not exist")
    return row, incident_record(row)


def _channel(row: Incident) -> str:
    if not row.channel_id:
        raise UndeliverableError(f"INC-{row.id} has no channel (its creation failed; see the log)")
    return row.channel_id


def _set_incident(incident_id: int, **values: Any) -> Persist:
    async def persist(session: AsyncSession) -> None:
        await session.execute(update(Incident).where(Incident.id == incident_id).values(**values))
    return persist


def _with_timeline(ctx: Services, incident_id: int, text: str, *, kind: str = "slack",
                   data: Mapping[str, Any] | None = None, then: Persist | None = None) -> Persist:
    async def persist(session: AsyncSession) -> None:
        now = ctx.clock.now()
        await ctx.store.add_timeline(session, incident_id, at=now, kind=kind, source="slack", actor="pagerbot",
                                     text=text, data=data, now=now)
        if then is not None:
            await then(session)
    return persist


async def open_channel(ctx: Services, job: Job) -> Persist | None:
    """Create the incident's channel, under the first free name.

    One channel per incident: a channel whose name is taken is adopted only when this incident's own earlier
    attempt created it and its answer was lost (the job is "maybe sent", and the name is the one that attempt
    asked for), never one that another same-titled incident is creating at the same moment and has not
    stored yet. The first name is implied by the title; a later one is recorded on the incident before Slack
    is asked. The unique constraint on ``incidents.channel_id`` settles the rarest races.
    """
    row, record = await _load(ctx, job)
    if row.channel_id:
        return None
    prefix = ctx.settings.config.slack.channel_prefix
    day = row.opened_at.astimezone(ctx.settings.tz).date()
    earlier_attempt = (row.channel_attempt or channel_name(prefix, day, row.title, 1)) if job.maybe_sent else None
    bot = await ctx.chat.bot_user_id()
    for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
        name = channel_name(prefix, day, row.title, attempt)
        if attempt > 1 and name != row.channel_attempt:
            await _record_attempt(ctx, row.id, name)
            row.channel_attempt = name
        try:
            info = await ctx.chat.create_channel(name)
        except ChatError as exc:
            if exc.error != "name_taken":
                raise
            existing = await ctx.chat.find_channel(name)
            if name != earlier_attempt or existing is None or existing.creator != bot:
                continue
            info = existing  # ours, from the attempt whose answer we never saw
        if not await _claim_channel(ctx, row.id, info.id, info.name):
            if await _has_channel(ctx, row.id):
                return None
            continue  # another incident holds it (it adopted the same lost attempt): take the next name
        return _with_timeline(ctx, row.id, f"Channel #{info.name} created", then=_page_dms_follow(ctx, row.id))
    raise UndeliverableError(f"no free channel name for INC-{record.id} after {MAX_NAME_ATTEMPTS} attempts")


def _page_dms_follow(ctx: Services, incident_id: int) -> Persist:
    """The pages sent before the channel existed gain its link."""
    async def persist(session: AsyncSession) -> None:
        await queue_page_dm_edits(ctx, session, incident_id, ctx.clock.now())
    return persist


async def _record_attempt(ctx: Services, incident_id: int, name: str) -> None:
    async with ctx.store.transaction() as session:
        await session.execute(update(Incident).where(Incident.id == incident_id).values(channel_attempt=name))


async def _claim_channel(ctx: Services, incident_id: int, channel_id: str, name: str) -> bool:
    """Store the channel as this incident's; False when the database holds it for another one."""
    try:
        async with ctx.store.transaction() as session:
            claimed = await session.execute(
                update(Incident).where(Incident.id == incident_id, Incident.channel_id.is_(None))
                .values(channel_id=channel_id, channel_name=name, channel_attempt=None))
            return bool(rowcount(claimed))
    except IntegrityError:
        return False


async def _has_channel(ctx: Services, incident_id: int) -> bool:
    async with ctx.store.sessions() as session:
        found = await session.execute(select(Incident.channel_id).where(Incident.id == incident_id))
        return found.scalar_one_or_none() is not None


async def set_topic(ctx: Services, job: Job) -> Persist | None:
    row, record = await _load(ctx, job)
    channel = _channel(row)
    text = blocks.topic(record, ctx.settings.tz)
    if text == row.slack_topic:
        return None
    await ctx.chat.set_topic(channel, text)
    first = row.slack_topic is None
    then = _set_incident(row.id, slack_topic=text)
    # The timeline holds text as people read it: the topic's Slack escapes (&lt; for <) undone, so no export
    # escapes them a second time.
    return _with_timeline(ctx, row.id, f"Topic set: {unescape_slack(text)}", then=then) if first else then


async def set_purpose(ctx: Services, job: Job) -> Persist | None:
    row, record = await _load(ctx, job)
    text = blocks.purpose(record)
    await ctx.chat.set_purpose(_channel(row), text)
    return _with_timeline(ctx, row.id, f"Purpose set: {text}")


async def invite(ctx: Services, job: Job) -> Persist | None:
    row, _ = await _load(ctx, job)
    channel = _channel(row)
    wanted = list(job.payload.get("users") or ctx.settings.config.slack.responders)
    user_ids: list[str] = []
    unknown: list[str] = []
    for who in wanted:
        if "@" in who:
            user_id = await ctx.chat.lookup_user_by_email(who)
            if user_id is None:
                unknown.append(who)
                continue
            user_ids.append(user_id)
        else:
            user_ids.append(who)
    bot = await ctx.chat.bot_user_id()
    user_ids = [u for u in dict.fromkeys(user_ids) if u != bot]
    if not user_ids and not unknown:
        return None
    invited: list[str] = []
    for start in range(0, len(user_ids), 100):
        chunk = user_ids[start:start + 100]
        try:
            await ctx.chat.invite(channel, chunk)
            invited += chunk
        except ChatError as exc:
            if exc.retryable:
                raise
            # One bad ID must not keep the others out: invite them one by one.
            for user in chunk:
                try:
                    await ctx.chat.invite(channel, [user])
                    invited.append(user)
                except ChatError as single:
                    if single.retryable:
                        raise
                    unknown.append(user)
    text = "Responders invited: " + (", ".join(f"<@{u}>" for u in invited) or "none")
    if unknown:
        text += f" (not found: {', '.join(unknown)})"
    return _with_timeline(ctx, row.id, text, data={"invited": invited, "unknown": unknown})


async def _header_blocks(ctx: Services, row: Incident, record: IncidentRecord) -> tuple[str, list[dict[str, Any]]]:
    async with ctx.store.sessions() as session:
        alerts = await ctx.store.alert_tally(session, row.id, first=blocks.MAX_ALERT_LINES,
                                             host_names=blocks.HEADER_HOST_NAMES)
        findings: list[str] = []
        if row.graph_file_id:
            # the live graph's summary (a graph someone asked for, of one host or pool, says less)
            latest = (await session.execute(select(Graph.summary).where(Graph.incident_id == row.id,
                                                                        Graph.slack_file_id == row.graph_file_id)
                                            .order_by(Graph.id.desc()).limit(1))).scalar_one_or_none()
            findings = list((latest or {}).get("stands_out", []))
    return blocks.header_text(record), blocks.header(record, alerts, tz=ctx.settings.tz,
                                                     graph_file_id=row.graph_file_id, findings=findings)


async def post_header(ctx: Services, job: Job) -> Persist | None:
    row, record = await _load(ctx, job)
    if row.header_ts:
        return None
    channel = _channel(row)
    text, header = await _header_blocks(ctx, row, record)
    ts = await post_once(ctx, job, channel, text, header)
    return _with_timeline(ctx, row.id, "Header posted", then=_set_incident(row.id, header_ts=ts))


async def pin_header(ctx: Services, job: Job) -> Persist | None:
    row, _ = await _load(ctx, job)
    if not row.header_ts:
        raise UndeliverableError("the header was never posted")
    await ctx.chat.pin(_channel(row), row.header_ts)
    return _with_timeline(ctx, row.id, "Header pinned")


async def update_header(ctx: Services, job: Job) -> Persist | None:
    row, record = await _load(ctx, job)
    if not row.header_ts or not row.channel_id:
        return None  # post_header, still queued, will show the current state
    text, header = await _header_blocks(ctx, row, record)
    await ctx.chat.update_message(row.channel_id, row.header_ts, text, header)
    return None


async def announce(ctx: Services, job: Job) -> Persist | None:
    row, record = await _load(ctx, job)
    target = ctx.settings.config.slack.announce_channel
    if not target:
        return None
    channel = _channel(row)
    found = await ctx.chat.find_channel(target)
    if found is None:
        log.error("announce channel %r not found", target, extra={"incident_id": row.id})
        return _with_timeline(ctx, row.id, f"Announcement skipped: channel #{target} not found")
    try:
        await ctx.chat.join_channel(found.id)
    except ChatError as exc:
        if exc.retryable:
            raise
    ts = await post_once(ctx, job, found.id, blocks.announcement(record, channel), None)
    return _with_timeline(ctx, row.id, f"Announced in #{found.name}",
                          then=_set_incident(row.id, announce_channel_id=found.id, announce_ts=ts))


async def update_announcement(ctx: Services, job: Job) -> Persist | None:
    """The announcement follows the incident's severity and status (edited, not posted again)."""
    row, record = await _load(ctx, job)
    if not row.announce_ts or not row.announce_channel_id or not row.channel_id:
        return None  # not announced (yet): the announcement, still queued, will show the current state
    await ctx.chat.update_message(row.announce_channel_id, row.announce_ts,
                                  blocks.announcement(record, row.channel_id))
    return None


async def post(ctx: Services, job: Job) -> Persist | None:
    row, _ = await _load(ctx, job)
    text = str(job.payload.get("text") or "")
    message_blocks = job.payload.get("blocks")
    await post_once(ctx, job, _channel(row), text, list(message_blocks) if message_blocks else None)
    return None


async def offer_resolve(ctx: Services, job: Job) -> Persist | None:
    """Every alert has resolved: offer to resolve, and keep the message's ts to withdraw it if alerts fire again."""
    row, _ = await _load(ctx, job)
    message_blocks = job.payload.get("blocks")
    ts = await post_once(ctx, job, _channel(row), str(job.payload.get("text") or ""),
                          list(message_blocks) if message_blocks else None)
    return _set_incident(row.id, resolve_offer_ts=ts)


async def withdraw_offer(ctx: Services, job: Job) -> Persist | None:
    """Alerts fired again, or someone resolved the incident: the standing offer loses its button and says so."""
    row, record = await _load(ctx, job)
    if not row.resolve_offer_ts:
        return None
    resolved_by = job.payload.get("resolved_by")
    text, message_blocks = blocks.offer_withdrawn(record, datetime.fromisoformat(str(job.payload["at"])),
                                                  ctx.settings.tz, resolved_by=resolved_by and str(resolved_by))
    try:
        await ctx.chat.update_message(_channel(row), row.resolve_offer_ts, text, message_blocks)
    except ChatError as exc:
        if exc.retryable:
            raise
        log.warning("INC-%s: the resolve offer could not be withdrawn (%s)", row.id, exc,
                    extra={"incident_id": row.id})
    return _set_incident(row.id, resolve_offer_ts=None)


async def close_digest(ctx: Services, job: Job) -> Persist | None:
    """A new wave began: the last wave's digest shows its final counts and says it is closed."""
    row, _ = await _load(ctx, job)
    wave = int(job.payload["wave"])
    async with ctx.store.sessions() as session:
        alerts = await ctx.store.alert_tally(session, row.id, hosts=blocks.DIGEST_HOSTS, wave=wave)
    text, digest_blocks = blocks.digest(alerts, wave=wave, updated_at=alerts.last_change, tz=ctx.settings.tz,
                                        closed=True)
    await ctx.chat.update_message(_channel(row), str(job.payload["ts"]), text, digest_blocks)
    return None


async def digest(ctx: Services, job: Job) -> Persist | None:
    row, _ = await _load(ctx, job)
    channel = _channel(row)
    async with ctx.store.sessions() as session:
        alerts = await ctx.store.alert_tally(session, row.id, hosts=blocks.DIGEST_HOSTS, wave=row.wave)
    now = ctx.clock.now()
    text, digest_blocks = blocks.digest(alerts, wave=row.wave, updated_at=now, tz=ctx.settings.tz)
    if row.digest_ts:
        await ctx.chat.update_message(channel, row.digest_ts, text, digest_blocks)
        return _set_incident(row.id, digest_at=now)
    ts = await post_once(ctx, job, channel, text, digest_blocks)
    return _set_incident(row.id, digest_ts=ts, digest_at=now)


async def ephemeral(ctx: Services, job: Job) -> Persist | None:
    payload = job.payload
    await ctx.chat.post_ephemeral(str(payload["channel"]), str(payload["user"]), str(payload.get("text") or ""),
                                  payload.get("blocks"))
    return None


def default_handlers() -> dict[str, Handler]:
    handlers: dict[str, Handler] = {
        "open_channel": open_channel, "set_topic": set_topic, "set_purpose": set_purpose, "invite": invite,
        "post_header": post_header, "pin_header": pin_header, "update_header": update_header,
        "announce": announce, "update_announcement": update_announcement, "post": post, "digest": digest,
        "close_digest": close_digest, "offer_resolve": offer_resolve, "withdraw_offer": withdraw_offer,
        "ephemeral": ephemeral,
    }
    return handlers
