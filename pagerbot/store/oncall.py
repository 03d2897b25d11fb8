"""The on-call tables' queries: page chains (their timers), the pages sent, overrides. ``Store.oncall``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pagerbot.store.tables import Escalation, Incident, OncallOverride, Page, TimelineRow


@dataclass(frozen=True, slots=True)
class ChainState:
    """A running chain and what the tick needs to know of its incident to decide whether it moves."""

    incident_id: int
    next_at: datetime | None
    status: str
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    severity_now: int
    chain_severity: int


class OncallRows:
    def __init__(self, insert: Callable[[Any], Any], dialect: str) -> None:
        self._insert = insert
        self._dialect = dialect

    async def running_chains(self, session: AsyncSession) -> list[ChainState]:
        rows = await session.execute(
            select(Escalation.incident_id, Escalation.next_at, Incident.status, Incident.acknowledged_at,
                   Incident.resolved_at, Incident.severity, Escalation.severity)
            .join(Incident, Incident.id == Escalation.incident_id).where(Escalation.stopped_at.is_(None)))
        return [ChainState(*row) for row in rows.all()]

    async def resolved_unannounced(self, session: AsyncSession) -> list[int]:
        """Incidents resolved whose stopped chain has not yet told PagerDuty so."""
        rows = await session.execute(
            select(Escalation.incident_id).join(Incident, Incident.id == Escalation.incident_id)
            .where(Escalation.stopped_at.is_not(None), Escalation.pagerduty_resolved == 0,
                   Incident.resolved_at.is_not(None)))
        return list(rows.scalars())

    async def chain(self, session: AsyncSession, incident_id: int) -> Escalation | None:
        """The incident's chain, locked until the transaction ends (PostgreSQL), so two ticks cannot both move it."""
        statement = select(Escalation).where(Escalation.incident_id == incident_id)
        if self._dialect == "postgresql":
            statement = statement.with_for_update()
        return (await session.execute(statement)).scalar_one_or_none()

    async def has_chain(self, session: AsyncSession, incident_id: int) -> bool:
        found = await session.execute(select(Escalation.incident_id).where(Escalation.incident_id == incident_id))
        return found.first() is not None

    async def add_page(self, session: AsyncSession, *, incident_id: int, chain: int, step: int, repeat: int,
                       target: str, rotation: str | None, paged_at: datetime) -> int | None:
        """Record a page once (None when that page of that chain already exists)."""
        inserted = await session.execute(
            self._insert(Page).values(incident_id=incident_id, chain=chain, step=step, repeat=repeat, target=target,
                                      rotation=rotation, paged_at=paged_at)
            .on_conflict_do_nothing(index_elements=["incident_id", "chain", "step", "repeat", "target"])
            .returning(Page.id))
        page_id = inserted.scalar_one_or_none()
        return int(page_id) if page_id is not None else None

    async def page(self, session: AsyncSession, page_id: int) -> Page | None:
        return (await session.execute(select(Page).where(Page.id == page_id))).scalar_one_or_none()

    async def record_dm(self, session: AsyncSession, page_id: int, channel: str, ts: str) -> None:
        await session.execute(update(Page).where(Page.id == page_id).values(dm_channel=channel, dm_ts=ts))

    async def pages_with_dm(self, session: AsyncSession, incident_id: int) -> list[Page]:
        """The incident's pages whose direct message was sent, oldest first."""
        rows = await session.execute(select(Page).where(Page.incident_id == incident_id, Page.dm_ts.is_not(None))
                                     .order_by(Page.id))
        return list(rows.scalars())

    async def acknowledge_pages(self, session: AsyncSession, incident_id: int, at: datetime, by: str | None) -> None:
        await session.execute(update(Page).where(Page.incident_id == incident_id, Page.acknowledged_at.is_(None))
                              .values(acknowledged_at=at, acknowledged_by=by))

    async def first_page_at(self, session: AsyncSession, incident_id: int) -> datetime | None:
        return (await session.execute(select(Page.paged_at).where(Page.incident_id == incident_id)
                                      .order_by(Page.paged_at).limit(1))).scalar_one_or_none()

    async def paged_people(self, session: AsyncSession, incident_id: int) -> list[str]:
        rows = await session.execute(select(Page.target).where(Page.incident_id == incident_id).distinct())
        return list(rows.scalars())

    async def claim_resolved_notice(self, session: AsyncSession, incident_id: int) -> bool:
        """Mark that PagerDuty is being told of the resolution; False when another tick already did."""
        claimed = await session.execute(update(Escalation).where(Escalation.incident_id == incident_id,
                                                                 Escalation.pagerduty_resolved == 0)
                                        .values(pagerduty_resolved=1))
        return bool(getattr(claimed, "rowcount", 0))

    async def status_moves(self, session: AsyncSession, incident_id: int) -> list[tuple[str | None, dict[str, Any]]]:
        """(actor, data) of the incident's status entries, oldest first."""
        rows = await session.execute(
            select(TimelineRow.actor, TimelineRow.data).where(TimelineRow.incident_id == incident_id,
                                                              TimelineRow.kind == "status")
            .order_by(TimelineRow.at, TimelineRow.id))
        return [(actor, dict(data or {})) for actor, data in rows.all()]

    async def overrides(self, session: AsyncSession, rotation: str, since: datetime) -> list[OncallOverride]:
        """The rotation's overrides that end after ``since``, in the order they were recorded."""
        rows = await session.execute(
            select(OncallOverride).where(OncallOverride.rotation == rotation, OncallOverride.ends_at > since)
            .order_by(OncallOverride.id))
        return list(rows.scalars())
