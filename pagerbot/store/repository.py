"""Reads and writes that services share. Services own transactions; this module owns the SQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, NamedTuple, cast

import orjson
from sqlalchemy import String, Table, bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pagerbot.core.records import (
    AlertRecord,
    AlertTally,
    EscalationRecord,
    IncidentRecord,
    TimelineEntry,
)
from pagerbot.core.timeline import merge_alerts
from pagerbot.store.errors import is_unavailable as is_unavailable
from pagerbot.store.inbox import Inbox
from pagerbot.store.oncall import OncallRows

# The mapped rows a transaction hands to the use cases, which change them in place (the unit of work writes
# them at commit): re-exported here, so that services know the Store and never the tables module.
from pagerbot.store.tables import Alert as Alert
from pagerbot.store.tables import Email as Email
from pagerbot.store.tables import EmailReply as EmailReply
from pagerbot.store.tables import Escalation as Escalation
from pagerbot.store.tables import Graph as Graph
from pagerbot.store.tables import Incident as Incident
from pagerbot.store.tables import MailboxProgress as MailboxProgress
from pagerbot.store.tables import OncallOverride as OncallOverride
from pagerbot.store.tables import OutboxRow, SeenRequest, TimelineRow
from pagerbot.store.tables import Page as Page
from pagerbot.store.turns import WriterTurns

# What Store.transaction() and Store.sessions() yield: the handle of one unit of work, which a use case passes
# back to the Store's methods and never queries itself.
Session = AsyncSession

# Raised at a flush or commit when a unique key decided a race against the transaction (another opened the
# group's incident first): the use case may run again and see the winner's rows.
Conflict = IntegrityError

# Set in a session's ``info`` when it queued an outbox row due now (see Store.enqueue).
OUTBOX_DUE = "pagerbot.outbox_due"
# Set in a session's ``info``: (incident, cap) pairs it saw at the cap (see Store.alerts_firing_and_count).
_PAST_CAP = "pagerbot.past_cap"
ALERT_PAGE = 250  # alerts turned into records per query (alerts_of): a few milliseconds of the event loop


def rowcount(result: object) -> int:
    """Rows a DML statement touched (typed access to CursorResult.rowcount)."""
    return int(getattr(result, "rowcount", 0) or 0)


class NewAlert(NamedTuple):
    """A new row of the alerts table (insert_alerts): its columns but ``id``, in the table's order, so that it
    is a COPY record as it is (a storm's thousands of rows were built as dicts, then turned into tuples)."""

    incident_id: int
    source: str
    fingerprint: str
    occurrence: str
    name: str
    title: str
    description: str
    severity: int
    state: str
    host: str | None
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    url: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    wave: int
    received_count: int
    first_received_at: datetime
    last_received_at: datetime


_LABELS = NewAlert._fields.index("labels")
_ANNOTATIONS = NewAlert._fields.index("annotations")
# What applying a delivery may change in a stored alert (services/alerts.py), with the PostgreSQL type of
# each: update_alerts writes these.
_ALERT_CHANGES = (
    ("state", "varchar"), ("ends_at", "timestamptz"), ("title", "varchar"), ("severity", "integer"),
    ("description", "text"), ("labels", "json"), ("annotations", "json"), ("wave", "integer"),
    ("received_count", "integer"), ("last_received_at", "timestamptz"),
)

_UPDATE_ALERTS = (
    f"UPDATE alerts AS a SET {', '.join(f'{name} = v.{name}' for name, _ in _ALERT_CHANGES)} "
    f"FROM unnest($1::bigint[], {', '.join(f'${n}::{kind}[]' for n, (_, kind) in enumerate(_ALERT_CHANGES, 2))}) "
    f"AS v(id, {', '.join(name for name, _ in _ALERT_CHANGES)}) WHERE a.id = v.id"
)


def _compact_json(value: Any) -> str:
    """A label or annotation map as the text of a json column: orjson, eight times faster than the json
    module's encoder on these small maps, which was a twentieth of what applying a storm cost in Python."""
    return orjson.dumps(value).decode()

_SQLITE_IN_LIMIT = 500  # fingerprints in one IN list (SQLite before 3.32 took 999 parameters at most)
COPY_SLICE = 250  # alert rows a COPY encodes before it lets the event loop serve the webhooks: about 4 ms


async def _alert_records(rows: Sequence[NewAlert]) -> AsyncIterator[tuple[Any, ...]]:
    """The rows as COPY records (the maps as json text), one COPY per batch and group (a round trip each): the
    encoding pauses every ``COPY_SLICE`` rows instead (a COPY of 1,000 rows prepared at once held the event
    loop for 30-40 ms)."""
    for start in range(0, len(rows), COPY_SLICE):
        if start:
            await asyncio.sleep(0)
        for row in rows[start:start + COPY_SLICE]:
            yield (*row[:_LABELS], _compact_json(row[_LABELS]), _compact_json(row[_ANNOTATIONS]),
                   *row[_ANNOTATIONS + 1:])


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(engine, expire_on_commit=False)
        self._statements: dict[tuple[str, bool], Any] = {}
        self._many: dict[str, Any] = {}
        # (incident, cap) pairs known to have reached ``cap`` alerts: alerts are never deleted, so it stays so.
        self._past_cap: set[tuple[int, int]] = set()
        self._writers = WriterTurns(enabled=self.dialect == "sqlite")
        self.inbox = Inbox(engine)
        self.oncall = OncallRows(self.insert, self.dialect)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self._writers.turn(), self.sessions() as session:
            async with session.begin():
                yield session
            reached = session.info.get(_PAST_CAP)
            if reached:  # committed: counts seen inside a transaction that rolled back are not kept
                self._past_cap.update(reached)

    async def insert_alerts(self, session: AsyncSession, rows: Sequence[NewAlert]) -> None:
        """Insert new alert rows, set-based.

        A storm's batch inserts thousands of alerts. On PostgreSQL they go in by one COPY, in the transaction,
        encoded ``COPY_SLICE`` rows at a time (the event loop serves the webhooks in between): a third of
        the time of an INSERT of unnest() arrays, which was itself a fraction of an executemany's row-by-row
        INSERTs. The caller has de-duplicated them against the unique key (it read the stored occurrences in
        the same transaction, under the inbox lock); the key would refuse a duplicate all the same. SQLite gets
        the Core executemany, a loop in its C library.
        """
        if not rows:
            return
        if self.dialect != "postgresql":
            # A Core INSERT on the table: the ORM's bulk insert re-coerced every key and compiled the
            # statement anew on every delivery (a cache miss), costing more than the INSERT itself.
            await session.execute(insert(cast(Table, Alert.__table__)), [row._asdict() for row in rows])
            return
        driver = await _asyncpg_connection(session)
        await driver.copy_records_to_table("alerts", records=_alert_records(rows), columns=NewAlert._fields)

    async def update_alerts(self, session: AsyncSession, rows: Sequence[Alert]) -> None:
        """Write what applying deliveries changed in these stored alerts (rows from alerts_by_fingerprint, changed
        in place), all in one statement: an UPDATE from unnest() arrays on PostgreSQL, an executemany on
        SQLite. A storm of resolves changes thousands of alerts per batch; one UPDATE each was most of its time.
        """
        if not rows:
            return
        if self.dialect != "postgresql":
            table = cast(Table, Alert.__table__)
            statement = self._statements.get(("update_alerts", False))
            if statement is None:
                statement = update(table).where(table.c.id == bindparam("alert_id")).values(
                    {name: bindparam(name) for name, _ in _ALERT_CHANGES})
                self._statements[("update_alerts", False)] = statement
            await session.execute(statement, [
                {"alert_id": row.id, **{name: getattr(row, name) for name, _ in _ALERT_CHANGES}} for row in rows])
            return
        driver = await _asyncpg_connection(session)
        arrays: list[list[Any]] = [[row.id for row in rows]]
        for name, kind in _ALERT_CHANGES:
            values = [getattr(row, name) for row in rows]
            arrays.append([_compact_json(value) for value in values] if kind == "json" else values)
        await driver.execute(_UPDATE_ALERTS, *arrays)

    async def refresh_alert_statistics(self, added: int) -> bool:
        """ANALYZE the alerts table if ``added`` new rows are as many as the planner believes it holds.

        Autovacuum analyzes a table at most once a minute, after a tenth of it changed; a storm grows the
        alerts table a hundredfold in that time, and planned with the statistics of the small table the
        de-duplication lookup scanned every alert (90 ms, where the index takes 1). Once the planner knows
        the table holds thousands of rows it keeps the index; each doubling is enough to keep it knowing (at
        a fifth, a 100,000-alert storm ran ANALYZE 25 times: 2.5 s of the database's time). Returns whether
        it ran. PostgreSQL only: SQLite's planner takes the unique index without statistics.
        """
        if self.dialect != "postgresql":
            return False
        async with self.engine.connect() as connection:
            believed = await connection.scalar(text("SELECT reltuples FROM pg_class WHERE oid = 'alerts'::regclass"))
            if added < max(1000.0, float(believed or 0)):
                return False
            await connection.execute(text("ANALYZE alerts"))
            await connection.commit()
        return True

    def insert(self, table: Any) -> Any:
        """An INSERT that knows ON CONFLICT on both engines."""
        return (postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table))

    async def ping(self) -> None:
        """Raise unless the database answers (and on SQLite, the inbox file takes writes)."""
        async with self.engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")
        if self.inbox.file is not None:
            await self.inbox.file.ping()

    async def flush(self, session: AsyncSession) -> None:
        """Write the rows changed so far now rather than at commit: a unique key (an open group's) decides a
        race here, before anything else is queued on it."""
        await session.flush()

    # --- incidents -------------------------------------------------------------------------------------

    async def add_incident(self, session: AsyncSession, incident: Incident) -> Incident:
        """Insert a new incident; it has its id on return (the unique open_group_key decides races here)."""
        session.add(incident)
        await session.flush()
        return incident

    async def set_live_graph(self, session: AsyncSession, incident_id: int, file_id: str) -> None:
        await session.execute(update(Incident).where(Incident.id == incident_id).values(graph_file_id=file_id))

    async def quiet_incidents(self, session: AsyncSession, quiet_since: datetime) -> list[int]:
        """Open incidents offered "every alert resolved" at or before ``quiet_since``, with no alert firing."""
        rows = await session.execute(select(Incident).where(
            Incident.resolved_at.is_(None), Incident.all_resolved_offered_at.is_not(None),
            Incident.all_resolved_offered_at <= quiet_since))
        due = []
        for incident in rows.scalars():
            firing = (await session.execute(select(Alert.id).where(
                Alert.incident_id == incident.id, Alert.state != "resolved").limit(1))).first()
            if firing is None and incident.status != "resolved":
                due.append(incident.id)
        return due

    async def incident(self, session: AsyncSession, incident_id: int, *, lock: bool = False) -> Incident | None:
        statement = select(Incident).where(Incident.id == incident_id)
        if lock and self.dialect == "postgresql":
            statement = statement.with_for_update()
        return (await session.execute(statement)).scalar_one_or_none()

    async def latest_incident(self, session: AsyncSession, group_key: str) -> Incident | None:
        """The group's newest incident, locked on PostgreSQL: deliveries of one group queue up here instead of
        interleaving their decisions. Built once per store (it runs on every delivery)."""
        statement = self._statements.get(("latest_incident", False))
        if statement is None:
            statement = (select(Incident).where(Incident.group_key == bindparam("group_key"))
                         .order_by(Incident.id.desc()).limit(1))
            if self.dialect == "postgresql":
                statement = statement.with_for_update()
            self._statements[("latest_incident", False)] = statement
        return (await session.execute(statement, {"group_key": group_key})).scalar_one_or_none()

    async def settled_groups(self, session: AsyncSession, group_keys: Sequence[str]) -> set[str]:
        """Of these groups, those whose newest incident is open and not waiting on its resolve offer (some alert
        of it fires): their alerts join it, and nothing opens, reopens or begins a wave."""
        if not group_keys:
            return set()
        newest = (select(func.max(Incident.id)).where(Incident.group_key.in_(list(group_keys)))
                  .group_by(Incident.group_key))
        rows = await session.execute(select(Incident.group_key).where(
            Incident.id.in_(newest), Incident.resolved_at.is_(None), Incident.all_resolved_offered_at.is_(None)))
        return {str(key) for key in rows.scalars()}

    async def alerts_by_fingerprint(self, session: AsyncSession, source: str,
                                    fingerprints: Sequence[str]) -> list[Alert]:
        """The stored occurrences of these alerts of ``source``, oldest first, detached from the session: what
        the caller changes in them is written by :meth:`update_alerts`, in one statement, not row by row at
        the commit. Built once per store."""
        statement = self._statements.get(("alerts_by_fingerprint", False))
        if statement is None:
            if self.dialect == "postgresql":
                # One array parameter: one prepared statement whatever the count, and its generic plan (which
                # PostgreSQL settles on after a few runs) is the index lookup. An IN list made a statement per
                # length, planned while the table was small: sequential scans once it held a storm.
                matches = Alert.fingerprint == func.any(bindparam("fingerprints", type_=postgresql.ARRAY(String)))
            else:
                matches = Alert.fingerprint.in_(bindparam("fingerprints", expanding=True))
            statement = select(Alert).where(Alert.source == bindparam("source"), matches).order_by(Alert.id)
            self._statements[("alerts_by_fingerprint", False)] = statement
        # One array on PostgreSQL, however many; SQLite takes a bounded number of parameters in a statement.
        step = len(fingerprints) if self.dialect == "postgresql" else _SQLITE_IN_LIMIT
        rows: list[Alert] = []
        for start in range(0, len(fingerprints), max(1, step)):
            rows += (await session.execute(statement, {
                "source": source, "fingerprints": list(fingerprints[start:start + step])})).scalars()
        for row in rows:  # changed in place by the caller, who writes the changes with update_alerts
            session.expunge(row)
        return rows

    async def set_alerts_wave(self, session: AsyncSession, alert_ids: Sequence[int], wave: int) -> None:
        await session.execute(update(Alert).where(Alert.id.in_(list(alert_ids))).values(wave=wave))

    async def last_alert_end(self, session: AsyncSession, incident_id: int) -> datetime | None:
        """When the incident's last resolved alert says it ended (its latest ``endsAt``), if any says so."""
        latest = await session.execute(select(func.max(Alert.ends_at)).where(Alert.incident_id == incident_id))
        return latest.scalar_one_or_none()

    async def firing_fingerprints(self, session: AsyncSession, source: str) -> set[str]:
        """The fingerprints of the alerts of ``source`` that have not resolved."""
        rows = await session.execute(select(Alert.fingerprint).where(Alert.source == source,
                                                                     Alert.state != "resolved"))
        return set(rows.scalars())

    async def incident_by_channel(self, session: AsyncSession, channel_id: str) -> Incident | None:
        statement = select(Incident).where(Incident.channel_id == channel_id).order_by(Incident.id.desc())
        return (await session.execute(statement.limit(1))).scalar_one_or_none()

    async def list_incidents(self, session: AsyncSession, limit: int = 100) -> list[Incident]:
        rows = await session.execute(select(Incident).order_by(Incident.id.desc()).limit(limit))
        return list(rows.scalars())

    async def open_incidents(self, session: AsyncSession) -> list[Incident]:
        rows = await session.execute(select(Incident).where(Incident.resolved_at.is_(None)).order_by(Incident.id))
        return list(rows.scalars())

    async def alerts_of(self, session: AsyncSession, incident_id: int) -> list[AlertRecord]:
        """Every alert of the incident, in arrival order, read in pages: a storm's thousands of rows are
        turned into records a page at a time, and the event loop serves other requests between pages."""
        records: list[AlertRecord] = []
        after = 0
        while True:
            page = (await session.execute(
                select(Alert).where(Alert.incident_id == incident_id, Alert.id > after).order_by(Alert.id)
                .limit(ALERT_PAGE))).scalars().all()
            records.extend(alert_record(a) for a in page)
            if len(page) < ALERT_PAGE:
                return records
            after = page[-1].id

    async def alert_tally(self, session: AsyncSession, incident_id: int, *, first: int = 0, hosts: int = 0,
                          host_names: int = 0, wave: int | None = None) -> AlertTally:
        """The incident's alerts (of one ``wave``, when given) counted by name and state (names in the order
        they first appeared) with their earliest start and latest change, and as the caller asks: the
        ``hosts`` hosts with the most firing alerts, the first ``host_names`` host names, the ``first`` alerts
        received (each a query of its own, skipped at 0)."""
        mine = Alert.incident_id == incident_id
        if wave is not None:
            mine = mine & (Alert.wave == wave)
        firing = Alert.state != "resolved"
        names = (await session.execute(
            select(Alert.name, func.count().filter(firing), func.count().filter(~firing), func.min(Alert.starts_at),
                   func.max(Alert.last_received_at))
            .where(mine).group_by(Alert.name).order_by(func.min(Alert.id)))).all()
        busiest = (await session.execute(
            select(Alert.host, func.count()).where(mine, firing).group_by(Alert.host)
            .order_by(func.count().desc(), func.min(Alert.id)).limit(hosts))).all() if hosts else []
        named = (await session.execute(
            select(Alert.host).where(mine, Alert.host.is_not(None)).distinct().order_by(Alert.host)
            .limit(host_names))).scalars().all() if host_names else []
        oldest = (await session.execute(
            select(Alert).where(mine).order_by(Alert.first_received_at, Alert.id).limit(first))).scalars().all() \
            if first else []
        return AlertTally(by_name=[(name, int(f), int(r)) for name, f, r, *_ in names],
                          busiest_hosts=[(host or "(no host)", int(n)) for host, n in busiest],
                          hosts=[str(host) for host in named],
                          started=min((at for *_, at, _ in names if at is not None), default=None),
                          first=[alert_record(a) for a in oldest],
                          last_change=max((at for *_, at in names if at is not None), default=None))

    async def alert_counts(self, session: AsyncSession, incident_id: int) -> tuple[int, int]:
        """(firing, total) alerts of an incident."""
        row = (await session.execute(
            select(func.count(), func.count().filter(Alert.state != "resolved")).where(
                Alert.incident_id == incident_id))).one()
        return int(row[1]), int(row[0])

    async def alerts_firing_and_count(self, session: AsyncSession, incident_id: int, cap: int, *,
                                      firing: bool = False) -> tuple[bool, int]:
        """(any alert of the incident firing, how many alerts it has, counted up to ``cap``).

        Bounded, for the intake path: it runs on every delivery, and a storm incident has 100,000s of alerts
        (a full count would grow with every post). Both stop at the first rows the index gives. A caller that
        knows an alert is firing (it has just stored one) passes ``firing``: once the incident has reached
        ``cap`` (a count that never goes down) the answer is then known without asking the database, which
        in a storm saves a round trip on every delivery.
        """
        if firing and (incident_id, cap) in self._past_cap:
            return True, cap
        capped = select(Alert.id).where(Alert.incident_id == incident_id).limit(cap).subquery()
        any_firing = select(Alert.id).where(Alert.incident_id == incident_id, Alert.state != "resolved").exists()
        count = select(func.count()).select_from(capped).scalar_subquery()
        row = (await session.execute(select(any_firing, count))).one()
        if int(row[1]) >= cap:
            session.info.setdefault(_PAST_CAP, set()).add((incident_id, cap))
        return bool(row[0]), int(row[1])

    # --- timeline --------------------------------------------------------------------------------------

    async def add_timeline(self, session: AsyncSession, incident_id: int, *, at: datetime, kind: str, source: str,
                           actor: str | None, text: str, data: Mapping[str, Any] | None = None,
                           ref: str | None = None, now: datetime) -> bool:
        """Record an entry; with ``ref`` it is recorded once (returns False when it already was)."""
        statement = self.insert(TimelineRow).values(
            incident_id=incident_id, at=at, kind=kind, source=source, actor=actor, text=text,
            data=dict(data or {}), ref=ref, created_at=now)
        if ref is not None:
            statement = statement.on_conflict_do_nothing(index_elements=["incident_id", "ref"])
        result = await session.execute(statement)
        return bool(rowcount(result))

    async def remove_timeline(self, session: AsyncSession, incident_id: int, ref: str) -> bool:
        from sqlalchemy import delete

        result = await session.execute(
            delete(TimelineRow).where(TimelineRow.incident_id == incident_id, TimelineRow.ref == ref))
        return bool(rowcount(result))

    async def timeline_row(self, session: AsyncSession, incident_id: int, ref: str) -> TimelineRow | None:
        statement = select(TimelineRow).where(TimelineRow.incident_id == incident_id, TimelineRow.ref == ref)
        return (await session.execute(statement)).scalar_one_or_none()

    async def timeline(self, session: AsyncSession, incident_id: int) -> list[TimelineEntry]:
        """Recorded entries merged with the alerts' own history (an alert row is its own timeline entry)."""
        entries = await self.recorded_timeline(session, incident_id)
        return merge_alerts(entries, await self.alerts_of(session, incident_id))

    async def recorded_timeline(self, session: AsyncSession, incident_id: int) -> list[TimelineEntry]:
        """The entries recorded in the timeline table, without the alerts' own history."""
        rows = await session.execute(
            select(TimelineRow).where(TimelineRow.incident_id == incident_id).order_by(TimelineRow.at, TimelineRow.id))
        return [TimelineEntry(at=r.at, kind=r.kind, source=r.source, actor=r.actor, text=r.text, data=r.data)
                for r in rows.scalars()]

    async def last_graph_event(self, session: AsyncSession, incident_id: int) -> str | None:
        """The kind of the newest graph entry on the timeline: "graph", "graph_unavailable" or None."""
        return (await session.execute(
            select(TimelineRow.kind).where(TimelineRow.incident_id == incident_id,
                                           TimelineRow.kind.in_(("graph", "graph_unavailable")))
            .order_by(TimelineRow.at.desc(), TimelineRow.id.desc()).limit(1))).scalar_one_or_none()

    # --- graphs ----------------------------------------------------------------------------------------

    async def add_graph(self, session: AsyncSession, graph: Graph) -> Graph:
        """Insert a graph; it has its id on return."""
        session.add(graph)
        await session.flush()
        return graph

    async def recent_graphs(self, session: AsyncSession, incident_id: int, limit: int = 20) -> list[Graph]:
        """The newest graphs that still have their image (superseded live graphs have none), newest first."""
        rows = await session.execute(select(Graph).where(Graph.incident_id == incident_id, func.length(Graph.png) > 0)
                                     .order_by(Graph.id.desc()).limit(limit))
        return list(rows.scalars())

    async def graph_png(self, session: AsyncSession, graph_id: int) -> bytes | None:
        return (await session.execute(select(Graph.png).where(Graph.id == graph_id))).scalar_one_or_none()

    async def graphs_of(self, session: AsyncSession, incident_id: int) -> list[Graph]:
        rows = await session.execute(select(Graph).where(Graph.incident_id == incident_id).order_by(Graph.id))
        return list(rows.scalars())

    async def graph_posted_at(self, session: AsyncSession, incident_id: int, file_id: str) -> datetime | None:
        """When the graph uploaded as ``file_id`` was stored (the newest, should it be there twice)."""
        return (await session.execute(
            select(Graph.created_at).where(Graph.incident_id == incident_id, Graph.slack_file_id == file_id)
            .order_by(Graph.id.desc()).limit(1))).scalar_one_or_none()

    async def forget_png(self, session: AsyncSession, incident_id: int, superseded_file: str) -> None:
        """Drop the image of the live graph a refresh replaced, unless an email attaches it: a refresh every few
        minutes of a day-long incident would keep hundreds of PNGs that nobody sees again (Slack deletes the
        file; the postmortem shows the last graph of each title). The row stays, with its summary: the
        postmortem's findings come from the graph that had the most."""
        attached = select(Email.graph_id).where(Email.incident_id == incident_id, Email.graph_id.is_not(None))
        await session.execute(update(Graph).where(Graph.incident_id == incident_id,
                                                  Graph.slack_file_id == superseded_file,
                                                  Graph.id.not_in(attached)).values(png=b""))

    # --- Slack retries ---------------------------------------------------------------------------------

    async def first_time(self, session: AsyncSession, key: str, now: datetime) -> bool:
        """True the first time ``key`` (an event_id, a trigger_id) is seen; False on Slack's retries."""
        statement = self.insert(SeenRequest).values(key=key[:255], seen_at=now).on_conflict_do_nothing(
            index_elements=["key"])
        return bool(rowcount(await session.execute(statement)))

    # --- outbox ----------------------------------------------------------------------------------------

    async def enqueue(self, session: AsyncSession, incident_id: int | None, op: str,
                      payload: Mapping[str, Any] | None = None, *, now: datetime,
                      coalesce_key: str | None = None, not_before: datetime | None = None) -> None:
        """Queue a side effect in the caller's transaction. A coalesce key folds it into a pending twin.

        Only unclaimed rows carry a coalesce key (a claim removes it), and folding in locks the twin until
        the caller commits (a no-op update; ``DO NOTHING`` would not lock it), so the worker cannot claim it
        and read the state from before this change: the twin always shows what the caller wrote.
        """
        values = {"incident_id": incident_id, "op": op, "payload": dict(payload or {}), "status": "pending",
                  "attempts": 0, "maybe_sent": 0, "next_attempt_at": not_before or now, "created_at": now,
                  "coalesce_key": coalesce_key}
        if coalesce_key is not None:
            values["twin_key"] = coalesce_key
        created = (await session.execute(self._enqueue_statement(coalesce_key is not None), values)).scalar_one()
        if created == now and (not_before is None or not_before <= now):
            # A new row due now (not one folded into a pending twin: that one woke the worker when it was
            # queued): the caller should wake the outbox worker once this commits.
            session.info[OUTBOX_DUE] = True

    @staticmethod
    def queued_due_now(session: AsyncSession) -> bool:
        """Whether this transaction queued an outbox row due now: wake the outbox worker once it commits."""
        return bool(session.info.get(OUTBOX_DUE, False))

    async def enqueue_coalesced(self, session: AsyncSession, incident_id: int,
                                items: Sequence[tuple[str, str, datetime]], *, now: datetime) -> None:
        """Several side effects of one incident, each ``(op, coalesce key, not before)`` with an empty payload,
        queued as :meth:`enqueue` would queue them one by one, in one statement (one round trip): in a storm
        every delivery queues the digest and the header."""
        params: dict[str, Any] = {}
        for i, (op, key, not_before) in enumerate(items):
            params.update({f"incident_id_{i}": incident_id, f"op_{i}": op, f"payload_{i}": {},
                           f"next_attempt_at_{i}": not_before, f"created_at_{i}": now, f"coalesce_key_{i}": key})
        rows = (await session.execute(self._enqueue_many_statement(len(items)), params)).all()
        created = {row[0]: row[1] for row in rows}
        if any(created.get(key) == now and not_before <= now for _, key, not_before in items):
            session.info[OUTBOX_DUE] = True  # as in enqueue: a new row due now

    def _enqueue_many_statement(self, count: int) -> Any:
        key = f"enqueue_many:{count}"
        statement = self._many.get(key)
        if statement is None:
            columns = OutboxRow.__table__.c
            names = ("incident_id", "op", "payload", "next_attempt_at", "created_at", "coalesce_key")
            # Text, not insert().values([...]): SQLAlchemy compiles a multi-row VALUES anew on every execution
            # (it has no cache key), which cost more than the round trip. The same SQL on both engines.
            values = ", ".join("(" + ", ".join(f":{name}_{i}" for name in names) + ", 'pending', 0, 0)"
                               for i in range(count))
            # As in enqueue: folding into a pending twin is a no-op update that locks it until the caller commits.
            statement = text(
                f"INSERT INTO outbox ({', '.join(names)}, status, attempts, maybe_sent) VALUES {values} "
                "ON CONFLICT (coalesce_key) DO UPDATE SET coalesce_key = excluded.coalesce_key "
                "RETURNING coalesce_key, created_at"
            ).bindparams(*(bindparam(f"{name}_{i}", type_=columns[name].type)
                           for i in range(count) for name in names)
                         ).columns(columns.coalesce_key, columns.created_at)
            self._many[key] = statement
        return statement

    def _enqueue_statement(self, coalesce: bool) -> Any:
        """Built once per store: the intake path queues rows for every delivery, and building an INSERT with
        its ON CONFLICT clause (``excluded`` above all) costs more than running it."""
        statement = self._statements.get(("enqueue", coalesce))
        if statement is None:
            statement = self.insert(OutboxRow)
            if coalesce:
                # The no-op update sets the key to the value it already has (the conflict is on that value).
                statement = statement.on_conflict_do_update(
                    index_elements=["coalesce_key"], set_={"coalesce_key": bindparam("twin_key")})
            statement = statement.returning(OutboxRow.created_at)
            self._statements[("enqueue", coalesce)] = statement
        return statement

    async def outbox_stats(self, session: AsyncSession) -> tuple[int, datetime | None]:
        row = (await session.execute(
            select(func.count(), func.min(OutboxRow.created_at)).where(OutboxRow.status == "pending"))).one()
        oldest = row[1]
        if oldest is not None and oldest.tzinfo is None:
            from datetime import UTC

            oldest = oldest.replace(tzinfo=UTC)
        return int(row[0]), oldest

    # --- emails ----------------------------------------------------------------------------------------

    async def email(self, session: AsyncSession, email_id: int) -> Email | None:
        return await session.get(Email, email_id)

    async def add_email(self, session: AsyncSession, email: Email) -> Email:
        """Insert a new email; it has its id on return."""
        session.add(email)
        await session.flush()
        return email

    async def update_email(self, session: AsyncSession, email_id: int, *, only_if: Sequence[str] | None = None,
                           **values: Any) -> bool:
        """Change an email; with ``only_if``, only while its status is one of those (a conditional update: two
        clicks, or two replicas, cannot both take it). Returns whether it changed."""
        statement = update(Email).where(Email.id == email_id)
        if only_if is not None:
            statement = statement.where(Email.status.in_(list(only_if)))
        return bool(rowcount(await session.execute(statement.values(**values))))

    async def claim_send(self, session: AsyncSession, email_id: int, **values: Any) -> bool:
        """Write the attempt's Message-ID on an email being sent that has none yet; False if another worker
        holds the attempt (or an earlier one was interrupted)."""
        claimed = await session.execute(
            update(Email).where(Email.id == email_id, Email.status == "sending", Email.message_id.is_(None))
            .values(**values))
        return bool(rowcount(claimed))

    async def reread(self, session: AsyncSession, row: Email) -> None:
        """Read a row again: after an update that did not match, to say what the row is now."""
        await session.refresh(row)

    async def sent_emails_with_ids(self, session: AsyncSession, message_ids: Sequence[str]) -> list[Email]:
        """The sent emails whose Message-ID is one of ``message_ids``."""
        rows = await session.execute(select(Email).where(Email.message_id.in_(list(message_ids)),
                                                         Email.status == "sent"))
        return list(rows.scalars())

    async def incidents_waiting_on_vendor(self, session: AsyncSession) -> list[int]:
        """Open incidents that emailed a vendor: the people who wait for an answer."""
        rows = await session.execute(select(Incident.id).join(Email, Email.incident_id == Incident.id)
                                     .where(Incident.resolved_at.is_(None), Email.status == "sent").distinct())
        return sorted(rows.scalars())

    async def reply_seen(self, session: AsyncSession, message_id: str) -> bool:
        return (await session.execute(select(EmailReply.id).where(EmailReply.message_id == message_id))).first() \
            is not None

    async def add_email_reply(self, session: AsyncSession, reply: EmailReply) -> EmailReply:
        """Insert a vendor's reply; it has its id on return."""
        session.add(reply)
        await session.flush()
        return reply

    async def mailbox_progress(self, session: AsyncSession, key: str, *, lock: bool = False,
                               create: bool = False) -> MailboxProgress | None:
        """How far the mailbox ``key`` was read (locked for the caller's transaction with ``lock``); with
        ``create``, a new row at the start when there is none yet."""
        progress = await session.get(MailboxProgress, key, with_for_update=lock)
        if progress is None and create:
            progress = MailboxProgress(mailbox=key, uidvalidity=0, last_uid=0)
            session.add(progress)
        return progress

    async def vendor_ticket(self, session: AsyncSession, incident_id: int, vendor: str) -> str | None:
        """The ticket number the vendor's latest reply about this incident gave (None before it gave one)."""
        found = await session.execute(
            select(EmailReply.ticket).join(Email, Email.id == EmailReply.email_id)
            .where(EmailReply.incident_id == incident_id, Email.vendor == vendor, EmailReply.ticket.is_not(None))
            .order_by(EmailReply.sent_at.desc(), EmailReply.id.desc()).limit(1))
        return found.scalar_one_or_none()

    async def emails_of(self, session: AsyncSession, incident_id: int) -> list[Email]:
        rows = await session.execute(select(Email).where(Email.incident_id == incident_id).order_by(Email.id))
        return list(rows.scalars())

    async def escalations(self, session: AsyncSession, incident_id: int) -> list[EscalationRecord]:
        rows = await session.execute(select(Email).where(Email.incident_id == incident_id).order_by(Email.id))
        replies = await session.execute(select(EmailReply).where(EmailReply.incident_id == incident_id)
                                        .order_by(EmailReply.sent_at, EmailReply.id))
        first_reply: dict[int, datetime] = {}
        ticket: dict[int, str] = {}
        for reply in replies.scalars():
            first_reply.setdefault(reply.email_id, reply.sent_at)
            if reply.ticket:
                ticket[reply.email_id] = reply.ticket  # the latest one given
        return [EscalationRecord(vendor=e.vendor, subject=e.subject, status=e.status, created_at=e.created_at,
                                 sent_at=e.sent_at, sent_by=e.sent_by, message_id=e.message_id,
                                 replied=e.id in first_reply, replied_at=first_reply.get(e.id),
                                 ticket=ticket.get(e.id))
                for e in rows.scalars()]


def incident_record(row: Incident, participants: Sequence[str] = ()) -> IncidentRecord:
    return IncidentRecord(
        id=row.id, title=row.title, severity=row.severity, status=row.status, lead=row.lead,
        channel_id=row.channel_id, channel_name=row.channel_name, opened_at=row.opened_at,
        acknowledged_at=row.acknowledged_at, identified_at=row.identified_at, mitigated_at=row.mitigated_at,
        resolved_at=row.resolved_at, summary=row.summary, description=row.description,
        participants=tuple(participants), wave=row.wave or 1, wave_started_at=row.wave_started_at,
        acknowledged_by=row.acknowledged_by, alerts_left_out=row.alerts_left_out or 0, left_out_by=row.left_out_by)


def alert_record(row: Alert) -> AlertRecord:
    return AlertRecord(
        fingerprint=row.fingerprint, source=row.source, name=row.name, title=row.title, severity=row.severity,
        state=row.state, host=row.host, labels=row.labels, starts_at=row.starts_at, ends_at=row.ends_at,
        wave=row.wave, received_count=row.received_count, first_received_at=row.first_received_at,
        last_received_at=row.last_received_at)


async def mark_outbox(session: AsyncSession, row_id: int, **values: Any) -> None:
    await session.execute(update(OutboxRow).where(OutboxRow.id == row_id).values(**values))


async def _asyncpg_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session's transaction, for what SQLAlchemy does not offer (COPY) or
    offers at a cost that matters in a storm (encoding thousands of array parameters)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection
