"""Hypothesis: any JSON value gives alerts or a PayloadError, never another exception;
valid generated bodies come back as the alerts they describe."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pagerbot.core.alerts import AlertState, Severity
from pagerbot.intake.alertmanager import parse_alertmanager
from pagerbot.intake.errors import PayloadError
from pagerbot.intake.generic import generic_key, parse_generic
from pagerbot.intake.grafana import parse_grafana
from pagerbot.intake.pagerduty import parse_pagerduty
from pagerbot.sendalert import build_generic_body

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = st.sampled_from(
    [
        "alerts",
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "fingerprint",
        "generatorURL",
        "version",
        "groupKey",
        "receiver",
        "commonLabels",
        "truncatedAlerts",
        "orgId",
        "state",
        "values",
        "silenceURL",
        "event_action",
        "dedup_key",
        "payload",
        "summary",
        "source",
        "severity",
        "timestamp",
        "custom_details",
        "links",
        "images",
        "href",
        "src",
        "title",
        "host",
        "key",
        "starts_at",
        "url",
        "alertname",
        "instance",
    ]
) | st.text(max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(
        [
            "firing",
            "resolved",
            "trigger",
            "resolve",
            "acknowledge",
            "critical",
            "4",
            "sev2",
            "2024-05-01T12:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59-23:59",
            "",
        ]
    )
    | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=40,
)

PARSERS: list[Callable[[object], object]] = [
    parse_alertmanager,
    parse_grafana,
    parse_pagerduty,
    parse_generic,
]


def only_payload_errors(body: object) -> None:
    for parser in PARSERS:
        try:
            parser(body)
        except PayloadError as error:
            assert isinstance(error.field, str) and error.message
            assert len(str(error)) < 1000


@FUZZ
@given(JSON)
def test_arbitrary_json_gives_alerts_or_payload_error(body: object) -> None:
    only_payload_errors(body)


NEAR_ALERT = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["firing", "resolved"]) | SCALARS,
        "labels": st.dictionaries(KEYS, SCALARS, max_size=4),
    },
    optional={
        "annotations": JSON,
        "startsAt": SCALARS,
        "endsAt": SCALARS,
        "fingerprint": SCALARS,
        "generatorURL": SCALARS,
        "values": JSON,
        "valueString": SCALARS,
    },
)


@FUZZ
@given(
    st.fixed_dictionaries(
        {"version": st.sampled_from(["4", "1"]), "alerts": st.lists(NEAR_ALERT, max_size=4)},
        optional={"status": SCALARS, "commonLabels": JSON, "orgId": SCALARS, "state": SCALARS},
    )
)
def test_near_valid_alertmanager_and_grafana_bodies(body: dict[str, Any]) -> None:
    only_payload_errors(body)


NEAR_PD = st.fixed_dictionaries(
    {"event_action": st.sampled_from(["trigger", "acknowledge", "resolve"]) | SCALARS},
    optional={
        "dedup_key": SCALARS,
        "routing_key": SCALARS,
        "links": JSON,
        "images": JSON,
        "payload": st.fixed_dictionaries(
            {},
            optional={
                "summary": SCALARS,
                "source": SCALARS,
                "severity": SCALARS,
                "timestamp": SCALARS,
                "custom_details": JSON,
                "component": SCALARS,
            },
        ),
    },
)


@FUZZ
@given(NEAR_PD | st.lists(NEAR_PD, max_size=3))
def test_near_valid_pagerduty_bodies(body: object) -> None:
    only_payload_errors(body)


# --- round trips ----------------------------------------------------------------------------------
NAMES = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True)
VALUES = st.text(max_size=40)
LABELS = st.dictionaries(NAMES, VALUES, max_size=10)
TITLE = st.text(min_size=1, max_size=80).filter(lambda t: t.strip() != "")
WORDS = st.sampled_from(["critical", "error", "warning", "info", "sev1", "sev2", "sev3", "sev4"])


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["firing", "resolved"]), LABELS, LABELS), min_size=1, max_size=5))
def test_alertmanager_round_trip(specs: list[tuple[str, dict[str, str], dict[str, str]]]) -> None:
    body = {
        "version": "4",
        "status": "firing",
        "alerts": [{"status": s, "labels": labels, "annotations": ann} for s, labels, ann in specs],
    }
    body = json.loads(json.dumps(body))  # exactly what the route would decode
    alerts = parse_alertmanager(body).alerts
    assert [a.state.value for a in alerts] == [s for s, _, _ in specs]
    assert [dict(a.labels) for a in alerts] == [labels for _, labels, _ in specs]
    assert [dict(a.annotations) for a in alerts] == [ann for _, _, ann in specs]
    for alert, (_, labels, _) in zip(alerts, specs, strict=True):
        assert alert.severity is Severity.parse(labels.get("severity"), default=Severity.SEV3)
        assert alert.title  # always something to show
    # the fallback fingerprint depends on the labels only, not on their order
    again = parse_alertmanager(
        {"alerts": [{"status": "firing", "labels": dict(reversed(list(specs[0][1].items())))}]}
    )
    assert again.alerts[0].fingerprint == alerts[0].fingerprint


@FUZZ
@given(
    title=TITLE,
    severity=st.none() | st.integers(1, 4) | WORDS,
    host=st.none() | st.from_regex(r"[a-z0-9.-]{1,30}", fullmatch=True),
    resolve=st.booleans(),
    key=st.none() | st.text(min_size=1, max_size=40).filter(lambda k: k.strip() != ""),
    description=st.none() | st.text(max_size=100),
)
def test_generic_round_trip_through_send_alert_body(
    title: str,
    severity: int | str | None,
    host: str | None,
    resolve: bool,
    key: str | None,
    description: str | None,
) -> None:
    body = build_generic_body(
        title=title, severity=severity, host=host, resolve=resolve, key=key, description=description
    )
    [alert] = parse_generic(json.loads(json.dumps(body)))
    assert alert.title == " ".join(title.split())
    assert alert.state is (AlertState.RESOLVED if resolve else AlertState.FIRING)
    assert alert.severity is (Severity.SEV3 if severity is None else Severity.parse(severity))
    assert alert.host == host
    assert alert.fingerprint == (key if key is not None else generic_key(alert.title, host))
    assert alert.description == (description or "")


@FUZZ
@given(
    summary=TITLE,
    source=st.from_regex(r"[a-z0-9.-]{1,30}", fullmatch=True),
    severity=st.sampled_from(["critical", "error", "warning", "info"]),
    dedup=st.none() | st.text(min_size=1, max_size=255).filter(lambda k: k.strip() != ""),
)
def test_pagerduty_round_trip(summary: str, source: str, severity: str, dedup: str | None) -> None:
    event: dict[str, Any] = {
        "routing_key": "r" * 32,
        "event_action": "trigger",
        "payload": {"summary": summary, "source": source, "severity": severity},
    }
    if dedup is not None:
        event["dedup_key"] = dedup
    [alert] = parse_pagerduty(event)
    assert alert.host == source
    assert alert.severity is Severity.parse(severity)
    if dedup is not None:
        assert alert.fingerprint == dedup
        [resolved] = parse_pagerduty({"event_action": "resolve", "dedup_key": dedup})
        assert resolved.fingerprint == alert.fingerprint and resolved.state is AlertState.RESOLVED
    else:
        assert parse_pagerduty(event)[0].fingerprint == alert.fingerprint
