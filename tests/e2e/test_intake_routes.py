"""Every alert route end to end over HTTP, with real example bodies of each format (tests/fixtures/payloads,
SOURCES.md) and the examples of docs/intake.md; and the answers a sender must be able to rely on: 413
naming the limit, 401, and 503 when the database cannot be reached (nothing is half-stored)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.intake_support import Sender, incident_alerts, scalar
from tests.fakes.slack_api import FakeSlack
from tests.harness import API_TOKEN, PG_ADMIN, ServerThread, free_port, make_settings, postgres_database, wait_for
from tests.payloads import am_alert, am_notification

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "payloads"
CONFIG: dict[str, Any] = {"slack": {"announce_channel": "incidents", "responders": ["U0ALICE"]}}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def docs_generic_examples() -> list[Any]:
    """The generic bodies docs/intake.md shows: the two curl examples' -d bodies, then the batch."""
    text = (ROOT / "docs" / "intake.md").read_text(encoding="utf-8")
    section = text[text.index("## The generic form"):text.index("## `pagerbot send-alert`")]
    bodies = [json.loads(body) for body in re.findall(r"-d '(\{.*?\})'", section, re.S)]
    bodies += [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.S)]
    assert len(bodies) == 3, bodies
    return bodies


@pytest.fixture
def server(database_url: str, fake_slack: FakeSlack) -> Iterator[ServerThread]:
    settings = make_settings(database_url, slack_api_url=fake_slack.api_url, config=CONFIG)
    # Deliveries are applied when a test applies the inbox, so each answer's effects can be told apart.
    with ServerThread(settings, overrides={"with_inbox_worker": False}) as running:
        yield running


def test_grafana(server: ServerThread, fake_slack: FakeSlack) -> None:
    with Sender(server.url, server=server) as sender:
        docs = sender.post("grafana", fixture("grafana/firing_docs_example.json"))
        assert docs.status_code == 202, docs.text
        assert docs.result.new == 2
        systemd = sender.post("grafana", fixture("grafana/firing_systemd.json"))
        assert systemd.result.new == 1 and len(systemd.result.opened) == 1
        again = sender.post("grafana", fixture("grafana/firing_systemd.json"))
        assert again.result.duplicates == 1 and again.result.opened == []
        # The recorded resolve is of a later occurrence (its startsAt is 13:10, the firing one's 13:02): that
        # one is stored as resolved, and the 13:02 one, whose resolve never came, ended when it began.
        done = sender.post("grafana", fixture("grafana/resolved_systemd.json"))
        assert done.status_code == 202
        assert (done.result.new, done.result.resolved) == (1, 1)
    assert server.drain()
    alerts = incident_alerts(server)
    systemd_alerts = [a for i in server.get("/incidents") for a in server.get(f"/incidents/{i['id']}")["alerts"]
                      if a["fingerprint"] == "93070e04dcab3ea0"]
    assert [(a["state"], a["starts_at"], a["ends_at"]) for a in systemd_alerts] == [
        ("resolved", "2022-04-08T11:02:06.136489+00:00", "2022-04-08T11:10:46.136489+00:00"),
        ("resolved", "2022-04-08T11:10:46.136489+00:00", "2022-04-08T11:14:56.136489+00:00")]
    assert alerts["93070e04dcab3ea0"]["title"] == "systemd failures"
    assert {alerts[f]["state"] for f in ("c6eadffa33fcdf37", "bc97ff14869b13e3")} == {"firing"}
    assert alerts["c6eadffa33fcdf37"]["title"] == "This alert was triggered for zone us-1"
    # no cluster label: each alert name is its own group
    assert len(server.get("/incidents")) == 3
    channels = [c for c in fake_slack.channels.values() if c.name.startswith("inc-")]
    assert len(channels) == 3
    systemd_channel = next(c for c in channels if "systemd-failures" in c.name)
    texts = [m.text for m in fake_slack.messages(systemd_channel.id)]
    assert any(t.startswith("Every alert of INC-") for t in texts)


def test_pagerduty_trigger_acknowledge_resolve(server: ServerThread, fake_slack: FakeSlack) -> None:
    trigger = fixture("pagerduty/trigger.json")
    with Sender(server.url, server=server) as sender:
        first = sender.post("pagerduty", trigger)
        assert first.status_code == 202, first.text
        assert first.json() == {"status": "success", "message": "Event processed", "dedup_key": "samplekeyhere"}
        assert sender.post("pagerduty", trigger).status_code == 202  # a retried delivery
        key = first.json()["dedup_key"]
        assert server.get("/incidents")[0]["severity"] == 4  # payload.severity info
        for name, state in (("acknowledge", "acknowledged"), ("resolve", "resolved")):
            event = {**fixture(f"pagerduty/{name}.json"), "dedup_key": key}
            answer = sender.post("pagerduty", event)
            assert answer.status_code == 202, answer.text
            assert answer.json()["dedup_key"] == key
            [alert] = incident_alerts(server).values()
            assert alert["state"] == state
            # an acknowledge or resolve carries no payload: the trigger's details stay
            assert (alert["title"], alert["severity"], alert["host"]) == (
                "Example alert on host1.example.com", 4, trigger["payload"]["source"])
            assert alert["labels"]["component"] == "postgres"

        # A trigger without dedup_key gets one derived from its contents; a retry maps to the same alert.
        keyless = {k: v for k, v in trigger.items() if k != "dedup_key"}
        keyless["payload"] = {**trigger["payload"], "summary": "Disk full on host2", "group": "other"}
        derived = sender.post("pagerduty", keyless).json()["dedup_key"]
        assert re.fullmatch(r"[0-9a-f]{32}", derived)
        assert sender.post("pagerduty", keyless).json()["dedup_key"] == derived
        resolve = sender.post("pagerduty", {**fixture("pagerduty/resolve.json"), "dedup_key": derived})
        assert resolve.status_code == 202

        # An acknowledge for a key never triggered is accepted and changes nothing
        unknown = sender.post("pagerduty", {**fixture("pagerduty/acknowledge.json"), "dedup_key": "nope"})
        assert unknown.status_code == 202 and unknown.json()["dedup_key"] == "nope"
        missing = sender.post("pagerduty", fixture("pagerduty/trigger.json") | {"event_action": "escalate"})
        # PagerDuty's own answer to an invalid event, which its client libraries expect
        assert missing.status_code == 400 and "event_action" in missing.json()["error"]
        assert missing.json()["status"] == "invalid event" and "event_action" in missing.json()["errors"][0]
    assert server.drain()
    alerts = incident_alerts(server)
    assert set(alerts) == {"samplekeyhere", derived}
    assert {a["state"] for a in alerts.values()} == {"resolved"}
    assert scalar(server.settings.database_url, "SELECT count(*) FROM alerts") == 2


def test_generic_examples_of_the_docs(server: ServerThread, fake_slack: FakeSlack) -> None:
    firing, resolving, batch = docs_generic_examples()
    with Sender(server.url, server=server) as sender:
        opened = sender.post("generic", firing)
        assert opened.status_code == 202 and opened.result.new == 1, opened.text
        assert sender.post("generic", firing).result.duplicates == 1
        assert sender.post("generic", batch).result.new == 2
        assert sender.post("generic", resolving).result.resolved == 1
        typo = sender.post("generic", {"title": "x", "severty": 2})
        assert typo.status_code == 422 and "severty" in typo.json()["error"]
    assert server.drain()
    incidents = {i["title"]: i for i in server.get("/incidents")}
    replication = incidents["db1 replication lag over 5 minutes"]
    assert replication["severity"] == 2
    detail = server.get(f"/incidents/{replication['id']}")
    assert [(a["fingerprint"], a["state"], a["host"]) for a in detail["alerts"]] == [
        ("db1/replication", "resolved", "db1")]
    assert detail["alerts"][0]["labels"] == {"cluster": "prod-east"}
    web = [i for t, i in incidents.items() if t.startswith("web")]
    assert len(web) == 2 and {i["severity"] for i in web} == {1}


def test_oversized_bodies_are_refused_naming_the_limit(sqlite_url: str, fake_slack: FakeSlack) -> None:
    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url,
                             config={**CONFIG, "intake": {"max_body_bytes": 4096}})
    body = json.dumps({"title": "big", "description": "x" * 5000}).encode()
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
    with ServerThread(settings) as server:
        declared = httpx.post(f"{server.url}/alerts/generic", content=body, headers=headers)
        # without Content-Length (chunked): the limit is enforced while reading
        streamed = httpx.post(f"{server.url}/alerts/generic", content=iter([body[:3000], body[3000:]]),
                              headers=headers)
        for answer in (declared, streamed):
            assert answer.status_code == 413
            assert answer.json() == {
                "error": "payload too large: the limit is 4096 bytes (intake.max_body_bytes)",
                "detail": {"limit_bytes": 4096}}
        fits = httpx.post(f"{server.url}/alerts/generic", json={"title": "fits", "description": "x" * 3000},
                          headers=headers)
        assert fits.status_code == 202
        server.apply_inbox()
    assert scalar(sqlite_url, "SELECT count(*) FROM alerts") == 1


def test_authentication(sqlite_url: str, fake_slack: FakeSlack) -> None:
    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url, config=CONFIG)
    body = {"title": "disk full", "host": "db1"}
    url_path = "/alerts/generic"

    def basic(user: str, password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    with ServerThread(settings, overrides={"with_inbox_worker": False}) as server:
        url = server.url + url_path
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": API_TOKEN},
                        basic("alertmanager", "wrong"), {"Authorization": "Basic !!!"}):
            answer = httpx.post(url, json=body, headers=headers)
            assert answer.status_code == 401, (headers, answer.text)
            assert answer.json()["error"] == "invalid token"
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert scalar(sqlite_url, "SELECT count(*) FROM alerts") == 0
        assert httpx.post(url, json=body, headers=basic("alertmanager", API_TOKEN)).status_code == 202
        server.apply_inbox()
        assert server.post_alerts("generic", body).result.duplicates == 1
        assert httpx.get(f"{server.url}/incidents").status_code == 401


def _assert_unavailable(server: ServerThread) -> None:
    with Sender(server.url, server=server) as sender:
        for route, body in (("alertmanager", am_notification([am_alert("HostDown")])),
                            ("generic", {"title": "disk full"}), ("grafana", fixture("grafana/firing_systemd.json"))):
            answer = sender.post(route, body)
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"] == "database unavailable"
            assert answer.headers["Retry-After"] == "5"
        pagerduty = sender.post("pagerduty", fixture("pagerduty/trigger.json"))
        assert pagerduty.status_code == 503
        assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 503
        assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_database_unreachable_is_503(fake_slack: FakeSlack) -> None:
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/pagerbot"
    settings = make_settings(closed, slack_api_url=fake_slack.api_url, config=CONFIG)
    with ServerThread(settings, migrate=False) as server:
        _assert_unavailable(server)


def test_dropped_database_is_503(fake_slack: FakeSlack) -> None:
    import asyncpg

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(PG_ADMIN)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    with postgres_database() as url:
        settings = make_settings(url, slack_api_url=fake_slack.api_url, config=CONFIG)
        with ServerThread(settings) as server, Sender(server.url, server=server) as sender:
            assert sender.post("generic", {"title": "before"}).status_code == 202
            name = url.rsplit("/", 1)[1]
            asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))
            _assert_unavailable(server)
            wait_for(lambda: httpx.get(f"{server.url}/healthz").status_code == 200, what="still alive")


def test_characters_no_database_stores_are_kept_not_refused(database_url: str, fake_slack: FakeSlack) -> None:
    """NUL (PostgreSQL text refuses it) and lone surrogates (not UTF-8) can be spelled as JSON escapes; the
    alert is stored with U+FFFD in their place instead of failing with a 500. Huge incident numbers are 422."""
    settings = make_settings(database_url, slack_api_url=fake_slack.api_url, config=CONFIG)
    bodies = {
        "generic": '{"title": "disk \\u0000 full", "host": "db\\ud8001", "labels": {"cluster\\u0000": "a"}}',
        "alertmanager": json.dumps(am_notification([am_alert("Host\u0000Down", summary="x\ud800y")])),
        "pagerduty": '{"event_action": "trigger", "routing_key": "k", "dedup_key": "nul\\u0000key",'
                     ' "payload": {"summary": "s\\u0000", "source": "h", "severity": "info"}}',
    }
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
    with ServerThread(settings) as server:
        for route, body in bodies.items():
            answer = httpx.post(f"{server.url}/alerts/{route}", content=body.encode(), headers=headers)
            assert answer.is_success, (route, answer.text)
        assert server.drain()
        titles = sorted(a["title"] for a in incident_alerts(server).values())
        assert titles == ["disk \ufffd full", "s\ufffd", "x\ufffdy"]
        assert "nul\ufffdkey" in incident_alerts(server)
        for path in ("/incidents/99999999999999999999", "/incidents/0/postmortem.md"):
            answer = httpx.get(server.url + path, headers=headers)
            assert answer.status_code == 422 and answer.json()["detail"][0]["field"] == "path.incident_id"


def test_one_active_occurrence_per_alert(server: ServerThread) -> None:
    """A newer occurrence of an alert ends an older one whose resolve never came; an older occurrence
    delivered late is stored as ended when the newer one began."""
    def at(hour: int) -> datetime:
        return datetime(2026, 3, 10, hour, 0, tzinfo=UTC)

    with Sender(server.url, server=server) as sender:
        sender.post_all("alertmanager", [am_notification([am_alert("HostDown", starts_at=at(10))])])
        second = sender.post_all("alertmanager", [am_notification([am_alert("HostDown", starts_at=at(12))])])
        assert (second["new"], second["resolved"]) == (1, 1)
        late = sender.post_all("alertmanager", [am_notification([am_alert("HostDown", starts_at=at(11))])])
        assert (late["new"], late["resolved"]) == (1, 0)
    detail = server.get("/incidents/1")
    occurrences = sorted((a["starts_at"], a["state"], a["ends_at"]) for a in detail["alerts"])
    assert occurrences == [
        ("2026-03-10T10:00:00+00:00", "resolved", "2026-03-10T12:00:00+00:00"),
        ("2026-03-10T11:00:00+00:00", "resolved", "2026-03-10T12:00:00+00:00"),
        ("2026-03-10T12:00:00+00:00", "firing", None)]
