"""Waves: an incident's alerts come and go; when they fire again after every one had resolved, that is news.

A wave begins when an alert of the incident fires while none of its alerts is firing (every alert had
resolved: a lull), whether the incident was still open or already resolved (then it is reopened). The first
wave began when the incident opened. Pure: the caller says what it knows, these functions decide and word.

For the postmortem, :func:`waves` finds the same stretches afterwards from the alerts themselves (a wave
ends when every alert in it has resolved), for the whole incident and, with :func:`waves_by_name`, for each
alert name: an alert that fired, resolved and fired again made two waves of its own even while other
alerts kept the incident's wave going.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pagerbot.core.durations import human_duration
from pagerbot.core.records import AlertRecord


def starts_wave(*, lull_since: datetime | None, alert_fires: bool) -> bool:
    """An alert firing during a lull (every alert of the incident resolved since ``lull_since``) starts a wave."""
    return alert_fires and lull_since is not None


@dataclass(frozen=True, slots=True)
class WaveStart:
    """What the channel is told when a wave begins."""

    number: int
    began_at: datetime
    lull_since: datetime  # when the previous wave's last alert resolved (or the incident was resolved)
    alerts: Sequence[tuple[str, Sequence[str]]]  # (alert name, its hosts), in the order they fired
    reopened: bool  # the incident had been resolved and is open again

    @property
    def lull(self) -> timedelta:
        return max(timedelta(0), self.began_at - self.lull_since)

    @property
    def lull_text(self) -> str:
        return human_duration(self.lull)

    @property
    def timeline_text(self) -> str:
        names = ", ".join(name for name, _ in self.alerts) or "alerts"
        reopened = "; the incident is reopened" if self.reopened else ""
        return f"Wave {self.number} began: {names} fired again after a lull of {self.lull_text}{reopened}"


def wave_times(*, fired_since: Iterable[datetime | None], resolved_until: datetime | None,
               lull_noticed: datetime, now: datetime) -> tuple[datetime, datetime]:
    """When a new wave began and when the lull before it began, by the alerts' own clocks.

    ``fired_since``: the ``startsAt`` of the alerts that begin the wave; ``resolved_until``: the latest
    ``endsAt`` of the incident's earlier alerts; ``lull_noticed``: when pagerbot saw every alert resolved (or
    the incident resolved). Senders deliver minutes after the fact (Alertmanager's group_wait), and the
    postmortem counts waves from the alerts' own times: the channel tells the same times. A time the sender
    does not give, or one that makes no sense (before the lull, after now), falls back to what pagerbot saw.
    Returns ``(began_at, lull_since)``."""
    lull_since = min(lull_noticed, resolved_until) if resolved_until is not None else lull_noticed
    starts = [moment for moment in fired_since if moment is not None and lull_since <= moment <= now]
    return (min(starts) if starts else now), lull_since


def alerts_by_name(fired: Iterable[tuple[str, str | None]]) -> list[tuple[str, list[str]]]:
    """(name, host) pairs → each name once, in the order first seen, with its hosts (each once, sorted)."""
    hosts: dict[str, set[str]] = {}
    for name, host in fired:
        seen = hosts.setdefault(name, set())
        if host:
            seen.add(host)
    return [(name, sorted(found)) for name, found in hosts.items()]


def wave_label(number: int, started: datetime | None, clock_text: str) -> str:
    """"wave 2 since 10:31" for the header and topic; empty for the first wave (nothing to tell apart)."""
    if number <= 1 or started is None:
        return ""
    return f"wave {number} since {clock_text}"


# --- the postmortem: waves counted afterwards from the alerts' firing spans ---------------------------


@dataclass(frozen=True, slots=True)
class Wave:
    start: datetime
    end: datetime | None  # None: still firing when the incident was last seen
    hosts: tuple[str, ...]  # every host an alert of the wave fired on
    first_hosts: tuple[str, ...] = ()  # those whose alerts began the wave

    def duration(self, until: datetime) -> timedelta:
        """How long the wave lasted (a wave still firing: until ``until``)."""
        return max((self.end or until) - self.start, timedelta(0))


@dataclass(frozen=True, slots=True)
class AlertWaves:
    """One alert name's waves, and how long it fired in all (overlaps between hosts counted once)."""

    name: str
    waves: tuple[Wave, ...]
    hosts: tuple[str, ...]

    def firing_for(self, until: datetime) -> timedelta:
        return sum((w.duration(until) for w in self.waves), timedelta(0))


def waves(alerts: Iterable[AlertRecord]) -> list[Wave]:
    """The waves of ``alerts``, oldest first: their firing spans merged where they overlap or touch."""
    spans = sorted(((a.fired_at, a.ended_at, a.host) for a in alerts), key=lambda s: s[0])
    out: list[Wave] = []
    start: datetime | None = None
    end: datetime | None = None
    hosts: dict[str, None] = {}
    first: dict[str, None] = {}
    for fired, ended, host in spans:
        if start is not None and end is not None and fired > end:
            out.append(Wave(start, end, tuple(sorted(hosts)), tuple(sorted(first))))
            start, hosts, first = None, {}, {}
        if start is None:
            start, end = fired, ended
        elif end is not None:
            end = None if ended is None else max(end, ended)
        if host:
            hosts[host] = None
            if fired == start:
                first[host] = None
    if start is not None:
        out.append(Wave(start, end, tuple(sorted(hosts)), tuple(sorted(first))))
    return out


def waves_by_name(alerts: Sequence[AlertRecord]) -> list[AlertWaves]:
    """Each alert name's waves, in the order the names first fired."""
    by_name: dict[str, list[AlertRecord]] = {}
    for alert in sorted(alerts, key=lambda a: a.fired_at):
        by_name.setdefault(alert.name, []).append(alert)
    return [AlertWaves(name, tuple(waves(members)), tuple(sorted({a.host for a in members if a.host})))
            for name, members in by_name.items()]
