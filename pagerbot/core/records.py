"""Read models of what the store holds, as services, renderers and exporters see them (no ORM)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pagerbot.core.timezones import aware

# Alert start times before this are placeholders, not facts: Alertmanager's zero time (0001-01-01), a sender's
# Unix epoch (1970-01-01) or an unset clock. Such an alert counts as starting when pagerbot first received it.
PLAUSIBLE_SINCE = datetime(2000, 1, 1, tzinfo=UTC)

SENDER_NAMES = {"alertmanager": "Alertmanager", "grafana": "Grafana", "pagerduty": "PagerDuty"}


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One thing that happened. ``at`` is when it happened (a pinned message keeps its own time)."""

    at: datetime
    # alert, alert_resolved, status, command, note, pin, edit, file, escalation, email, reply, graph, slack, wave,
    # page (on-call paging: pages, repeats, contacts' outcomes, the chain stopping)
    kind: str
    source: str  # alertmanager, grafana, slack, pagerbot, email, ...
    actor: str | None
    text: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AlertRecord:
    fingerprint: str
    source: str
    name: str
    title: str
    severity: int
    state: str
    host: str | None
    labels: Mapping[str, str]
    starts_at: datetime | None
    ends_at: datetime | None
    wave: int
    received_count: int
    first_received_at: datetime
    last_received_at: datetime

    @property
    def fired_at(self) -> datetime:
        """When the alert began: its sender's start time when there is a believable one, else its arrival."""
        if self.starts_at is None or aware(self.starts_at) < PLAUSIBLE_SINCE:
            return aware(self.first_received_at)
        return aware(self.starts_at)

    @property
    def ended_at(self) -> datetime | None:
        """When a resolved alert stopped firing (its end time, else the resolve's arrival); None while firing."""
        if self.state != "resolved":
            return None
        if self.ends_at is None or aware(self.ends_at) < self.fired_at:
            return aware(self.last_received_at)
        return aware(self.ends_at)


@dataclass(frozen=True, slots=True)
class AlertTally:
    """An incident's alerts summed up for the messages that show them (the header, the storm digest), read
    with GROUP BYs instead of every row: a storm's incident holds tens of thousands, often one host each."""

    by_name: Sequence[tuple[str, int, int]]  # (name, firing, resolved), in the order each name first appeared
    busiest_hosts: Sequence[tuple[str, int]]  # (host, firing alerts), most first, a few
    hosts: Sequence[str]  # the hosts, sorted (the first few dozen)
    started: datetime | None  # the earliest startsAt
    first: Sequence[AlertRecord]  # the first alerts received, oldest first (a few)
    last_change: datetime | None = None  # the latest delivery that changed one of them

    @property
    def firing(self) -> int:
        return sum(firing for _, firing, _ in self.by_name)

    @property
    def total(self) -> int:
        return sum(firing + resolved for _, firing, resolved in self.by_name)


@dataclass(frozen=True, slots=True)
class EscalationRecord:
    vendor: str
    subject: str
    status: str  # draft, sent, failed, discarded
    created_at: datetime
    sent_at: datetime | None
    sent_by: str | None
    message_id: str | None
    replied: bool = False
    replied_at: datetime | None = None  # the vendor's first reply to it (its Date)
    ticket: str | None = None  # the vendor's ticket number, from its replies to it


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    id: int
    title: str
    severity: int
    status: str
    lead: str | None
    channel_id: str | None
    channel_name: str | None
    opened_at: datetime
    acknowledged_at: datetime | None = None
    identified_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    summary: str | None = None
    description: str | None = None
    participants: tuple[str, ...] = ()
    wave: int = 1
    wave_started_at: datetime | None = None  # None for the first wave (it began when the incident opened)
    acknowledged_by: str | None = None
    alerts_left_out: int = 0  # by the sender's last notification (truncatedAlerts)
    left_out_by: str | None = None  # that sender: alertmanager, grafana

    @property
    def left_out_note(self) -> str | None:
        """ "Alertmanager left out 2 alerts", while the sender's last notification left some out."""
        if self.alerts_left_out <= 0:
            return None
        sender = SENDER_NAMES.get(self.left_out_by or "", self.left_out_by or "The sender")
        plural = "s" if self.alerts_left_out != 1 else ""
        return f"{sender} left out {self.alerts_left_out} alert{plural}"

    @property
    def ref(self) -> str:
        return f"INC-{self.id}"
