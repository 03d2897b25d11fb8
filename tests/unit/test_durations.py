from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from pagerbot.core.durations import KeyTimes, human_duration, key_times
from pagerbot.core.records import AlertRecord, EscalationRecord, IncidentRecord, TimelineEntry

T0 = datetime(2024, 3, 5, 16, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (timedelta(0), "under a minute"),
        (timedelta(seconds=59), "under a minute"),
        (timedelta(seconds=-30), "under a minute"),
        (timedelta(minutes=1), "1 min"),
        (timedelta(minutes=4, seconds=59), "4 min"),
        (timedelta(minutes=59, seconds=59), "59 min"),
        (timedelta(hours=1), "1 h"),
        (timedelta(hours=1, minutes=12, seconds=30), "1 h 12 min"),
        (timedelta(hours=23, minutes=59), "23 h 59 min"),
        (timedelta(days=1), "1 d"),
        (timedelta(days=2, hours=3, minutes=40), "2 d 3 h"),
        (timedelta(days=40, minutes=5), "40 d"),
    ],
)
def test_human_duration(td: timedelta, text: str) -> None:
    assert human_duration(td) == text


def _incident(**kw: object) -> IncidentRecord:
    fields: dict[str, object] = {
        "id": 1,
        "title": "t",
        "severity": 2,
        "status": "open",
        "lead": None,
        "channel_id": None,
        "channel_name": None,
        "opened_at": minutes(5),
    }
    fields.update(kw)
    return IncidentRecord(**fields)  # type: ignore[arg-type]


def _alert(starts_at: datetime | None) -> AlertRecord:
    return AlertRecord(
        fingerprint="f",
        source="alertmanager",
        name="A",
        title="A",
        severity=2,
        state="firing",
        host="h",
        labels={},
        starts_at=starts_at,
        ends_at=None,
        wave=1,
        received_count=1,
        first_received_at=minutes(4),
        last_received_at=minutes(4),
    )


def _escalation(status: str, sent: datetime | None) -> EscalationRecord:
    return EscalationRecord("V", "s", status, minutes(0), sent, "alice" if sent else None, None)


def test_key_times_of_a_resolved_incident() -> None:
    incident = _incident(
        status="resolved",
        acknowledged_at=minutes(9),
        mitigated_at=minutes(45),
        resolved_at=minutes(72),
    )
    escalations = [_escalation("sent", minutes(30)), _escalation("sent", minutes(20)), _escalation("draft", None)]
    times = key_times(incident, [], escalations, alerts=[_alert(minutes(1)), _alert(minutes(3)), _alert(None)])
    assert times == KeyTimes(
        started=minutes(1),
        detected=minutes(5),
        acknowledged=minutes(9),
        escalated=minutes(20),
        mitigated=minutes(45),
        resolved=minutes(72),
    )
    assert times.time_to_detect == timedelta(minutes=4)
    assert times.time_to_acknowledge == timedelta(minutes=8)
    assert times.time_to_mitigate == timedelta(minutes=44)
    assert times.time_to_resolve == timedelta(minutes=71)
    assert human_duration(times.time_to_resolve) == "1 h 11 min"


def test_started_is_opened_at_without_alerts_and_never_after_it() -> None:
    times = key_times(_incident(), [], [])
    assert times.started == times.detected == minutes(5)
    late_alert = key_times(_incident(), [], [], alerts=[_alert(minutes(30))])
    assert late_alert.started == minutes(5)


def test_started_comes_from_alert_timeline_entries_too() -> None:
    timeline = [TimelineEntry(minutes(2), "alert", "alertmanager", None, "A fired")]
    assert key_times(_incident(), timeline, []).started == minutes(2)


def test_open_incident_has_no_durations_yet() -> None:
    times = key_times(_incident(), [], [_escalation("failed", None), _escalation("discarded", None)])
    assert times.acknowledged is times.mitigated is times.resolved is times.escalated is None
    assert times.time_to_acknowledge is None
    assert times.time_to_mitigate is None
    assert times.time_to_resolve is None


def test_status_entries_fill_moments_the_record_lacks() -> None:
    timeline = [
        TimelineEntry(minutes(12), "status", "pagerbot", "bob", "Acknowledged", {"status": "acknowledged"}),
        TimelineEntry(minutes(8), "status", "pagerbot", "al", "Acknowledged", {"status": "acknowledged"}),
        TimelineEntry(minutes(30), "status", "pagerbot", "al", "Mitigated", {"status": "mitigated"}),
        TimelineEntry(minutes(31), "note", "slack", "al", "mitigated", {"status": "mitigated"}),
    ]
    times = key_times(_incident(mitigated_at=minutes(40)), timeline, [])
    assert times.acknowledged == minutes(8)
    assert times.mitigated == minutes(40)  # the record wins


def test_clock_skew_never_makes_negative_durations() -> None:
    times = KeyTimes(started=minutes(10), detected=minutes(5), acknowledged=minutes(4))
    assert times.time_to_detect == timedelta(0)
    assert times.time_to_acknowledge == timedelta(0)


def _resolved_alert(fired: datetime, ended: datetime) -> AlertRecord:
    return dataclasses.replace(_alert(fired), state="resolved", ends_at=ended, last_received_at=ended)


def test_key_times_in_the_order_they_happened() -> None:
    incident = _incident(status="resolved", acknowledged_at=minutes(6), identified_at=minutes(25),
                         resolved_at=minutes(60))
    times = key_times(incident, [], [_escalation("sent", minutes(21))], alerts=[_alert(minutes(1))])
    labels = [label for label, _ in times.moments()]
    assert labels == ["Started", "Detected", "Acknowledged", "Escalated", "Identified", "Mitigated", "Resolved"]
    moments = [at for _, at in times.moments()]
    assert moments == sorted(m for m in moments if m is not None)
    open_one = key_times(_incident(acknowledged_at=minutes(6)), [], [])
    assert open_one.moments() == [("Started", minutes(5)), ("Detected", minutes(5)), ("Acknowledged", minutes(6)),
                                  ("Escalated", None), ("Mitigated", None), ("Resolved", None)]


def test_mitigated_from_the_move_to_monitoring() -> None:
    timeline = [TimelineEntry(minutes(40), "status", "slack", "al", "moved to monitoring",
                              {"from": "identified", "to": "monitoring", "status": "monitoring"})]
    times = key_times(_incident(status="resolved", resolved_at=minutes(70)), timeline, [])
    assert (times.mitigated, times.mitigated_how) == (minutes(40), "status")


def test_a_resolved_incident_without_a_mitigation_time_takes_the_alerts_clearing_else_the_resolve() -> None:
    incident = _incident(status="resolved", resolved_at=minutes(70))
    cleared = key_times(incident, [], [], alerts=[_resolved_alert(minutes(1), minutes(50)),
                                                 _resolved_alert(minutes(2), minutes(55))])
    assert (cleared.mitigated, cleared.mitigated_how) == (minutes(55), "alerts cleared")
    still_firing = key_times(incident, [], [], alerts=[_resolved_alert(minutes(1), minutes(50)), _alert(minutes(2))])
    assert (still_firing.mitigated, still_firing.mitigated_how) == (minutes(70), "resolved")
    assert key_times(_incident(), [], [], alerts=[_resolved_alert(minutes(1), minutes(3))]).mitigated is None


@pytest.mark.parametrize("start", [datetime(1, 1, 1, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC), None])
def test_a_start_before_2000_or_missing_never_makes_days_to_detect(start: datetime | None) -> None:
    times = key_times(_incident(), [TimelineEntry(datetime(1970, 1, 1, tzinfo=UTC), "alert", "x", None, "A")], [],
                      alerts=[_alert(start)])
    assert times.started == minutes(4)  # when the alert arrived
    assert human_duration(times.time_to_detect) == "1 min"
