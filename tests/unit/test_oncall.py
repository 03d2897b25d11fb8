"""Rotation math, overrides, calendar shifts and working hours (core/oncall.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from pagerbot.core.oncall import (
    OncallSyntaxError,
    Rotation,
    Shift,
    next_on_call,
    on_call,
    parse_handoff,
    parse_working_hours,
    rotation_shift,
)

LA = ZoneInfo("America/Los_Angeles")
BERLIN = ZoneInfo("Europe/Berlin")


def _weekly(members: tuple[str, ...] = ("A", "B", "C"), handoff: str = "mon 09:00",
            start: date = date(2026, 3, 2)) -> Rotation:
    return Rotation("primary", members, "week", parse_handoff(handoff, "week"), start)


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_weekly_turns_follow_the_start_and_wrap_around() -> None:
    rotation = _weekly()
    whos = [rotation_shift(rotation, _utc(2026, 3, 3) + timedelta(weeks=w), LA) for w in range(4)]
    assert [s.who for s in whos if s] == ["A", "B", "C", "A"]


def test_handoff_stays_at_local_time_across_spring_forward_and_fall_back() -> None:
    rotation = _weekly()
    # the Monday before PDT began (8 March 2026) hands off at 17:00 UTC, the Monday after at 16:00 UTC
    assert rotation_shift(rotation, _utc(2026, 3, 9, 15, 59), LA).who == "A"  # type: ignore[union-attr]
    shift = rotation_shift(rotation, _utc(2026, 3, 9, 16, 0), LA)
    assert shift == Shift("B", _utc(2026, 3, 9, 16), _utc(2026, 3, 16, 16))
    # back to PST on 1 November 2026: Monday 2 November 09:00 is 17:00 UTC again
    nov = rotation_shift(rotation, _utc(2026, 11, 2, 16, 30), LA)
    assert nov is not None and nov.ends == _utc(2026, 11, 2, 17)


def test_daily_rotation_and_its_handoff_form() -> None:
    rotation = Rotation("ops", ("A", "B"), "day", parse_handoff("08:30", "day"), date(2026, 3, 1))
    assert rotation_shift(rotation, datetime(2026, 3, 1, 8, 29, tzinfo=BERLIN), BERLIN).who == "B"  # type: ignore[union-attr]
    assert rotation_shift(rotation, datetime(2026, 3, 1, 8, 30, tzinfo=BERLIN), BERLIN).who == "A"  # type: ignore[union-attr]
    assert rotation_shift(rotation, datetime(2026, 3, 2, 9, 0, tzinfo=BERLIN), BERLIN).who == "B"  # type: ignore[union-attr]


@pytest.mark.parametrize("text,every", [("someday 09:00", "week"), ("mon 25:00", "week"), ("mon 09:00", "day"),
                                        ("noon", "week")])
def test_bad_handoffs_are_refused(text: str, every: str) -> None:
    with pytest.raises(OncallSyntaxError):
        parse_handoff(text, every)


def test_an_override_wins_and_the_next_shift_begins_when_it_ends() -> None:
    rotation = _weekly()
    moment = _utc(2026, 3, 10, 12)
    cover = Shift("Z", moment - timedelta(hours=1), moment + timedelta(hours=2), "override")
    now = on_call(rotation, moment, LA, overrides=[cover])
    assert now == cover
    following = next_on_call(rotation, moment, LA, overrides=[cover])
    assert following == Shift("B", cover.ends, _utc(2026, 3, 16, 16), "rotation")
    # a later override shortens the current shift to its start
    later = Shift("Y", moment + timedelta(hours=5), moment + timedelta(hours=6), "override")
    base = on_call(rotation, moment, LA, overrides=[later])
    assert base is not None and base.who == "B" and base.ends == later.starts
    assert next_on_call(rotation, moment, LA, overrides=[later]) == Shift("Y", later.starts, later.ends, "override")


def test_calendar_shifts_replace_the_turns_and_gaps_fall_back_to_members() -> None:
    rotation = _weekly(members=("A",))
    shifts = [Shift("U0CAL", _utc(2026, 3, 10, 0), _utc(2026, 3, 11, 0), "calendar")]
    assert on_call(rotation, _utc(2026, 3, 10, 12), LA, calendar=shifts).who == "U0CAL"  # type: ignore[union-attr]
    gap = on_call(rotation, _utc(2026, 3, 9, 20), LA, calendar=shifts)
    assert gap is not None and gap.who == "A" and gap.ends == shifts[0].starts


def test_working_hours() -> None:
    hours = parse_working_hours("mon-fri 09:00-18:00")
    assert hours.days == frozenset(range(5)) and hours.opens == time(9) and hours.closes == time(18)
    tuesday_three = datetime(2026, 3, 10, 3, 0, tzinfo=LA)
    assert not hours.contains(tuesday_three, LA)
    assert hours.next_opening(tuesday_three, LA) == datetime(2026, 3, 10, 9, 0, tzinfo=LA)
    friday_evening = datetime(2026, 3, 13, 18, 0, tzinfo=LA)
    assert hours.next_opening(friday_evening, LA) == datetime(2026, 3, 16, 9, 0, tzinfo=LA)
    inside = datetime(2026, 3, 11, 10, 0, tzinfo=LA)
    assert hours.next_opening(inside, LA) == inside
    weekend = parse_working_hours("sat,sun 10:00-14:00")
    assert weekend.days == frozenset({5, 6})
    assert parse_working_hours("fri-mon 00:00-24:00").days == frozenset({4, 5, 6, 0})


@pytest.mark.parametrize("text", ["weekdays 9-5", "mon-fri 18:00-09:00", "mon-xyz 09:00-10:00", "mon 25:00-26:00"])
def test_bad_working_hours_are_refused(text: str) -> None:
    with pytest.raises(OncallSyntaxError):
        parse_working_hours(text)
