"""An in-memory stand-in for the Store: the use cases' unit of work without a database.

It keeps the mapped rows (plain objects until a real session holds them) in lists, answers the Store
methods the incident and intake use cases call, and remembers what a transaction queued and whether it
committed: a use case that raises leaves nothing behind, as a rolled-back transaction would. Only the
methods those use cases need are here; a use case that calls another fails with AttributeError, which
says what to add.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pagerbot.core.records import AlertRecord, TimelineEntry
from pagerbot.core.timeline import merge_alerts
from pagerbot.store.repository import Alert, Email, Graph, Incident, NewAlert, alert_record


@dataclass
class QueuedOp:
    incident_id: int | None
    op: str
    payload: dict[str, Any]
    coalesce_key: str | None = None


@dataclass
class FakeTransaction:
    """What ``transaction()`` yields: the use case hands it back to the store and never looks inside."""

    writable: bool


@dataclass
class _State:
    incidents: list[Incident] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    emails: list[Email] = field(default_factory=list)
    graphs: list[Graph] = field(default_factory=list)
    timeline: list[tuple[int, str | None, TimelineEntry]] = field(default_factory=list)  # (incident, ref, entry)
    outbox: list[QueuedOp] = field(default_factory=list)


class FakeStore:
    def __init__(self) -> None:
        self._state = _State()
        self.commits = 0
        self.rollbacks = 0

    # --- the unit of work ------------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeTransaction]:
        saved = self._snapshot()
        try:
            yield FakeTransaction(writable=True)
        except BaseException:
            self._restore(saved)  # rolled back: the rows as they were, nothing queued
            self.rollbacks += 1
            raise
        self.commits += 1

    def _snapshot(self) -> tuple[dict[str, list[Any]], list[tuple[Any, dict[str, Any]]]]:
        """Each list's members, and each row's values (the rows stay the same objects, as in a session)."""
        lists = {name: list(rows) for name, rows in vars(self._state).items()}
        values = [(row, copy.deepcopy({k: v for k, v in vars(row).items() if not k.startswith("_")}))
                  for name in ("incidents", "alerts", "emails", "graphs") for row in lists[name]]
        return lists, values

    def _restore(self, saved: tuple[dict[str, list[Any]], list[tuple[Any, dict[str, Any]]]]) -> None:
        lists, values = saved
        for name, rows in lists.items():
            getattr(self._state, name)[:] = rows
        for row, columns in values:
            for name, value in columns.items():
                setattr(row, name, value)

    @asynccontextmanager
    async def sessions(self) -> AsyncIterator[FakeTransaction]:
        yield FakeTransaction(writable=False)

    async def flush(self, session: FakeTransaction) -> None:
        self._writable(session)

    @staticmethod
    def _writable(session: FakeTransaction) -> None:
        assert session.writable, "a write outside Store.transaction()"

    # --- what tests read ---------------------------------------------------------------------------------

    @property
    def incidents(self) -> list[Incident]:
        return self._state.incidents

    @property
    def alerts(self) -> list[Alert]:
        return self._state.alerts

    @property
    def outbox(self) -> list[QueuedOp]:
        return self._state.outbox

    @property
    def emails(self) -> list[Email]:
        return self._state.emails

    def entries(self, incident_id: int) -> list[TimelineEntry]:
        """The entries recorded on the incident's timeline (without the alerts' own), in order."""
        return [entry for mine, _, entry in self._state.timeline if mine == incident_id]

    def ops(self, incident_id: int) -> list[str]:
        return [row.op for row in self._state.outbox if row.incident_id == incident_id]

    def keep_graph(self, graph: Graph) -> Graph:
        graph.id = len(self._state.graphs) + 1
        self._state.graphs.append(graph)
        return graph

    # --- incidents -----------------------------------------------------------------------------------------

    async def add_incident(self, session: FakeTransaction, incident: Incident) -> Incident:
        self._writable(session)
        if incident.open_group_key is not None and any(
                other.open_group_key == incident.open_group_key for other in self._state.incidents):
            raise AssertionError(f"open_group_key {incident.open_group_key} is taken")
        incident.id = len(self._state.incidents) + 1
        self._state.incidents.append(incident)
        return incident

    async def incident(self, session: FakeTransaction, incident_id: int, *, lock: bool = False) -> Incident | None:
        return next((row for row in self._state.incidents if row.id == incident_id), None)

    async def latest_incident(self, session: FakeTransaction, group_key: str) -> Incident | None:
        return next((row for row in reversed(self._state.incidents) if row.group_key == group_key), None)

    # --- alerts --------------------------------------------------------------------------------------------

    async def settled_groups(self, session: FakeTransaction, group_keys: Sequence[str]) -> set[str]:
        newest: dict[str, Incident] = {}
        for row in self._state.incidents:
            if row.group_key in group_keys and (row.group_key not in newest or row.id > newest[row.group_key].id):
                newest[row.group_key] = row
        return {key for key, row in newest.items() if row.resolved_at is None and row.all_resolved_offered_at is None}

    async def alerts_by_fingerprint(self, session: FakeTransaction, source: str,
                                    fingerprints: Sequence[str]) -> list[Alert]:
        wanted = set(fingerprints)  # copies: the caller writes its changes back with update_alerts
        return [copy.copy(row) for row in self._state.alerts if row.source == source and row.fingerprint in wanted]

    async def insert_alerts(self, session: FakeTransaction, rows: Sequence[NewAlert]) -> None:
        self._writable(session)
        for values in rows:
            self._state.alerts.append(Alert(id=len(self._state.alerts) + 1, **values._asdict()))

    async def update_alerts(self, session: FakeTransaction, rows: Sequence[Alert]) -> None:
        self._writable(session)
        for changed in rows:
            row = next(row for row in self._state.alerts if row.id == changed.id)
            for name in ("state", "ends_at", "title", "severity", "description", "labels", "annotations", "wave",
                         "received_count", "last_received_at"):
                setattr(row, name, getattr(changed, name))

    async def set_alerts_wave(self, session: FakeTransaction, alert_ids: Sequence[int], wave: int) -> None:
        self._writable(session)
        for row in self._state.alerts:
            if row.id in alert_ids:
                row.wave = wave

    async def last_alert_end(self, session: FakeTransaction, incident_id: int) -> datetime | None:
        ends = [row.ends_at for row in self._alerts_of(incident_id) if row.ends_at is not None]
        return max(ends) if ends else None

    def _alerts_of(self, incident_id: int) -> list[Alert]:
        return [row for row in self._state.alerts if row.incident_id == incident_id]

    async def alerts_of(self, session: FakeTransaction, incident_id: int) -> list[AlertRecord]:
        return [alert_record(row) for row in self._alerts_of(incident_id)]

    async def alert_counts(self, session: FakeTransaction, incident_id: int) -> tuple[int, int]:
        mine = self._alerts_of(incident_id)
        return sum(row.state != "resolved" for row in mine), len(mine)

    async def alerts_firing_and_count(self, session: FakeTransaction, incident_id: int, cap: int, *,
                                      firing: bool = False) -> tuple[bool, int]:
        count, total = await self.alert_counts(session, incident_id)
        return count > 0, min(total, cap)

    # --- timeline and outbox -------------------------------------------------------------------------------

    async def add_timeline(self, session: FakeTransaction, incident_id: int, *, at: datetime, kind: str,
                           source: str, actor: str | None, text: str, data: Mapping[str, Any] | None = None,
                           ref: str | None = None, now: datetime) -> bool:
        self._writable(session)
        if ref is not None and any((mine, seen) == (incident_id, ref) for mine, seen, _ in self._state.timeline):
            return False
        self._state.timeline.append((incident_id, ref, TimelineEntry(at=at, kind=kind, source=source, actor=actor,
                                                                     text=text, data=dict(data or {}))))
        return True

    async def timeline(self, session: FakeTransaction, incident_id: int) -> list[TimelineEntry]:
        entries = await self.recorded_timeline(session, incident_id)
        return merge_alerts(entries, await self.alerts_of(session, incident_id))

    async def recorded_timeline(self, session: FakeTransaction, incident_id: int) -> list[TimelineEntry]:
        return sorted(self.entries(incident_id), key=lambda entry: entry.at)

    async def enqueue(self, session: FakeTransaction, incident_id: int | None, op: str,
                      payload: Mapping[str, Any] | None = None, *, now: datetime,
                      coalesce_key: str | None = None, not_before: datetime | None = None) -> None:
        self._writable(session)
        if coalesce_key is not None and any(row.coalesce_key == coalesce_key for row in self._state.outbox):
            return  # folded into the pending twin
        self._state.outbox.append(QueuedOp(incident_id, op, dict(payload or {}), coalesce_key))

    async def enqueue_coalesced(self, session: FakeTransaction, incident_id: int,
                                items: Sequence[tuple[str, str, datetime]], *, now: datetime) -> None:
        for op, key, not_before in items:
            await self.enqueue(session, incident_id, op, now=now, coalesce_key=key, not_before=not_before)

    # --- emails ----------------------------------------------------------------------------------------------

    async def add_email(self, session: FakeTransaction, email: Email) -> Email:
        self._writable(session)
        email.id = len(self._state.emails) + 1
        self._state.emails.append(email)
        return email

    async def email(self, session: FakeTransaction, email_id: int) -> Email | None:
        return next((row for row in self._state.emails if row.id == email_id), None)

    async def emails_of(self, session: FakeTransaction, incident_id: int) -> list[Email]:
        return [row for row in self._state.emails if row.incident_id == incident_id]

    async def vendor_ticket(self, session: FakeTransaction, incident_id: int, vendor: str) -> str | None:
        return None  # no vendor has replied here (replies come from the IMAP poller, not these use cases)

    async def update_email(self, session: FakeTransaction, email_id: int, *, only_if: Sequence[str] | None = None,
                           **values: Any) -> bool:
        self._writable(session)
        row = await self.email(session, email_id)
        if row is None or (only_if is not None and row.status not in only_if):
            return False
        for name, value in values.items():
            setattr(row, name, value)
        return True

    async def claim_send(self, session: FakeTransaction, email_id: int, **values: Any) -> bool:
        row = await self.email(session, email_id)
        if row is None or row.status != "sending" or row.message_id is not None:
            return False
        return await self.update_email(session, email_id, **values)

    async def reread(self, session: FakeTransaction, row: Email) -> None:
        return None  # the rows here are the stored ones

    # --- graphs ----------------------------------------------------------------------------------------------

    async def recent_graphs(self, session: FakeTransaction, incident_id: int, limit: int = 20) -> list[Graph]:
        mine = [row for row in self._state.graphs if row.incident_id == incident_id and row.png]
        return mine[::-1][:limit]

    async def graph_png(self, session: FakeTransaction, graph_id: int) -> bytes | None:
        return next((row.png for row in self._state.graphs if row.id == graph_id), None)
