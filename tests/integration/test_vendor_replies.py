"""The vendor's answers come back: escalation sent over SMTP → a reply filed in a real IMAP mailbox (Dovecot on
loopback, implicit TLS, app password) → the poller posts it in the incident channel (the strict fake Slack)
and on the timeline with the vendor's ticket number; follow-ups carry the ticket; the postmortem shows it.
A reply to an unknown message is left alone; an unreachable mailbox is told once, retried, and loses nothing;
a restart posts nothing twice. SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pagerbot.chat import blocks
from pagerbot.mail.sender import imap_mailbox, smtp_sender
from pagerbot.services.replies import PollResult, poll_mailbox
from pagerbot.settings import Settings
from tests.fakes.slack_api import FakeSlack
from tests.harness import API_TOKEN, ServerThread, make_settings
from tests.integration.test_escalation_e2e import Slack, _config, _email_rows, _open_incident
from tests.peers.dovecot import PASSWORD, USER, ImapPeer, imap_server
from tests.peers.smtp import SmtpPeer, smtp_server
from tests.peers.tcpproxy import TcpProxy

FIXTURES = Path(__file__).parent.parent / "fixtures" / "replies"


@pytest.fixture
def smtp() -> Iterator[SmtpPeer]:
    with smtp_server(mode="starttls", users={"pagerbot": "s3cret"}) as peer:
        yield peer


@pytest.fixture(scope="module")
def imap() -> Iterator[ImapPeer]:
    with imap_server() as peer:
        yield peer


def _settings(database_url: str, fake: FakeSlack, smtp: SmtpPeer, imap_port: int) -> Settings:
    config: dict[str, Any] = _config(smtp)
    config["vendors"]["contegix"]["ticket_pattern"] = r"HW-\d+"
    config["imap"] = {"host": "127.0.0.1", "port": imap_port, "tls": True, "username": USER, "password": PASSWORD,
                      "timeout_seconds": 5}
    return make_settings(database_url, slack_api_url=fake.api_url, config=config)


def _server(settings: Settings, smtp: SmtpPeer, imap: ImapPeer) -> ServerThread:
    assert smtp.tls is not None
    return ServerThread(settings, overrides={
        "mail_sender": smtp_sender(settings, tls_context=smtp.tls.client_context()),
        "mailbox": imap_mailbox(settings, tls_context=imap.tls.client_context())})


def _reply(name: str, answers: str, *, message_id: str | None = None) -> bytes:
    raw = (FIXTURES / name).read_bytes().replace(b"{REPLY_TO_ID}", answers.encode())
    if message_id is not None:  # the module's mailbox is shared: each test files its own copies
        message = email.message_from_bytes(raw, policy=email.policy.SMTP)
        message.replace_header("Message-ID", message_id)
        raw = message.as_bytes()
    return raw


def _poll(server: ServerThread) -> PollResult:
    assert server.runtime is not None
    result: PollResult = server.call(poll_mailbox(server.runtime.ctx))
    assert server.drain()
    return result


def _sent(server: ServerThread, fake: FakeSlack, smtp: SmtpPeer, channel: str) -> str:
    """Escalate and Send; the Message-ID of the email the vendor received."""
    slack = Slack(server, fake)
    slack.command("escalate", channel)
    assert server.drain()
    row = _email_rows(server)[-1]
    slack.click(blocks.EMAIL_SEND, str(row.id), channel, slack.drafts(channel)[-1].ts)
    assert server.drain()
    return str(smtp.received[-1].message["Message-ID"])


def _replies_in(fake: FakeSlack, channel: str) -> list[str]:
    return [str(m.blocks) for m in fake.messages(channel) if m.text.startswith("Reply from Contegix")]


def test_a_reply_arrives_in_the_channel_and_timeline_with_its_ticket(database_url: str, fake_slack: FakeSlack,
                                                                      smtp: SmtpPeer, imap: ImapPeer) -> None:
    settings = _settings(database_url, fake_slack, smtp, imap.port)
    tag = database_url.split(":", 1)[0]
    with _server(settings, smtp, imap) as server:
        channel = _open_incident(server, fake_slack)
        sent_id = _sent(server, fake_slack, smtp, channel)
        before = _poll(server)  # whatever the shared mailbox already holds is read first

        imap.deliver(_reply("plain.eml", sent_id, message_id=f"<plain-{tag}@mail.hostwise.example>"))
        imap.deliver(_reply("plain.eml", "<someone-else@acme.example>",
                            message_id=f"<unknown-{tag}@mail.hostwise.example>"))
        assert _poll(server) == PollResult(read=2, replies=1)
        posted = _replies_in(fake_slack, channel)
        assert len(posted) == 1, posted
        assert "Dana Support &lt;support@hostwise.example&gt;" in posted[0]
        assert "ticket *HW-88213*" in posted[0] and "2026-03-10 07:46 PDT" in posted[0]
        assert "we will throttle it to 20 MB/s now" in posted[0] and "wrote:" not in posted[0]
        timeline = server.get("/incidents/1")["timeline"]
        entry = next(e for e in timeline if e["text"].startswith("Reply from Contegix"))
        assert "ticket HW-88213" in entry["text"] and "Dana Support" in entry["text"]
        assert not any(b"\\Seen" in f for f in imap.flags()), "pagerbot marks nothing read"

        # HTML-only, quoted-printable with an attachment, a forwarded thread
        for name in ("html-only.eml", "quoted-printable.eml", "forwarded.eml"):
            imap.deliver(_reply(name, sent_id, message_id=f"<{name}-{tag}@mail.hostwise.example>"))
        assert _poll(server).replies == 3
        posted = _replies_in(fake_slack, channel)
        assert len(posted) == 4
        assert "set web4's weight on the load balancer to 2 &amp; re-enabled" in posted[1]
        assert "Renée here – the RAID controller log" in posted[2]
        assert ":paperclip: Attached: raid-controller-db1.pdf" in posted[2] and "ticket *HW-88214*" in posted[2]
        assert "the throttle is in place" in posted[3] and "Résumé" not in posted[3]

        # nothing new: nothing posted
        assert _poll(server) == PollResult()
        assert len(_replies_in(fake_slack, channel)) == 4

        # a follow-up carries the latest ticket in its subject; the postmortem shows reply time and ticket
        Slack(server, fake_slack).command("escalate", channel)
        assert server.drain()
        assert _email_rows(server)[-1].subject.startswith("Re: [HW-88213] [ACME-1234]")
        markdown = _postmortem(server)
        assert "| sent | 2026-03-10 07:46:12 | HW-88213 |" in markdown, markdown
    assert before.failed is False


def _postmortem(server: ServerThread) -> str:
    response = httpx.get(f"{server.url}/incidents/1/postmortem.md",
                         headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.text


def test_an_unreadable_mailbox_is_told_once_and_nothing_is_lost_or_repeated(
        sqlite_url: str, fake_slack: FakeSlack, smtp: SmtpPeer, imap: ImapPeer) -> None:
    proxy = TcpProxy("127.0.0.1", imap.port).start()
    try:
        settings = _settings(sqlite_url, fake_slack, smtp, proxy.port)
        with _server(settings, smtp, imap) as server:
            channel = _open_incident(server, fake_slack)
            sent_id = _sent(server, fake_slack, smtp, channel)
            _poll(server)
            proxy.cut()
            assert _poll(server).failed and _poll(server).failed
            warnings = [m.text for m in fake_slack.messages(channel) if "Cannot read the vendor's replies" in m.text]
            assert len(warnings) == 1, warnings
            assert f"127.0.0.1:{proxy.port}" in warnings[0]
            imap.deliver(_reply("plain.eml", sent_id, message_id="<while-down@mail.hostwise.example>"))
            proxy.restore()
            assert _poll(server).replies == 1
            assert any("can be read again" in m.text for m in fake_slack.messages(channel))
            assert len(_replies_in(fake_slack, channel)) == 1
        # a restart reads from where it left off: nothing posted twice
        with _server(settings, smtp, imap) as server:
            assert _poll(server) == PollResult()
            assert len(_replies_in(fake_slack, channel)) == 1
            # the same message filed again (a second copy, same Message-ID) is recognised
            imap.deliver(_reply("plain.eml", sent_id, message_id="<while-down@mail.hostwise.example>"))
            assert _poll(server) == PollResult(read=1, replies=0)
            assert len(_replies_in(fake_slack, channel)) == 1
    finally:
        proxy.stop()
