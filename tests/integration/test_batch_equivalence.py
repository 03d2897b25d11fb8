"""Applying deliveries as one batch (the set-based path: one incident decision per group, one INSERT or COPY of
the new alerts, one UPDATE of the changed ones) leaves the database as applying them one by one does: the same
alerts, the same incidents, the same timeline. A property over random deliveries, on SQLite and PostgreSQL.

The deliveries mix what a real sender's do: the same alert sent again, resolved, fired again with a new
``startsAt`` (a new occurrence), delivered late after a newer occurrence, its severity or summary changed, in
two groups (clusters), several words on one alert within a batch, and within one delivery.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from pagerbot.bootstrap import Runtime, build
from pagerbot.clock import ManualClock
from pagerbot.intake.bodies import parse_body
from pagerbot.services.alerts import apply_alerts
from pagerbot.store.migrate import upgrade
from pagerbot.store.tables import Alert, Base, Incident, OutboxRow, TimelineRow
from tests.harness import make_settings
from tests.payloads import am_alert, am_notification

NOW = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
STARTS = [datetime(2026, 3, 10, 15, 0, tzinfo=UTC), datetime(2026, 3, 10, 15, 10, tzinfo=UTC)]

alert_words = st.fixed_dictionaries({
    "name": st.sampled_from(["DiskFull", "HighLoad", "Down"]),
    "cluster": st.sampled_from(["east", "west"]),
    "start": st.sampled_from([0, 1]),
    "resolved": st.booleans(),
    "severity": st.sampled_from(["critical", "warning"]),
    "summary": st.sampled_from([None, "worse now"]),
})
deliveries = st.lists(st.tuples(st.lists(alert_words, min_size=1, max_size=4), st.sampled_from([0, 0, 2])),
                      min_size=1, max_size=10)


@st.composite
def with_resends(draw: st.DrawFn) -> list[tuple[list[dict[str, Any]], int]]:
    """Deliveries where some repeat words of the one before, as Alertmanager resends a group's alerts."""
    drawn = draw(deliveries)
    out: list[tuple[list[dict[str, Any]], int]] = []
    for words, left_out in drawn:
        if out and draw(st.booleans()):
            words = words + draw(st.lists(st.sampled_from(out[-1][0]), max_size=3))
        out.append((words, left_out))
    return out


def _body(delivery: tuple[list[dict[str, Any]], int]) -> str:
    words, left_out = delivery
    alerts = []
    for word in words:
        starts = STARTS[word["start"]]
        alert = am_alert(word["name"], instance=f"{word['name'].lower()}1:9100", cluster=word["cluster"],
                         severity=word["severity"], summary=word["summary"], starts_at=starts,
                         ends_at=starts + timedelta(minutes=5) if word["resolved"] else None)
        alert["fingerprint"] = f"{word['name']}-{word['cluster']}"  # one alert, whatever its severity says
        alerts.append(alert)
    notification = am_notification(alerts, cluster=alerts[0]["labels"]["cluster"])
    notification["truncatedAlerts"] = left_out  # Alertmanager's max_alerts left some out
    return json.dumps(notification)


async def _runtime(database_url: str) -> Runtime:
    runtime = build(make_settings(database_url, slack=False), clock=ManualClock(NOW), with_scheduler=False,
                    with_slack=False, with_inbox_worker=False)
    async with runtime.ctx.store.transaction() as session:  # each example starts from an empty database
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "alembic_version":
                await session.execute(delete(table))
    return runtime


async def _outcome(database_url: str, bodies: list[str], *, batch: bool) -> dict[str, Any]:
    runtime = await _runtime(database_url)
    try:
        parsed = [parse_body("alertmanager", body) for body in bodies]
        store = runtime.ctx.store
        for part in ([parsed] if batch else [[events] for events in parsed]):
            async with store.transaction() as session:
                await apply_alerts(runtime.ctx, session, part)
        return await _snapshot(runtime)
    finally:
        await runtime.close()


async def _snapshot(runtime: Runtime) -> dict[str, Any]:
    """What the deliveries left, told by group and by order within it (never by row id)."""
    async with runtime.ctx.store.sessions() as session:
        incidents = list((await session.scalars(select(Incident).order_by(Incident.id))).all())
        # Incident ids may differ between the two runs (two groups opening in one batch are numbered in the
        # order of their rounds); a group's incidents, in order, do not.
        name: dict[int, str] = {}
        seen: dict[str | None, int] = {}
        for row in incidents:
            seen[row.group_key] = seen.get(row.group_key, -1) + 1
            name[row.id] = f"{row.group_key}#{seen[row.group_key]}"
        alerts = (await session.scalars(select(Alert).order_by(Alert.id))).all()
        timeline = (await session.scalars(select(TimelineRow).order_by(TimelineRow.id))).all()
        outbox = (await session.scalars(select(OutboxRow).order_by(OutboxRow.id))).all()
    return {
        "incidents": sorted((name[row.id], row.title, row.severity, row.status, row.wave, row.resolved_at,
                             row.all_resolved_offered_at, row.alerts_left_out) for row in incidents),
        "alerts": sorted((name[row.incident_id], row.source, row.fingerprint, row.occurrence, row.name, row.title,
                          row.severity, row.state, row.host, json.dumps(row.labels, sort_keys=True),
                          json.dumps(row.annotations, sort_keys=True), row.starts_at, row.ends_at, row.wave,
                          row.received_count) for row in alerts),
        "timeline": {key: [(row.kind, row.source, row.text) for row in timeline if name[row.incident_id] == key]
                     for key in name.values()},
        # What is queued for Slack, by kind but the news: a batch posts one message for the alerts of a round,
        # where deliveries one by one post one each.
        "slack": {key: sorted({row.op for row in outbox if row.incident_id is not None and row.op != "post"
                               and name.get(row.incident_id) == key}) for key in name.values()},
    }


@pytest.fixture
def migrated(database_url: str) -> str:
    asyncio.run(upgrade(database_url))
    return database_url


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=with_resends())
def test_a_batch_leaves_what_its_deliveries_one_by_one_leave(
        migrated: str, words: list[tuple[list[dict[str, Any]], int]]) -> None:
    bodies = [_body(delivery) for delivery in words]
    one_by_one = asyncio.run(_outcome(migrated, bodies, batch=False))
    batched = asyncio.run(_outcome(migrated, bodies, batch=True))
    assert batched == one_by_one
