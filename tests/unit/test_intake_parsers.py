"""The sender parsers on real payloads (tests/fixtures/payloads, see SOURCES.md) and on bad input."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pagerbot.core.alerts import AlertEvent, AlertState, Severity
from pagerbot.intake.alertmanager import by_host_name, host_from_labels, parse_alertmanager
from pagerbot.intake.errors import PayloadError
from pagerbot.intake.generic import generic_key, parse_generic
from pagerbot.intake.grafana import parse_grafana
from pagerbot.intake.limits import (
    MAX_LABEL_VALUE_LENGTH,
    MAX_LABELS,
    child,
    clip,
    parse_time,
    stable_hash,
)
from pagerbot.intake.pagerduty import parse_pagerduty, success_body

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "payloads"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def am_alerts(body: object) -> list[AlertEvent]:
    return parse_alertmanager(body).alerts


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


# --- every fixture is documented -----------------------------------------------------------------
def test_every_fixture_is_named_in_sources() -> None:
    sources = (FIXTURES / "SOURCES.md").read_text(encoding="utf-8")
    for path in sorted(FIXTURES.glob("*/*.json")):
        assert f"{path.parent.name}/{path.name}" in sources, path


# --- Alertmanager ---------------------------------------------------------------------------------
def test_alert_text_names_the_host_as_people_do() -> None:
    labels = {"instance": "db1:9100", "alertname": "DBHighIOWait"}
    text = "db1:9100 spent 54.3% of CPU time in iowait; db1:91000 and xdb1:9100 are other things"
    assert by_host_name(text, labels, "db1") == \
        "db1 spent 54.3% of CPU time in iowait; db1:91000 and xdb1:9100 are other things"
    assert by_host_name(text, {"instance": "db1:9100", "host": "primary"}, "primary") == text  # a host label
    probe = {"instance": "https://db1.example.org:443/health"}
    assert by_host_name("https://db1.example.org:443/health is down", probe, "db1.example.org") == \
        "https://db1.example.org:443/health is down"
@given(st.lists(st.sampled_from(["db1:9100", "db1", ":", "9", "x", "_", ".", "-", " ", "é", "db1:9100:"]), max_size=12))
def test_alert_text_names_the_host_where_the_instance_stands_alone(pieces: list[str]) -> None:
    """The same replacement as the pattern that states the rule: the instance, not inside a longer name."""
    text = "".join(pieces)
    expected = re.sub(r"(?<![\w.-])db1:9100(?![\w:])", "db1", text)
    assert by_host_name(text, {"instance": "db1:9100"}, "db1") == expected


def test_alertmanager_firing_with_fingerprint_and_summary() -> None:
    note = parse_alertmanager(load("alertmanager/firing_probe_failure.json"))
    assert note.status is AlertState.FIRING
    assert note.receiver == "sms"
    assert note.group_key == '{}/{severity="critical"}:{alertname="ProbeFailure"}'
    assert note.external_url == "http://prometheus.example.org:9093"
    assert note.group_labels == {"alertname": "ProbeFailure"}
    assert note.common_labels["severity"] == "critical"
    assert note.truncated_alerts == 0
    [alert] = note.alerts
    assert alert.source == "alertmanager"
    assert alert.fingerprint == "1a30ba71cca2921f"
    assert alert.state is AlertState.FIRING
    assert alert.name == "ProbeFailure"
    assert alert.title == "BlackBox Probe Failure: https://server.example.org"
    assert alert.description.startswith("Instance https://server.example.org has been down")
    assert alert.severity is Severity.SEV1
    assert alert.host == "server.example.org"  # a URL instance gives its host name
    assert alert.starts_at == utc(2023, 2, 6, 13, 8, 45, 828000)
    assert alert.ends_at is None  # 0001-01-01T00:00:00Z means unset
    assert alert.url is not None and alert.url.startswith("http://prometheus.example.org:9090/graph")


def test_alertmanager_firing_and_resolved_without_fingerprint_share_the_label_hash() -> None:
    [firing] = am_alerts(load("alertmanager/firing_fire.json"))
    [resolved] = am_alerts(load("alertmanager/resolved_fire.json"))
    assert firing.state is AlertState.FIRING and resolved.state is AlertState.RESOLVED
    assert (
        firing.fingerprint
        == resolved.fingerprint
        == stable_hash(sorted({"alertname": "Fire", "severity": "critical"}.items()))
    )
    assert firing.title == "Fire"  # no summary: the alertname
    assert firing.description == "Something is on fire"  # the message annotation
    assert firing.severity is Severity.SEV1
    assert firing.host is None
    # +01:00 offsets and nanoseconds become aware UTC, microseconds
    assert firing.starts_at == utc(2018, 11, 4, 21, 43, 58, 283995)
    assert resolved.ends_at == utc(2018, 11, 4, 21, 48, 13, 283995)
    assert firing.url == "http://localhost:9090/graph?g0.expr=vector%28666%29&g0.tab=1"


def test_alertmanager_instance_loses_its_port_and_default_severity_is_sev3() -> None:
    [alert] = am_alerts(load("alertmanager/firing_gist.json"))
    assert alert.host == "localhost"
    assert alert.severity is Severity.SEV3
    assert alert.title == "Test"
    assert alert.description == "some description"
    assert alert.labels["dc"] == "eu-west-1"


@pytest.mark.parametrize(
    ("labels", "host"),
    [
        ({"host": "web1", "instance": "10.0.0.1:9100"}, "web1"),
        ({"hostname": "web2"}, "web2"),
        ({"instance": "10.0.0.1:9100"}, "10.0.0.1"),
        ({"instance": "[2001:db8::1]:9100"}, "2001:db8::1"),
        ({"instance": "2001:db8::1"}, "2001:db8::1"),
        ({"instance": "https://shop.example.com/health"}, "shop.example.com"),
        ({"node": "k8s-node-3"}, "k8s-node-3"),
        ({"instance": ""}, None),
        ({}, None),
    ],
)
def test_host_from_labels(labels: dict[str, str], host: str | None) -> None:
    assert host_from_labels(labels) == host


@pytest.mark.parametrize(
    ("word", "severity"),
    [
        ("critical", Severity.SEV1),
        ("error", Severity.SEV2),
        ("warning", Severity.SEV3),
        ("info", Severity.SEV4),
        ("sev2", Severity.SEV2),
        ("1", Severity.SEV1),
        ("bogus", Severity.SEV3),
    ],
)
def test_alertmanager_severity_label(word: str, severity: Severity) -> None:
    body = {"alerts": [{"status": "firing", "labels": {"alertname": "X", "severity": word}}]}
    assert am_alerts(body)[0].severity is severity


def test_alertmanager_long_summary_is_clipped_to_one_line() -> None:
    summary = "disk   full\non " + "x" * 5000
    body = {"alerts": [{"status": "firing", "labels": {}, "annotations": {"summary": summary}}]}
    [alert] = am_alerts(body)
    assert len(alert.title) == 1024 and alert.title.endswith("…") and "\n" not in alert.title
    assert alert.annotations["summary"] == summary


# --- Grafana --------------------------------------------------------------------------------------
def test_grafana_docs_example() -> None:
    alerts = parse_grafana(load("grafana/firing_docs_example.json"))
    assert [a.fingerprint for a in alerts] == ["c6eadffa33fcdf37", "bc97ff14869b13e3"]
    first = alerts[0]
    assert first.source == "grafana"
    assert first.state is AlertState.FIRING
    assert first.name == "High memory usage"
    assert first.title == "This alert was triggered for zone us-1"
    assert first.description == "The system has high memory usage"
    assert first.severity is Severity.SEV3
    assert first.labels == {"alertname": "High memory usage", "team": "blue", "zone": "us-1"}
    assert first.starts_at == utc(2021, 10, 12, 7, 51, 3, 157076)
    assert first.url == "https://play.grafana.org/alerting/1afz29v7z/edit"


def test_grafana_firing_then_resolved_capture() -> None:
    [firing] = parse_grafana(load("grafana/firing_systemd.json"))
    [resolved] = parse_grafana(load("grafana/resolved_systemd.json"))
    assert firing.fingerprint == resolved.fingerprint == "93070e04dcab3ea0"
    assert (firing.state, resolved.state) == (AlertState.FIRING, AlertState.RESOLVED)
    assert firing.title == "systemd failures"
    assert resolved.ends_at == utc(2022, 4, 8, 11, 14, 56, 136489)


def test_grafana_url_falls_back_to_the_panel() -> None:
    body = load("grafana/resolved_systemd.json")
    body["alerts"][0]["generatorURL"] = ""
    assert parse_grafana(body)[0].url == "https://example.com/grafana/d/hyFvC6y7z?viewPanel=2"


def test_grafana_severity_label() -> None:
    body = load("grafana/firing_docs_example.json")
    body["alerts"][1]["labels"]["severity"] = "critical"
    assert [a.severity for a in parse_grafana(body)] == [Severity.SEV3, Severity.SEV1]


# --- PagerDuty ------------------------------------------------------------------------------------
def test_pagerduty_trigger() -> None:
    [event] = parse_pagerduty(load("pagerduty/trigger.json"))
    assert event.source == "pagerduty"
    assert event.fingerprint == "samplekeyhere"
    assert event.state is AlertState.FIRING
    assert event.title == "Example alert on host1.example.com"
    assert event.severity is Severity.SEV4  # info
    assert (
        event.host == "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats-prod-003"
    )
    assert event.labels["component"] == "postgres"
    assert event.labels["group"] == "prod-datapipe"
    assert event.name == event.labels["class"] == "deploy"
    assert event.annotations == {"ping time": "1500ms", "load avg": "0.75"}
    assert event.starts_at == utc(2015, 7, 17, 8, 42, 58, 315000)  # "+0000" offsets accepted
    assert event.url == "https://example.com/"
    assert success_body(event) == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "samplekeyhere",
    }


@pytest.mark.parametrize(
    ("name", "state"), [("acknowledge", AlertState.ACKNOWLEDGED), ("resolve", AlertState.RESOLVED)]
)
def test_pagerduty_acknowledge_and_resolve(name: str, state: AlertState) -> None:
    [event] = parse_pagerduty(load(f"pagerduty/{name}.json"))
    assert event.fingerprint == "dedupkeyhere"
    assert event.state is state
    assert event.title == "PagerDuty alert dedupkeyhere"


def test_pagerduty_trigger_without_dedup_key_gets_a_stable_one() -> None:
    body = load("pagerduty/trigger.json")
    del body["dedup_key"]
    [first] = parse_pagerduty(body)
    changed = copy.deepcopy(body)
    changed["payload"]["timestamp"] = "2015-07-17T09:00:00Z"  # a retry later: same alert
    [again] = parse_pagerduty(changed)
    assert len(first.fingerprint) == 32 and first.fingerprint == again.fingerprint
    changed["payload"]["summary"] = "Another problem"
    assert parse_pagerduty(changed)[0].fingerprint != first.fingerprint


@pytest.mark.parametrize(("word", "severity"), [("critical", 1), ("error", 2), ("warning", 3), ("info", 4)])
def test_pagerduty_severities(word: str, severity: int) -> None:
    body = load("pagerduty/trigger.json")
    body["payload"]["severity"] = word
    assert parse_pagerduty(body)[0].severity == severity


def test_pagerduty_batch() -> None:
    events = parse_pagerduty([load("pagerduty/trigger.json"), load("pagerduty/resolve.json")])
    assert [e.state for e in events] == [AlertState.FIRING, AlertState.RESOLVED]


# --- generic --------------------------------------------------------------------------------------
def test_generic_minimal() -> None:
    [alert] = parse_generic({"title": "  db1   replication lag "})
    assert alert.source == "generic"
    assert alert.title == "db1 replication lag"
    assert alert.state is AlertState.FIRING
    assert alert.severity is Severity.SEV3
    assert alert.fingerprint == generic_key("db1 replication lag", None)
    assert alert.host is None and alert.url is None and alert.starts_at is None


def test_generic_full_and_batch() -> None:
    one = {
        "title": "db1 replication lag",
        "status": "resolved",
        "severity": "sev2",
        "host": "db1",
        "key": "db1/replication",
        "description": "Seconds_Behind_Master = 412",
        "labels": {"cluster": "prod-east", "alertname": "ReplicationLag"},
        "url": "https://nagios.example.com/x",
        "starts_at": "2024-05-01T12:00:00Z",
    }
    [alert] = parse_generic({"alerts": [one]})
    assert alert.state is AlertState.RESOLVED
    assert alert.severity is Severity.SEV2
    assert alert.fingerprint == "db1/replication"
    assert alert.host == "db1"
    assert alert.name == "ReplicationLag"
    assert alert.labels == {"cluster": "prod-east", "alertname": "ReplicationLag"}
    assert alert.description == "Seconds_Behind_Master = 412"
    assert alert.starts_at == utc(2024, 5, 1, 12)


@pytest.mark.parametrize(
    ("value", "severity"),
    [(1, 1), (4, 4), ("3", 3), ("SEV1", 1), ("critical", 1), ("Warning", 3), ("info", 4)],
)
def test_generic_severity_forms(value: object, severity: int) -> None:
    assert parse_generic({"title": "t", "severity": value})[0].severity == severity


def test_generic_default_key_depends_on_title_and_host() -> None:
    a = parse_generic({"title": "disk full", "host": "web1"})[0].fingerprint
    assert a == parse_generic({"title": "disk full", "host": "web1", "status": "resolved"})[0].fingerprint
    assert a != parse_generic({"title": "disk full", "host": "web2"})[0].fingerprint


# --- bad input: PayloadError naming the field -----------------------------------------------------
def am_with(**alert: object) -> dict[str, object]:
    base: dict[str, object] = {"status": "firing", "labels": {"alertname": "A"}}
    base.update(alert)
    return {"version": "4", "alerts": [{"status": "firing", "labels": {}}, base]}


HUGE = "x" * (MAX_LABEL_VALUE_LENGTH + 1)
TOO_MANY = {f"l{i}": "v" for i in range(MAX_LABELS + 1)}
Parser = Callable[[object], object]

BAD: list[tuple[str, Parser, object, str]] = [
    # Alertmanager
    ("am not an object", parse_alertmanager, [1, 2], ""),
    ("am no alerts", parse_alertmanager, {"version": "4"}, "alerts"),
    ("am alerts not a list", parse_alertmanager, {"alerts": {}}, "alerts"),
    ("am alert not an object", parse_alertmanager, {"alerts": ["x"]}, "alerts[0]"),
    ("am wrong version", parse_alertmanager, {"version": "3", "alerts": []}, "version"),
    ("am missing status", parse_alertmanager, {"alerts": [{"labels": {}}]}, "alerts[0].status"),
    ("am unknown status", parse_alertmanager, am_with(status="pending"), "alerts[1].status"),
    ("am status not a string", parse_alertmanager, am_with(status=1), "alerts[1].status"),
    ("am bad top status", parse_alertmanager, {"status": "weird", "alerts": []}, "status"),
    ("am missing labels", parse_alertmanager, {"alerts": [{"status": "firing"}]}, "alerts[0].labels"),
    ("am labels a list", parse_alertmanager, am_with(labels=["a"]), "alerts[1].labels"),
    (
        "am label not a string",
        parse_alertmanager,
        am_with(labels={"severity": 1}),
        "alerts[1].labels.severity",
    ),
    ("am label null", parse_alertmanager, am_with(labels={"a": None}), "alerts[1].labels.a"),
    ("am odd label name", parse_alertmanager, am_with(labels={"a b": 2}), 'alerts[1].labels["a b"]'),
    ("am bad startsAt", parse_alertmanager, am_with(startsAt="yesterday"), "alerts[1].startsAt"),
    ("am bad date", parse_alertmanager, am_with(startsAt="2024-02-30T00:00:00Z"), "alerts[1].startsAt"),
    ("am startsAt number", parse_alertmanager, am_with(startsAt=12), "alerts[1].startsAt"),
    ("am fingerprint number", parse_alertmanager, am_with(fingerprint=5), "alerts[1].fingerprint"),
    ("am generatorURL", parse_alertmanager, am_with(generatorURL=[]), "alerts[1].generatorURL"),
    ("am commonLabels", parse_alertmanager, {"alerts": [], "commonLabels": {"a": 1}}, "commonLabels.a"),
    ("am truncatedAlerts", parse_alertmanager, {"alerts": [], "truncatedAlerts": "1"}, "truncatedAlerts"),
    # Grafana
    ("gf no alerts", parse_grafana, {"orgId": 1}, "alerts"),
    ("gf orgId string", parse_grafana, {"alerts": [], "orgId": "1"}, "orgId"),
    ("gf unknown state", parse_grafana, {"alerts": [], "state": "on fire"}, "state"),
    ("gf alert status", parse_grafana, {"alerts": [{"status": "ok", "labels": {}}]}, "alerts[0].status"),
    (
        "gf values not numbers",
        parse_grafana,
        {"alerts": [{"status": "firing", "labels": {}, "values": {"B": "high"}}]},
        "alerts[0].values.B",
    ),
    (
        "gf silenceURL",
        parse_grafana,
        {"alerts": [{"status": "firing", "labels": {}, "silenceURL": 3}]},
        "alerts[0].silenceURL",
    ),
    # PagerDuty
    ("pd not an object", parse_pagerduty, "trigger", ""),
    ("pd empty batch", parse_pagerduty, [], ""),
    ("pd no action", parse_pagerduty, {"routing_key": "k"}, "event_action"),
    ("pd unknown action", parse_pagerduty, {"event_action": "escalate"}, "event_action"),
    ("pd resolve without key", parse_pagerduty, {"event_action": "resolve"}, "dedup_key"),
    (
        "pd dedup_key too long",
        parse_pagerduty,
        {"event_action": "resolve", "dedup_key": "k" * 256},
        "dedup_key",
    ),
    ("pd trigger without payload", parse_pagerduty, {"event_action": "trigger"}, "payload"),
    (
        "pd trigger without summary",
        parse_pagerduty,
        {"event_action": "trigger", "payload": {"source": "h", "severity": "info"}},
        "payload.summary",
    ),
    (
        "pd bad severity",
        parse_pagerduty,
        {"event_action": "trigger", "payload": {"summary": "s", "source": "h", "severity": "sev1"}},
        "payload.severity",
    ),
    (
        "pd batch item",
        parse_pagerduty,
        [{"event_action": "resolve", "dedup_key": "k"}, {}],
        "[1].event_action",
    ),
    # generic
    ("gen not an object", parse_generic, None, ""),
    ("gen no title", parse_generic, {"host": "h"}, "title"),
    ("gen empty title", parse_generic, {"title": "   "}, "title"),
    ("gen title number", parse_generic, {"title": 5}, "title"),
    ("gen title too long", parse_generic, {"title": "t" * 1025}, "title"),
    ("gen unknown status", parse_generic, {"title": "t", "status": "ok"}, "status"),
    ("gen bad severity", parse_generic, {"title": "t", "severity": 7}, "severity"),
    ("gen bad severity word", parse_generic, {"title": "t", "severity": "meh"}, "severity"),
    ("gen severity bool", parse_generic, {"title": "t", "severity": True}, "severity"),
    ("gen unknown field", parse_generic, {"title": "t", "severty": 1}, "severty"),
    ("gen labels strings", parse_generic, {"title": "t", "labels": {"a": 1}}, "labels.a"),
    ("gen too many labels", parse_generic, {"title": "t", "labels": TOO_MANY}, "labels"),
    ("gen bad starts_at", parse_generic, {"title": "t", "starts_at": "2024-13-01T00:00:00Z"}, "starts_at"),
    ("gen batch empty", parse_generic, {"alerts": []}, "alerts"),
    ("gen batch extra", parse_generic, {"alerts": [{"title": "t"}], "title": "x"}, "title"),
    ("gen batch item", parse_generic, {"alerts": [{"title": "t"}, {"title": 1}]}, "alerts[1].title"),
]


# --- what a real sender may send is never refused: oversized values are clipped with a marker ------------
PD_TRIGGER = {"event_action": "trigger", "dedup_key": "k",
              "payload": {"summary": "s", "source": "h", "severity": "info"}}


def test_sender_maps_are_clipped_not_refused() -> None:
    [alert] = parse_alertmanager(am_with(labels={"a": HUGE, "": "dropped", "n" * 300: "v"},
                                         annotations={"d": "y" * 20000}, fingerprint="")).alerts[1:]
    assert len(alert.labels["a"]) == MAX_LABEL_VALUE_LENGTH and alert.labels["a"].endswith("more characters]")
    assert "" not in alert.labels and any(name.startswith("nnn") for name in alert.labels)
    assert alert.annotations["d"].startswith("yyy") and "clipped by pagerbot" in alert.annotations["d"]
    assert len(alert.annotations["d"]) == 16 * 1024
    assert alert.fingerprint  # an empty fingerprint is replaced by the labels' hash
    [many] = parse_alertmanager(am_with(labels=TOO_MANY)).alerts[1:]
    assert len(many.labels) == MAX_LABELS and "more entries were left out" in many.labels["pagerbot_clipped"]
    assert len(parse_alertmanager({"alerts": [{"status": "firing", "labels": {}}] * 1500}).alerts) == 1500


def test_names_hosts_and_keys_fit_the_database() -> None:
    long = "n" * 3000
    [alert] = parse_alertmanager(am_with(labels={"alertname": long, "host": long}, fingerprint="f" * 400)).alerts[1:]
    assert len(alert.name) == len(alert.host or "") == 255 and len(alert.fingerprint) == 255
    [again] = parse_alertmanager(am_with(labels={"alertname": long, "host": long}, fingerprint="f" * 400)).alerts[1:]
    assert again.fingerprint == alert.fingerprint  # the same long key always gives the same stored key
    [other] = parse_alertmanager(am_with(labels={"alertname": "x"}, fingerprint="f" * 399 + "g")).alerts[1:]
    assert other.fingerprint != alert.fingerprint
    [generic] = parse_generic({"title": "t" * 1000, "key": "k" * 500})
    assert len(generic.name) == 255 and len(generic.fingerprint) == 255


def test_pagerduty_oddities_of_real_senders_are_accepted() -> None:
    payload = {**PD_TRIGGER["payload"], "summary": "s" * 3000, "timestamp": "yesterday",  # type: ignore[dict-item]
               "custom_details": {"firing": "x" * 30000, "num_firing": 60}}
    [event] = parse_pagerduty({**PD_TRIGGER, "payload": payload, "links": [{"text": "no href"}, {"href": ""},
                                                                           {"href": "https://l.example"}],
                               "images": [{"url": "https://i.example/a.png"}, {"src": "https://i.example/b"}]})
    assert len(event.title) == 1024 and event.starts_at is None and event.url == "https://l.example"
    assert "clipped by pagerbot" in event.annotations["firing"] and event.annotations["num_firing"] == "60"
    assert event.identity_by_key


@pytest.mark.parametrize(("case", "parser", "body", "field"), BAD, ids=[case[0] for case in BAD])
def test_bad_input_names_the_field(case: str, parser: Parser, body: object, field: str) -> None:
    with pytest.raises(PayloadError) as info:
        parser(body)
    assert info.value.field == field, str(info.value)
    assert str(info.value).startswith(f"{field or 'body'}: ")
    assert len(str(info.value)) < 300  # never echoes a huge value back


def test_payload_error_shape() -> None:
    error = PayloadError("alerts[3].labels", "expected an object of strings")
    assert str(error) == "alerts[3].labels: expected an object of strings"
    assert isinstance(error, ValueError)
    assert error.to_dict() == {"field": "alerts[3].labels", "message": "expected an object of strings"}
    assert (
        str(PayloadError("", "expected an object, got an array")) == "body: expected an object, got an array"
    )


# --- shared helpers -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00Z", utc(2024, 5, 1, 12)),
        ("2024-05-01t12:00:00z", utc(2024, 5, 1, 12)),
        ("2024-05-01T14:00:00+02:00", utc(2024, 5, 1, 12)),
        ("2024-05-01T12:00:00.123456789Z", utc(2024, 5, 1, 12, 0, 0, 123456)),
        ("2015-07-17T08:42:58.315+0000", utc(2015, 7, 17, 8, 42, 58, 315000)),
        ("2016-12-31T23:59:60Z", utc(2016, 12, 31, 23, 59, 59)),
        ("0001-01-01T00:00:00Z", None),
        ("0001-01-01T00:00:00+05:00", None),
    ],
)
def test_parse_time(text: str, expected: datetime | None) -> None:
    assert parse_time(text, "t") == expected


@pytest.mark.parametrize(
    "text",
    ["2024-05-01", "2024-05-01T12:00:00", "12:00", "2024-05-01T25:00:00Z", "2024-05-01T12:00:00+24:00", ""],
)
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse_time(text, "alerts[0].startsAt")
    assert info.value.field == "alerts[0].startsAt"


def test_child_paths() -> None:
    assert child("", "alerts") == "alerts"
    assert child("alerts[3]", "labels") == "alerts[3].labels"
    assert child("labels", "a.b") == 'labels["a.b"]'
    assert len(child("labels", "k" * 1000)) < 100


def test_stable_hash_ignores_key_order() -> None:
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert len(stable_hash("x")) == 16 and len(stable_hash("x", length=32)) == 32


def test_clip() -> None:
    assert clip("a\n b", 10) == "a b"
    assert clip("abcdef", 4) == "abc…"
