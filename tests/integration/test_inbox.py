"""The inbox: a webhook's 2xx waits only for its delivery's INSERT; the inbox worker applies deliveries after,
in the order they were answered, each exactly once, on SQLite and on PostgreSQL.

Deliveries go in through accept_alerts (what the route calls after parsing, with the body as received; metric
watches without one) and come out through the worker;
the end-to-end tests over HTTP (test_intake_*) cover the routes, storms, crashes and replicas.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text

from pagerbot.bootstrap import Runtime, build
from pagerbot.clock import ManualClock
from pagerbot.core.alerts import AlertEvent, AlertState, Severity
from pagerbot.intake.alertmanager import parse_alertmanager
from pagerbot.services.alerts import accept_alerts
from pagerbot.store.inbox import BODY, Delivery
from pagerbot.store.inbox_file import InboxFile, inbox_path, pending_in_file, waiting_in_file
from pagerbot.store.migrate import upgrade
from pagerbot.store.repository import is_unavailable
from pagerbot.store.tables import Alert, InboxRow, Incident
from tests.harness import make_settings
from tests.payloads import am_alert, am_notification, resolved

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


async def _runtime(database_url: str, *, with_inbox_worker: bool = True) -> Runtime:
    await upgrade(database_url)
    return build(make_settings(database_url, slack=False), clock=ManualClock(NOW), with_scheduler=False,
                 with_slack=False, with_inbox_worker=with_inbox_worker)


def _events(*alerts: dict[str, object]) -> list[AlertEvent]:
    return parse_alertmanager(am_notification(list(alerts))).alerts


async def _accept_body(runtime: Runtime, *alerts: dict[str, object]) -> None:
    """As the Alertmanager route does: the body parsed once (to answer 4xx), then stored as received."""
    body = json.dumps(am_notification(list(alerts)))
    await accept_alerts(runtime.ctx, "alertmanager", _events(*alerts), body=body)


async def _count(runtime: Runtime, model: type) -> int:
    async with runtime.ctx.store.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _waiting(runtime: Runtime) -> list[Delivery]:
    """What the worker would take next, oldest first (claiming changes nothing until a batch commits)."""
    async with runtime.ctx.store.sessions() as session:
        return await runtime.ctx.store.inbox.claim(session, 1000)


async def _pending(runtime: Runtime) -> int:
    async with runtime.ctx.store.sessions() as session:
        return (await runtime.ctx.store.inbox.stats(session))[0]


def _sqlite_path(database_url: str) -> str | None:
    return database_url.removeprefix("sqlite:///") if database_url.startswith("sqlite") else None


def _file_rows(database_url: str) -> list[tuple[int, str, str | None, str | None]]:
    """Every row of a SQLite database's inbox file, applied or not: id, kind, failed_at, error."""
    path = _sqlite_path(database_url)
    if path is None:
        return []
    with closing(sqlite3.connect(inbox_path(path))) as connection:
        return list(connection.execute("SELECT id, kind, failed_at, error FROM inbox ORDER BY id"))


def test_an_event_survives_the_inbox_unchanged() -> None:
    event = _events(am_alert("HostDown", instance="db1:9100", extra={"note": "<b>&'\"\u00e9"}))[0]
    assert AlertEvent.from_json(json.loads(json.dumps(event.to_json()))) == event
    bare = AlertEvent(source="generic", fingerprint="k", state=AlertState.RESOLVED, name="n", title="t",
                      severity=Severity.SEV2)
    assert AlertEvent.from_json(json.loads(json.dumps(bare.to_json()))) == bare


async def test_accepted_deliveries_wait_until_applied_then_apply_in_order(database_url: str) -> None:
    runtime = await _runtime(database_url)
    try:
        down = am_alert("HostDown")
        await _accept_body(runtime, down)
        await _accept_body(runtime, down)  # Alertmanager's resend
        await accept_alerts(runtime.ctx, "alertmanager", _events(resolved(down)))  # as alerts: both kinds mix
        # stored, nothing applied yet: webhook bodies as received, alerts pagerbot made as a JSON list
        waiting = await _waiting(runtime)
        assert [delivery.kind for delivery in waiting] == ["body", "body", "events"]
        assert waiting[0].payload == json.dumps(am_notification([down]))
        assert await _pending(runtime) == 3
        assert await _count(runtime, Alert) == 0
        result = await runtime.inbox.drain()
        # as if applied one by one: opened by the first, the resend a duplicate, then resolved
        assert (result.new, result.duplicates, result.resolved) == (1, 1, 1)
        assert len(result.opened) == 1
        assert await _pending(runtime) == 0 and await _waiting(runtime) == []
        async with runtime.ctx.store.sessions() as session:
            [alert] = (await session.execute(select(Alert))).scalars().all()
        assert alert.state == "resolved"  # the resolve came last and won
        assert (await runtime.inbox.drain()).new == 0  # nothing left
    finally:
        await runtime.close()


async def test_a_delivery_that_cannot_be_applied_is_kept_aside_and_the_rest_go_through(database_url: str) -> None:
    runtime = await _runtime(database_url)
    try:
        await _accept_body(runtime, am_alert("HostDown"))
        async with runtime.ctx.store.transaction() as session:  # rows this version cannot read
            session.add(InboxRow(source="alertmanager", kind="events", payload='[{"fingerprint": "x"}]',
                                 received_at=NOW))
            # a body an older version accepted and this one's parser refuses
            session.add(InboxRow(source="alertmanager", kind="body", payload='{"alerts": 5}', received_at=NOW))
        await runtime.ctx.store.inbox.put("alertmanager", BODY, '{"alerts": [{"status": "on"}]}', NOW)
        await _accept_body(runtime, am_alert("DiskFull", instance="db2:9100"))
        result = await runtime.inbox.drain()
        assert result.new == 2
        async with runtime.ctx.store.sessions() as session:
            rows = (await session.execute(select(InboxRow).order_by(InboxRow.id))).scalars().all()
            names = set((await session.execute(select(Alert.name))).scalars())
        assert names == {"HostDown", "DiskFull"}
        # on SQLite the refused body waits in the inbox file, the rows written here in the inbox table
        failed = [(row.kind, row.failed_at, row.error) for row in rows] + [
            (kind, datetime.fromisoformat(failed_at) if failed_at else None, error)
            for _, kind, failed_at, error in _file_rows(database_url) if failed_at]
        assert [(kind, failed_at) for kind, failed_at, _ in failed] == [("events", NOW), ("body", NOW), ("body", NOW)]
        assert "KeyError" in (failed[0][2] or "")
        assert "PayloadError: alerts: expected an array" in (failed[1][2] or "")
        assert "PayloadError: alerts[0].status: unknown status 'on'" in (failed[2][2] or "")
        await runtime.inbox.observe()
        assert REGISTRY.get_sample_value("pagerbot_inbox_pending") == 0
        assert REGISTRY.get_sample_value("pagerbot_inbox_failed") == 3
        assert (await runtime.inbox.drain()).new == 0  # the failed row is not retried forever
    finally:
        await runtime.close()


async def test_the_running_worker_applies_what_arrives(database_url: str) -> None:
    runtime = await _runtime(database_url)
    stopping = asyncio.Event()
    task = asyncio.create_task(runtime.inbox.run(stopping))
    try:
        for n in range(30):
            await _accept_body(runtime, am_alert("HighLoad", instance=f"web{n}:9100"))
        for _ in range(200):
            if await _count(runtime, Alert) == 30 and await _pending(runtime) == 0:
                break
            await asyncio.sleep(0.05)
        assert (await _count(runtime, Alert), await _pending(runtime), await _count(runtime, Incident)) == (
            30, 0, 1)
    finally:
        stopping.set()
        await asyncio.wait_for(task, 10)
        await runtime.close()


async def test_two_workers_on_one_postgresql_apply_each_delivery_once(postgres_url: str) -> None:
    """Replicas' workers take the inbox in turns (an advisory lock), so none applies a delivery twice or two
    deliveries of a group at once, even when both drain the same backlog at the same moment."""
    first, second = await _runtime(postgres_url), await _runtime(postgres_url)
    try:
        for n in range(120):
            await _accept_body(first, am_alert("HighLoad", instance=f"web{n}:9100"),
                               am_alert("HighLoad", instance=f"web{n - 1}:9100"))
        one, two = await asyncio.gather(first.inbox.drain(), second.inbox.drain())
        assert one.new + two.new == 121
        assert await _count(first, Alert) == 121 and await _pending(first) == 0
        assert await _count(first, Incident) == 1
        async with first.ctx.store.sessions() as session:
            twice = await session.scalar(text("SELECT count(*) FROM (SELECT fingerprint FROM alerts "
                                              "GROUP BY fingerprint, occurrence HAVING count(*) > 1) AS d"))
        assert twice == 0
    finally:
        await first.close()
        await second.close()


async def test_a_storm_has_the_alerts_table_analyzed(postgres_url: str) -> None:
    """Autovacuum analyzes at most once a minute; the worker has PostgreSQL analyze the alerts table as a storm
    grows it, so the de-duplication lookup keeps its index plan. Counted by analyze_count, which counts manual
    ANALYZEs only (autovacuum's are autoanalyze_count)."""
    runtime = await _runtime(postgres_url)
    try:
        for post in range(12):
            await _accept_body(runtime, *(am_alert("HighLoad", instance=f"web{post}-{n}:9100") for n in range(100)))
        await runtime.inbox.drain()
        for _ in range(50):  # a backend reports its statistics when it goes idle, within a second
            async with runtime.ctx.store.sessions() as session:
                analyzed, believed = (await session.execute(text(
                    "SELECT s.analyze_count, c.reltuples FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
                    "WHERE s.relname = 'alerts'"))).one()
            if analyzed:
                break
            await asyncio.sleep(0.1)
        async with runtime.ctx.store.sessions() as session:
            plan = "\n".join(row[0] for row in await session.execute(text(
                "EXPLAIN SELECT id FROM alerts WHERE source = 'alertmanager' AND fingerprint = ANY(:fingerprints)"),
                {"fingerprints": ["a", "b"]}))
        assert analyzed >= 1 and believed >= 1000
        assert "fingerprint" in plan.split("Index Cond:", 1)[-1].splitlines()[0]  # looked up, not filtered
    finally:
        await runtime.close()


async def test_sqlite_webhooks_do_not_wait_for_the_worker(tmp_path: Path) -> None:
    """On SQLite the inbox is a file of its own: a delivery is stored while another connection holds the main
    database's one write lock (as the worker does while it applies a batch), and applied once it is free."""
    database = tmp_path / "pagerbot.db"
    runtime = await _runtime(f"sqlite:///{database}")
    try:
        with closing(sqlite3.connect(database, isolation_level=None)) as writer:
            writer.execute("BEGIN IMMEDIATE")  # held for as long as this block runs
            await asyncio.wait_for(_accept_body(runtime, am_alert("HostDown")), 2)  # busy_timeout is 10 s
            assert [delivery.kind for delivery in waiting_in_file(str(database))] == ["body"]
            assert pending_in_file(str(database)) == 1
            writer.execute("ROLLBACK")
        assert (await runtime.inbox.drain()).new == 1
        assert pending_in_file(str(database)) == 0
    finally:
        await runtime.close()


async def test_sqlite_inbox_file_is_applied_once_across_restarts(tmp_path: Path) -> None:
    """The worker's transaction marks how far it applied the inbox file; the file's applied rows go at the next
    claim. A restart between the two finds them applied, and a lost file starts a mark of its own."""
    url = f"sqlite:///{tmp_path}/pagerbot.db"
    runtime = await _runtime(url, with_inbox_worker=False)  # its close() would drain, which claims
    try:
        for n in range(3):
            await _accept_body(runtime, am_alert("HighLoad", instance=f"web{n}:9100"))
        assert await runtime.inbox.apply_once() == 3  # one batch, and no claim after it
        assert await _count(runtime, Alert) == 3
    finally:
        await runtime.close()
    assert len(_file_rows(url)) == 3 and waiting_in_file(str(tmp_path / "pagerbot.db")) == []  # applied, kept
    runtime = await _runtime(url)  # as after a crash between the mark's commit and the file's DELETE
    try:
        result = await runtime.inbox.drain()
        assert (result.new, result.duplicates) == (0, 0)  # nothing applied twice
        assert _file_rows(url) == []
    finally:
        await runtime.close()
    Path(inbox_path(str(tmp_path / "pagerbot.db"))).unlink()  # lost with the server stopped
    runtime = await _runtime(url)
    try:
        await _accept_body(runtime, am_alert("DiskFull", instance="db1:9100"))
        assert [row[0] for row in _file_rows(url)] == [1]  # ids start again below the old mark
        assert (await runtime.inbox.drain()).new == 1
        assert await _count(runtime, Alert) == 4
    finally:
        await runtime.close()


async def test_sqlite_inbox_file_that_went_back_in_time_loses_nothing(tmp_path: Path) -> None:
    """An inbox file restored from an older backup (or that lost its last commits in a power cut) keeps its
    identity while the database's mark is ahead of it: new deliveries are numbered after the mark, so none
    counts as applied before it is."""
    url = f"sqlite:///{tmp_path}/pagerbot.db"
    runtime = await _runtime(url)
    try:
        for n in range(3):
            await _accept_body(runtime, am_alert("HighLoad", instance=f"web{n}:9100"))
        assert (await runtime.inbox.drain()).new == 3
    finally:
        await runtime.close()
    with closing(sqlite3.connect(inbox_path(str(tmp_path / "pagerbot.db")), isolation_level=None)) as old:
        old.execute("DELETE FROM inbox")
        old.execute("UPDATE sqlite_sequence SET seq = 0 WHERE name = 'inbox'")  # as it was before the three
    runtime = await _runtime(url)
    try:
        await _accept_body(runtime, am_alert("DiskFull", instance="db1:9100"))
        assert [row[0] for row in _file_rows(url)] == [4]
        assert (await runtime.inbox.drain()).new == 1
        assert await _count(runtime, Alert) == 4
    finally:
        await runtime.close()


async def test_sqlite_inbox_file_keeps_aside_only_what_was_not_applied(tmp_path: Path) -> None:
    """A failure reported after a delivery's batch committed does not mark it failed (it was applied), and a
    closed inbox file refuses deliveries as an unavailable database does (the webhook answers 503)."""
    await upgrade(f"sqlite:///{tmp_path}/pagerbot.db")
    inbox = InboxFile(str(tmp_path / "pagerbot.db"))
    try:
        for n in range(2):
            await inbox.put("generic", BODY, f'{{"title": "t{n}"}}', NOW)
        await inbox.fail(1, "late", NOW, applied_through=1)
        await inbox.fail(2, "broken", NOW, applied_through=1)
        assert await inbox.stats(1) == (0, None, 1)
        await inbox.ping()  # ready: takes writes
        assert [(row[0], row[3]) for row in _file_rows(f"sqlite:///{tmp_path}/pagerbot.db")] == [
            (1, None), (2, "broken")]
    finally:
        await inbox.close()
    with pytest.raises(sqlite3.OperationalError) as refused:
        await inbox.put("generic", BODY, '{"title": "t"}', NOW)
    assert is_unavailable(refused.value)
    with pytest.raises(sqlite3.OperationalError):
        await inbox.ping()  # /readyz answers 503
    await inbox.close()  # twice is harmless


async def test_sqlite_deliveries_an_earlier_version_left_in_the_table_go_first(tmp_path: Path) -> None:
    """Before the inbox file, SQLite's deliveries waited in the inbox table: after an upgrade they are applied
    before the file's, which arrived later."""
    url = f"sqlite:///{tmp_path}/pagerbot.db"
    runtime = await _runtime(url)
    try:
        down = am_alert("HostDown")
        async with runtime.ctx.store.transaction() as session:
            session.add(InboxRow(source="alertmanager", kind="body", payload=json.dumps(am_notification([down])),
                                 received_at=NOW))
        await _accept_body(runtime, resolved(down))  # into the file, after
        assert [delivery.in_file for delivery in await _waiting(runtime)] == [False]  # the table's come first
        assert await _pending(runtime) == 2
        result = await runtime.inbox.drain()
        assert (result.new, result.resolved) == (1, 1)
        async with runtime.ctx.store.sessions() as session:
            assert (await session.execute(select(Alert.state))).scalars().all() == ["resolved"]
        assert await _count(runtime, InboxRow) == 0 and await _pending(runtime) == 0
    finally:
        await runtime.close()


async def _incident_groups(runtime: Runtime) -> list[str]:
    async with runtime.ctx.store.sessions() as session:
        return list((await session.execute(select(Incident.group_key).order_by(Incident.id))).scalars())


async def test_an_unrelated_delivery_behind_a_storm_backlog_is_applied_first(database_url: str) -> None:
    """Fair lanes: the heads of every group's lane come before a storm's next deliveries, and a lane where few
    wait goes in a batch of its own, so another cluster's alert is applied next; within the storm's group the
    arrival order holds (its alert fires, then resolves), and every delivery is applied once, across a restart
    in the middle."""
    runtime = await _runtime(database_url, with_inbox_worker=False)
    try:
        storm = [[am_alert("HighLoad", instance=f"web{post}-{n}:9100") for n in range(10)] for post in range(6)]
        for alerts in storm:
            await _accept_body(runtime, *alerts)
        await _accept_body(runtime, resolved(storm[0][0]))  # the storm's own resolve, later in its lane
        billing = am_alert("PostgresDown", instance="pg1:9187", cluster="billing")
        await _accept_body(runtime, billing)  # arrives last, behind the backlog
        waiting = await _waiting(runtime)
        assert [json.loads(d.payload)["alerts"][0]["labels"]["cluster"] for d in waiting] == ["prod", "billing"] + [
            "prod"] * 6
        runtime.inbox.batch_size = 2
        assert await runtime.inbox.apply_once() == 1  # a lane where few wait goes alone, before the storm's
        assert await _incident_groups(runtime) == ["cluster=billing"]
        assert (await _count(runtime, Alert), await _pending(runtime)) == (1, 7)
        assert await runtime.inbox.apply_once() == 2
        assert await _incident_groups(runtime) == ["cluster=billing", "cluster=prod"]
        assert (await _count(runtime, Alert), await _pending(runtime)) == (21, 5)
    finally:
        await runtime.close()
    runtime = await _runtime(database_url)  # what was applied out of arrival order stays applied
    try:
        result = await runtime.inbox.drain()
        assert (result.new, result.duplicates, result.resolved) == (40, 0, 1)
        assert await _count(runtime, Alert) == 61 and await _pending(runtime) == 0
        async with runtime.ctx.store.sessions() as session:
            state = await session.scalar(select(Alert.state).where(Alert.fingerprint == _events(storm[0][0])[0]
                                                                   .fingerprint))
        assert state == "resolved"  # fired, then resolved: in the order they arrived
        assert _file_rows(database_url) == []
    finally:
        await runtime.close()


async def test_a_delivery_without_a_lane_keeps_its_place_among_all(database_url: str) -> None:
    """A generic alert's resolve may come without its trigger's labels, so its deliveries get no lane: what
    arrived before one is applied first, and nothing that arrived after it passes it."""
    runtime = await _runtime(database_url, with_inbox_worker=False)
    try:
        for post in range(2):
            await _accept_body(runtime, am_alert("HighLoad", instance=f"web{post}:9100"))
        generic = AlertEvent(source="generic", fingerprint="backup", state=AlertState.FIRING, name="BackupFailed",
                             title="Backup failed", severity=Severity.SEV2)
        await accept_alerts(runtime.ctx, "generic", [generic])
        await _accept_body(runtime, am_alert("PostgresDown", instance="pg1:9187", cluster="billing"))
        assert [d.kind for d in await _waiting(runtime)] == ["body", "body", "events"]  # up to the lane-less one
        runtime.inbox.batch_size = 2
        await runtime.inbox.apply_once()
        assert [d.kind for d in await _waiting(runtime)] == ["events"]  # alone, before the later ones
        await runtime.inbox.apply_once()
        assert [d.kind for d in await _waiting(runtime)] == ["body"]
        assert (await runtime.inbox.drain()).new == 1
        assert await _incident_groups(runtime) == ["cluster=prod", "alertname=BackupFailed", "cluster=billing"]
    finally:
        await runtime.close()


async def test_deliveries_without_a_lane_are_applied_together_in_arrival_order(database_url: str) -> None:
    """A storm of lane-less deliveries (PagerDuty, generic) goes in batches, not one delivery a transaction,
    and still after what arrived before it and before the laned delivery that arrived after it."""
    runtime = await _runtime(database_url, with_inbox_worker=False)
    try:
        await _accept_body(runtime, am_alert("HighLoad", instance="web0:9100"))
        for n in range(5):
            event = AlertEvent(source="generic", fingerprint=f"backup{n}", state=AlertState.FIRING,
                               name="BackupFailed", title=f"Backup {n} failed", severity=Severity.SEV2)
            await accept_alerts(runtime.ctx, "generic", [event])
        await _accept_body(runtime, am_alert("PostgresDown", instance="pg1:9187", cluster="billing"))
        assert [d.kind for d in await _waiting(runtime)] == ["body"] + ["events"] * 5
        assert await runtime.inbox.apply_once() == 1  # a lane where few wait goes first, alone
        assert await runtime.inbox.apply_once() == 5  # then the five together, in one transaction
        assert await _incident_groups(runtime) == ["cluster=prod", "alertname=BackupFailed"]
        assert [d.kind for d in await _waiting(runtime)] == ["body"]
        assert (await runtime.inbox.drain()).new == 1
    finally:
        await runtime.close()
