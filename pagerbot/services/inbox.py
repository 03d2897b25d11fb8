"""The inbox worker: applies the deliveries webhooks accepted, in batches, fairly across groups.

A webhook's 2xx waits only for its delivery's INSERT into the inbox (services/alerts.accept_alerts: the body
as received, after the route parsed it once to answer a bad one with a 4xx). This
worker takes the waiting deliveries in fair order (store/lanes.py: the oldest of every group's lane first, so
an unrelated alert never waits behind a storm's backlog; within a group, in the order they were answered) and
applies them (grouping, de-duplication, the incident,
the outbox rows for Slack) in one transaction that also deletes them: a delivery is applied exactly once,
or, if the process dies first, stays for the next worker. On PostgreSQL one replica's worker at a time holds
the inbox (an advisory lock held for the transaction), so deliveries of a group are never applied out of
order or twice at once; the others poll and take over when it dies.

Under load, batches gather: once a batch finds that more arrived while it ran, the worker lets the next batch
gather for ``linger_seconds`` before taking it. A storm's thousands of deliveries then cost a few
transactions per second instead of one each; a lone alert is applied at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from pagerbot.core.alerts import AlertEvent
from pagerbot.intake.bodies import parse_body
from pagerbot.observability import INBOX_FAILED, INBOX_OLDEST, INBOX_PENDING
from pagerbot.services.alerts import IntakeResult, apply_alerts, merged, report
from pagerbot.services.context import Services
from pagerbot.services.delivery import wait_first
from pagerbot.services.parsed import ParsedBodies
from pagerbot.store.inbox import BODY, EVENTS, Delivery
from pagerbot.store.repository import Conflict, is_unavailable

log = logging.getLogger("pagerbot.inbox")

_CONFLICT_RETRIES = 5
QUICK_LANE = 3  # deliveries waiting in a lane, at most, for it to go before the storms' lanes


class InboxWorker:
    def __init__(self, ctx: Services, *, batch_size: int = 500, batch_alerts: int = 5000, batch_seconds: float = 0.5,
                 linger_seconds: float = 0.2, poll_seconds: float = 1.0, busy_retry_seconds: float = 0.1) -> None:
        self.ctx = ctx
        self.batch_size = batch_size  # deliveries at most in one transaction
        self.batch_alerts = batch_alerts  # ... and about this many alerts (100-alert deliveries: 50 of them)
        self._alerts_per_delivery = 1.0  # as seen in the last batch
        # A batch's alerts also stay within what the worker applies in ``batch_seconds`` (as fast as it went
        # lately): an unrelated group's alert waits for the batch in progress, however loaded the machine.
        self.batch_seconds = batch_seconds
        self._alerts_per_second = float(batch_alerts) / batch_seconds
        self._limit = batch_size  # deliveries the last batch could take
        self.linger_seconds = linger_seconds
        self.poll_seconds = poll_seconds  # deliveries another replica accepted, or left by a crash
        self.busy_retry_seconds = busy_retry_seconds
        self._wake = asyncio.Event()
        # One applier per process (the running worker, or drain() beside it): on SQLite the database does not
        # lock the inbox for us.
        self._applying = asyncio.Lock()
        self._added_since_analyze = 0
        self._read_ahead: asyncio.Future[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Apply deliveries until ``stopping`` is set (the batch in hand is finished first)."""
        failures = 0
        while not stopping.is_set():
            self._wake.clear()
            try:
                applied = await self.apply_once()
                failures = 0
            except Exception as exc:
                failures += 1
                if is_unavailable(exc):
                    log.warning("inbox: database unavailable (%s); retrying", type(exc).__name__)
                else:
                    log.exception("inbox: unexpected error")
                await _sleep(stopping, min(5.0, 0.25 * 2 ** min(failures, 5)))  # the database may be back any time
                continue
            arriving = self._wake.is_set()  # deliveries kept arriving while the batch ran
            if applied is None:  # another replica's worker holds the inbox
                await _sleep(stopping, self.busy_retry_seconds)
            elif applied >= self._limit:  # a full batch: more is waiting, take it at once
                continue
            elif applied and arriving:
                await _sleep(stopping, self.linger_seconds)  # more arrived meanwhile: let them gather
            elif not applied:
                await wait_first(self._wake.wait(), stopping.wait(), timeout=self.poll_seconds)

    async def observe(self) -> None:
        """Set the inbox gauges (waiting deliveries, the oldest one's age, failed ones) from the database."""
        async with self.ctx.store.sessions() as session:
            pending, oldest, failed = await self.ctx.store.inbox.stats(session)
        INBOX_PENDING.set(pending)
        INBOX_OLDEST.set((self.ctx.clock.now() - oldest).total_seconds() if oldest else 0)
        INBOX_FAILED.set(failed)

    async def drain(self) -> IntakeResult:
        """Apply every waiting delivery now, and say what that did (the demo replays through this)."""
        results: list[IntakeResult] = []
        while True:
            applied = await self.apply_once(results)
            if applied is None:
                await asyncio.sleep(self.busy_retry_seconds)
            elif applied == 0:
                return merged(results)

    async def apply_once(self, results: list[IntakeResult] | None = None) -> int | None:
        """Apply the next waiting deliveries (up to ``batch_size``): how many, or None when the inbox is taken.

        A batch that fails for a reason other than the database (a delivery that trips a bug) is applied
        again one delivery at a time, and the deliveries that still fail are kept aside as failed.
        """
        async with self._applying:
            return await self._apply_batch(results)

    async def _apply_batch(self, results: list[IntakeResult] | None) -> int | None:
        for attempt in range(_CONFLICT_RETRIES):
            try:
                return await self._apply(None, results)
            except Conflict:
                # An incident opened by hand or by a metric watch took the group first: its rows are visible now.
                if attempt == _CONFLICT_RETRIES - 1:
                    break
            except Exception as exc:
                if is_unavailable(exc):
                    raise
                log.exception("inbox: a batch failed; applying its deliveries one by one")
                break
        return await self._apply_one_by_one(results)

    async def _apply(self, only: Delivery | None, results: list[IntakeResult] | None) -> int | None:
        ctx = self.ctx
        inbox = ctx.store.inbox
        async with ctx.store.transaction() as session:
            if not await inbox.lock(session):
                return None
            self._limit = limit = self.batch_size if only is not None else self._batch_limit()
            # Twice the batch: the deliveries after it are parsed while the database applies it (read ahead).
            claimed = await inbox.claim(session, limit if only is not None else 2 * limit)
            rows = claimed[:limit]
            if only is not None:  # still waiting, and nothing of its lane before it (the claim's fair order)
                rows = [row for row in rows if row == only]
            quick = _quick_lanes_first(rows)
            cut = len(quick) < len(rows)  # more is waiting: the storms' lanes, next
            if cut:
                rows = quick
                self._limit = len(rows)
            if not rows:
                return 0
            # Parsed in a thread: a batch of bodies is a storm's thousands of alerts, whose parsing would hold the
            # event loop, and the webhooks with it, for hundreds of milliseconds (the GIL still lets the loop
            # run every few milliseconds). Only the first deliveries of the claim, up to the alert budget: the
            # claim counts deliveries, and a storm's first batch came with no idea of their size.
            started = asyncio.get_running_loop().time()
            await self._read_ahead_done()
            deliveries = await asyncio.to_thread(_alerts_of_first, rows, self._alert_budget(), ctx.parsed)
            if len(deliveries) < len(rows):
                rows = rows[:len(deliveries)]
                self._limit = len(rows)  # a full batch: more is waiting
            if only is None and len(claimed) > len(rows):
                applying = set(rows)
                self._read_ahead = asyncio.ensure_future(asyncio.to_thread(
                    _read_ahead, [row for row in claimed if row not in applying], self._alert_budget(), ctx.parsed))
            if not cut:  # what a storm's deliveries hold, not a lone alert's
                self._alerts_per_delivery = max(1.0, sum(map(len, deliveries)) / len(deliveries))
            result = await apply_alerts(ctx, session, deliveries)
            await inbox.remove(session, rows)
            due = ctx.store.queued_due_now(session)
        self._pace(sum(map(len, deliveries)), asyncio.get_running_loop().time() - started)
        report(result)
        if results is not None:
            results.append(result)
        if due:
            ctx.wake_outbox()
        await self._keep_statistics_fresh(result.new)
        return len(rows)

    async def _read_ahead_done(self) -> None:
        """Wait for the last read-ahead (it parsed what this batch takes while the last one was applied)."""
        if self._read_ahead is not None:
            ahead, self._read_ahead = self._read_ahead, None
            with contextlib.suppress(Exception):  # a body that does not parse fails in its own batch, as before
                await ahead

    async def _keep_statistics_fresh(self, new_alerts: int) -> None:
        """Have the alerts table analyzed as a storm grows it (Store.refresh_alert_statistics says why)."""
        self._added_since_analyze += new_alerts
        if self._added_since_analyze < 1000:
            return
        try:
            if await self.ctx.store.refresh_alert_statistics(self._added_since_analyze):
                self._added_since_analyze = 0
        except Exception as exc:  # the batch is committed: this is an optimisation, never a failure
            log.warning("inbox: could not analyze the alerts table (%s: %s)", type(exc).__name__, exc)

    def _alert_budget(self) -> int:
        """About how many alerts the next batch takes: ``batch_alerts``, or fewer when applying slows down."""
        return max(100, min(self.batch_alerts, round(self._alerts_per_second * self.batch_seconds)))

    def _pace(self, alerts: int, seconds: float) -> None:
        """Follow the speed of applying, from batches big enough to tell (a lone alert's says nothing)."""
        if alerts >= 100 and seconds > 0:
            self._alerts_per_second = 0.5 * self._alerts_per_second + 0.5 * alerts / seconds

    def _batch_limit(self) -> int:
        """How many deliveries the next batch takes: ``batch_size``, and about the alert budget."""
        return max(1, min(self.batch_size, round(self._alert_budget() / self._alerts_per_delivery)))

    async def _apply_one_by_one(self, results: list[IntakeResult] | None) -> int | None:
        ctx = self.ctx
        async with ctx.store.transaction() as session:
            if not await ctx.store.inbox.lock(session):
                return None
            waiting = await ctx.store.inbox.claim(session, self.batch_size)
        applied = 0
        for delivery in waiting:
            try:
                applied += await self._apply(delivery, results) or 0
            except Exception as exc:
                if is_unavailable(exc):
                    raise
                log.exception("inbox: delivery %d (in the %s) cannot be applied; kept as failed", delivery.id,
                              "inbox file" if delivery.in_file else "inbox table")
                async with ctx.store.transaction() as session:
                    await ctx.store.inbox.fail(session, delivery, f"{type(exc).__name__}: {exc}", ctx.clock.now())
                applied += 1
        return applied


def alerts_of(delivery: Delivery, parsed: ParsedBodies | None = None) -> list[AlertEvent]:
    """A waiting delivery's alerts: its body as this process parsed it when it was accepted, or parsed again,
    or the alerts stored."""
    if delivery.kind == BODY:
        kept = parsed.take(delivery.source, delivery.payload) if parsed is not None else None
        return kept if kept is not None else parse_body(delivery.source, delivery.payload)
    if delivery.kind == EVENTS:
        return [AlertEvent.from_json(item) for item in json.loads(delivery.payload)]
    raise ValueError(f"inbox row {delivery.id}: unknown kind {delivery.kind!r}")


def _quick_lanes_first(claimed: list[Delivery]) -> list[Delivery]:
    """Of a claim in fair order, only the deliveries of lanes where few wait, when there are others: an
    unrelated group's alert then waits for no storm delivery at all, not even those of the same round, in a
    batch of its own that takes milliseconds. The claim holds the first deliveries of each lane, so taking
    some lanes' and leaving others' keeps every lane's order."""
    quick = [delivery for delivery in claimed if delivery.in_lane <= QUICK_LANE]
    return quick if quick else claimed


def _alerts_of_first(deliveries: list[Delivery], alerts: int, kept: ParsedBodies) -> list[list[AlertEvent]]:
    """The alerts of the first of ``deliveries`` that hold about ``alerts`` alerts (at least one delivery)."""
    parsed: list[list[AlertEvent]] = []
    for delivery in deliveries:
        parsed.append(alerts_of(delivery, kept))
        alerts -= len(parsed[-1])
        if alerts <= 0:
            break
    return parsed


def _read_ahead(deliveries: list[Delivery], alerts: int, kept: ParsedBodies) -> None:
    """Parse the bodies of the first of ``deliveries`` holding about ``alerts`` alerts into ``kept``, for the
    next batch; stops at the first body ``kept`` has no room for."""
    for delivery in deliveries:
        if delivery.kind != BODY or kept.has(delivery.source, delivery.payload):
            continue
        try:
            events = parse_body(delivery.source, delivery.payload)
        except Exception:  # parsed again, and failed as it should, when its batch applies it
            continue
        if not kept.keep(delivery.source, delivery.payload, events, ahead=True):
            return
        alerts -= len(events)
        if alerts <= 0:
            return


async def _sleep(stopping: asyncio.Event, seconds: float) -> None:
    await wait_first(stopping.wait(), timeout=seconds)
