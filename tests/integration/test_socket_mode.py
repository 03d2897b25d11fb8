"""Socket Mode: with SLACK_APP_TOKEN set, pagerbot opens a websocket to Slack (apps.connections.open with the
app-level token, then the URL it answers) and takes Slack's requests over it; POST /slack/events refuses.

The fake Slack serves apps.connections.open and the websocket (``hello``, envelopes, acks). The server starts
even while Slack is unreachable, and connects once Slack is back.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

import httpx

from pagerbot.services.commands import USAGE
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_requests import slash_command
from tests.harness import SIGNING_SECRET, ServerThread, make_settings, wait_for


def _settings(database_url: str, slack: FakeSlack):  # type: ignore[no-untyped-def]
    return make_settings(database_url, slack_api_url=slack.api_url).replace(slack_app_token=slack.app_token)


def test_socket_mode_takes_slack_requests_over_the_websocket(tmp_path: Path, fake_slack: FakeSlack) -> None:
    general = fake_slack.add_channel("general", members=["U0ALICE"])
    with ServerThread(_settings(f"sqlite:///{tmp_path / 'pb.db'}", fake_slack)) as server:
        wait_for(lambda: fake_slack.socket_connections == 1, 15, what="the Socket Mode websocket")
        opened = fake_slack.calls_to("apps.connections.open")
        assert len(opened) == 1 and opened[0].ok

        refused = httpx.post(f"{server.url}/slack/events", content=b"command=/incident", timeout=10)
        assert refused.status_code == 404 and refused.json()["error"] == "Socket Mode is on"

        # a slash command arrives as an envelope; pagerbot acks it and answers through response_url
        response_url = fake_slack.new_response_url(channel_id=general, user_id="U0ALICE")
        body, _headers = slash_command(SIGNING_SECRET, "help", channel_id=general, response_url=response_url,
                                       trigger_id=fake_slack.new_trigger_id())
        envelope = fake_slack.socket_send("slash_commands", dict(parse_qsl(body.decode())))
        assert wait_for(lambda: fake_slack.socket_ack(envelope), 10, what="the ack")["envelope_id"] == envelope
        answer = wait_for(lambda: fake_slack.responses(response_url), 10, what="the answer")[0]
        assert answer["text"] == USAGE and answer["response_type"] == "ephemeral"
    wait_for(lambda: fake_slack.socket_connections == 0, 10, what="the websocket closed on shutdown")


def test_socket_mode_starts_while_slack_is_down(tmp_path: Path, fake_slack: FakeSlack) -> None:
    fake_slack.outage(503)
    with ServerThread(_settings(f"sqlite:///{tmp_path / 'pb.db'}", fake_slack)) as server:
        assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200  # serving, alerts accepted
        wait_for(lambda: fake_slack.calls_to("apps.connections.open"), 10, what="a first attempt")
        assert fake_slack.socket_connections == 0
        fake_slack.end_outage()
        wait_for(lambda: fake_slack.socket_connections == 1, 15, what="the websocket once Slack is back")
