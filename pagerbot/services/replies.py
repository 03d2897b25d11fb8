"""The vendor's answers, read from the IMAP mailbox at each scheduler tick and brought to the incident.

A message that answers an email pagerbot sent (its In-Reply-To or References names that email's Message-ID)
is posted in the incident channel through the outbox, recorded on the timeline and kept (``email_replies``)
with the vendor's ticket number when ``vendors.<key>.ticket_pattern`` finds one. Other messages are left
alone. Each message is handled in one transaction with the mark of how far the mailbox was read, so a
restart neither loses nor repeats one; the reply's unique Message-ID guards against a second reader.

A mailbox that cannot be read is logged and told once in the channels of open incidents waiting on a vendor,
then retried at every tick; when it answers again, they hear that too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from pagerbot.chat.email_blocks import ReplyPost, vendor_reply
from pagerbot.core.escaping import one_line
from pagerbot.mail.compose import format_when
from pagerbot.mail.imap import MailboxError
from pagerbot.mail.replies import VendorReply, find_ticket, parse_reply
from pagerbot.services.context import Services
from pagerbot.services.emails import vendor_name
from pagerbot.services.opening import enqueue_post
from pagerbot.store.repository import Email, EmailReply, Session

log = logging.getLogger("pagerbot.replies")


@dataclass(frozen=True, slots=True)
class PollResult:
    read: int = 0  # messages read from the mailbox
    replies: int = 0  # of them, replies to pagerbot's emails now in their incidents
    failed: bool = False


async def poll_mailbox(ctx: Services) -> PollResult:
    """Read what arrived since the last poll (a scheduler tick)."""
    mailbox = ctx.mailbox
    if mailbox is None:
        return PollResult()
    async with ctx.store.sessions() as session:
        progress = await ctx.store.mailbox_progress(session, mailbox.key)
        after, validity = (progress.last_uid, progress.uidvalidity) if progress is not None else (0, 0)
        failing = progress is not None and progress.failing_since is not None
    try:
        fetched = await mailbox.read_new(after, validity)
    except MailboxError as exc:
        await _outage(ctx, mailbox.key, exc.reason)
        return PollResult(failed=True)
    if failing:
        await _recovered(ctx, mailbox.key)
    replies = 0
    for uid, raw in fetched.messages:
        if await _take(ctx, mailbox.key, fetched.uidvalidity, uid, raw):
            replies += 1
    if not fetched.messages and (progress is None or progress.uidvalidity != fetched.uidvalidity):
        async with ctx.store.transaction() as session:
            await _advance(ctx, session, mailbox.key, fetched.uidvalidity, 0)
    if replies:
        ctx.wake_outbox()
    return PollResult(read=len(fetched.messages), replies=replies)


async def _take(ctx: Services, key: str, uidvalidity: int, uid: int, raw: bytes) -> bool:
    """Bring one message in (if it answers one of our emails) and mark it read, in one transaction."""
    try:
        reply = parse_reply(raw)
    except Exception:  # a message the email package chokes on must not stop the mailbox being read
        log.exception("vendor replies: message %s of %s cannot be read; left alone", uid, key)
        async with ctx.store.transaction() as session:
            await _advance(ctx, session, key, uidvalidity, uid)
        return False
    message_id = reply.message_id or f"<imap-{uidvalidity}-{uid}@{key.partition('@')[2] or 'mailbox'}>"
    async with ctx.store.transaction() as session:
        taken = False
        answered = await _answered(ctx, session, reply)
        if answered is not None and not await ctx.store.reply_seen(session, message_id):
            await _record(ctx, session, answered, reply, message_id)
            taken = True
        await _advance(ctx, session, key, uidvalidity, uid)
    return taken


async def _answered(ctx: Services, session: Session, reply: VendorReply) -> Email | None:
    """The email pagerbot sent that ``reply`` answers, the nearest reference first."""
    if not reply.refers_to:
        return None
    rows = await ctx.store.sent_emails_with_ids(session, reply.refers_to)
    by_id = {row.message_id: row for row in rows}
    return next((by_id[ref] for ref in reply.refers_to if ref in by_id), None)


async def _record(ctx: Services, session: Session, email: Email, reply: VendorReply, message_id: str) -> None:
    now = ctx.clock.now()
    vendor = ctx.settings.config.vendors.get(email.vendor)
    ticket = find_ticket(vendor.ticket_pattern if vendor is not None else None, reply.subject, reply.body)
    sent_at = reply.sent_at or now
    row = EmailReply(incident_id=email.incident_id, email_id=email.id, message_id=message_id[:998],
                     sender=reply.sender or "(unknown sender)", subject=reply.subject, sent_at=sent_at,
                     text=reply.text, attachments=list(reply.attachments), ticket=ticket, received_at=now)
    await ctx.store.add_email_reply(session, row)
    name = vendor_name(ctx, email.vendor)
    summary = one_line(reply.text or reply.subject, 300)
    await ctx.store.add_timeline(
        session, email.incident_id, at=sent_at, kind="reply", source="email", actor=None,
        text=f"Reply from {name} ({one_line(reply.sender, 120)})" + (f", ticket {ticket}" if ticket else "")
        + f": {summary}",
        data={"email_id": email.id, "reply_id": row.id, "vendor": email.vendor, "ticket": ticket,
              "message_id": message_id[:998], "attachments": list(reply.attachments)},
        now=now)
    text, message = vendor_reply(ReplyPost(
        vendor_name=name, sender=reply.sender or "(unknown sender)",
        sent_when=format_when(sent_at, ctx.settings.config.timezone), subject=reply.subject, text=reply.text,
        attachments=reply.attachments, ticket=ticket))
    await enqueue_post(ctx, session, email.incident_id, text, message, now=now)
    log.info("reply from %s to email %s brought to INC-%s", email.vendor, email.id, email.incident_id,
             extra={"incident_id": email.incident_id})


async def _advance(ctx: Services, session: Session, key: str, uidvalidity: int, uid: int) -> None:
    progress = await ctx.store.mailbox_progress(session, key, lock=True, create=True)
    assert progress is not None
    if progress.uidvalidity != uidvalidity:
        progress.uidvalidity, progress.last_uid = uidvalidity, uid
    else:
        progress.last_uid = max(progress.last_uid, uid)


async def _outage(ctx: Services, key: str, reason: str) -> None:
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        progress = await ctx.store.mailbox_progress(session, key, lock=True, create=True)
        assert progress is not None
        first = progress.failing_since is None
        progress.error = reason
        if not first:
            log.info("vendor replies: mailbox still unreadable: %s", reason)
            return
        progress.failing_since = now
        log.error("vendor replies: cannot read the mailbox %s: %s (retrying at every tick)", key, reason)
        for incident_id in await ctx.store.incidents_waiting_on_vendor(session):
            await enqueue_post(ctx, session, incident_id,
                               f":warning: Cannot read the vendor's replies: {reason}. pagerbot keeps trying; "
                               "replies that arrive meanwhile are not lost.", now=now)
    ctx.wake_outbox()


async def _recovered(ctx: Services, key: str) -> None:
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        progress = await ctx.store.mailbox_progress(session, key, lock=True)
        if progress is None or progress.failing_since is None:
            return
        since: datetime = progress.failing_since
        progress.failing_since, progress.error = None, None
        log.warning("vendor replies: the mailbox %s answers again", key)
        for incident_id in await ctx.store.incidents_waiting_on_vendor(session):
            await enqueue_post(ctx, session, incident_id,
                               ":white_check_mark: The vendor's replies can be read again (unreadable since "
                               f"{format_when(since, ctx.settings.config.timezone)}).", now=now)
    ctx.wake_outbox()
