"""Driving on-call paging in tests: alerts in, scheduler ticks on a test clock, pages read from the fake Slack."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pagerbot.chat import blocks
from pagerbot.clock import ManualClock
from tests.fakes.slack_api import FakeSlack, Message
from tests.fakes.slack_requests import block_action, slash_command
from tests.harness import SIGNING_SECRET, ServerThread, wait_for
from tests.payloads import am_alert, am_notification


def is_page(message: Message) -> bool:
    return any(b.get("block_id") == blocks.PAGE_FACTS for b in message.blocks or [])


def has_ack_button(message: Message) -> bool:
    return any(b.get("block_id") == "page_actions" for b in message.blocks or [])


class Paging:
    def __init__(self, server: ServerThread, fake: FakeSlack, clock: ManualClock) -> None:
        self.server, self.fake, self.clock = server, fake, clock

    def alert(self, severity: str = "critical", name: str = "DBHighIOWait",
              summary: str = "db1 is waiting on its disks <b>&</b>") -> str:
        alert = am_alert(name, severity=severity, summary=summary,
                         starts_at=self.clock.now())
        assert self.server.post_alerts("alertmanager", am_notification([alert])).status_code == 202
        assert self.server.drain()
        return str(wait_for(lambda: self.server.get("/incidents/1")["channel_id"], what="the incident channel"))

    def tick(self, **advance: float) -> None:
        self.clock.advance(timedelta(**advance))
        assert self.server.runtime is not None and self.server.runtime.scheduler is not None
        assert self.server.call(self.server.runtime.scheduler.tick())
        assert self.server.drain()

    def pages(self, user: str) -> list[Message]:
        return [m for m in self.fake.dms(user) if is_page(m)]

    def timeline(self) -> list[str]:
        return [str(e["text"]) for e in self.server.get("/incidents/1")["timeline"]]

    def click_ack(self, user: str, message: Message) -> str:
        url = self.fake.new_response_url(channel_id=message.channel, message_ts=message.ts, user_id=user)
        body, headers = block_action(SIGNING_SECRET, blocks.PAGE_ACK, "1", user_id=user, channel_id=message.channel,
                                     message_ts=message.ts, response_url=url, trigger_id=self.fake.new_trigger_id(),
                                     block_id="page_actions")
        assert self.server.slack(body, headers).status_code == 200
        return str(wait_for(lambda: self.fake.responses(url), what="the answer to Acknowledge")[0]["text"])

    def command(self, text: str, channel_id: str, user: str = "U0ALICE") -> str:
        """`/incident text` with a private answer (or one in the channel through response_url): that answer."""
        url = self._send(text, channel_id, user)
        return str(wait_for(lambda: self.fake.responses(url), what=f"the answer to {text}")[0]["text"])

    def act(self, text: str, channel_id: str, done: Callable[[dict[str, Any]], bool], user: str = "U0ALICE") -> None:
        """`/incident text` whose effect the channel shows (no private echo): wait until the incident shows it."""
        self._send(text, channel_id, user)
        wait_for(lambda: done(self.server.get("/incidents/1")), what=f"the effect of /incident {text}")

    def _send(self, text: str, channel_id: str, user: str) -> str:
        url = self.fake.new_response_url(channel_id=channel_id, user_id=user)
        body, headers = slash_command(SIGNING_SECRET, text, user_id=user, channel_id=channel_id, response_url=url,
                                      trigger_id=self.fake.new_trigger_id())
        assert self.server.slack(body, headers).status_code == 200
        return url
