"""Key moments of an incident and the durations between them, in units people read (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pagerbot.core.records import PLAUSIBLE_SINCE, AlertRecord, EscalationRecord, IncidentRecord, TimelineEntry

_MINUTE = 60
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR


def human_duration(td: timedelta) -> str:
    """``td`` in the two largest units, rounded down: "under a minute", "4 min", "1 h 12 min", "2 d 3 h".

    Negative durations (clock skew between senders) read as "under a minute".
    """
    seconds = int(td.total_seconds())
    if seconds < _MINUTE:
        return "under a minute"
    if seconds < _HOUR:
        return f"{seconds // _MINUTE} min"
    if seconds < _DAY:
        hours, rest = divmod(seconds, _HOUR)
        minutes = rest // _MINUTE
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, rest = divmod(seconds, _DAY)
    hours = rest // _HOUR
    return f"{days} d {hours} h" if hours else f"{days} d"


@dataclass(frozen=True, slots=True)
class KeyTimes:
    """When the incident started, was detected, acknowledged, escalated, mitigated and resolved (UTC).

    ``started`` is the earliest alert ``starts_at`` (or when the incident was opened, if earlier or if no
    alert says when it started); ``detected`` is when pagerbot opened the incident. Durations count from
    ``started`` and are ``None`` while the moment they lead to has not happened. ``mitigated_how`` says
    where the mitigation time came from (it is the one moment that may be inferred).
    """

    started: datetime
    detected: datetime
    acknowledged: datetime | None = None
    identified: datetime | None = None
    escalated: datetime | None = None
    mitigated: datetime | None = None
    resolved: datetime | None = None
    mitigated_how: str | None = field(default=None, compare=False)

    def moments(self) -> list[tuple[str, datetime | None]]:
        """(label, moment) of each key time in the order they happened; those still to come last."""
        named: list[tuple[str, datetime | None]] = [
            ("Started", self.started), ("Detected", self.detected), ("Acknowledged", self.acknowledged),
            ("Identified", self.identified), ("Escalated", self.escalated), ("Mitigated", self.mitigated),
            ("Resolved", self.resolved),
        ]
        happened: list[tuple[str, datetime]] = [(label, at) for label, at in named if at is not None]
        happened.sort(key=lambda moment: moment[1])  # stable: a tie keeps the order above
        pending = [(label, at) for label, at in named if at is None and label != "Identified"]
        return [*happened, *pending]

    def _since_start(self, moment: datetime | None) -> timedelta | None:
        if moment is None:
            return None
        return max(moment - self.started, timedelta(0))

    @property
    def time_to_detect(self) -> timedelta:
        return max(self.detected - self.started, timedelta(0))

    @property
    def time_to_acknowledge(self) -> timedelta | None:
        return self._since_start(self.acknowledged)

    @property
    def time_to_mitigate(self) -> timedelta | None:
        return self._since_start(self.mitigated)

    @property
    def time_to_resolve(self) -> timedelta | None:
        return self._since_start(self.resolved)


def _status_time(timeline: Sequence[TimelineEntry], *statuses: str) -> datetime | None:
    """The first status entry moving the incident to one of ``statuses`` (``data={"status": ...}``), if any."""
    found: datetime | None = None
    for entry in timeline:
        if entry.kind == "status" and entry.data.get("status") in statuses and (found is None or entry.at < found):
            found = entry.at
    return found


def _mitigated(incident: IncidentRecord, timeline: Sequence[TimelineEntry],
               alerts: Sequence[AlertRecord]) -> tuple[datetime | None, str | None]:
    """When the impact ended, and how we know: the recorded time (the move to monitoring, or the time given
    when resolving), a ``mitigated`` status entry, or, for a resolved incident without either, when its
    last alert stopped firing (if all had, before the resolve), else the resolve itself."""
    if incident.mitigated_at is not None:
        return incident.mitigated_at, "recorded"
    moved = _status_time(timeline, "monitoring", "mitigated")
    if moved is not None:
        return moved, "status"
    if incident.resolved_at is None:
        return None, None
    ends = [a.ended_at for a in alerts]
    if alerts and all(end is not None for end in ends):
        cleared = max(end for end in ends if end is not None)
        if cleared <= incident.resolved_at:
            return cleared, "alerts cleared"
    return incident.resolved_at, "resolved"


def key_times(
    incident: IncidentRecord,
    timeline: Sequence[TimelineEntry],
    escalations: Sequence[EscalationRecord],
    *,
    alerts: Sequence[AlertRecord] = (),
) -> KeyTimes:
    """The key moments of ``incident``.

    ``started`` is the earliest of the alerts' ``starts_at`` (from ``alerts`` when given, and from the
    timeline's ``alert`` entries) and ``opened_at``. The incident's own fields win for the other moments; one
    the record lacks falls back to the first ``status`` timeline entry whose ``data["status"]`` names it.
    ``escalated`` is the first escalation that was sent.
    """
    started = incident.opened_at
    for alert in alerts:
        if alert.fired_at < started:
            started = alert.fired_at
    for entry in timeline:
        if entry.kind == "alert" and PLAUSIBLE_SINCE <= entry.at < started:
            started = entry.at
    sent = [e.sent_at for e in escalations if e.sent_at is not None and e.status == "sent"]
    mitigated, how = _mitigated(incident, timeline, alerts)
    return KeyTimes(
        started=started,
        detected=incident.opened_at,
        acknowledged=incident.acknowledged_at or _status_time(timeline, "acknowledged"),
        identified=incident.identified_at or _status_time(timeline, "identified"),
        escalated=min(sent) if sent else None,
        mitigated=mitigated,
        resolved=incident.resolved_at,
        mitigated_how=how,
    )
