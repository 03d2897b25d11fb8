"""The outbox ops of vendor emails: post the draft for review, keep its Slack message current, send over SMTP.

State is read from the ``emails`` row at delivery time, so coalesced updates show the latest. ``send_email``
writes the Message-ID on the row *before* talking to SMTP; if it is ever re-entered with that marker set (a
crash or a lost database write after SMTP), it marks the email failed with "may have been sent" instead of
sending again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pagerbot.chat.email_blocks import EmailPreview, email_preview
from pagerbot.core.escaping import one_line
from pagerbot.mail import compose
from pagerbot.mail.mime import Attachment, Draft, build_message, new_message_id, thread_headers
from pagerbot.mail.sender import sender_domain
from pagerbot.mail.smtp import MailError
from pagerbot.observability import EMAILS_SENT
from pagerbot.services.context import Services
from pagerbot.services.delivery import Handler, Job, Persist, UndeliverableError, post_once
from pagerbot.services.emails import record_of, sent_thread, vendor_name
from pagerbot.store.repository import Email, Incident, Session

log = logging.getLogger("pagerbot.escalation")

MAYBE_SENT = ("the previous attempt was interrupted after contacting the SMTP server, so the email may have been "
              "sent; check before retrying")


def _preview(ctx: Services, row: Email, by: str | None) -> tuple[str, list[dict[str, Any]]]:
    vendor = ctx.settings.config.vendors.get(row.vendor)
    sent_when = compose.format_when(row.sent_at, ctx.settings.config.timezone) if row.sent_at else None
    return email_preview(EmailPreview(
        email_id=row.id, kind=row.kind, status=row.status, vendor_name=vendor_name(ctx, row.vendor),
        to=list(row.to), cc=list(row.cc), subject=row.subject, text=row.text, created_by=row.created_by,
        sent_by=row.sent_by, sent_when=sent_when, error=row.error,
        attachments=_attachment_names(row),
        vendor_phone=vendor.phone if vendor is not None else None,
        portal_url=vendor.portal_url if vendor is not None else None, by=by))


async def _load_email(ctx: Services, job: Job) -> tuple[Email, Incident]:
    email_id = int(job.payload.get("email_id") or 0)
    async with ctx.store.sessions() as session:
        row = await ctx.store.email(session, email_id)
        incident = await ctx.store.incident(session, row.incident_id) if row is not None else None
    if row is None or incident is None:
        raise UndeliverableError(f"email {email_id} does not exist")
    return row, incident


def _channel(incident: Incident) -> str:
    if not incident.channel_id:
        raise UndeliverableError(f"INC-{incident.id} has no channel")
    return incident.channel_id


def _set_email(ctx: Services, email_id: int, **values: Any) -> Persist:
    async def persist(session: Session) -> None:
        await ctx.store.update_email(session, email_id, **values)
    return persist


async def post_email_draft(ctx: Services, job: Job) -> Persist | None:
    row, incident = await _load_email(ctx, job)
    channel = _channel(incident)
    text, preview = _preview(ctx, row, job.payload.get("by"))
    if row.slack_ts:
        await ctx.chat.update_message(channel, row.slack_ts, text, preview)
        return None
    ts = await post_once(ctx, job, channel, text, preview)
    return _set_email(ctx, row.id, slack_ts=ts)


async def update_email_message(ctx: Services, job: Job) -> Persist | None:
    row, incident = await _load_email(ctx, job)
    if not row.slack_ts:
        return None  # post_email_draft, still queued, shows the current state
    text, preview = _preview(ctx, row, job.payload.get("by"))
    await ctx.chat.update_message(_channel(incident), row.slack_ts, text, preview)
    return None


def _attachment_names(row: Email) -> list[str]:
    names = [compose.GRAPH_FILENAME] if row.graph_id is not None else []
    return names + [str(g.get("filename")) for g in row.host_graphs or []]


async def _attachments(ctx: Services, session: Session, row: Email) -> list[Attachment]:
    """The graphs the draft named: the cluster's, then each host's (an image gone since is left out)."""
    wanted = [(row.graph_id, compose.GRAPH_FILENAME)] if row.graph_id is not None else []
    wanted += [(int(g["graph_id"]), str(g["filename"])) for g in row.host_graphs or [] if g.get("graph_id")]
    attachments: list[Attachment] = []
    for graph_id, filename in wanted:
        png = await ctx.store.graph_png(session, graph_id)
        if png:
            attachments.append(Attachment(filename, "image/png", png))
    return attachments


def _failed(ctx: Services, row: Email, by: str | None, error: str, *, clear_id: bool) -> Persist:
    vendor = vendor_name(ctx, row.vendor)

    async def persist(session: Session) -> None:
        now = ctx.clock.now()
        values: dict[str, Any] = {"status": "failed", "error": error[:2000]}
        if clear_id:
            values.update(message_id=None, in_reply_to=None, references=None)
        await ctx.store.update_email(session, row.id, **values)
        await ctx.store.add_timeline(session, row.incident_id, at=now, kind="email", source="pagerbot",
                                     actor="pagerbot", text=f"Email to {vendor} not sent: {one_line(error, 500)}",
                                     data={"email_id": row.id, "error": error[:2000]}, now=now)
        await ctx.store.enqueue(session, row.incident_id, "update_email_message", {"email_id": row.id, "by": by},
                                now=now)
    return persist


async def send_email(ctx: Services, job: Job) -> Persist | None:
    """Send once. The Message-ID written before SMTP marks an attempt: finding it again means "maybe sent"."""
    row, incident = await _load_email(ctx, job)
    by = job.payload.get("by")
    if row.status != "sending":
        return None  # discarded, or already settled by an earlier attempt
    if row.message_id:
        log.error("email %s: an earlier send attempt was interrupted; not sending again", row.id,
                  extra={"incident_id": incident.id})
        EMAILS_SENT.labels("unknown").inc()
        return _failed(ctx, row, by, MAYBE_SENT, clear_id=False)
    if ctx.mail_sender is None:
        return _failed(ctx, row, by, "email is not set up: configure `smtp` and `vendors` in the config file",
                       clear_id=True)
    async with ctx.store.sessions() as session:
        attachments = await _attachments(ctx, session, row)
        thread = sent_thread(await ctx.store.emails_of(session, incident.id), row.vendor, before=row.id)
    in_reply_to, references = thread_headers([record_of(e) for e in thread])
    now = ctx.clock.now()
    sender = ctx.settings.config.smtp.sender
    try:
        message_id = new_message_id(sender_domain(sender))
        message = build_message(
            Draft(to=list(row.to), cc=list(row.cc), subject=row.subject, text=row.text, html=row.html,
                  attachments=attachments, reply_to=list(row.reply_to or [])),
            sender=sender, message_id=message_id, in_reply_to=in_reply_to, references=references, date=now)
    except ValueError as exc:
        EMAILS_SENT.labels("failed").inc()
        return _failed(ctx, row, by, str(exc), clear_id=True)
    refs = " ".join(references) or None
    async with ctx.store.transaction() as session:
        claimed = await ctx.store.claim_send(session, row.id, message_id=message_id, in_reply_to=in_reply_to,
                                             references=refs)
        if not claimed:
            return None  # another worker has this attempt
    try:
        refused = await ctx.mail_sender(message)
    except MailError as exc:
        EMAILS_SENT.labels("failed").inc()
        log.warning("email %s not sent: %s", row.id, exc.reason, extra={"incident_id": incident.id})
        return _failed(ctx, row, by, exc.reason, clear_id=True)
    EMAILS_SENT.labels("sent").inc()
    raw = message.as_bytes()
    vendor = vendor_name(ctx, row.vendor)
    text = f"Email to {vendor} sent by {by or 'pagerbot'}: {one_line(row.subject, 300)}"
    if isinstance(refused, Mapping) and refused:
        text += f" (refused by the server: {', '.join(refused)})"

    async def persist(session: Session) -> None:
        done = ctx.clock.now()
        await ctx.store.update_email(session, row.id, status="sent", raw=raw, sent_at=done, sent_by=by, error=None)
        await ctx.store.add_timeline(session, row.incident_id, at=done, kind="email", source="email",
                                     actor=by, text=text,
                                     data={"email_id": row.id, "vendor": row.vendor, "message_id": message_id,
                                           "subject": row.subject, "to": list(row.to), "cc": list(row.cc),
                                           "in_reply_to": in_reply_to},
                                     now=done)
        await ctx.store.enqueue(session, row.incident_id, "update_email_message", {"email_id": row.id, "by": by},
                                now=done)
    return persist


def outbox_handlers() -> dict[str, Handler]:
    return {"post_email_draft": post_email_draft, "update_email_message": update_email_message,
            "send_email": send_email}
