"""The outbox worker: delivers queued side effects in order per incident, at least once, never twice.

Rows are claimed with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas share the work);
only the oldest pending row of an incident can be claimed, which keeps an incident's messages in order.
429 waits for Retry-After; 5xx and timeouts back off and mark the row "maybe sent", so the next attempt
first looks for the earlier attempt's result instead of repeating it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text, update

from pagerbot.chat.port import ChatError
from pagerbot.observability import OUTBOX_DELIVERED, OUTBOX_DEPTH, OUTBOX_OLDEST, OUTBOX_RECLAIMED
from pagerbot.services.context import Services

# The delivery contract lives with the use cases; these names are the worker's too.
from pagerbot.services.delivery import Handler as Handler
from pagerbot.services.delivery import Job as Job
from pagerbot.services.delivery import Persist as Persist
from pagerbot.services.delivery import UndeliverableError as UndeliverableError
from pagerbot.services.delivery import wait_first as wait_first
from pagerbot.services.opening import OPENING_OPS
from pagerbot.store.repository import is_unavailable, mark_outbox, rowcount
from pagerbot.store.tables import OutboxRow

log = logging.getLogger("pagerbot.outbox")

MAX_BACKOFF = 30.0
RECLAIMED = "lease expired, claimed by"
# Rows that the rest of their incident's queue may overtake: they fetch metrics and render before they talk
# to Slack, and nothing queued after them depends on them (what depends on a graph, such as the header
# pointing at it, is queued by the graph row itself when it is done).
OVERTAKABLE = frozenset({"refresh_graph"})
FIRST_OP = OPENING_OPS[0]  # a new incident's channel (see _claim)
MAX_FAILED_ATTEMPTS = 12  # for unexpected errors; Slack's retryable errors are retried for as long as it takes


def backoff(attempts: int) -> float:
    return float(min(MAX_BACKOFF, 0.5 * (2 ** min(attempts, 8))))


class OutboxWorker:
    def __init__(self, ctx: Services, handlers: Mapping[str, Handler], *, worker_id: str | None = None,
                 batch_size: int = 16, lease_seconds: float | None = None, poll_seconds: float = 1.0) -> None:
        self.ctx = ctx
        self.handlers = handlers
        # claimed_by holds 64 characters; long (e.g. Kubernetes pod) host names are cut to fit.
        self.worker_id = (worker_id or f"{socket.gethostname()[:40]}:{os.getpid()}:{id(self):x}")[:64]
        self.batch_size = batch_size
        if lease_seconds is None:
            lease_seconds = ctx.settings.config.server.outbox_lease_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Deliver until ``stopping`` is set; the deliveries in hand are finished before returning.

        Claiming goes on while deliveries are in flight (up to ``batch_size`` at once), so one slow call
        (a metrics source near its timeout, a slow SMTP server) holds up only the rows queued behind it
        for the same incident, not the rest of the outbox.
        """
        in_flight: dict[int, asyncio.Task[None]] = {}
        keeping = asyncio.Event()
        keeper = asyncio.create_task(self._keep_leases(lambda: list(in_flight), keeping), name="outbox-leases")

        def finished(job_id: int) -> Callable[[asyncio.Task[None]], None]:
            def callback(_task: asyncio.Task[None]) -> None:
                in_flight.pop(job_id, None)
                self._wake.set()  # the incident's next row may be due now
            return callback

        try:
            while not stopping.is_set():
                self._wake.clear()
                room = self.batch_size - len(in_flight)
                claimed: list[Job] = []
                try:
                    if room > 0:
                        claimed = await self._claim(room)
                    if not claimed and not in_flight:
                        await self._observe()
                except Exception as exc:
                    if is_unavailable(exc):
                        log.warning("outbox: database unavailable (%s); retrying", type(exc).__name__)
                    else:
                        log.exception("outbox: unexpected error")
                for job in claimed:
                    task = asyncio.create_task(self._deliver(job), name=f"outbox-{job.op}-{job.id}")
                    in_flight[job.id] = task
                    task.add_done_callback(finished(job.id))
                if claimed and len(claimed) == room:
                    continue  # the batch was full: more may be due
                await wait_first(self._wake.wait(), stopping.wait(), timeout=self.poll_seconds)
            if in_flight:
                await asyncio.gather(*in_flight.values(), return_exceptions=True)
        finally:
            # Cancelled (shutdown budget spent): stop the deliveries too, so that release_claims hands back
            # rows nobody is still working on.
            for task in list(in_flight.values()):
                task.cancel()
            if in_flight:
                await asyncio.wait(list(in_flight.values()), timeout=1)
            keeping.set()
            await asyncio.wait({keeper}, timeout=5)

    async def _claim(self, limit: int | None = None) -> list[Job]:
        store = self.ctx.store
        now = self.ctx.clock.now()
        lock = " FOR UPDATE SKIP LOCKED" if store.dialect == "postgresql" else ""
        bypassable = ", ".join(f"'{op}'" for op in sorted(OVERTAKABLE))
        # A row whose lease ran out was claimed by a worker that died or stalled mid-delivery: it may have
        # reached Slack, so it is "maybe sent" (the handler looks for the earlier attempt before repeating it),
        # and last_error says why until the next outcome overwrites it.
        # A new incident's channel goes before every other incident's next step: until it exists nobody sees the
        # incident, and while a storm keeps the outbox busy (each row's step waits its turn to write, on SQLite)
        # the oldest-first order left it behind the older incidents' topics, invitations and headers. An
        # incident's own rows keep their order.
        # A claimed row sheds its coalesce key: what is queued while it is in flight gets a row of its own
        # (which reads the state after that change) instead of folding into a delivery already under way.
        claim = text(
            "UPDATE outbox SET claimed_by = :me, claimed_until = :until, coalesce_key = NULL,"
            " maybe_sent = CASE WHEN claimed_until IS NULL THEN maybe_sent ELSE 1 END,"
            " last_error = CASE WHEN claimed_until IS NULL THEN last_error"
            f" ELSE '{RECLAIMED} ' || COALESCE(claimed_by, '?') END"
            " WHERE id IN ("
            " SELECT o.id FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= :now"
            " AND (o.claimed_until IS NULL OR o.claimed_until < :now)"
            " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.incident_id = o.incident_id"
            " AND p.status = 'pending' AND p.id < o.id"
            f" AND (p.op NOT IN ({bypassable}) OR o.op IN ({bypassable})))"
            f" ORDER BY CASE WHEN o.op = '{FIRST_OP}' THEN 0 ELSE 1 END, o.id LIMIT :n{lock})"
            " RETURNING id, incident_id, op, payload, attempts, maybe_sent, created_at, last_error"
        ).bindparams(me=self.worker_id)
        table = OutboxRow.__table__
        statement = claim.columns(table.c.id, table.c.incident_id, table.c.op, table.c.payload,
                                  table.c.attempts, table.c.maybe_sent, table.c.created_at, table.c.last_error)
        params = {"until": _bind(now + self.lease, store.dialect), "now": _bind(now, store.dialect),
                  "n": limit or self.batch_size}
        async with store.transaction() as session:
            rows = (await session.execute(statement, params)).all()
        jobs = [Job(id=r.id, incident_id=r.incident_id, op=r.op, payload=r.payload or {}, attempts=r.attempts,
                    maybe_sent=bool(r.maybe_sent), created_at=r.created_at) for r in rows]
        for row in rows:
            if (row.last_error or "").startswith(RECLAIMED):
                OUTBOX_RECLAIMED.inc()
                log.warning("outbox: %s #%d re-claimed: %s", row.op, row.id, row.last_error,
                            extra={"incident_id": row.incident_id})
        return sorted(jobs, key=lambda j: j.id)

    async def release_claims(self) -> int:
        """Hand back the rows this worker claimed and did not finish (shutdown cancelled their delivery).

        They may have reached Slack, so they are marked "maybe sent"; another replica, or this one after a
        restart, takes them at once instead of waiting for the lease to run out.
        """
        async with self.ctx.store.transaction() as session:
            result = await session.execute(
                update(OutboxRow).where(OutboxRow.claimed_by == self.worker_id, OutboxRow.status == "pending")
                .values(claimed_by=None, claimed_until=None, maybe_sent=1))
        released = rowcount(result)
        if released:
            log.info("outbox: released %d unfinished rows on shutdown", released)
        return released

    async def run_once(self) -> int:
        jobs = await self._claim()
        if not jobs:
            await self._observe()
            return 0
        done = asyncio.Event()
        ids = [job.id for job in jobs]
        keeper = asyncio.create_task(self._keep_leases(lambda: ids, done), name="outbox-leases")
        try:
            await asyncio.gather(*(self._deliver(job) for job in jobs))
        finally:
            done.set()
            await asyncio.wait({keeper}, timeout=5)
        return len(jobs)

    async def _keep_leases(self, in_hand: Callable[[], list[int]], done: asyncio.Event) -> None:
        """Renew the lease of the rows in hand while they are being delivered.

        A live worker keeps its rows however slow Slack is; only a worker that died (or cannot reach the
        database) lets its lease run out, and then another claims them (as "maybe sent").
        """
        every = self.lease.total_seconds() / 3
        while True:
            try:
                await asyncio.wait_for(done.wait(), timeout=every)
                return
            except TimeoutError:
                pass
            ids = in_hand()
            if not ids:
                continue
            now = self.ctx.clock.now()
            try:
                async with self.ctx.store.transaction() as session:
                    await session.execute(
                        update(OutboxRow).where(OutboxRow.id.in_(ids), OutboxRow.claimed_by == self.worker_id,
                                                OutboxRow.status == "pending")
                        .values(claimed_until=now + self.lease))
            except Exception as exc:
                log.warning("outbox: could not renew the lease of %d rows (%s)", len(ids), type(exc).__name__)

    async def observe(self) -> None:
        """Set the outbox gauges (depth and oldest age) from the database."""
        await self._observe()

    async def _observe(self) -> None:
        async with self.ctx.store.sessions() as session:
            depth, oldest = await self.ctx.store.outbox_stats(session)
        OUTBOX_DEPTH.set(depth)
        OUTBOX_OLDEST.set((self.ctx.clock.now() - oldest).total_seconds() if oldest else 0)

    async def _deliver(self, job: Job) -> None:
        handler = self.handlers.get(job.op)
        store = self.ctx.store
        try:
            if handler is None:
                raise UndeliverableError(f"no handler for outbox op {job.op!r}")
            persist = await handler(self.ctx, job)
        except ChatError as exc:
            await self._failed(job, str(exc), retryable=exc.retryable, retry_after=exc.retry_after,
                               ambiguous=exc.ambiguous)
            return
        except UndeliverableError as exc:
            await self._failed(job, str(exc), retryable=False)
            return
        except Exception as exc:
            if not is_unavailable(exc):
                log.exception("outbox: %s failed", job.op, extra={"incident_id": job.incident_id})
            await self._failed(job, f"{type(exc).__name__}: {exc}", retryable=job.attempts + 1 < MAX_FAILED_ATTEMPTS,
                               ambiguous=True)
            return
        now = self.ctx.clock.now()
        async with store.transaction() as session:
            if persist is not None:
                await persist(session)
            await mark_outbox(session, job.id, status="done", done_at=now, claimed_by=None, claimed_until=None,
                              coalesce_key=None, attempts=job.attempts + 1)
        OUTBOX_DELIVERED.labels(op=job.op, outcome="done").inc()

    async def _failed(self, job: Job, error: str, *, retryable: bool, retry_after: float | None = None,
                      ambiguous: bool = False) -> None:
        now = self.ctx.clock.now()
        attempts = job.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "last_error": error[:2000], "claimed_by": None,
                                  "claimed_until": None}
        if ambiguous:
            values["maybe_sent"] = 1
        if retryable:
            delay = retry_after if retry_after is not None else backoff(attempts)
            values["next_attempt_at"] = now + timedelta(seconds=delay)
            log.warning("outbox: %s will be retried in %.1fs: %s", job.op, delay, error,
                        extra={"incident_id": job.incident_id})
        else:
            values["status"] = "dead"
            values["coalesce_key"] = None
            log.error("outbox: %s given up: %s", job.op, error, extra={"incident_id": job.incident_id})
        async with self.ctx.store.transaction() as session:
            await mark_outbox(session, job.id, **values)
        OUTBOX_DELIVERED.labels(op=job.op, outcome="retry" if retryable else "dead").inc()

    async def drain(self, timeout: float = 30.0, *, include_delayed: bool = False) -> bool:
        """Deliver until nothing is due (tests, the demo, graceful shutdown). True when empty."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if await self.run_once():
                continue
            async with self.ctx.store.sessions() as session:
                depth, _ = await self.ctx.store.outbox_stats(session)
            if depth == 0 or not include_delayed:
                return depth == 0
            await asyncio.sleep(0.05)
        return False


def _bind(moment: datetime, dialect: str) -> Any:
    # Raw SQL bypasses the column type: SQLite stores naive UTC text, PostgreSQL takes aware datetimes.
    from datetime import UTC

    if dialect == "sqlite":
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment
