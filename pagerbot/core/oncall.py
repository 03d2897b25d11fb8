"""Who is on call, and when: rotations, overrides, calendar shifts and working hours (pure, no clock reads).

Hand-offs are computed in local wall time (the configured time zone), so a hand-off at "mon 09:00" stays at
09:00 on both sides of a daylight-saving change; stored and returned times are timezone-aware UTC.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The first shift of ``members[0]`` when a rotation gives no start: a Monday, so weekly rotations line up.
DEFAULT_START = date(2024, 1, 1)


class OncallSyntaxError(ValueError):
    """A hand-off or working-hours text that cannot be read; the message shows the expected form."""


@dataclass(frozen=True, slots=True)
class Handoff:
    weekday: int | None  # 0 = Monday; None for a daily rotation
    at: time


def parse_handoff(text: str, every: str) -> Handoff:
    """``"mon 09:00"`` (weekly) or ``"09:00"`` (daily; a weekday is refused there)."""
    match = re.fullmatch(r"\s*(?:([a-z]{3})[a-z]*\s+)?(\d{1,2}):(\d{2})\s*", text.lower())
    if not match:
        raise OncallSyntaxError(f"expected a hand-off such as 'mon 09:00' (or '09:00' for daily), got {text!r}")
    day, hour, minute = match.group(1), int(match.group(2)), int(match.group(3))
    if hour > 23 or minute > 59:
        raise OncallSyntaxError(f"{text!r} is not a time of day")
    if every == "week":
        if day is None:
            return Handoff(0, time(hour, minute))
        if day not in WEEKDAYS:
            raise OncallSyntaxError(f"{day!r} is not a weekday: expected one of {', '.join(WEEKDAYS)}")
        return Handoff(WEEKDAYS.index(day), time(hour, minute))
    if day is not None:
        raise OncallSyntaxError(f"a daily rotation hands off at a time of day such as '09:00', got {text!r}")
    return Handoff(None, time(hour, minute))


@dataclass(frozen=True, slots=True)
class Shift:
    """Someone on call from ``starts`` until ``ends`` (UTC). ``why``: rotation, override or calendar."""

    who: str
    starts: datetime
    ends: datetime
    why: str = "rotation"


@dataclass(frozen=True, slots=True)
class Rotation:
    name: str
    members: tuple[str, ...]
    every: str  # day | week
    handoff: Handoff
    start: date = DEFAULT_START

    @property
    def period_days(self) -> int:
        return 7 if self.every == "week" else 1


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _last_handoff_day(rotation: Rotation, moment: datetime, tz: ZoneInfo) -> date:
    """The local date of the latest hand-off at or before ``moment``."""
    local = moment.astimezone(tz)
    day = local.date()
    if rotation.handoff.weekday is not None:
        day -= timedelta(days=(day.weekday() - rotation.handoff.weekday) % 7)
    if _local(day, rotation.handoff.at, tz) > moment:
        day -= timedelta(days=rotation.period_days)
    return day


def rotation_shift(rotation: Rotation, moment: datetime, tz: ZoneInfo) -> Shift | None:
    """Whose turn it is at ``moment`` by the rotation alone, from which hand-off until the next."""
    if not rotation.members:
        return None
    day = _last_handoff_day(rotation, moment, tz)
    anchor = rotation.start
    if rotation.handoff.weekday is not None:
        anchor -= timedelta(days=(anchor.weekday() - rotation.handoff.weekday) % 7)
    turn = ((day - anchor).days // rotation.period_days) % len(rotation.members)
    ends = day + timedelta(days=rotation.period_days)
    return Shift(rotation.members[turn], _local(day, rotation.handoff.at, tz), _local(ends, rotation.handoff.at, tz))


def calendar_shift(events: Sequence[Shift], moment: datetime) -> Shift | None:
    """The calendar event covering ``moment`` (the latest to start wins where events overlap)."""
    covering = [event for event in events if event.starts <= moment < event.ends]
    return max(covering, key=lambda e: e.starts) if covering else None


def on_call(rotation: Rotation, moment: datetime, tz: ZoneInfo, *, overrides: Sequence[Shift] = (),
            calendar: Sequence[Shift] | None = None) -> Shift | None:
    """Who is on call at ``moment``: an override first (the latest made wins), then the calendar feed when the
    rotation has one, else the rotation's turn. The shift ends at the next moment the answer may change."""
    active = [o for o in overrides if o.starts <= moment < o.ends]
    if active:
        return active[-1]
    base = calendar_shift(calendar, moment) if calendar is not None else rotation_shift(rotation, moment, tz)
    if calendar is not None and base is None:
        # a gap in the calendar: nobody until the next event (or the rotation's members when there is none)
        later = [e.starts for e in calendar if e.starts > moment]
        fallback = rotation_shift(rotation, moment, tz)
        if fallback is None:
            return None
        base = Shift(fallback.who, fallback.starts, min([fallback.ends, *later]), "rotation")
    if base is None:
        return None
    upcoming = [o.starts for o in overrides if moment < o.starts < base.ends]
    return Shift(base.who, base.starts, min([base.ends, *upcoming]), base.why)


def next_on_call(rotation: Rotation, moment: datetime, tz: ZoneInfo, *, overrides: Sequence[Shift] = (),
                 calendar: Sequence[Shift] | None = None) -> Shift | None:
    """The shift after the current one (who takes over, and when)."""
    current = on_call(rotation, moment, tz, overrides=overrides, calendar=calendar)
    if current is None:
        return None
    following = on_call(rotation, current.ends, tz, overrides=overrides, calendar=calendar)
    if following is None:
        return None
    # it begins when the current one ends (a rotation's shift that an override interrupted began earlier)
    return Shift(following.who, current.ends, following.ends, following.why)


# --- working hours ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkingHours:
    days: frozenset[int]
    opens: time
    closes: time

    def contains(self, moment: datetime, tz: ZoneInfo) -> bool:
        local = moment.astimezone(tz)
        return local.weekday() in self.days and self.opens <= local.time().replace(tzinfo=None) < self.closes

    def next_opening(self, moment: datetime, tz: ZoneInfo) -> datetime:
        """``moment`` itself inside working hours, else when they next begin."""
        if self.contains(moment, tz):
            return moment
        day = moment.astimezone(tz).date()
        for offset in range(8):
            candidate = day + timedelta(days=offset)
            opening = _local(candidate, self.opens, tz)
            if candidate.weekday() in self.days and opening > moment:
                return opening
        raise AssertionError("working hours have at least one day")  # parse_working_hours ensures it


def parse_working_hours(text: str) -> WorkingHours:
    """``"mon-fri 09:00-18:00"``; days may be a list or ranges: ``"mon,wed,fri 08:00-12:00"``."""
    match = re.fullmatch(r"\s*([a-z,\-\s]+?)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text.lower())
    if not match:
        raise OncallSyntaxError(f"expected working hours such as 'mon-fri 09:00-18:00', got {text!r}")
    days: set[int] = set()
    for part in match.group(1).replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise OncallSyntaxError(f"{part!r} is not a weekday or a range such as mon-fri")
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        days.update(range(start, end + 1) if start <= end else [*range(start, 7), *range(0, end + 1)])
    numbers = [int(match.group(i)) for i in range(2, 6)]
    if numbers[0] > 23 or numbers[2] > 24 or numbers[1] > 59 or numbers[3] > 59:
        raise OncallSyntaxError(f"{text!r} holds a time that is not a time of day")
    opens = time(numbers[0], numbers[1])
    closes = time.max if numbers[2] == 24 else time(numbers[2], numbers[3])
    if closes <= opens:
        raise OncallSyntaxError(f"{text!r}: working hours must end after they begin on the same day")
    return WorkingHours(frozenset(days), opens, closes)
