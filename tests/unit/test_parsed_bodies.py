"""The webhook's parse kept for the inbox worker: taken once, bounded by alerts, stale entries and newer ones
give way as documented in services/parsed.py."""

from __future__ import annotations

from pagerbot.core.alerts import AlertEvent, AlertState, Severity
from pagerbot.services.parsed import ParsedBodies


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _alerts(count: int) -> list[AlertEvent]:
    return [AlertEvent(source="alertmanager", fingerprint=f"f{n}", state=AlertState.FIRING, name="HighLoad",
                       title="load", severity=Severity.parse("warning"))
            for n in range(count)]


def test_a_body_is_taken_once_with_what_it_parsed_to() -> None:
    kept = ParsedBodies(max_alerts=10)
    alerts = _alerts(3)
    assert kept.keep("alertmanager", "body-1", alerts)
    assert kept.has("alertmanager", "body-1") and not kept.has("grafana", "body-1")
    assert kept.take("grafana", "body-1") is None  # the sender is part of the key
    assert kept.take("alertmanager", "body-1") == alerts
    assert kept.take("alertmanager", "body-1") is None and kept.alerts == 0


def test_a_full_memo_keeps_the_oldest_and_refuses_newer_bodies() -> None:
    ticks = Ticks()
    kept = ParsedBodies(max_alerts=5, stale_seconds=60, clock=ticks)
    assert kept.keep("alertmanager", "a", _alerts(3))
    ticks.now = 1
    assert not kept.keep("alertmanager", "b", _alerts(3))  # the worker takes "a" next: it stays
    assert kept.alerts == 3 and kept.take("alertmanager", "b") is None
    ticks.now = 61  # "a" was applied elsewhere (another replica): it gives way
    assert kept.keep("alertmanager", "b", _alerts(3))
    assert kept.take("alertmanager", "a") is None and kept.alerts == 3


def test_the_read_ahead_makes_room_by_dropping_the_newest() -> None:
    kept = ParsedBodies(max_alerts=6, clock=Ticks())
    assert kept.keep("alertmanager", "old", _alerts(3))
    assert kept.keep("alertmanager", "newest", _alerts(3))
    assert kept.keep("alertmanager", "next-batch", _alerts(2), ahead=True)
    assert kept.has("alertmanager", "old") and kept.has("alertmanager", "next-batch")
    assert not kept.has("alertmanager", "newest") and kept.alerts == 5


def test_an_identical_resend_is_one_entry_and_nothing_too_big_is_kept() -> None:
    kept = ParsedBodies(max_alerts=4)
    assert kept.keep("alertmanager", "same", _alerts(2)) and kept.keep("alertmanager", "same", _alerts(2))
    assert len(kept) == 1 and kept.alerts == 2
    assert not kept.keep("alertmanager", "huge", _alerts(5)) and not kept.keep("alertmanager", "empty", [])
