"""The side effects of a new incident, queued in the transaction that opened it."""

from __future__ import annotations

from datetime import datetime

from pagerbot.services.context import Services
from pagerbot.store.repository import Incident, Session

# Each op is delivered in this order by the outbox (ops.py), after the channel exists.
OPENING_OPS = ("open_channel", "set_purpose", "set_topic", "invite", "post_header", "pin_header", "announce")


async def enqueue_opening(ctx: Services, session: Session, incident: Incident, now: datetime) -> None:
    # In one statement: an incident opened during a storm waits for the event loop at every round trip.
    # Each row has a key of its own (a new incident has no pending twin); the topic's is the one later
    # changes fold into.
    await ctx.store.enqueue_coalesced(session, incident.id, [
        (op, f"topic:{incident.id}" if op == "set_topic" else f"{op}:{incident.id}", now) for op in OPENING_OPS],
        now=now)
    from pagerbot.services.paging import begin

    await begin(ctx, session, incident, now)  # the on-call page chain, when the severity has a policy
    if ctx.metrics is not None:
        await ctx.store.enqueue(session, incident.id, "refresh_graph", {"reason": "opened"}, now=now,
                                coalesce_key=f"graph:{incident.id}")


async def enqueue_refresh(ctx: Services, session: Session, incident_id: int, now: datetime,
                          *, topic: bool = True) -> None:
    """The pinned header (and the topic and the announcement) show the current state; one pending update
    absorbs the rest. ``topic=False`` for changes of the alerts only, which neither of those shows."""
    await ctx.store.enqueue(session, incident_id, "update_header", {}, now=now,
                            coalesce_key=f"header:{incident_id}")
    if topic:
        await ctx.store.enqueue(session, incident_id, "set_topic", {}, now=now, coalesce_key=f"topic:{incident_id}")
        await ctx.store.enqueue(session, incident_id, "update_announcement", {}, now=now,
                                coalesce_key=f"announcement:{incident_id}")


async def enqueue_post(ctx: Services, session: Session, incident_id: int, text: str,
                       blocks: list[dict[str, object]] | None = None, *, now: datetime) -> None:
    await ctx.store.enqueue(session, incident_id, "post", {"text": text, "blocks": blocks}, now=now)
