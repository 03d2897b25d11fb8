"""Waves: an incident's alerts come and go; when they fire again after every one had resolved, that is news.

A wave begins when an alert of the incident fires while none of its alerts is firing (every alert had
resolved: a lull), whether the incident was still open or already resolved (then it is reopened). The first
wave began when the incident opened. Pure: the caller says what it knows, these functions decide and word.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pagerbot.core.durations import human_duration


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
