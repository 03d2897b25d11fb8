"""Escalation plans (core/policy.py): steps in order, waits for working hours, repeats."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pagerbot.core.oncall import parse_working_hours
from pagerbot.core.policy import Moment, Step, due, next_moment, plan

LA = ZoneInfo("America/Los_Angeles")
HOURS = parse_working_hours("mon-fri 09:00-18:00")
FIVE_THIRTY = datetime(2026, 3, 10, 5, 30, tzinfo=LA)


def test_the_sev1_chain_of_the_story() -> None:
    steps = [Step(page="primary"), Step(page="secondary", after_minutes=5), Step(vendor="contegix", after_minutes=15)]
    moments = plan(steps, FIVE_THIRTY, hours=HOURS, tz=LA)
    assert moments == [Moment(FIVE_THIRTY, 0), Moment(FIVE_THIRTY + timedelta(minutes=5), 1),
                       Moment(FIVE_THIRTY + timedelta(minutes=15), 2)]
    assert due(moments, 0, FIVE_THIRTY) == moments[:1]
    assert due(moments, 1, FIVE_THIRTY + timedelta(minutes=4, seconds=59)) == []
    assert due(moments, 1, FIVE_THIRTY + timedelta(hours=1)) == moments[1:]  # after a long outage: all, in order
    assert next_moment(moments, 1) == moments[1].at and next_moment(moments, 3) is None


def test_working_hours_steps_wait_and_later_steps_wait_for_them() -> None:
    steps = [Step(page="primary", working_hours_only=True), Step(vendor="contegix", after_minutes=30)]
    moments = plan(steps, datetime(2026, 3, 10, 3, 0, tzinfo=LA), hours=HOURS, tz=LA)
    nine = datetime(2026, 3, 10, 9, 0, tzinfo=LA)
    assert moments == [Moment(nine, 0), Moment(nine, 1)]  # never before the step above it


def test_repeats_come_in_time_order_with_the_other_steps() -> None:
    steps = [Step(page="primary", repeat_minutes=2, repeats=2), Step(page="secondary", after_minutes=3)]
    moments = plan(steps, FIVE_THIRTY, hours=HOURS, tz=LA)
    minutes = [(int((m.at - FIVE_THIRTY).total_seconds() // 60), m.step, m.repeat) for m in moments]
    assert minutes == [(0, 0, 0), (2, 0, 1), (3, 1, 0), (4, 0, 2)]
