"""Escalation emails through a real SMTP server (aiosmtpd): STARTTLS + AUTH, implicit TLS, failures."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from pagerbot.core.findings import Finding, FindingKind
from pagerbot.core.records import EscalationRecord, IncidentRecord, TimelineEntry
from pagerbot.mail.compose import (
    EscalationContext,
    HostSummary,
    VendorInfo,
    draft_escalation,
    draft_followup,
    suggest_asks,
)
from pagerbot.mail.mime import build_message, new_message_id
from pagerbot.mail.smtp import MailError, check_connection, send_message
from pagerbot.mail.templates import TemplateSet
from tests.peers.smtp import SmtpPeer, free_port, smtp_server

T0 = datetime(2024, 3, 5, 14, 12, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
USERS = {"pagerbot": "s3cret"}


@pytest.fixture
def starttls_server() -> Iterator[SmtpPeer]:
    with smtp_server(mode="starttls", users=USERS, refuse=["nobody@contegix.example"]) as peer:
        yield peer


def _context(**changes: object) -> EscalationContext:
    findings = [
        Finding(FindingKind.IO_BOUND, "db1", "db1 is waiting on disk: iowait 62%.", 5.0, pool="db"),
        Finding(FindingKind.IMBALANCED_LOW, "web4", "web4 gets a tenth of the pool's load.", 3.0, pool="web"),
    ]
    ctx = EscalationContext(
        incident=IncidentRecord(
            id=42,
            title="Site slow <script>x</script>",
            severity=1,
            status="investigating",
            lead="alice",
            channel_id="C1",
            channel_name="inc-20240305-site-slow",
            opened_at=T0,
        ),
        vendor=VendorInfo(
            name="Contegix",
            to=("support@contegix.example",),
            cc=("ops@acme.example", "Bob <bob@acme.example>"),
            account="ACME-1234",
            key="contegix",
        ),
        now=T0 + timedelta(minutes=30),
        tz="America/Los_Angeles",
        title="db1 disk-bound, web tier overloaded",
        hosts=[HostSummary("db1", 14.2, 8, 62.0, 97.0, 12.0, pool="db")],
        findings=findings,
        asks=suggest_asks(findings),
        timeline=[TimelineEntry(T0, "alert", "alertmanager", None, "HighLoad on db1")],
        graph_png=PNG,
        reply_to="oncall@acme.example",
    )
    return replace(ctx, **changes)  # type: ignore[arg-type]


def _message(ctx: EscalationContext | None = None, **kwargs: object) -> EmailMessage:
    draft = draft_escalation(ctx or _context(), TemplateSet())
    return build_message(
        draft,
        sender="pagerbot@acme.example",
        message_id=str(kwargs.get("message_id") or new_message_id("acme.example")),
        in_reply_to=None,
        references=(),
        date=T0,
    )


async def test_starttls_auth_delivers_the_escalation(starttls_server: SmtpPeer) -> None:
    msg = _message()
    refused = await send_message(msg, starttls_server.settings(username="pagerbot", password="s3cret"))

    assert refused == {}
    assert len(starttls_server.received) == 1
    got = starttls_server.received[0]
    assert got.login == "pagerbot"
    assert got.mail_from == "pagerbot@acme.example"
    assert sorted(got.rcpt_tos) == ["bob@acme.example", "ops@acme.example", "support@contegix.example"]
    parsed = got.message
    assert parsed["Subject"] == "[ACME-1234] SEV1: db1 disk-bound, web tier overloaded"
    assert parsed["Message-ID"] == msg["Message-ID"]
    assert parsed["Reply-To"] == "oncall@acme.example"
    assert parsed.get_content_type() == "multipart/mixed"

    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "db1 (db pool): load 14.2 on 8 CPUs" in text.get_content()
    assert "Site slow <script>x</script>" in text.get_content()
    assert "Site slow &lt;script&gt;x&lt;/script&gt;" in html.get_content()
    assert "<script>" not in html.get_content()

    attachments = list(parsed.iter_attachments())
    assert [(a.get_content_type(), a.get_filename()) for a in attachments] == [("image/png", "load.png")]
    assert attachments[0].get_content() == PNG


async def test_followup_threads_onto_the_first_email(starttls_server: SmtpPeer) -> None:
    settings = starttls_server.settings(username="pagerbot", password="s3cret")
    first = _message()
    await send_message(first, settings)
    first_id = str(first["Message-ID"])

    previous = EscalationRecord(
        vendor="contegix",
        subject=str(first["Subject"]),
        status="sent",
        created_at=T0,
        sent_at=T0 + timedelta(minutes=31),
        sent_by="alice",
        message_id=first_id,
    )
    changes = [TimelineEntry(T0 + timedelta(minutes=40), "status", "slack", "alice", "Status: mitigated")]
    draft = draft_followup(_context(previous=previous, changes_since_previous=changes), TemplateSet())
    follow = build_message(
        draft,
        sender="pagerbot@acme.example",
        message_id=new_message_id("acme.example"),
        in_reply_to=first_id,
        references=[first_id],
        date=T0 + timedelta(minutes=45),
    )
    await send_message(follow, settings)

    assert len(starttls_server.received) == 2
    parsed = starttls_server.received[1].message
    assert parsed["In-Reply-To"] == first_id
    assert parsed["References"] == first_id
    assert parsed["Subject"] == "Re: [ACME-1234] SEV1: db1 disk-bound, web tier overloaded"
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    assert "Status: mitigated" in body.get_content()


async def test_implicit_tls_with_auth() -> None:
    with smtp_server(mode="tls", users=USERS) as peer:
        await send_message(_message(), peer.settings(username="pagerbot", password="s3cret"))
        assert len(peer.received) == 1
        assert peer.received[0].login == "pagerbot"
        assert peer.received[0].message["Subject"].startswith("[ACME-1234] SEV1:")


async def test_wrong_password_is_a_mail_error(starttls_server: SmtpPeer) -> None:
    with pytest.raises(MailError) as info:
        await send_message(_message(), starttls_server.settings(username="pagerbot", password="nope"))
    assert info.value.kind == "auth"
    assert not info.value.retryable
    assert "refused the login for user 'pagerbot'" in str(info.value)
    assert "\n" not in str(info.value)
    assert starttls_server.received == []


async def test_untrusted_certificate_is_a_tls_error(starttls_server: SmtpPeer) -> None:
    # The default trust store does not know the test's self-signed certificate.
    settings = starttls_server.settings(username="pagerbot", password="s3cret", tls_context=None)
    with pytest.raises(MailError) as info:
        await send_message(_message(), settings)
    assert info.value.kind == "tls"
    assert "certificate verify failed" in str(info.value)


async def test_refused_recipient() -> None:
    with smtp_server(mode="starttls", users=USERS, refuse=["support@contegix.example"]) as peer:
        ctx = _context(vendor=VendorInfo(name="Contegix", to=("support@contegix.example",), account="A-1"))
        with pytest.raises(MailError) as info:
            await send_message(_message(ctx), peer.settings(username="pagerbot", password="s3cret"))
        assert info.value.kind == "recipient"
        assert "support@contegix.example (550" in str(info.value)

        # One refused among accepted ones: delivered to the others, the refusal is reported.
        ctx = _context(vendor=VendorInfo(name="C", to=("support@contegix.example", "ok@contegix.example")))
        refused = await send_message(_message(ctx), peer.settings(username="pagerbot", password="s3cret"))
        assert list(refused) == ["support@contegix.example"]
        assert peer.received[-1].rcpt_tos == ["ok@contegix.example"]


async def test_server_down_is_a_mail_error_and_delivery_works_once_back() -> None:
    with smtp_server(mode="starttls", users=USERS) as peer:
        settings = peer.settings(username="pagerbot", password="s3cret")
        peer.stop()
        with pytest.raises(MailError) as info:
            await send_message(_message(), settings)
        assert info.value.kind == "connect"
        assert info.value.retryable
        assert str(info.value) == f"cannot connect to SMTP server 127.0.0.1:{peer.port}: connection refused"

        peer.start()
        await send_message(_message(), settings)
        assert len(peer.received) == 1


async def test_nothing_listening_is_connection_refused() -> None:
    port = free_port()
    with smtp_server(mode="plain") as peer:
        settings = peer.settings(port=port)
    with pytest.raises(MailError, match="connection refused"):
        await send_message(_message(), settings)


async def test_silent_server_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts the TCP connection but never greets
        port = listener.getsockname()[1]
        with smtp_server(mode="plain") as peer:
            settings = peer.settings(port=port, timeout=0.5)
        with pytest.raises(MailError) as info:
            await asyncio.wait_for(send_message(_message(), settings), 10)
    assert info.value.kind == "timeout"
    assert "timed out" in str(info.value)


async def test_bcc_is_delivered_but_not_transmitted(starttls_server: SmtpPeer) -> None:
    msg = _message()
    msg["Bcc"] = "audit@acme.example"
    await send_message(msg, starttls_server.settings(username="pagerbot", password="s3cret"))
    got = starttls_server.received[0]
    assert "audit@acme.example" in got.rcpt_tos
    assert got.message["Bcc"] is None
    assert msg["Bcc"] == "audit@acme.example"  # the caller's message is unchanged


async def test_check_connection(starttls_server: SmtpPeer) -> None:
    await check_connection(starttls_server.settings(username="pagerbot", password="s3cret"))
    with pytest.raises(MailError, match="refused the login"):
        await check_connection(starttls_server.settings(username="pagerbot", password="bad"))
    with pytest.raises(MailError, match="connection refused"):
        await check_connection(starttls_server.settings(port=free_port()))
    assert starttls_server.received == []
