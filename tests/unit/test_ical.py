"""Shifts from an iCalendar feed (core/ical.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from pagerbot.core.ical import CalendarError, parse_calendar, person

LA = ZoneInfo("America/Los_Angeles")

FEED = "\r\n".join([
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Grafana Labs//Grafana OnCall//EN",
    "BEGIN:VEVENT", "UID:1", "SUMMARY:U0ALICE", "DTSTART:20260309T160000Z", "DTEND:20260316T160000Z", "END:VEVENT",
    "BEGIN:VEVENT", "UID:2", "SUMMARY:On call: bob@example.com",
    "DTSTART;TZID=America/Los_Angeles:20260316T090000", "DURATION:P7D", "END:VEVENT",
    "BEGIN:VEVENT", "UID:3", "SUMMARY:Carol\\, covering", "DTSTART;VALUE=DATE:20260401",
    "DTEND;VALUE=DATE:20260402", "END:VEVENT",
    "BEGIN:VEVENT", "UID:4", "SUMMARY:U0DAVE", "STATUS:CANCELLED", "DTSTART:20260310T000000Z",
    "DTEND:20260311T000000Z", "END:VEVENT",
    "BEGIN:VEVENT", "UID:5", "SUMMARY:a very long summary that is folded onto", "  the next line",
    "DTSTART:20260501T000000Z", "DTEND:20260502T000000Z", "END:VEVENT",
    "END:VCALENDAR", ""])


def test_events_become_shifts() -> None:
    shifts = parse_calendar(FEED, LA)
    assert [s.who for s in shifts] == ["U0ALICE", "bob@example.com", "Carol, covering",
                                       "a very long summary that is folded onto the next line"]
    assert shifts[0].starts == datetime(2026, 3, 9, 16, tzinfo=UTC)
    assert shifts[1].starts == datetime(2026, 3, 16, 16, tzinfo=UTC) and shifts[1].ends == datetime(
        2026, 3, 23, 16, tzinfo=UTC)
    assert shifts[2].starts == datetime(2026, 4, 1, 7, tzinfo=UTC)  # a date: local midnight
    assert all(s.why == "calendar" for s in shifts)


def test_person_finds_an_id_or_an_email() -> None:
    assert person("Primary: U0ALICE (week 11)") == "U0ALICE"
    assert person("alice@example.com") == "alice@example.com"
    assert person("Alice") == "Alice"


def test_not_a_calendar() -> None:
    with pytest.raises(CalendarError, match="not an iCalendar feed"):
        parse_calendar("<html>login</html>", LA)
