"""Vendor replies as mail clients write them: which email they answer, the new text, attachments, the ticket."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pagerbot.mail.replies import find_ticket, new_text, parse_reply

FIXTURES = Path(__file__).parent.parent / "fixtures" / "replies"
SENT_ID = "<177.1.pagerbot@example.com>"


def _reply(name: str) -> bytes:
    return (FIXTURES / name).read_bytes().replace(b"{REPLY_TO_ID}", SENT_ID.encode())


def test_gmail_reply_keeps_the_new_text_and_cuts_the_quote() -> None:
    reply = parse_reply(_reply("plain.eml"))
    assert reply.message_id == "<CAFx7y1Zq3ReplyPlain@mail.hostwise.example>"
    assert reply.refers_to == (SENT_ID,)
    assert reply.sender == "Dana Support <support@hostwise.example>"
    assert reply.sent_at == datetime(2026, 3, 10, 14, 46, 12, tzinfo=UTC)
    assert reply.text == ("Hi Alice,\n\nWe opened ticket HW-88213. The md2 rebuild on db1 is ours: we will throttle "
                          "it to 20 MB/s now.\n\nDana\nHostwise NOC")
    assert reply.attachments == ()
    assert find_ticket(r"HW-\d+", reply.subject, reply.body) == "HW-88213"


def test_html_only_reply_is_read_as_text_without_its_blockquote() -> None:
    reply = parse_reply(_reply("html-only.eml"))
    assert reply.text == ("Hello,\n\nYour ticket HW-88213 has been updated by Sam:\n\nWe set web4's weight on the "
                          "load balancer to 2 & re-enabled its health check.\n\n— Hostwise Support")
    assert "We need your help" not in reply.text and "margin" not in reply.text
    assert find_ticket(r"HW-\d+", reply.subject, reply.body) == "HW-88213"


def test_outlook_quoted_printable_reply_with_an_attachment() -> None:
    reply = parse_reply(_reply("quoted-printable.eml"))
    assert reply.sender == "Renée Müller <renee@hostwise.example>"
    assert reply.text.startswith("Hello,\n\nRenée here – the RAID controller log for db1 is attached. "
                                 "Ticket HW-88214 tracks the disk swap; a very long line")
    assert "Original Message" not in reply.text and "Sent:" not in reply.text
    assert reply.attachments == ("raid-controller-db1.pdf",)
    # no ticket in the subject: the body's
    assert find_ticket(r"HW-\d+", reply.subject, reply.body) == "HW-88214"


def test_a_forwarded_thread_keeps_only_what_the_sender_wrote_above_it() -> None:
    reply = parse_reply(_reply("forwarded.eml"))
    assert reply.refers_to == (SENT_ID, "<older@mail.hostwise.example>")
    assert reply.text == "Alice, see below from our storage team: the throttle is in place."
    assert find_ticket(r"HW-\d+", reply.subject, reply.body) == "HW-88213"  # from the forwarded part


def test_quote_markers_and_no_pattern() -> None:
    assert new_text("ok\n> quoted\nmore\n") == "ok\nmore"
    assert new_text("Thanks\n\nOn Tue, 10 Mar 2026, Pagerbot <pagerbot@example.com>\nwrote:\n> x") == "Thanks"
    assert new_text("Done.\n\nFrom: Pagerbot\nSent: Tuesday\nSubject: x\n\nold") == "Done."
    assert find_ticket(None, "HW-1") is None
    assert find_ticket(r"HW-\d+", "no ticket here") is None


def test_a_malformed_message_is_read_as_far_as_it_goes() -> None:
    reply = parse_reply(b"Subject: =?bogus?Q?x?=\r\nDate: not a date\r\nIn-Reply-To: garbage\r\n\r\nhello\r\n")
    assert reply.message_id is None and reply.refers_to == () and reply.sent_at is None
    assert reply.text == "hello"

