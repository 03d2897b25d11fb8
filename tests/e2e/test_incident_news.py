"""The channel tells the incident as it happens, over the fake Slack (SQLite and PostgreSQL): a second wave
after a lull is a new message at the bottom, in the header, the topic and the timeline; the stale "Resolve?"
offer is withdrawn; a storm's next wave gets a digest of its own; Acknowledge gives way to who acknowledged;
the #incidents announcement follows; buttons of older messages answer with what happened and change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pagerbot.chat.blocks import ACK, RESOLVE_OFFER, clock
from pagerbot.clock import ShiftedClock
from tests.e2e.intake_support import Sender, SlackView
from tests.e2e.test_slack_commands import Bot
from tests.fakes.slack_api import FakeSlack, Message
from tests.harness import ServerThread, make_settings, wait_for
from tests.payloads import am_alert, am_notification, resolved

TZ = "America/Los_Angeles"
CONFIG: dict[str, Any] = {"timezone": TZ, "slack": {"announce_channel": "incidents", "responders": ["U0ALICE"]},
                          "intake": {"digest_seconds": 0}}
FIRST = datetime(2026, 3, 10, 14, 4, tzinfo=UTC)
SECOND = datetime(2026, 3, 10, 17, 36, tzinfo=UTC)


def _server(database_url: str, slack: FakeSlack, clock_: ShiftedClock, config: dict[str, Any]) -> ServerThread:
    settings = make_settings(database_url, slack_api_url=slack.api_url, config=config)
    return ServerThread(settings, overrides={"clock": clock_, "with_inbox_worker": False})


def _buttons(message: Message) -> list[str]:
    return [e["action_id"] for b in message.blocks or [] if b["type"] == "actions" for e in b["elements"]]


def _texts(message: Message) -> str:
    """Everything a person reads in a message: its text and its blocks' text."""
    parts = [message.text]
    for block in message.blocks or []:
        parts += [str((block.get("text") or {}).get("text", ""))]
        parts += [str(f.get("text", "")) for f in block.get("fields") or []]
        parts += [str(e.get("text", "")) for e in block.get("elements") or [] if isinstance(e.get("text"), str)]
    return "\n".join(parts)


def _waves(alerts: list[dict[str, Any]], sender: Sender, server: ServerThread, when: ShiftedClock) -> None:
    """A first wave, a lull with every alert resolved, then the second wave's first alert: the last delivery
    is applied in one inbox batch and delivered by one drain of the outbox."""
    when.jump_to(FIRST)
    sender.post_all("alertmanager", [am_notification(alerts)])
    assert server.drain()
    when.jump_to(FIRST + timedelta(hours=2, minutes=10))
    sender.post_all("alertmanager", [am_notification([resolved(a, FIRST + timedelta(hours=2)) for a in alerts])])
    assert server.drain()
    when.jump_to(SECOND)
    again = am_alert("HostDown", instance="db1:9100", starts_at=SECOND)
    assert server.post_alerts("alertmanager", am_notification([again]), apply=False).status_code == 202
    assert server.apply_inbox().new == 1
    assert server.drain()


def test_a_second_wave_is_news_and_withdraws_the_offer(database_url: str, fake_slack: FakeSlack) -> None:
    when = ShiftedClock(FIRST)
    alerts = [am_alert("HostDown", instance="db1:9100", starts_at=FIRST),
              am_alert("HighLoad", instance="db2:9100", starts_at=FIRST)]
    with _server(database_url, fake_slack, when, CONFIG) as server, Sender(server.url, server=server) as sender:
        _waves(alerts, sender, server, when)
        view = SlackView.of(fake_slack)
        view.assert_opened_once()
        wave_at = clock(SECOND, ZoneInfo(TZ))
        assert wave_at == "10:36"

        # the news is the newest message of the channel
        news = view.messages[-1]
        # the lull by the alerts' own clocks: they ended at 09:04 (endsAt), delivered at 09:14
        assert news.text == "Wave 2 of INC-1 began at 10:36, after a lull of 1 h 32 min"
        assert "*HostDown* on db1" in _texts(news)
        assert "every alert had resolved at 09:04; the incident is still open" in _texts(news)

        # the stale offer: no button, and why
        [offer] = [m for m in view.messages if "Every alert of INC-1 had resolved" in m.text]
        assert _buttons(offer) == []
        assert "alerts fired again at 10:36 (wave 2)" in offer.text
        assert not view.with_text("Every alert of INC-1 has resolved")  # no offer stands

        # the header and the topic say which wave; the timeline has it
        assert "wave 2 since 10:36" in _texts(view.pinned[0])
        channel = fake_slack.channel(view.channel_id)
        assert channel is not None and channel.topic.startswith("SEV1 · investigating · wave 2 since 10:36 · ")
        timeline = server.get("/incidents/1")["timeline"]
        [wave] = [e for e in timeline if e["kind"] == "wave"]
        assert wave["text"].startswith("Wave 2 began: HostDown fired again after a lull of 1 h 32 min")
        assert server.get("/incidents/1")["status"] == "investigating"

        # hosts by their names: the instance's port shows nowhere
        assert not [m.text for m in view.messages if ":9100" in _texts(m)]

        # the offer's Resolve pressed now (it crossed the withdrawal): told what happened, nothing resolved
        bot = Bot(server, fake_slack)
        posts = len(fake_slack.messages(view.channel_id))
        url = bot.click(RESOLVE_OFFER, "1:1", channel_id=view.channel_id, message_ts=offer.ts)
        [answer] = wait_for(lambda: fake_slack.responses(url), what="the answer to the stale offer")
        assert answer["response_type"] == "ephemeral"
        assert answer["text"].startswith(":ocean: Alerts of INC-1 fired again at 10:36 (wave 2, 1 firing)")
        assert server.drain()
        assert server.get("/incidents/1")["resolved_at"] is None
        assert len(fake_slack.messages(view.channel_id)) == posts


def test_acknowledge_gives_way_and_a_second_press_changes_nothing(database_url: str, fake_slack: FakeSlack) -> None:
    when = ShiftedClock(FIRST)
    with _server(database_url, fake_slack, when, CONFIG) as server, Sender(server.url, server=server) as sender:
        sender.post_all("alertmanager", [am_notification([am_alert("HostDown", starts_at=FIRST)])])
        assert server.drain()
        view = SlackView.of(fake_slack)
        header = view.pinned[0]
        assert _buttons(header)[0] == ACK
        assert "SEV1 INC-1 · investigating" in view.announcements[0].text

        bot = Bot(server, fake_slack)
        url = bot.click(ACK, "1", channel_id=view.channel_id, message_ts=header.ts)
        wait_for(lambda: server.get("/incidents/1")["status"] == "acknowledged", what="the acknowledgement")
        assert server.drain()
        view = SlackView.of(fake_slack)
        acked = view.pinned[0]
        assert ACK not in _buttons(acked)
        assert f"Acknowledged by <@U0ALICE> at {clock(when.now(), ZoneInfo(TZ))}" in _texts(acked)
        # the channel says it once; the one who pressed gets no private copy
        assert len([m for m in view.messages if "moved the incident to acknowledged" in m.text]) == 1
        assert fake_slack.responses(url) == []
        # the announcement in #incidents follows, edited in place
        assert len(view.announcements) == 1
        assert "SEV1 INC-1 · acknowledged" in view.announcements[0].text

        # Acknowledge pressed again on the old header (a client that had not redrawn it): said, not done
        posts = len(fake_slack.messages(view.channel_id))
        url = bot.click(ACK, "1", channel_id=view.channel_id, message_ts=header.ts, user="U0BOB")
        [answer] = wait_for(lambda: fake_slack.responses(url), what="the answer to a second Acknowledge")
        assert answer["response_type"] == "ephemeral"
        assert "INC-1 is acknowledged already (Acknowledged by <@U0ALICE> at" in answer["text"]
        assert server.drain()
        incident = server.get("/incidents/1")
        assert incident["lead"] == "U0ALICE" and incident["status"] == "acknowledged"
        assert len(fake_slack.messages(view.channel_id)) == posts


def test_a_storms_second_wave_gets_a_digest_of_its_own(database_url: str, fake_slack: FakeSlack) -> None:
    when = ShiftedClock(FIRST)
    config = {**CONFIG, "intake": {"storm_threshold": 3, "digest_seconds": 0}}
    alerts = [am_alert(name, instance=f"web{n}:9100", starts_at=FIRST)
              for n in range(1, 4) for name in ("HostDown", "HighLoad")]
    with _server(database_url, fake_slack, when, config) as server, Sender(server.url, server=server) as sender:
        _waves(alerts, sender, server, when)
        view = SlackView.of(fake_slack)
        first, second = view.digests()
        assert first.text == "Alert digest, wave 1: 0 firing, 6 resolved"
        assert "Wave 1, last updated 09:14 · closed: wave 2 has a digest of its own" in _texts(first)
        assert second.text == "Alert digest, wave 2: 1 firing, 0 resolved"
        assert "Wave 2, last updated 10:36" in _texts(second)
        assert view.messages.index(second) > view.messages.index(first)
        news = [m for m in view.messages if m.text.startswith("Wave 2 of INC-1 began at 10:36")]
        assert len(news) == 1 and view.messages.index(news[0]) < view.messages.index(second)
