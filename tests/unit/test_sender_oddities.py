"""Odd things senders send, read as what they are: Go's zero time is "unset" but a second after it is a time;
invisible characters (bidi overrides, zero-width) never reach an alert's text."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pagerbot.intake.bodies import decode_json, parse_body
from pagerbot.intake.limits import parse_time


@pytest.mark.parametrize(("text", "expected"), [
    ("0001-01-01T00:00:00Z", None),
    ("0001-01-01T00:00:00.000000000Z", None),
    ("0001-01-01T00:00:01Z", datetime(1, 1, 1, 0, 0, 1, tzinfo=UTC)),
    ("0001-01-01T12:00:00Z", datetime(1, 1, 1, 12, tzinfo=UTC)),
])
def test_only_gos_zero_time_is_unset(text: str, expected: datetime | None) -> None:
    assert parse_time(text, "alerts[0].startsAt") == expected


INVISIBLE = "\u202e\u202a\u2066\u200b\u200c\u200d\u2060\ufeff\u200e\u061c"


@pytest.mark.parametrize("escaped", [False, True])
def test_invisible_characters_are_dropped_from_every_sender_string(escaped: bool) -> None:
    title = f"Disk{INVISIBLE} full on db1 gnp.exe"
    body = {"version": "4", "status": "firing", "receiver": "r", "groupKey": "{}:{}", "groupLabels": {},
            "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am", "truncatedAlerts": 0,
            "alerts": [{"status": "firing", "labels": {"alertname": f"Disk{INVISIBLE}Full", "instance": "db1"},
                        "annotations": {"summary": title}, "startsAt": "2026-03-10T15:00:00Z",
                        "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "abc"}]}
    text = json.dumps(body, ensure_ascii=escaped)
    assert any(c in text for c in INVISIBLE) != escaped
    [alert] = parse_body("alertmanager", text)
    shown = json.dumps([alert.title, alert.name, alert.labels], ensure_ascii=False)
    assert not any(c in shown for c in INVISIBLE), shown
    assert alert.title == "Disk full on db1 gnp.exe" and alert.name == "DiskFull"
    assert decode_json('"plain text, nothing to drop"') == "plain text, nothing to drop"
