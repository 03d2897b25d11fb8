"""The foundation path, end to end over HTTP: an Alertmanager notification opens an incident channel."""

from __future__ import annotations

import pytest

from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.harness import ServerThread, make_settings, wait_for
from tests.payloads import am_alert, am_notification, resolved

CONFIG = {
    "timezone": "America/Los_Angeles",
    "slack": {"announce_channel": "incidents", "responders": ["U0ALICE", "bob@example.com"]},
}


def _incident_channel(slack: FakeSlack):
    def find():
        return next((c for c in slack.channels.values() if c.name.startswith("inc-")), None)
    return wait_for(find, what="incident channel")


def test_alertmanager_notification_opens_a_channel(database_url: str, fake_slack: FakeSlack) -> None:
    settings = make_settings(database_url, slack_api_url=fake_slack.api_url, config=CONFIG)
    alert = am_alert("DBHighIOWait", instance="db1:9100", summary="db1 is starved for disk I/O")
    with ServerThread(settings, overrides={"with_inbox_worker": False}) as server:
        response = server.post_alerts("alertmanager", am_notification([alert]))
        assert response.status_code == 202, response.text
        assert [i for i, _ in response.result.opened] == [1]
        assert server.drain()

        channel = _incident_channel(fake_slack)
        assert channel.name.startswith("inc-2026") and channel.name.endswith("-db1-is-starved-for-disk-i-o")
        assert channel.topic.startswith("SEV1 · investigating · no lead yet")
        assert "INC-1" in channel.purpose
        assert {"U0ALICE", "U0BOB", BOT_USER_ID} <= set(channel.members)
        assert fake_slack.calls_to("users.lookupByEmail")[0].args["email"] == "bob@example.com"

        pinned = fake_slack.pinned(channel.id)
        assert len(pinned) == 1
        header = pinned[0]
        actions = next(b for b in header.blocks if b["type"] == "actions")
        assert [e["text"]["text"] for e in actions["elements"]] == ["Acknowledge", "Escalate", "Graphs", "Resolve"]
        text = str(header.blocks)
        assert "DBHighIOWait" in text and "db1" in text and ("PDT" in text or "PST" in text)

        announce = fake_slack.channel_by_name("incidents")
        assert announce is not None
        posts = fake_slack.messages(announce.id)
        assert len(posts) == 1 and f"<#{channel.id}>" in posts[0].text

        incident = server.get("/incidents/1")
        assert incident["channel_id"] == channel.id and incident["severity"] == 1
        kinds = [e["text"] for e in incident["timeline"]]
        for step in ("Channel #", "Topic set", "Purpose set", "Responders invited", "Header posted",
                     "Header pinned", "Announced in #incidents"):
            assert any(t.startswith(step) for t in kinds), (step, kinds)
        assert any(e["source"] == "alertmanager" and "DBHighIOWait" in e["text"] for e in incident["timeline"])

        # the same notification again changes nothing
        again = server.post_alerts("alertmanager", am_notification([alert]))
        assert again.result.duplicates == 1 and again.result.new == 0
        server.drain()
        assert len([c for c in fake_slack.channels.values() if c.name.startswith("inc-")]) == 1

        # a resolved notification marks the alert resolved and says so in the channel
        done = server.post_alerts("alertmanager", am_notification([resolved(alert)]))
        assert done.result.resolved == 1
        server.drain()
        texts = [m.text for m in fake_slack.messages(channel.id)]
        assert any("Resolved" in t and "DBHighIOWait" in t for t in texts)
        assert any("Every alert of INC-1 has resolved" in t for t in texts)
        incident = server.get("/incidents/1")
        assert incident["alerts"][0]["state"] == "resolved"
        assert incident["status"] == "investigating"  # nothing resolves by itself


def test_channel_name_clash_gets_a_suffix(sqlite_url: str, fake_slack: FakeSlack) -> None:
    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url, config=CONFIG)
    with ServerThread(settings) as server:
        server.post_alerts("alertmanager", am_notification([am_alert("Disk full", cluster="a")], cluster="a"))
        server.drain()
        server.post_alerts("alertmanager", am_notification([am_alert("Disk full", cluster="b")], cluster="b"))
        server.drain()
    names = sorted(c.name for c in fake_slack.channels.values() if c.name.startswith("inc-"))
    assert len(names) == 2 and names[1] == names[0] + "-2"


def test_slack_down_while_opening_delivers_once_when_back(sqlite_url: str, fake_slack: FakeSlack) -> None:
    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url, config=CONFIG)
    with ServerThread(settings) as server:
        fake_slack.outage(503)
        response = server.post_alerts("alertmanager", am_notification([am_alert("HostDown")]))
        assert response.status_code == 202
        server.call(server.runtime.worker.drain(1.0))
        assert not [c for c in fake_slack.channels.values() if c.name.startswith("inc-")]
        fake_slack.end_outage()
        fake_slack.rate_limit_next("conversations.setTopic", retry_after=1)
        assert server.drain(60)
        channels = [c for c in fake_slack.channels.values() if c.name.startswith("inc-")]
        assert len(channels) == 1
        assert len(fake_slack.pinned(channels[0].id)) == 1
        announce = fake_slack.channel_by_name("incidents")
        assert announce is not None and len(fake_slack.messages(announce.id)) == 1


@pytest.mark.parametrize("body, status, error", [
    (b"{not json", 400, "malformed JSON"),
    (b"\xff\xfe", 400, "body is not UTF-8"),
    (b'{"version": "4", "alerts": "nope"}', 422, "not a valid alertmanager body"),
])
def test_bad_bodies_are_rejected_and_nothing_is_stored(sqlite_url: str, fake_slack: FakeSlack, body: bytes,
                                                       status: int, error: str) -> None:
    import httpx

    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url, config=CONFIG)
    with ServerThread(settings) as server:
        response = httpx.post(f"{server.url}/alerts/alertmanager", content=body,
                              headers={"Authorization": "Bearer test-token-123", "Content-Type": "application/json"})
        assert response.status_code == status
        assert response.json()["error"].startswith(error)
        assert server.get("/incidents") == []
        wrong = httpx.post(f"{server.url}/alerts/alertmanager", json=am_notification([am_alert("X")]),
                           headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid token"
        assert server.get("/incidents") == []
