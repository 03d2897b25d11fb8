"""Alerts a sender left out of its notification (Alertmanager's and Grafana's truncatedAlerts) reach the
incident's header: the parsers carry the count on each alert, the header says it in words."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pagerbot.chat.blocks import header
from pagerbot.core.records import AlertTally, IncidentRecord
from pagerbot.intake.alertmanager import parse_alertmanager
from pagerbot.intake.grafana import parse_grafana

OPENED = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
ALERT = {"status": "firing", "labels": {"alertname": "HostHighLoad", "instance": "web00:9100"}}


def incident(left_out: int, by: str | None) -> IncidentRecord:
    return IncidentRecord(id=4, title="HostHighLoad", severity=3, status="investigating", lead=None,
                          channel_id="C1", channel_name="inc-1", opened_at=OPENED, alerts_left_out=left_out,
                          left_out_by=by)


def test_parsers_carry_the_count() -> None:
    assert [a.left_out for a in parse_alertmanager({"alerts": [ALERT] * 3, "truncatedAlerts": 57}).alerts] == [57] * 3
    assert [a.left_out for a in parse_grafana({"alerts": [ALERT], "truncatedAlerts": 2})] == [2]
    assert parse_alertmanager({"alerts": [ALERT]}).alerts[0].left_out == 0


def test_the_header_says_how_many_were_left_out() -> None:
    tally = AlertTally(by_name=[("HostHighLoad", 3, 0)], busiest_hosts=[], hosts=[], started=OPENED, first=[])
    assert incident(2, "alertmanager").left_out_note == "Alertmanager left out 2 alerts"
    assert incident(1, "grafana").left_out_note == "Grafana left out 1 alert"
    assert incident(0, "alertmanager").left_out_note is None
    shown = str(header(incident(57, "alertmanager"), tally, tz=ZoneInfo("UTC")))
    assert "3 firing, 0 resolved\\n:warning: Alertmanager left out 57 alerts" in shown
    assert "left out" not in str(header(incident(0, None), tally, tz=ZoneInfo("UTC")))
