"""End to end: timeline capture from Events API deliveries (JSON, signed), as Slack sends them:
:pushpin: reactions and their removal, edits of pinned messages, files posted, Slack's retries."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_requests import event_callback, reaction_event, sign, slash_command
from tests.harness import SIGNING_SECRET, ServerThread, make_settings, wait_for

CONFIG = {"timezone": "America/Los_Angeles", "slack": {"announce_channel": "incidents"}}


def _at(ts: str) -> str:
    return datetime.fromtimestamp(float(ts), UTC).isoformat()


class Events:
    def __init__(self, server: ServerThread, slack: FakeSlack) -> None:
        self.server = server
        self.slack = slack

    def send(self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None,
             timestamp: int | None = None) -> httpx.Response:
        body, headers = event_callback(SIGNING_SECRET, event, event_id=event_id, retry_num=retry_num,
                                       timestamp=timestamp)
        return self.server.slack(body, headers)

    def timeline(self) -> list[dict[str, Any]]:
        return list(self.server.get("/incidents/1")["timeline"])

    def entries(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.timeline() if e["kind"] == kind]


@pytest.fixture
def incident(sqlite_url: str, fake_slack: FakeSlack) -> Any:
    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url, config=CONFIG)
    general = fake_slack.add_channel("general", members=["U0ALICE", "U0BOB"])
    with ServerThread(settings) as server:
        url = fake_slack.new_response_url(channel_id=general, user_id="U0ALICE")
        body, headers = slash_command(SIGNING_SECRET, "declare Orders are stuck", channel_id=general,
                                      response_url=url)
        assert server.slack(body, headers).status_code == 200
        wait_for(lambda: server.get("/incidents"), what="the incident")
        server.drain()
        channel = wait_for(lambda: server.get("/incidents/1")["channel_id"], what="its channel")
        yield Events(server, fake_slack), str(channel), general


def test_pushpin_reaction_adds_the_message_with_its_own_time_and_author(incident: Any) -> None:
    events, channel, general = incident
    fake = events.slack
    ts = fake.post_as_user(channel, "U0BOB", "db1 shows iowait at 98% <!channel> *look*")
    time.sleep(1.1)  # the pin comes later than the message: the entry keeps the message's time
    response = events.send(reaction_event("pushpin", user_id="U0ALICE", channel_id=channel, message_ts=ts,
                                          item_user="U0BOB"))
    assert response.status_code == 200
    pins = wait_for(lambda: events.entries("pin"), what="the pinned entry")
    assert len(pins) == 1
    assert pins[0]["at"] == _at(ts)
    assert pins[0]["actor"] == "U0BOB" and pins[0]["source"] == "slack"
    assert pins[0]["text"] == "db1 shows iowait at 98% <!channel> *look*"  # stored as said; escaped when shown
    history = [c for c in fake.calls_to("conversations.history") if c.args.get("latest") == ts]
    assert history and history[0].ok

    # the timeline command shows it escaped: no @channel, no formatting
    url = fake.new_response_url(channel_id=channel, user_id="U0ALICE")
    body, headers = slash_command(SIGNING_SECRET, "timeline", channel_id=channel, response_url=url)
    events.server.slack(body, headers)
    shown = wait_for(lambda: fake.responses(url), what="the timeline")[0]["text"]
    assert "db1 shows iowait at 98%" in shown and "<!channel>" not in shown and "&lt;!channel&gt;" in shown

    # other reactions, and pins of messages outside incident channels, are ignored
    other = fake.post_as_user(channel, "U0BOB", "thumbs")
    events.send(reaction_event("thumbsup", user_id="U0ALICE", channel_id=channel, message_ts=other))
    outside = fake.post_as_user(general, "U0BOB", "lunch?")
    events.send(reaction_event("pushpin", user_id="U0ALICE", channel_id=general, message_ts=outside))
    time.sleep(0.3)
    assert len(events.entries("pin")) == 1

    # the same message pinned by a second person is still one entry
    events.send(reaction_event("round_pushpin", user_id="U0CAROL", channel_id=channel, message_ts=ts))
    time.sleep(0.3)
    assert len(events.entries("pin")) == 1

    # editing the pinned message updates the entry (its time stays) and records the edit
    edit = {
        "type": "message", "subtype": "message_changed", "hidden": True, "channel": channel,
        "ts": f"{time.time():.6f}", "event_ts": f"{time.time():.6f}", "channel_type": "channel",
        "message": {"type": "message", "user": "U0BOB", "text": "db1 iowait 98%: the RAID is rebuilding",
                    "ts": ts, "edited": {"user": "U0BOB", "ts": f"{time.time():.6f}"}},
        "previous_message": {"type": "message", "user": "U0BOB", "text": "db1 shows iowait at 98%", "ts": ts},
    }
    assert events.send(edit).status_code == 200
    wait_for(lambda: events.entries("edit"), what="the edit entry")
    pins = events.entries("pin")
    assert len(pins) == 1 and pins[0]["text"] == "db1 iowait 98%: the RAID is rebuilding"
    assert pins[0]["at"] == _at(ts)
    edits = events.entries("edit")
    assert len(edits) == 1 and "RAID is rebuilding" in edits[0]["text"] and edits[0]["actor"] == "U0BOB"

    # an edit of a message that is not on the timeline is not recorded
    unpinned = {**edit, "message": {**edit["message"], "ts": other, "text": "edited thumbs"}}
    events.send(unpinned)
    time.sleep(0.3)
    assert len(events.entries("edit")) == 1

    # removing the reaction removes the entry
    removed = reaction_event("pushpin", user_id="U0ALICE", channel_id=channel, message_ts=ts, added=False)
    assert events.send(removed).status_code == 200
    wait_for(lambda: not events.entries("pin"), what="the pin entry to go")


def test_a_file_posted_in_the_channel_is_recorded(incident: Any) -> None:
    events, channel, _general = incident
    ts = f"{time.time() - 30:.6f}"
    share = {
        "type": "message", "subtype": "file_share", "channel": channel, "user": "U0CAROL", "text": "the dashboard",
        "ts": ts, "event_ts": ts, "channel_type": "channel", "upload": False, "display_as_bot": False,
        "files": [{"id": "F0DASHBOARD", "name": "grafana-db1.png", "title": "grafana-db1.png",
                   "mimetype": "image/png", "filetype": "png", "user": "U0CAROL", "size": 48213}],
    }
    assert events.send(share, event_id="Ev0FILESHARE").status_code == 200
    files = wait_for(lambda: events.entries("file"), what="the file entry")
    assert len(files) == 1
    assert files[0]["text"] == "File posted: grafana-db1.png"
    assert files[0]["actor"] == "U0CAROL" and files[0]["at"] == _at(ts)

    # plain chatter and the bot's own messages are not timeline entries
    before = len(events.timeline())
    events.send({"type": "message", "channel": channel, "user": "U0BOB", "text": "looking", "ts": f"{time.time():.6f}"})
    events.send({"type": "message", "subtype": "bot_message", "channel": channel, "bot_id": "B0OTHER",
                 "text": "beep", "ts": f"{time.time():.6f}"})
    time.sleep(0.3)
    assert len(events.timeline()) == before


def test_a_retried_event_changes_nothing(incident: Any) -> None:
    events, channel, _general = incident
    fake = events.slack
    ts = fake.post_as_user(channel, "U0BOB", "restarting the primary")
    pin = reaction_event("pushpin", user_id="U0ALICE", channel_id=channel, message_ts=ts)
    assert events.send(pin, event_id="Ev0PIN1").status_code == 200
    wait_for(lambda: events.entries("pin"), what="the pin")
    removed = reaction_event("pushpin", user_id="U0ALICE", channel_id=channel, message_ts=ts, added=False)
    assert events.send(removed, event_id="Ev0UNPIN1").status_code == 200
    wait_for(lambda: not events.entries("pin"), what="the unpin")
    timeline = events.timeline()
    history_calls = len(fake.calls_to("conversations.history"))

    # Slack retries the first delivery (it thought we were too slow): the pin must not come back
    for retry in (1, 2):
        response = events.send(pin, event_id="Ev0PIN1", retry_num=retry)
        assert response.status_code == 200
    share = {"type": "message", "subtype": "file_share", "channel": channel, "user": "U0BOB", "text": "",
             "ts": f"{time.time():.6f}", "files": [{"id": "F0LOG", "name": "primary.log"}]}
    events.send(share, event_id="Ev0FILE1")
    wait_for(lambda: events.entries("file"), what="the file")
    events.send(share, event_id="Ev0FILE1", retry_num=1)
    time.sleep(0.3)
    after = events.timeline()
    assert [e for e in after if e["kind"] != "file"] == timeline
    assert len([e for e in after if e["kind"] == "file"]) == 1
    assert len(fake.calls_to("conversations.history")) == history_calls


@pytest.mark.parametrize("tamper", ["bad signature", "six minutes old"])
def test_forged_or_stale_events_get_401_and_change_nothing(incident: Any, tamper: str) -> None:
    events, channel, _general = incident
    fake = events.slack
    ts = fake.post_as_user(channel, "U0BOB", "forged?")
    timeline = events.timeline()
    stale = int(time.time()) - 6 * 60 if tamper == "six minutes old" else None
    body, headers = event_callback(SIGNING_SECRET, reaction_event("pushpin", user_id="U0ALICE", channel_id=channel,
                                                                  message_ts=ts), timestamp=stale)
    if tamper == "bad signature":
        headers.update(sign("wrong-secret", body))
    assert events.server.slack(body, headers).status_code == 401
    time.sleep(0.3)
    assert events.timeline() == timeline
    assert not [c for c in fake.calls_to("conversations.history") if c.args.get("latest") == ts]
