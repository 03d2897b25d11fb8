"""Who may do what is checked in the use cases, so every way in meets the same rule: slash commands, buttons,
modal submissions (even forged ones, for a modal pagerbot never opened for that person) and the local page.

``slack.escalators`` guards the draft and every email action (Send, Edit, Retry, Discard, All-clear, the Edit
modal's submission), ``slack.resolvers`` resolve and reopen (``status resolved`` too), ``slack.coordinators``
the severity and the lead (the incident's lead may always hand over). Refused actions change nothing: no
email reaches the SMTP server, the draft keeps its recipients, the status stays.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from pagerbot.chat import blocks
from pagerbot.mail.sender import smtp_sender
from pagerbot.store.tables import Email
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_requests import block_action, slash_command, view_submission
from tests.harness import SIGNING_SECRET, ServerThread, make_settings, wait_for
from tests.peers.smtp import SmtpPeer, smtp_server

ALLOWED, OTHER = "U0BOB", "U0ALICE"


def _config(peer: SmtpPeer) -> dict[str, Any]:
    return {
        "slack": {"announce_channel": "incidents", "responders": [OTHER], "resolvers": [ALLOWED],
                  "escalators": [ALLOWED], "coordinators": [ALLOWED]},
        "vendors": {"contegix": {"name": "Contegix", "to": ["support@contegix.example"]}},
        "smtp": {"host": peer.host, "port": peer.port, "starttls": False, "from": "pagerbot@acme.example",
                 "timeout_seconds": 5},
    }


@pytest.fixture
def smtp() -> Iterator[SmtpPeer]:
    with smtp_server(mode="plain") as peer:
        yield peer


class Slack:
    def __init__(self, server: ServerThread, fake: FakeSlack) -> None:
        self.server, self.fake = server, fake

    def command(self, text: str, channel_id: str, user: str, *, answer: bool = True) -> str:
        """`/incident text`; with ``answer``, the private answer (a refusal is one) is waited for and returned."""
        url = self.fake.new_response_url(channel_id=channel_id, user_id=user)
        body, headers = slash_command(SIGNING_SECRET, text, user_id=user, channel_id=channel_id, response_url=url,
                                      trigger_id=self.fake.new_trigger_id())
        assert self.server.slack(body, headers).status_code == 200
        if not answer:  # the channel shows what it did: the test reads the incident instead
            return ""
        return str(wait_for(lambda: self.fake.responses(url), what=f"/incident {text}")[0]["text"])

    def click(self, action_id: str, value: str, channel_id: str, user: str) -> str:
        url = self.fake.new_response_url(channel_id=channel_id, message_ts="1.000001", user_id=user)
        body, headers = block_action(SIGNING_SECRET, action_id, value, user_id=user, channel_id=channel_id,
                                     message_ts="1.000001", response_url=url, trigger_id=self.fake.new_trigger_id())
        assert self.server.slack(body, headers).status_code == 200
        return str(wait_for(lambda: self.fake.responses(url), what=f"the answer to {action_id}")[0]["text"])

    def submit(self, callback_id: str, values: dict[str, Any], metadata: dict[str, Any], user: str) -> Any:
        body, headers = view_submission(SIGNING_SECRET, callback_id, values, user_id=user,
                                        private_metadata=json.dumps(metadata))
        response = self.server.slack(body, headers)
        assert response.status_code == 200
        return response.json() if response.content else None


def _incident(server: ServerThread) -> dict[str, Any]:
    return dict(server.get("/incidents/1"))


def _emails(server: ServerThread) -> list[Email]:
    async def read() -> list[Email]:
        assert server.runtime is not None
        async with server.runtime.ctx.store.sessions() as session:
            return list((await session.execute(select(Email).order_by(Email.id))).scalars())
    return list(server.call(read()))


def _set_status(server: ServerThread, email_id: int, status: str) -> None:
    async def write() -> None:
        assert server.runtime is not None
        async with server.runtime.ctx.store.transaction() as session:
            await session.execute(update(Email).where(Email.id == email_id).values(status=status))
    server.call(write())


def test_every_action_from_slack_meets_its_rule(sqlite_url: str, fake_slack: FakeSlack, smtp: SmtpPeer) -> None:
    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url, config=_config(smtp))
    general = fake_slack.add_channel("general", members=[OTHER, ALLOWED])
    with ServerThread(settings, overrides={"mail_sender": smtp_sender(settings)}) as server:
        slack = Slack(server, fake_slack)
        slack.command("declare Orders are stuck", general, OTHER)
        server.drain()
        channel = str(wait_for(lambda: server.get("/incidents/1")["channel_id"], what="the channel"))

        # escalation: the draft, by command and by button
        assert "not allowed to escalate" in slack.command("escalate", channel, OTHER)
        assert "not allowed to escalate" in slack.click(blocks.ESCALATE, "1", channel, OTHER)
        assert _emails(server) == []
        assert "drafted" in slack.command("escalate", channel, ALLOWED)
        server.drain()
        email_id = str(_emails(server)[0].id)

        # every email action by someone else is refused and changes nothing
        for action in (blocks.EMAIL_EDIT, blocks.EMAIL_SEND, blocks.EMAIL_DISCARD, blocks.EMAIL_ALL_CLEAR):
            said = slack.click(action, email_id, channel, OTHER)
            assert "not allowed to escalate" in said, (action, said)
        _set_status(server, int(email_id), "failed")
        assert "not allowed to escalate" in slack.click(blocks.EMAIL_RETRY, email_id, channel, OTHER)
        _set_status(server, int(email_id), "draft")
        forged = slack.submit("edit_email", {"to": {"to": "attacker@evil.example"}, "cc": {"cc": ""},
                                             "subject": {"subject": "hi"}, "body": {"body": "send money"}},
                              {"email": int(email_id)}, OTHER)
        assert "not allowed to escalate" in forged["errors"]["to"]
        server.drain()
        row = _emails(server)[0]
        assert row.status == "draft" and row.to == ["support@contegix.example"] and row.subject != "hi"
        assert smtp.received == []
        assert not fake_slack.views  # no Edit modal was opened for the one refused

        # the escalator may
        assert "Sending" in slack.click(blocks.EMAIL_SEND, email_id, channel, ALLOWED)
        server.drain()
        assert [m.rcpt_tos for m in smtp.received] == [["support@contegix.example"]]

        # severity and lead: coordinators only, and the lead may hand over
        assert "not allowed to change the severity" in slack.command("sev 1", channel, OTHER)
        assert "not allowed to change the severity" in slack.command(f"lead <@{OTHER}>", channel, OTHER)
        assert server.get("/incidents/1")["severity"] == 3
        slack.command("sev 2", channel, ALLOWED, answer=False)
        wait_for(lambda: _incident(server)["severity"] == 2, what="SEV2")
        slack.command(f"lead <@{OTHER}>", channel, ALLOWED, answer=False)
        wait_for(lambda: _incident(server)["lead"] == OTHER, what="the new lead")
        slack.command("sev 1", channel, OTHER, answer=False)  # OTHER is the lead now
        wait_for(lambda: _incident(server)["severity"] == 1, what="SEV1")

        # resolve: command, `status resolved`, button (no modal opened), forged modal; then reopen
        for said in (slack.command("resolve it went away", channel, OTHER),
                     slack.command("status resolved", channel, OTHER),
                     slack.click(blocks.RESOLVE, "1", channel, OTHER)):
            assert "not allowed to resolve" in said, said
        refused = slack.submit("resolve_incident", {"summary": {"summary": "gone"}}, {"incident": 1}, OTHER)
        assert "not allowed to resolve" in refused["errors"]["summary"]
        assert not fake_slack.views
        assert server.get("/incidents/1")["status"] != "resolved"
        slack.command("resolve it went away", channel, ALLOWED, answer=False)
        wait_for(lambda: _incident(server)["status"] == "resolved", what="resolved")
        assert "not allowed to resolve or reopen" in slack.command("reopen", channel, OTHER)
        assert "not allowed to resolve or reopen" in slack.command("status investigating", channel, OTHER)
        assert server.get("/incidents/1")["status"] == "resolved"
        server.drain()

        # the all-clear offered on resolve: not for OTHER
        assert "not allowed to escalate" in slack.click(blocks.EMAIL_ALL_CLEAR, email_id, channel, OTHER)
        assert len(_emails(server)) == 1
        slack.command("reopen", channel, ALLOWED, answer=False)
        wait_for(lambda: _incident(server)["status"] != "resolved", what="reopened")


def test_the_local_page_meets_the_same_rules(sqlite_url: str, smtp: SmtpPeer) -> None:
    settings = make_settings(sqlite_url, config=_config(smtp), slack=False)
    with ServerThread(settings, overrides={"mail_sender": smtp_sender(settings)}) as server:
        local = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)

        def command(text: str, channel: str, user: str) -> None:
            assert local.post(f"/local/{channel}/command", data={"text": text, "user": user}).status_code == 303

        def click(action_id: str, value: str, channel: str, user: str) -> None:
            response = local.post(f"/local/{channel}/action",
                                  data={"action_id": action_id, "value": value, "user": user})
            assert response.status_code == 303

        command("/incident declare Orders are stuck", "-", OTHER)
        server.drain()
        channel = str(wait_for(lambda: server.get("/incidents/1")["channel_id"], what="the channel"))
        command("/incident escalate", channel, OTHER)
        assert _emails(server) == []
        command("/incident escalate", channel, ALLOWED)
        server.drain()
        email_id = str(_emails(server)[0].id)
        for action in (blocks.EMAIL_SEND, blocks.EMAIL_DISCARD, blocks.EMAIL_EDIT):
            click(action, email_id, channel, OTHER)
        server.drain()
        assert _emails(server)[0].status == "draft" and smtp.received == []
        command("/incident sev 1", channel, OTHER)
        command("/incident resolve gone", channel, OTHER)
        click(blocks.RESOLVE, "1", channel, OTHER)
        incident = server.get("/incidents/1")
        assert incident["severity"] == 3 and incident["status"] != "resolved"
        page = local.get(f"/local/{channel}").text
        assert "not allowed to escalate" in page and "not allowed to resolve" in page
        click(blocks.EMAIL_SEND, email_id, channel, ALLOWED)
        server.drain()
        assert len(smtp.received) == 1
