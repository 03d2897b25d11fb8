"""The corpus of real notifications (tests/corpus) replayed through a running server, on SQLite and PostgreSQL:
after each notification the incidents, their severity, alerts, hosts and state are what a person expects; a
resend of each (senders deliver at least once) changes nothing; and no notification of the corpus, nor of the
payload fixtures, is answered with a 4xx (a refused page is a lost page: senders do not retry a 4xx)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.corpus.scenarios import CORPUS, SCENARIOS, Expect, Scenario, every_notification, route_of
from tests.fakes.slack_api import FakeSlack
from tests.harness import API_TOKEN, ServerThread, make_settings


@pytest.fixture
def server(database_url: str, fake_slack: FakeSlack) -> Iterator[ServerThread]:
    with ServerThread(make_settings(database_url, slack_api_url=fake_slack.api_url)) as running:
        yield running


def post(server: ServerThread, route: str, body: bytes) -> httpx.Response:
    """The body exactly as the sender sent it."""
    return httpx.post(f"{server.url}/alerts/{route}", content=body, timeout=30,
                      headers={"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"})


def view(server: ServerThread) -> list[dict[str, Any]]:
    """Every incident with its alerts and timeline, oldest first, through the API."""
    return [server.get(f"/incidents/{incident['id']}") for incident in sorted(server.get("/incidents"),
                                                                                key=lambda i: i["id"])]


def snapshot(incidents: list[dict[str, Any]]) -> list[Any]:
    """What a delivery may change. The Slack entries of the timeline are left out: the outbox worker adds
    them as it delivers (a channel created, a topic set), whenever that happens."""
    return [(i["id"], i["severity"], i["status"], i["title"], [e for e in i["timeline"] if e["source"] != "slack"],
             sorted((a["fingerprint"], a["state"], a["severity"], a["title"]) for a in i["alerts"]))
            for i in incidents]


def check(expect: Expect, incidents: list[dict[str, Any]], where: str) -> None:
    latest: dict[str, dict[str, Any]] = {}
    for incident in incidents:
        for alert in incident["alerts"]:  # the latest occurrence of each alert
            latest[alert["fingerprint"]] = alert
    states = [a["state"] for a in latest.values()]
    seen = {
        "incidents": len(incidents), "severities": tuple(i["severity"] for i in incidents), "alerts": len(latest),
        "firing": states.count("firing"), "acknowledged": states.count("acknowledged"),
        "hosts": len({a["host"] for a in latest.values() if a["host"]}),
    }
    wanted = {name: value for name, value in vars(expect).items() if value is not None and name != "timeline"}
    assert {name: seen[name] for name in wanted} == wanted, where
    if expect.timeline is not None:
        texts = [entry["text"] for incident in incidents for entry in incident["timeline"]]
        assert any(expect.timeline in text for text in texts), (where, texts)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.directory for s in SCENARIOS])
def test_corpus_replay(server: ServerThread, scenario: Scenario) -> None:
    assert len(scenario.files) == len(scenario.steps), scenario.directory
    for path, expect in zip(scenario.files, scenario.steps, strict=True):
        body = path.read_bytes()
        answer = post(server, scenario.route, body)
        assert answer.status_code == 202, (path.name, answer.text[:500])
        server.apply_inbox()
        after = view(server)
        check(expect, after, f"{scenario.directory}/{path.name}")
        assert post(server, scenario.route, body).status_code == 202
        server.apply_inbox()
        assert snapshot(view(server)) == snapshot(after), f"resending {path.name} changed something"


def test_no_real_notification_is_refused(server: ServerThread) -> None:
    notifications = every_notification()
    assert {path.parent.name for path in notifications} >= {s.directory for s in SCENARIOS}
    for path in notifications:
        answer = post(server, route_of(path), path.read_bytes())
        assert answer.status_code == 202, (path.relative_to(CORPUS.parent), answer.status_code, answer.text[:300])


def test_every_corpus_directory_has_its_source_and_expectations() -> None:
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    directories = {path.name for path in CORPUS.iterdir() if path.is_dir() and not path.name.startswith("__")}
    assert directories == {s.directory for s in SCENARIOS}
    for directory in directories:
        assert f"| `{directory}` |" in readme, f"tests/corpus/README.md does not say where {directory} comes from"
