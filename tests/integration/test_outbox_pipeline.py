"""The running outbox worker keeps claiming while deliveries are in flight, on SQLite and on PostgreSQL.

A slow row (a graph waiting on a metrics source near its timeout, a slow SMTP server) must hold up only
what is queued behind it for its own incident; a graph row, which nothing queued after it depends on, holds
up nothing at all. Everything else keeps its order per incident.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy import select

from pagerbot.bootstrap import Runtime, build
from pagerbot.clock import ManualClock
from pagerbot.outbox.worker import Job, OutboxWorker, Persist
from pagerbot.services.context import Services
from pagerbot.store.migrate import upgrade
from pagerbot.store.tables import Incident, OutboxRow
from tests.harness import make_settings

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


async def _runtime(database_url: str, incidents: int) -> tuple[Runtime, list[int]]:
    await upgrade(database_url)
    runtime = build(make_settings(database_url, slack=False), clock=ManualClock(NOW), with_scheduler=False,
                    with_slack=False)
    ids = []
    async with runtime.ctx.store.transaction() as session:
        for n in range(incidents):
            incident = Incident(title=f"i{n}", severity=3, status="investigating", group_key=f"g{n}",
                                open_group_key=f"g{n}", opened_at=NOW, last_status_at=NOW)
            session.add(incident)
            await session.flush()
            ids.append(incident.id)
    return runtime, ids


class Recorder:
    """Handlers that log when each row starts and ends; rows whose payload says "slow" wait for a release."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.release = asyncio.Event()

    async def handle(self, ctx: Services, job: Job) -> Persist | None:
        name = str(job.payload["name"])
        self.events.append(("start", name))
        if job.payload.get("slow"):
            await self.release.wait()
        self.events.append(("end", name))
        return None

    def ended(self) -> list[str]:
        return [name for what, name in self.events if what == "end"]

    def worker(self, ctx: Services) -> OutboxWorker:
        handlers = {op: self.handle for op in ("refresh_graph", "send_email", "post")}
        return OutboxWorker(ctx, handlers, poll_seconds=0.05)


async def _queue(ctx: Services, incident_id: int, op: str, name: str, *, slow: bool = False) -> None:
    async with ctx.store.transaction() as session:
        await ctx.store.enqueue(session, incident_id, op, {"name": name, "slow": slow}, now=NOW)


@contextlib.asynccontextmanager
async def _running(database_url: str, incidents: int) -> AsyncIterator[tuple[Runtime, list[int], Recorder,
                                                                          asyncio.Event, asyncio.Task[None]]]:
    """A running worker whose handlers are a Recorder's; stopped (and its runtime closed) on the way out."""
    runtime, ids = await _runtime(database_url, incidents)
    recorder = Recorder()
    stopping = asyncio.Event()
    running = asyncio.create_task(recorder.worker(runtime.ctx).run(stopping))
    try:
        yield runtime, ids, recorder, stopping, running
    finally:
        recorder.release.set()
        stopping.set()
        await asyncio.wait_for(running, 10)
        await runtime.close()


async def _until(predicate: object, timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _until_all_done(runtime: Runtime, count: int, timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        async with runtime.ctx.store.sessions() as session:
            statuses = (await session.execute(select(OutboxRow.status))).scalars().all()
        if statuses == ["done"] * count:
            return
        assert loop.time() < deadline, f"rows not all done: {statuses}"
        await asyncio.sleep(0.05)


async def test_a_slow_graph_holds_up_nothing(database_url: str) -> None:
    async with _running(database_url, 2) as (runtime, (first, second), recorder, _, _):
        await _queue(runtime.ctx, first, "post", "a1")
        await _queue(runtime.ctx, first, "refresh_graph", "a-graph", slow=True)
        await _queue(runtime.ctx, first, "post", "a2")
        await _queue(runtime.ctx, first, "refresh_graph", "a-graph-2")
        await _queue(runtime.ctx, second, "post", "b1")
        await _until(lambda: {"a1", "a2", "b1"} <= set(recorder.ended()))
        # the posts went out while the graph was still waiting on its source; the second graph waits for the
        # first (graphs keep their order among themselves)
        assert ("start", "a-graph") in recorder.events and "a-graph" not in recorder.ended()
        assert ("start", "a-graph-2") not in recorder.events
        assert recorder.ended().index("a1") < recorder.ended().index("a2")
        # rows queued after the graph started are not held up either
        await _queue(runtime.ctx, first, "post", "a3")
        await _until(lambda: "a3" in recorder.ended())
        recorder.release.set()
        await _until(lambda: "a-graph-2" in recorder.ended())
        assert recorder.ended()[-2:] == ["a-graph", "a-graph-2"]
        # the worker marks a row done in its own transaction after the handler returns: wait for that commit
        await _until_all_done(runtime, 6)


async def test_a_slow_row_holds_up_only_its_own_incident(database_url: str) -> None:
    async with _running(database_url, 2) as (runtime, (first, second), recorder, _, _):
        await _queue(runtime.ctx, first, "send_email", "a-mail", slow=True)
        await _queue(runtime.ctx, first, "post", "a-after-mail")
        await _until(lambda: ("start", "a-mail") in recorder.events)
        await _queue(runtime.ctx, second, "post", "b1")
        await _queue(runtime.ctx, second, "post", "b2")
        await _until(lambda: recorder.ended() == ["b1", "b2"])
        await asyncio.sleep(0.2)  # several polls: the first incident's next row still waits for the mail
        assert ("start", "a-after-mail") not in recorder.events
        recorder.release.set()
        await _until(lambda: recorder.ended() == ["b1", "b2", "a-mail", "a-after-mail"])


async def test_stopping_finishes_the_rows_in_hand(database_url: str) -> None:
    async with _running(database_url, 1) as (runtime, (first,), recorder, stopping, running):
        await _queue(runtime.ctx, first, "send_email", "mail", slow=True)
        await _until(lambda: ("start", "mail") in recorder.events)
        stopping.set()
        await asyncio.sleep(0.2)
        assert not running.done()  # still delivering the row in hand
        recorder.release.set()
        await asyncio.wait_for(running, 10)
        assert recorder.ended() == ["mail"]
        async with runtime.ctx.store.sessions() as session:
            row = (await session.execute(select(OutboxRow.status, OutboxRow.claimed_by))).one()
        assert tuple(row) == ("done", None)


async def test_a_new_incidents_channel_goes_before_older_incidents_next_steps(database_url: str) -> None:
    """While the outbox is behind (one row at a time here; a storm's write turns on SQLite), a new incident's
    channel is created before the older incidents' queued steps, which keep their own order."""
    runtime, (first, second) = await _runtime(database_url, 2)
    recorder = Recorder()
    try:
        for name in ("a1", "a2", "a3"):
            await _queue(runtime.ctx, first, "post", name)
        await _queue(runtime.ctx, second, "open_channel", "b-channel")
        await _queue(runtime.ctx, second, "post", "b1")
        handlers = {op: recorder.handle for op in ("post", "open_channel")}
        worker = OutboxWorker(runtime.ctx, handlers, batch_size=1, poll_seconds=0.05)
        stopping = asyncio.Event()
        running = asyncio.create_task(worker.run(stopping))
        await _until(lambda: len(recorder.ended()) == 5)
        stopping.set()
        await asyncio.wait_for(running, 10)
        ended = recorder.ended()
        assert ended[0] == "b-channel"
        assert [name for name in ended if name.startswith("a")] == ["a1", "a2", "a3"]
        assert ended.index("b1") > ended.index("b-channel")
    finally:
        await runtime.close()
