"""Timeline capture from Slack events: :pushpin: reactions, edits of pinned messages, files posted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pagerbot.core.escaping import one_line
from pagerbot.services import incidents
from pagerbot.services.actor import Actor
from pagerbot.services.context import Services


def slack_time(ts: str) -> datetime:
    return datetime.fromtimestamp(float(ts), UTC)


async def _incident_for(ctx: Services, channel: str | None) -> int | None:
    if not channel:
        return None
    async with ctx.store.sessions() as session:
        row = await ctx.store.incident_by_channel(session, channel)
    return row.id if row else None


async def on_pin_reaction(ctx: Services, event: dict[str, Any], *, added: bool) -> None:
    item = event.get("item") or {}
    channel, ts = item.get("channel"), item.get("ts")
    incident_id = await _incident_for(ctx, channel)
    if incident_id is None or item.get("type") != "message" or not ts:
        return
    ref = f"pin:{channel}:{ts}"
    if not added:
        await incidents.forget_event(ctx, incident_id, ref)
        return
    message = await ctx.chat.fetch_message(str(channel), str(ts))
    if message is None:
        return
    author = message.get("user") or message.get("bot_id") or event.get("item_user") or "unknown"
    files = [f.get("name") or f.get("id") for f in message.get("files") or []]
    text = one_line(message.get("text") or "", 2000) or "(no text)"
    if files:
        text += f" [files: {', '.join(str(f) for f in files)}]"
    # The entry keeps the message's own time, not the time of the reaction.
    await incidents.record_event(ctx, incident_id, Actor(str(author)), "pin", text, at=slack_time(str(ts)), ref=ref,
                                 data={"pinned_by": event.get("user"), "ts": ts, "files": files})


async def on_message(ctx: Services, event: dict[str, Any]) -> None:
    channel = event.get("channel")
    subtype = event.get("subtype")
    incident_id = await _incident_for(ctx, channel)
    if incident_id is None:
        return
    if subtype == "message_changed":
        message = event.get("message") or {}
        ts = message.get("ts")
        ref = f"pin:{channel}:{ts}"
        async with ctx.store.transaction() as session:
            row = await ctx.store.timeline_row(session, incident_id, ref)
            if row is None:
                return  # only edits of messages on the timeline matter
            row.text = one_line(message.get("text") or "", 2000)
            row.data = {**row.data, "edited_at": ctx.clock.now().isoformat()}
        await incidents.record_event(ctx, incident_id, Actor(str(message.get("user") or "unknown")), "edit",
                                     f"Pinned message edited: {one_line(message.get('text') or '', 500)}",
                                     ref=f"edit:{channel}:{ts}:{(event.get('event_ts') or '')}")
        return
    if event.get("bot_id") or subtype not in (None, "file_share"):
        return
    files = event.get("files") or []
    if not files:
        return
    user = str(event.get("user") or "unknown")
    for file in files:
        name = file.get("name") or file.get("title") or file.get("id")
        await incidents.record_event(ctx, incident_id, Actor(user), "file", f"File posted: {name}",
                                     at=slack_time(str(event.get("ts") or "0")), ref=f"file:{file.get('id')}",
                                     data={"file_id": file.get("id"), "name": name,
                                           "mimetype": file.get("mimetype")})
