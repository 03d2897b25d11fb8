"""Which alerts a graph marks: the first firing of each alert name inside the window, earliest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pagerbot.services.graphs import MAX_ALERT_MARKERS, first_firings

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_one_marker_per_alert_name_at_its_first_firing() -> None:
    fired = [(at(5), "HTTPLatencyHigh"), (at(1), "HostHighIOWait"), (at(3), "HTTPLatencyHigh"),
             (at(2), "HTTPLatencyHigh"), (at(4), "HostHighIOWait")]
    assert first_firings(fired, at(0), at(60)) == [(at(1), "HostHighIOWait"), (at(2), "HTTPLatencyHigh")]


def test_only_the_window_counts() -> None:
    fired = [(at(-30), "Old"), (at(10), "Old"), (at(70), "Later"), (at(20), "Now")]
    # "Old" fired before the window too: inside it, its first firing is the one at 10 min
    assert first_firings(fired, at(0), at(60)) == [(at(10), "Old"), (at(20), "Now")]


def test_at_most_the_limit_earliest_first() -> None:
    fired = [(at(60 - n), f"Alert{n}") for n in range(MAX_ALERT_MARKERS + 3)]
    marked = first_firings(fired, at(0), at(60))
    assert len(marked) == MAX_ALERT_MARKERS
    assert marked == sorted(marked) and marked[0] == (at(60 - MAX_ALERT_MARKERS - 2), f"Alert{MAX_ALERT_MARKERS + 2}")


def test_nothing_fired() -> None:
    assert first_firings([], at(0), at(60)) == []
