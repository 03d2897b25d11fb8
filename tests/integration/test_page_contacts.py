"""A page's extra contacts against real peers: email-to-SMS over a real SMTP server (aiosmtpd), a push service's
webhook on a local HTTP receiver, PagerDuty trigger / acknowledge / resolve against a local stand-in of the
Events API v2 that checks each event. Each is tried and recorded on the timeline; a failing one holds nothing up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from pagerbot.clock import ManualClock
from pagerbot.mail.sender import smtp_sender
from tests.e2e.paging_support import Paging
from tests.fakes.slack_api import FakeSlack
from tests.harness import ServerThread, make_settings
from tests.peers.http_receiver import HttpReceiver
from tests.peers.smtp import SmtpPeer, smtp_server

MORNING = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)  # 05:30 in Los Angeles
ROUTING_KEY = "0123456789abcdef0123456789abcdef"  # 32 characters, as PagerDuty's integration keys


@pytest.fixture
def smtp() -> Iterator[SmtpPeer]:
    with smtp_server(mode="plain") as peer:
        yield peer


@pytest.fixture
def push() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


@pytest.fixture
def pagerduty() -> Iterator[HttpReceiver]:
    with HttpReceiver(pagerduty=True) as receiver:
        yield receiver


def _config(smtp: SmtpPeer, push: HttpReceiver, pagerduty: HttpReceiver) -> dict[str, Any]:
    return {
        "timezone": "America/Los_Angeles",
        "slack": {"announce_channel": "incidents", "responders": []},
        "smtp": {"host": smtp.host, "port": smtp.port, "starttls": False, "from": "pagerbot@acme.example"},
        "server": {"tick_seconds": 3600},
        "oncall": {
            "rotations": {"primary": {"members": ["U0ALICE"], "every": "week", "handoff": "mon 09:00"}},
            "policies": {"sev1": [{"page": "primary"}]},
            "pagerduty_url": f"{pagerduty.url}/v2/enqueue",
            "contacts": {"U0ALICE": [
                {"email": "5550100@sms.carrier.example"},
                {"webhook": {"url": f"{push.url}/alice", "headers": {"Priority": "urgent"},
                             "body": {"topic": "pages", "title": "{{ ref }} SEV{{ severity }}",
                                      "message": "{{ title }}", "tags": ["{{ rotation }}", "pager"]}}},
                {"pagerduty": ROUTING_KEY},
            ]},
        },
    }


def _server(settings: Any, clock: ManualClock) -> ServerThread:
    return ServerThread(settings, overrides={"clock": clock, "mail_sender": smtp_sender(settings)})


def test_email_webhook_and_pagerduty_pages(database_url: str, fake_slack: FakeSlack, smtp: SmtpPeer,
                                           push: HttpReceiver, pagerduty: HttpReceiver) -> None:
    clock = ManualClock(MORNING)
    settings = make_settings(database_url, slack_api_url=fake_slack.api_url, config=_config(smtp, push, pagerduty))
    with _server(settings, clock) as server:
        paging = Paging(server, fake_slack, clock)
        channel = paging.alert(summary='disk "/" on db1 is full {{ not a template }} <b>&</b>')
        paging.tick(seconds=1)
        assert len(paging.pages("U0ALICE")) == 1

        # email-to-SMS: short, over the configured SMTP server
        [mail] = smtp.received
        assert mail.rcpt_tos == ["5550100@sms.carrier.example"] and mail.mail_from == "pagerbot@acme.example"
        assert mail.message["Subject"] == "INC-1 SEV1"
        assert "Acknowledge in Slack" in mail.message.get_content()

        # the webhook: the configured body, every string rendered, still JSON whatever the title holds
        [hook] = push.received
        assert hook.path == "/alice" and hook.headers.get("Priority") == "urgent"
        assert hook.body["topic"] == "pages" and hook.body["title"] == "INC-1 SEV1"
        assert hook.body["tags"] == ["primary", "pager"]
        title = server.get("/incidents/1")["title"]
        assert '"/"' in title and "{{ not a template }}" in title and hook.body["message"] == title

        # PagerDuty: a valid trigger with a dedup key per incident and person
        [trigger] = pagerduty.received
        assert trigger.status == 202 and trigger.path == "/v2/enqueue"
        assert trigger.body["event_action"] == "trigger" and trigger.body["routing_key"] == ROUTING_KEY
        assert trigger.body["dedup_key"] == "pagerbot-INC-1-U0ALICE"
        assert trigger.body["payload"]["severity"] == "critical" and trigger.body["payload"]["source"] == "pagerbot"
        assert trigger.body["payload"]["summary"].startswith("INC-1 SEV1:")

        timeline = paging.timeline()
        assert "Page to U0ALICE sent by email to 5550100@sms.carrier.example" in timeline
        assert "Page to U0ALICE sent by webhook 127.0.0.1" in timeline
        assert "Page to U0ALICE sent by PagerDuty" in timeline

        # acknowledging in Slack acknowledges in PagerDuty; resolving resolves there
        paging.act("ack", channel, lambda incident: incident["status"] == "acknowledged")
        paging.tick(seconds=5)
        assert [r.body["event_action"] for r in pagerduty.received] == ["trigger", "acknowledge"]
        paging.act("resolve The disk was cleaned up", channel, lambda incident: incident["status"] == "resolved")
        paging.tick(seconds=5)
        paging.tick(seconds=5)
        assert [r.body["event_action"] for r in pagerduty.received] == ["trigger", "acknowledge", "resolve"]
        assert all(r.status == 202 and r.body["dedup_key"] == "pagerbot-INC-1-U0ALICE" for r in pagerduty.received)
        assert len(smtp.received) == 1 and len(push.received) == 1


def test_a_failing_contact_is_recorded_and_holds_nothing_up(sqlite_url: str, fake_slack: FakeSlack,
                                                            smtp: SmtpPeer, push: HttpReceiver) -> None:
    with HttpReceiver(pagerduty=True, status=503) as broken:
        clock = ManualClock(MORNING)
        settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url, config=_config(smtp, push, broken))
        with _server(settings, clock) as server:
            paging = Paging(server, fake_slack, clock)
            channel = paging.alert()
            paging.tick(seconds=1)
            assert len(paging.pages("U0ALICE")) == 1 and len(push.received) == 1 and len(smtp.received) == 1
            failed = [t for t in paging.timeline() if t.startswith("Page to U0ALICE by PagerDuty failed")]
            assert failed and "answered 503" in failed[0]
            # the channel carries on: its next messages are not stuck behind the failed contact
            paging.act("note still looking", channel,
                       lambda incident: any("still looking" in e["text"] for e in incident["timeline"]))
            assert server.drain()
            assert any("still looking" in m.text for m in fake_slack.messages(channel))
