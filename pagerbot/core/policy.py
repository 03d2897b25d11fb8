"""Escalation policies: which step is taken when, for an incident nobody has acknowledged yet (pure).

A policy is the list of steps configured for a severity. Each step is due ``after_minutes`` after the
escalation began; a step ``when: working_hours`` waits for working hours; a step with ``repeat_minutes``
pages again that often (at most ``repeats`` times) until someone acknowledges. The whole chain is laid out
in advance as a plan, in the order its moments come, so the store needs to keep only how many moments of
the plan were taken: a restart resumes at the next one, never repeating or skipping one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pagerbot.core.oncall import WorkingHours


@dataclass(frozen=True, slots=True)
class Step:
    page: str | None = None  # a rotation's name: its on-call person is paged
    everyone: bool = False  # page every member of the rotation instead
    vendor: str | None = None  # draft the escalation email to this vendor in the incident channel
    after_minutes: float = 0
    working_hours_only: bool = False
    repeat_minutes: float | None = None
    repeats: int = 0

    def describe(self) -> str:
        if self.vendor:
            return f"draft the escalation email to {self.vendor}"
        who = f"everyone in {self.page}" if self.everyone else f"the {self.page} on call"
        return f"page {who}"


@dataclass(frozen=True, slots=True, order=True)
class Moment:
    """One thing the chain does: ``step`` (its index) at ``at``; ``repeat`` 0 is the first page, 1… repeats."""

    at: datetime
    step: int
    repeat: int = 0


def plan(steps: Sequence[Step], started: datetime, *, hours: WorkingHours | None, tz: ZoneInfo) -> list[Moment]:
    """Every moment of the chain, in the order they come. A step is never taken before the one above it."""
    moments: list[Moment] = []
    earliest = started
    for index, step in enumerate(steps):
        first = max(earliest, _allowed(step, started + timedelta(minutes=step.after_minutes), hours, tz))
        moments.append(Moment(first, index))
        earliest = first
        if step.repeat_minutes and step.page:
            for repeat in range(1, step.repeats + 1):
                at = _allowed(step, first + timedelta(minutes=step.repeat_minutes * repeat), hours, tz)
                moments.append(Moment(at, index, repeat))
    return sorted(moments)


def _allowed(step: Step, moment: datetime, hours: WorkingHours | None, tz: ZoneInfo) -> datetime:
    if step.working_hours_only and hours is not None:
        return hours.next_opening(moment, tz)
    return moment


def due(moments: Sequence[Moment], taken: int, now: datetime) -> list[Moment]:
    """The moments not taken yet whose time has come."""
    return [moment for moment in moments[taken:] if moment.at <= now]


def next_moment(moments: Sequence[Moment], taken: int) -> datetime | None:
    return moments[taken].at if taken < len(moments) else None
