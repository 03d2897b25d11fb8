"""Vendor escalation end to end: alert → channel → Escalate → draft in the fake Slack → Send → a real SMTP server
(aiosmtpd, STARTTLS + AUTH) receives it → timeline; a follow-up threads onto it; with the SMTP server down the
error shows with Retry, and Retry delivers it once the server is back. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pagerbot.chat import blocks
from pagerbot.mail.sender import smtp_sender
from pagerbot.services.email_delivery import MAYBE_SENT
from pagerbot.settings import Settings
from pagerbot.slack import views
from pagerbot.store.tables import Email, Graph
from tests.fakes.slack_api import FakeSlack, Message
from tests.fakes.slack_requests import block_action, slash_command, view_submission
from tests.harness import SIGNING_SECRET, ServerThread, make_settings, wait_for
from tests.payloads import am_alert, am_notification
from tests.peers.smtp import SmtpPeer, smtp_server

USERS = {"pagerbot": "s3cret"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
SUMMARY = {
    "stands_out": ["web4 carries a third of the pool's average load"],
    "findings": [{"kind": "imbalanced_low", "host": "web4", "pool": "web", "score": 3.0,
                  "sentence": "web4 is under-used compared with its pool", "numbers": {"load": 0.4}}],
    "hosts": [{"host": "web1", "pool": "web", "load": 14.2, "cpus": 8, "iowait": 3.0},
              {"host": "web4", "pool": "web", "load": 0.4, "cpus": 8}],
}


def _config(peer: SmtpPeer, templates_dir: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "timezone": "America/Los_Angeles",
        "slack": {"announce_channel": "incidents", "responders": ["U0ALICE"]},
        "vendors": {"contegix": {"name": "Contegix", "to": ["support@contegix.example"],
                                 "cc": ["noc@acme.example"], "account": "ACME-1234", "phone": "+1 555 0100",
                                 "portal_url": "https://portal.contegix.example/tickets"}},
        "smtp": {"host": peer.host, "port": peer.port, "starttls": True, "username": "pagerbot",
                 "password": "s3cret", "from": "pagerbot@acme.example", "timeout_seconds": 5},
    }
    if templates_dir:
        config["templates_dir"] = templates_dir
    return config


@pytest.fixture
def smtp() -> Iterator[SmtpPeer]:
    with smtp_server(mode="starttls", users=USERS) as peer:
        yield peer


class Slack:
    """Slack's side: signed commands and clicks, and the answers on response URLs."""

    def __init__(self, server: ServerThread, fake: FakeSlack) -> None:
        self.server, self.fake = server, fake

    def command(self, text: str, channel_id: str, user: str = "U0ALICE", *, answered: bool = True) -> str:
        """`/incident text`; its private answer, or (``answered`` False: a command whose effect the channel
        shows, which answers nothing) the newest message of the channel once the outbox delivered it."""
        url = self.fake.new_response_url(channel_id=channel_id, user_id=user)
        body, headers = slash_command(SIGNING_SECRET, text, user_id=user, channel_id=channel_id, response_url=url,
                                      trigger_id=self.fake.new_trigger_id())
        before = len(self.fake.messages(channel_id))
        assert self.server.slack(body, headers).status_code == 200
        if not answered:
            posted = wait_for(lambda: self.fake.messages(channel_id)[before:], what=f"what /incident {text} posts")
            return posted[0].text
        answer = wait_for(lambda: self.fake.responses(url), what=f"an answer to /incident {text}")
        return str(answer[0]["text"])

    def click(self, action_id: str, value: str, channel_id: str, message_ts: str, user: str = "U0ALICE",
              answer: bool = True) -> str:
        url = self.fake.new_response_url(channel_id=channel_id, message_ts=message_ts, user_id=user)
        body, headers = block_action(SIGNING_SECRET, action_id, value, user_id=user, channel_id=channel_id,
                                     message_ts=message_ts, response_url=url, trigger_id=self.fake.new_trigger_id())
        assert self.server.slack(body, headers).status_code == 200
        if not answer:
            return ""
        said = wait_for(lambda: self.fake.responses(url), what=f"an answer to {action_id}")
        return str(said[0]["text"])

    def drafts(self, channel_id: str) -> list[Message]:
        return [m for m in self.fake.messages(channel_id) if "email to contegix" in m.text.lower()
                and any(b.get("type") == "section" and "*Subject:*" in str(b) for b in m.blocks or [])]

    def message(self, channel_id: str, ts: str) -> Message:
        found = self.fake.message(channel_id, ts)
        assert found is not None
        return found


def _buttons(message: Message) -> list[tuple[str, str, str]]:
    return [(e["text"]["text"], e["action_id"], e["value"]) for b in message.blocks or [] if b["type"] == "actions"
            for e in b["elements"]]


def _text(message: Message) -> str:
    return json.dumps(message.blocks)


def _email_rows(server: ServerThread) -> list[Email]:
    async def read() -> list[Email]:
        assert server.runtime is not None
        async with server.runtime.ctx.store.sessions() as session:
            return list((await session.execute(select(Email).order_by(Email.id))).scalars())
    return list(server.call(read()))


def _add_graph(server: ServerThread, incident_id: int) -> None:
    async def add() -> None:
        assert server.runtime is not None
        async with server.runtime.ctx.store.transaction() as session:
            session.add(Graph(incident_id=incident_id, kind="pool", title="web load", png=PNG, summary=SUMMARY,
                              created_at=datetime.now(UTC)))
    server.call(add())


def _server(settings: Settings, peer: SmtpPeer) -> ServerThread:
    # The production sender (smtp_sender), trusting the test server's self-signed certificate.
    assert peer.tls is not None
    return ServerThread(settings, overrides={"mail_sender": smtp_sender(settings,
                                                                        tls_context=peer.tls.client_context())})


def _open_incident(server: ServerThread, fake: FakeSlack) -> str:
    alert = am_alert("HTTPLatencyHigh", instance="web1:9100", summary="checkout is slow on web1")
    assert server.post_alerts("alertmanager", am_notification([alert])).status_code == 202
    assert server.drain()
    return str(wait_for(lambda: server.get("/incidents/1")["channel_id"], what="the incident channel"))


def _parts(message: EmailMessage) -> dict[str, Any]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    pngs = [p for p in message.iter_attachments() if p.get_content_type() == "image/png"]
    return {"text": text.get_content() if text else None, "html": html.get_content() if html else None,
            "pngs": [(p.get_filename(), p.get_content()) for p in pngs]}


def test_escalation_end_to_end(database_url: str, fake_slack: FakeSlack, smtp: SmtpPeer) -> None:
    settings = make_settings(database_url, slack_api_url=fake_slack.api_url, config=_config(smtp))
    with _server(settings, smtp) as server:
        slack = Slack(server, fake_slack)
        channel = _open_incident(server, fake_slack)
        _add_graph(server, 1)
        header = fake_slack.pinned(channel)[0]

        # the Escalate button drafts the email and posts it for review
        said = slack.click(blocks.ESCALATE, "1", channel, header.ts)
        assert "drafted" in said and "Contegix" in said
        assert server.drain()
        drafts = slack.drafts(channel)
        assert len(drafts) == 1
        first = drafts[0]
        email_id = str(_email_rows(server)[0].id)
        assert _buttons(first) == [("Send", blocks.EMAIL_SEND, email_id), ("Edit", blocks.EMAIL_EDIT, email_id),
                                   ("Discard", blocks.EMAIL_DISCARD, email_id)]
        shown = _text(first)
        for needle in ("support@contegix.example", "noc@acme.example", "ACME-1234", "+1 555 0100",
                       "https://portal.contegix.example/tickets", "load balancer", "web4"):
            assert needle in shown, needle
        assert any(e["kind"] == "escalation" and "drafted by U0ALICE" in e["text"]
                   for e in server.get("/incidents/1")["timeline"])

        # Send: the SMTP server receives it, after STARTTLS and AUTH
        said = slack.click(blocks.EMAIL_SEND, email_id, channel, first.ts)
        assert "Sending" in said
        assert server.drain()
        assert len(smtp.received) == 1
        mail = smtp.received[0]
        assert mail.login == "pagerbot" and mail.mail_from == "pagerbot@acme.example"
        assert sorted(mail.rcpt_tos) == ["noc@acme.example", "support@contegix.example"]
        message = mail.message
        assert "[ACME-1234]" in message["Subject"] and "SEV1" in message["Subject"]
        assert message["To"] == "support@contegix.example" and message["Cc"] == "noc@acme.example"
        assert message["Message-ID"].endswith("@acme.example>") and message["In-Reply-To"] is None
        parts = _parts(message)
        assert parts["pngs"] == [("load.png", PNG)]
        assert "Contegix" in parts["text"] and "web4" in parts["text"] and "load balancer" in parts["text"]
        assert parts["html"] and "<html" in parts["html"].lower()
        first_id = message["Message-ID"]

        sent_view = slack.message(channel, first.ts)
        assert _buttons(sent_view) == []
        assert "Sent by <@U0ALICE>" in _text(sent_view) and ("PDT" in _text(sent_view) or "PST" in _text(sent_view))
        row = _email_rows(server)[0]
        assert row.status == "sent" and row.sent_by == "U0ALICE" and row.message_id == first_id
        assert row.raw is not None and b"ACME-1234" in row.raw
        timeline = server.get("/incidents/1")["timeline"]
        assert any(e["text"].startswith("Email to Contegix sent by U0ALICE") for e in timeline)

        # Edit: the modal opens with the draft; a bad address is refused in the modal; a good edit updates it
        said = slack.command("escalate", channel)
        assert "follow-up" in said.lower()
        assert server.drain()
        follow = slack.drafts(channel)[-1]
        follow_id = str(_email_rows(server)[-1].id)
        before = set(fake_slack.views)
        slack.click(blocks.EMAIL_EDIT, follow_id, channel, follow.ts, answer=False)
        opened = wait_for(lambda: [v.view for k, v in fake_slack.views.items() if k not in before], what="modal")
        assert opened[0]["callback_id"] == views.EDIT_EMAIL
        metadata = opened[0]["private_metadata"]
        values = {"to": {"to": "support@contegix.example"}, "cc": {"cc": ""},
                  "subject": {"subject": "Re: still broken"}, "body": {"body": "Still slow. <b>Please</b> call."}}
        body, headers = view_submission(SIGNING_SECRET, views.EDIT_EMAIL, {**values, "to": {"to": "not an address"}},
                                        private_metadata=metadata)
        refused = server.slack(body, headers)
        assert refused.status_code == 200 and refused.json()["response_action"] == "errors"
        assert "to" in refused.json()["errors"]
        body, headers = view_submission(SIGNING_SECRET, views.EDIT_EMAIL, values, private_metadata=metadata)
        assert server.slack(body, headers).status_code == 200
        assert server.drain()
        assert "Still slow" in _text(slack.message(channel, follow.ts))

        # the follow-up threads onto the first email
        slack.click(blocks.EMAIL_SEND, follow_id, channel, follow.ts)
        assert server.drain()
        assert len(smtp.received) == 2
        reply = smtp.received[1].message
        assert reply["In-Reply-To"] == first_id and first_id in reply["References"]
        assert reply["Subject"] == "Re: still broken" and smtp.received[1].rcpt_tos == ["support@contegix.example"]
        reply_parts = _parts(reply)
        assert "&lt;b&gt;Please&lt;/b&gt;" in reply_parts["html"]

        # the SMTP server is down: the error shows in the channel with Retry, and the draft is kept
        slack.command("escalate contegix", channel)
        assert server.drain()
        third = slack.drafts(channel)[-1]
        third_id = str(_email_rows(server)[-1].id)
        smtp.stop()
        slack.click(blocks.EMAIL_SEND, third_id, channel, third.ts)
        assert server.drain()
        failed = slack.message(channel, third.ts)
        assert "connection refused" in _text(failed) and "draft is kept" in _text(failed)
        assert [b[1] for b in _buttons(failed)] == [blocks.EMAIL_RETRY, blocks.EMAIL_EDIT, blocks.EMAIL_DISCARD]
        row = _email_rows(server)[-1]
        assert row.status == "failed" and row.text and row.message_id is None
        assert any("not sent" in e["text"] for e in server.get("/incidents/1")["timeline"])

        smtp.start()
        slack.click(blocks.EMAIL_RETRY, third_id, channel, third.ts)
        assert server.drain()
        assert len(smtp.received) == 3
        assert smtp.received[2].message["In-Reply-To"] == reply["Message-ID"]
        assert "Sent by <@U0ALICE>" in _text(slack.message(channel, third.ts))
        # a second click on the old Retry button sends nothing again
        said = slack.click(blocks.EMAIL_RETRY, third_id, channel, third.ts)
        assert "already sent" in said
        assert server.drain() and len(smtp.received) == 3

        # discard a draft
        slack.command("escalate", channel)
        assert server.drain()
        fourth = slack.drafts(channel)[-1]
        slack.click(blocks.EMAIL_DISCARD, str(_email_rows(server)[-1].id), channel, fourth.ts)
        assert server.drain()
        gone = slack.message(channel, fourth.ts)
        assert _buttons(gone) == [] and "Discarded by <@U0ALICE>" in _text(gone)

        # on resolve, an all-clear email is offered; it threads onto the last one sent
        slack.command("resolve the load balancer weights were fixed", channel, answered=False)
        assert server.drain()
        offer = wait_for(lambda: [m for m in fake_slack.messages(channel)
                                  if any(b[1] == blocks.EMAIL_ALL_CLEAR for b in _buttons(m))], what="offer")[0]
        said = slack.click(blocks.EMAIL_ALL_CLEAR, _buttons(offer)[0][2], channel, offer.ts)
        assert "all-clear" in said.lower()
        assert server.drain()
        clear = slack.drafts(channel)[-1]
        assert "(resolved)" in _text(clear)
        slack.click(blocks.EMAIL_SEND, str(_email_rows(server)[-1].id), channel, clear.ts)
        assert server.drain()
        assert len(smtp.received) == 4
        assert smtp.received[3].message["In-Reply-To"] == smtp.received[2].message["Message-ID"]
        assert [r.status for r in _email_rows(server)] == ["sent", "sent", "sent", "discarded", "sent"]


def test_interrupted_send_is_not_repeated(sqlite_url: str, fake_slack: FakeSlack, smtp: SmtpPeer) -> None:
    """A crash between SMTP and the database leaves the row "sending" with its Message-ID: never resent."""
    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url, config=_config(smtp))
    with _server(settings, smtp) as server:
        slack = Slack(server, fake_slack)
        channel = _open_incident(server, fake_slack)
        slack.command("escalate", channel)
        assert server.drain()
        draft = slack.drafts(channel)[0]
        row = _email_rows(server)[0]

        async def crashed_after_smtp() -> None:
            assert server.runtime is not None
            ctx = server.runtime.ctx
            async with ctx.store.transaction() as session:
                stored = await session.get(Email, row.id)
                assert stored is not None
                stored.status, stored.message_id = "sending", "<earlier.attempt@acme.example>"
                await ctx.store.enqueue(session, row.incident_id, "send_email", {"email_id": row.id, "by": "U0ALICE"},
                                        now=ctx.clock.now())
        server.call(crashed_after_smtp())
        assert server.drain()
        assert smtp.received == []
        row = _email_rows(server)[0]
        assert row.status == "failed" and row.error == MAYBE_SENT
        shown = _text(slack.message(channel, draft.ts))
        assert "may have been sent" in shown and blocks.EMAIL_RETRY in shown


def test_no_vendor_and_broken_template_are_clear(sqlite_url: str, fake_slack: FakeSlack, smtp: SmtpPeer,
                                                 tmp_path: Path) -> None:
    (tmp_path / "escalation.txt.j2").write_text("Hello {{ vendor.name }}\n{% for x in %}\n", encoding="utf-8")
    config = _config(smtp, templates_dir=str(tmp_path))
    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url, config=config)
    with _server(settings, smtp) as server:
        slack = Slack(server, fake_slack)
        channel = _open_incident(server, fake_slack)
        said = slack.command("escalate", channel)
        assert "escalation.txt.j2, line 2" in said, said
        said = slack.command("escalate rackspace", channel)
        assert "no vendor 'rackspace'" in said and "contegix" in said
        assert _email_rows(server) == []
    bare = make_settings(sqlite_url, slack_api_url=fake_slack.api_url,
                         config={"slack": {"announce_channel": "incidents"}})
    with ServerThread(bare) as server:
        slack = Slack(server, fake_slack)
        said = slack.command("escalate", channel)
        assert "no vendors are configured" in said and "`vendors`" in said


def test_the_vendor_reads_names_not_slack_ids(sqlite_url: str, fake_slack: FakeSlack, smtp: SmtpPeer) -> None:
    """Names come from Slack's profiles (users.info: display name, else real name); a mention and a bare ID in
    recorded text become the name; a name is data (escaped in the HTML part); an unknown user stays an ID."""
    fake_slack.add_user("U0EVE", "eve", "eve@example.com", real_name="Eve", display_name="Eve <b>&</b> | *ops*")
    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url, config=_config(smtp))
    with _server(settings, smtp) as server:
        slack = Slack(server, fake_slack)
        channel = _open_incident(server, fake_slack)
        slack.command("ack", channel, answered=False)  # U0ALICE: display name "Alice"
        slack.command("lead <@U0BOB|bob>", channel, answered=False)  # U0BOB has no display name: his real name
        slack.command("note <@U0EVE> is on the load balancer; U0GHOST said so", channel, user="U0EVE",
                      answered=False)
        slack.command("note nobody knows me", channel, user="U0GHOST", answered=False)  # not in the workspace
        slack.command("escalate", channel, user="U0ALICE")
        assert server.drain()
        draft = slack.drafts(channel)[0]
        slack.click(blocks.EMAIL_SEND, str(_email_rows(server)[0].id), channel, draft.ts)
        assert server.drain()
        assert len(smtp.received) == 1
        parts = _parts(smtp.received[0].message)
        text, html = parts["text"], parts["html"]

        assert "Incident lead: Bob Martinez; also working on it: Alice, Eve <b>&</b> | *ops*, U0GHOST." in text
        assert "Alice: Alice moved the incident to acknowledged" in text
        assert "Alice: Alice made Bob Martinez the incident lead" in text
        assert "Eve <b>&</b> | *ops*: @Eve <b>&</b> | *ops* is on the load balancer; U0GHOST said so" in text
        assert "U0GHOST: nobody knows me" in text
        for raw in ("U0ALICE", "U0BOB", "U0EVE", "<@"):
            assert raw not in text and raw not in html, raw
        assert "Eve &lt;b&gt;&amp;&lt;/b&gt; | *ops*" in html and "<b>&</b>" not in html
        assert "<b>Alice</b>: Alice moved the incident to acknowledged" in html
        assert "Incident lead: <b>Bob Martinez</b>" in html

        # inside Slack the mentions stay mentions (Slack renders them); the record keeps the IDs
        assert "Sent by <@U0ALICE>" in _text(slack.message(channel, draft.ts))
        assert any(e["text"] == "U0ALICE made U0BOB the incident lead" for e in server.get("/incidents/1")["timeline"])

        # names are looked up once per process: a second draft asks Slack for no one it already asked
        asked = [c.args.get("user") for c in fake_slack.calls_to("users.info")]
        assert sorted(asked) == ["U0ALICE", "U0BOB", "U0EVE", "U0GHOST"]
        slack.command("note handing over to <@U0BOB>", channel, answered=False)
        slack.command("escalate", channel)
        assert server.drain()
        assert len(fake_slack.calls_to("users.info")) == len(asked)
        assert "Alice: handing over to @Bob Martinez" in _email_rows(server)[-1].text  # the follow-up


def test_the_email_is_drafted_when_slack_cannot_name_people(sqlite_url: str, fake_slack: FakeSlack,
                                                            smtp: SmtpPeer) -> None:
    """users.info failing (Slack down for it) never stops an email: the IDs stay in it."""
    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url, config=_config(smtp))
    with _server(settings, smtp) as server:
        slack = Slack(server, fake_slack)
        channel = _open_incident(server, fake_slack)
        slack.command("ack", channel, answered=False)
        fake_slack.fail_next("users.info", count=100, status=503)
        said = slack.command("escalate", channel)
        assert "drafted" in said, said
        assert server.drain()
        row = _email_rows(server)[0]
        assert row.status == "draft" and "U0ALICE moved the incident to acknowledged" in row.text
        assert fake_slack.calls_to("users.info")


def test_the_email_is_signed_by_the_sender_from_their_slack_profile(sqlite_url: str, fake_slack: FakeSlack,
                                                                     smtp: SmtpPeer) -> None:
    """Bob drafts while Alice leads: Bob signs (name and phone from users.info, his email too), the vendor's
    answer goes to the lead and the team address; the people config fills what a profile leaves empty."""
    config = _config(smtp)
    config["smtp"]["team_address"] = "ops@acme.example"
    config["people"] = {"U0BOB": {"phone": "+1 555 0199"}}
    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url, config=config)
    with _server(settings, smtp) as server:
        slack = Slack(server, fake_slack)
        channel = _open_incident(server, fake_slack)
        slack.command("ack", channel, answered=False)  # Alice leads; her profile has a phone, Bob's has none
        slack.command("escalate", channel, user="U0BOB")
        assert server.drain()
        row = _email_rows(server)[0]
        assert row.reply_to == ["Alice <alice@example.com>", "ops@acme.example"]
        slack.click(blocks.EMAIL_SEND, str(row.id), channel, slack.drafts(channel)[0].ts, user="U0BOB")
        assert server.drain()
        message = smtp.received[0].message
        assert [a.addr_spec for a in message["Reply-To"].addresses] == ["alice@example.com", "ops@acme.example"]
        text = _parts(message)["text"]
        assert text[text.index("Thank you,"):].splitlines()[1:4] == [
            "Bob Martinez", "Phone: +1 555 0199", "Email: bob@example.com"]
        assert "Please reply to Alice <alice@example.com>, ops@acme.example" in text
        assert {c.args.get("user") for c in fake_slack.calls_to("users.info")} == {"U0ALICE", "U0BOB"}
