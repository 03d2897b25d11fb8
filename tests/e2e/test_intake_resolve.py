"""When every alert of an incident has resolved: a message offering to resolve it, with a Resolve button;
nothing resolves by itself, unless grouping.auto_resolve_minutes is set, and then only after that long."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pagerbot.chat.blocks import RESOLVE_OFFER
from pagerbot.clock import ShiftedClock
from tests.e2e.intake_support import Sender, SlackView
from tests.fakes.slack_api import FakeSlack, Message
from tests.harness import ServerThread, make_settings
from tests.payloads import am_alert, am_notification, resolved

ALERTS = [am_alert("HostDown", instance="db1:9100"), am_alert("HighLoad", instance="db2:9100")]


def _offers(view: SlackView) -> list[Message]:
    return view.with_text("Every alert of INC-1 has resolved")


def _resolve_button(message: Message) -> dict[str, Any]:
    [actions] = [b for b in message.blocks or [] if b["type"] == "actions"]
    [button] = actions["elements"]
    return dict(button)


def _run(database_url: str, slack: FakeSlack, clock: ShiftedClock, config: dict[str, Any]) -> ServerThread:
    settings = make_settings(database_url, slack_api_url=slack.api_url,
                             config={"slack": {"announce_channel": "incidents"}, **config})
    return ServerThread(settings, overrides={"clock": clock, "with_inbox_worker": False})


def _tick(server: ServerThread) -> None:
    """One run of the periodic jobs (what the scheduler does every server.tick_seconds)."""
    assert server.runtime is not None and server.runtime.scheduler is not None
    assert server.call(server.runtime.scheduler.tick())
    assert server.drain()


def test_all_resolved_offers_to_resolve_and_waits(database_url: str, fake_slack: FakeSlack) -> None:
    clock = ShiftedClock(datetime.now(UTC))
    with _run(database_url, fake_slack, clock, {}) as server, Sender(server.url, server=server) as sender:
        sender.post_all("alertmanager", [am_notification(ALERTS)])
        sender.post_all("alertmanager", [am_notification([resolved(ALERTS[0])])])
        assert server.drain()
        assert not _offers(SlackView.of(fake_slack))  # one alert still fires
        assert sender.post_all("alertmanager", [am_notification([resolved(ALERTS[1])])])["resolved"] == 1
        assert server.drain()
        [offer] = _offers(SlackView.of(fake_slack))
        button = _resolve_button(offer)
        assert (button["action_id"], button["value"], button["text"]["text"]) == (RESOLVE_OFFER, "1:1", "Resolve")

        # a repeat of the resolve does not offer again; days later, nothing has resolved by itself
        sender.post_all("alertmanager", [am_notification([resolved(a) for a in ALERTS])])
        clock.jump_to(clock.now() + timedelta(days=3))
        _tick(server)
        assert len(_offers(SlackView.of(fake_slack))) == 1
        incident = server.get("/incidents/1")
        assert incident["status"] == "investigating" and incident["resolved_at"] is None
        offered = "Every alert has resolved; offered to resolve the incident"
        assert [e["text"] for e in incident["timeline"]].count(offered) == 1


def test_auto_resolve_after_the_configured_minutes(database_url: str, fake_slack: FakeSlack) -> None:
    clock = ShiftedClock(datetime.now(UTC))
    config = {"grouping": {"auto_resolve_minutes": 10}}
    with _run(database_url, fake_slack, clock, config) as server, Sender(server.url, server=server) as sender:
        sender.post_all("alertmanager", [am_notification(ALERTS)])
        sender.post_all("alertmanager", [am_notification([resolved(a) for a in ALERTS])])
        assert server.drain()
        offered_at = clock.now()
        assert len(_offers(SlackView.of(fake_slack))) == 1

        clock.jump_to(offered_at + timedelta(minutes=9))
        _tick(server)
        assert server.get("/incidents/1")["status"] == "investigating"

        # a re-fire meanwhile withdraws the offer: the clock starts again when it resolves
        sender.post_all("alertmanager", [am_notification([am_alert("HostDown", instance="db1:9100",
                                                                   starts_at=datetime(2026, 3, 10, 16, 0,
                                                                                      tzinfo=UTC))])])
        clock.jump_to(offered_at + timedelta(minutes=11))
        _tick(server)
        assert server.get("/incidents/1")["status"] == "investigating"
        refire = am_alert("HostDown", instance="db1:9100", starts_at=datetime(2026, 3, 10, 16, 0, tzinfo=UTC))
        sender.post_all("alertmanager", [am_notification([resolved(refire)])])
        assert server.drain()
        second_offer = clock.now()
        # the first offer was withdrawn when the alert fired again (wave 2); the second stands
        assert len(_offers(SlackView.of(fake_slack))) == 1
        assert len(SlackView.of(fake_slack).with_text("Every alert of INC-1 had resolved, but alerts fired")) == 1

        clock.jump_to(second_offer + timedelta(minutes=9, seconds=50))
        _tick(server)
        assert server.get("/incidents/1")["status"] == "investigating"
        clock.jump_to(second_offer + timedelta(minutes=10, seconds=1))
        _tick(server)
        incident = server.get("/incidents/1")
        assert incident["status"] == "resolved" and incident["resolved_at"] is not None
        assert any("auto_resolve_minutes" in e["text"] for e in incident["timeline"])
        texts = [m.text for m in SlackView.of(fake_slack).messages]
        assert ":white_check_mark: pagerbot moved the incident to resolved: Every alert resolved more than 10 " \
               "minutes ago" in "\n".join(texts)
        assert texts[-1] == "INC-1 is resolved. Export the postmortem?"
