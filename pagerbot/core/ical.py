"""On-call shifts from an iCalendar feed (RFC 5545), as Grafana OnCall and shared calendars publish them (pure).

Each VEVENT is a shift; its SUMMARY names the person, as a Slack user ID or an email address (also inside
other words, e.g. "On call: alice@example.com"). Recurring events (RRULE) are not expanded: calendar tools
that export on-call schedules write one event per shift.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pagerbot.core.oncall import Shift

_PERSON = re.compile(r"\b[UW][A-Z0-9]{2,}\b|[^\s@<>:;,]+@[^\s@<>:;,]+\.[^\s@<>:;,]+")


class CalendarError(ValueError):
    """A feed that is not iCalendar; the message says what was found instead."""


def _unfold(text: str) -> list[str]:
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += raw[1:]
        elif raw:
            lines.append(raw)
    return lines


def _unescape(value: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def _when(value: str, params: dict[str, str], tz: ZoneInfo) -> datetime:
    value = value.strip()
    if params.get("VALUE") == "DATE" or re.fullmatch(r"\d{8}", value):
        day = date(int(value[:4]), int(value[4:6]), int(value[6:8]))
        return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    match = re.fullmatch(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)", value)
    if not match:
        raise CalendarError(f"{value!r} is not an iCalendar date-time")
    parts = [int(match.group(i)) for i in range(1, 7)]
    zone: ZoneInfo = tz
    if match.group(7):
        zone = ZoneInfo("UTC")
    elif "TZID" in params:
        try:
            zone = ZoneInfo(params["TZID"].strip('"'))
        except (ZoneInfoNotFoundError, ValueError):
            zone = tz  # a Windows zone name or a custom VTIMEZONE: the configured zone is the best guess
    year, month, mday, hour, minute, second = parts
    return datetime(year, month, mday, hour, minute, second, tzinfo=zone).astimezone(UTC)


def person(summary: str) -> str:
    """The Slack user ID or email address a summary names, else the summary itself."""
    found = _PERSON.search(summary)
    return found.group(0) if found else summary.strip()


def parse_calendar(text: str, tz: ZoneInfo) -> list[Shift]:
    """The feed's events as shifts, by start. Times without a zone are read in ``tz``."""
    lines = _unfold(text)
    if not lines or lines[0].strip().upper() != "BEGIN:VCALENDAR":
        raise CalendarError(f"not an iCalendar feed (it begins {(lines[0] if lines else '')[:40]!r})")
    shifts: list[Shift] = []
    event: dict[str, tuple[str, dict[str, str]]] | None = None
    for line in lines:
        name_part, _, value = line.partition(":")
        name, *raw_params = name_part.split(";")
        name = name.upper()
        params = {k.upper(): v for k, _, v in (p.partition("=") for p in raw_params)}
        if name == "BEGIN" and value.strip().upper() == "VEVENT":
            event = {}
        elif name == "END" and value.strip().upper() == "VEVENT" and event is not None:
            shift = _shift(event, tz)
            if shift is not None:
                shifts.append(shift)
            event = None
        elif event is not None:
            event[name] = (value, params)
    return sorted(shifts, key=lambda s: s.starts)


def _shift(event: dict[str, tuple[str, dict[str, str]]], tz: ZoneInfo) -> Shift | None:
    if "DTSTART" not in event or "SUMMARY" not in event:
        return None
    if event.get("STATUS", ("", {}))[0].strip().upper() == "CANCELLED":
        return None
    starts = _when(*event["DTSTART"], tz)
    if "DTEND" in event:
        ends = _when(*event["DTEND"], tz)
    elif "DURATION" in event:
        ends = starts + _duration(event["DURATION"][0])
    else:
        ends = starts + timedelta(days=1)
    if ends <= starts:
        return None
    return Shift(person(_unescape(event["SUMMARY"][0])), starts, ends, "calendar")


def _duration(value: str) -> timedelta:
    match = re.fullmatch(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", value.strip())
    if not match:
        raise CalendarError(f"{value!r} is not an iCalendar duration")
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
