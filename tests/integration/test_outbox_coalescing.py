"""Coalesced outbox rows (one digest, one header update) must always end up showing the latest state,
on SQLite and on PostgreSQL: a change queued while its twin is being delivered is delivered again, and a
twin cannot be claimed before the transaction that folded into it has committed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select, update

from pagerbot.bootstrap import Runtime, build
from pagerbot.outbox.worker import Job, OutboxWorker, Persist
from pagerbot.services.context import Services
from pagerbot.store.migrate import upgrade
from pagerbot.store.tables import Incident, OutboxRow
from tests.harness import make_settings

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


async def _runtime(database_url: str) -> tuple[Runtime, int]:
    await upgrade(database_url)
    runtime = build(make_settings(database_url, slack=False), with_scheduler=False, with_slack=False)
    async with runtime.ctx.store.transaction() as session:
        incident = Incident(title="v1", severity=3, status="investigating", group_key="g", open_group_key="g",
                            opened_at=NOW, last_status_at=NOW)
        session.add(incident)
        await session.flush()
        incident_id = incident.id
    return runtime, incident_id


async def _change_and_queue(ctx: Services, incident_id: int, title: str) -> None:
    """What intake does: change the state and queue its display (coalesced) in one transaction."""
    async with ctx.store.transaction() as session:
        await session.execute(update(Incident).where(Incident.id == incident_id).values(title=title))
        await ctx.store.enqueue(session, incident_id, "show", now=NOW, coalesce_key=f"show:{incident_id}")


async def _title(ctx: Services, incident_id: int) -> str:
    async with ctx.store.sessions() as session:
        return str((await session.execute(select(Incident.title).where(Incident.id == incident_id))).scalar_one())


def _showing(ctx: Services, incident_id: int, during_first: str | None = None) -> tuple[OutboxWorker, list[str]]:
    """A worker whose "show" op records the title it reads; ``during_first``: a change made meanwhile."""
    shown: list[str] = []

    async def show(ctx: Services, job: Job) -> Persist | None:
        shown.append(await _title(ctx, incident_id))
        if len(shown) == 1 and during_first is not None:
            await _change_and_queue(ctx, incident_id, during_first)  # arrives while this row is in flight
        return None

    return OutboxWorker(ctx, {"show": show}), shown


async def test_a_change_queued_during_delivery_is_delivered_again(database_url: str) -> None:
    runtime, incident_id = await _runtime(database_url)
    ctx = runtime.ctx
    worker, shown = _showing(ctx, incident_id, during_first="v2")
    try:
        await _change_and_queue(ctx, incident_id, "v1")
        await _change_and_queue(ctx, incident_id, "v1")  # folds into the first
        assert await worker.drain(10)
        assert shown == ["v1", "v2"]
        async with ctx.store.sessions() as session:
            rows = (await session.execute(select(OutboxRow.status, OutboxRow.coalesce_key))).all()
        assert [tuple(r) for r in rows] == [("done", None), ("done", None)]
    finally:
        await runtime.close()


async def test_a_twin_is_not_claimed_before_the_change_commits(database_url: str) -> None:
    runtime, incident_id = await _runtime(database_url)
    ctx = runtime.ctx
    worker, shown = _showing(ctx, incident_id)
    try:
        await _change_and_queue(ctx, incident_id, "v1")
        async with ctx.store.transaction() as session:
            await session.execute(update(Incident).where(Incident.id == incident_id).values(title="v2"))
            await ctx.store.enqueue(session, incident_id, "show", now=NOW, coalesce_key=f"show:{incident_id}")
            # The worker tries to deliver while this transaction is still open (on SQLite its claim waits for
            # the write lock; on PostgreSQL the folded-into row is locked and skipped).
            attempt = asyncio.create_task(worker.run_once())
            await asyncio.sleep(0.3)
        await attempt
        assert await worker.drain(10)
        assert shown and shown[-1] == "v2", shown
        assert "v1" not in shown
    finally:
        await runtime.close()
