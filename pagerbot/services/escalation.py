"""Escalation emails to the hosting vendor, the use cases: draft, edit, send, discard, offer the all-clear.

The flow (docs/escalation.md):

1. ``draft`` (``/incident escalate [vendor]`` or the Escalate button) renders the vendor's templates into an
   ``Email`` row (status ``draft``) and queues ``post_email_draft``: a preview with Send, Edit and Discard.
2. Send marks the row ``sending`` and queues ``send_email`` (``services/email_delivery.py`` delivers it).
3. Every state change (sending, sent, failed, discarded, edited) re-renders the same Slack message
   (``update_email_message``), read from the row at delivery time.
4. A failure keeps the draft and offers Retry; Retry is the only way an email is sent again.

What an email is written from is gathered in ``services/evidence.py``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pagerbot.chat import blocks
from pagerbot.chat.email_blocks import KIND_LABEL
from pagerbot.chat.email_blocks import offer_all_clear as all_clear_offer
from pagerbot.mail import compose
from pagerbot.mail.compose import EscalationContext
from pagerbot.mail.mime import Draft, check_addresses, edited
from pagerbot.mail.templates import TemplateProblem, TemplateSet
from pagerbot.services import evidence
from pagerbot.services.actor import ActionRefused, Actor
from pagerbot.services.context import Services
from pagerbot.services.emails import EDITABLE, sent_thread, vendor_name
from pagerbot.services.graphs import keep_graph, span_graph
from pagerbot.services.permissions import check_may_escalate
from pagerbot.services.reply import Reply
from pagerbot.settings import VendorConfig
from pagerbot.store.repository import Email, Incident, Session

log = logging.getLogger("pagerbot.escalation")

EDIT_LIMIT = 3000  # a Slack plain_text_input holds this many characters


class EmailRefused(ActionRefused):
    """A value in the Edit modal that cannot be used; ``field`` is the modal's block id."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# --- templates and vendors ------------------------------------------------------------------------------


def _templates(ctx: Services) -> TemplateSet:
    configured = ctx.settings.config.templates_dir
    directory: Path | None = None
    if configured:
        directory = Path(configured).expanduser()
        if not directory.is_absolute() and ctx.settings.config_path is not None:
            directory = ctx.settings.config_path.parent / directory
    try:
        return TemplateSet(directory)
    except ValueError as exc:
        raise ActionRefused(f"templates_dir: {exc}") from None


def _pick_vendor(ctx: Services, name: str | None) -> tuple[str, VendorConfig]:
    vendors = ctx.settings.config.vendors
    if not vendors:
        raise ActionRefused("no vendors are configured: add one under `vendors` in the config file")
    if not name:
        if len(vendors) == 1:
            key = next(iter(vendors))
            return key, vendors[key]
        raise ActionRefused(f"which vendor? `/incident escalate VENDOR` with one of: {', '.join(vendors)}")
    wanted = name.strip().lower()
    for key, vendor in vendors.items():
        if wanted in (key.lower(), vendor.name.lower()):
            return key, vendor
    raise ActionRefused(f"no vendor {name.strip()!r} in the config; configured: {', '.join(vendors)}")


def _vendor_by_key(ctx: Services, key: str) -> VendorConfig:
    vendor = ctx.settings.config.vendors.get(key)
    if vendor is None:
        raise ActionRefused(f"vendor {key!r} is no longer in the config (vendors)")
    return vendor


def _render(kind: str, context: EscalationContext, ctx: Services) -> Draft:
    write = {"escalation": compose.draft_escalation, "followup": compose.draft_followup,
             "allclear": compose.draft_all_clear}[kind]
    try:
        return write(context, _templates(ctx))
    except TemplateProblem as exc:
        log.error("escalation template problem: %s", exc)
        raise ActionRefused(f"the email could not be written: {exc}") from None
    except ValueError as exc:
        raise ActionRefused(f"the email could not be written: {exc}") from None


async def _store_draft(ctx: Services, session: Session, incident: Incident, key: str, vendor: VendorConfig,
                       kind: str, written: Draft, graph_id: int | None, actor: Actor, now: datetime,
                       host_graphs: Sequence[evidence.HostGraph] = ()) -> Email:
    attached: list[dict[str, Any]] = []
    for made in host_graphs:  # kept like any graph of the incident (the postmortem shows them too)
        attached.append({"graph_id": await keep_graph(ctx, session, incident.id, made.graph, now),
                         "filename": made.filename})
    row = Email(incident_id=incident.id, vendor=key, kind=kind, status="draft", to=list(written.to),
                cc=list(written.cc), subject=written.subject, text=written.text, html=written.html,
                graph_id=graph_id, created_at=now, created_by=actor.user_id,
                reply_to=list(written.reply_to), host_graphs=attached)
    await ctx.store.add_email(session, row)
    label = KIND_LABEL[kind]
    await ctx.store.add_timeline(session, incident.id, at=now, kind="escalation", source=actor.source,
                                 actor=actor.user_id, text=f"{label} to {vendor.name} drafted by {actor.user_id}",
                                 data={"email_id": row.id, "vendor": key, "kind": kind, "subject": written.subject},
                                 now=now)
    await ctx.store.enqueue(session, incident.id, "post_email_draft", {"email_id": row.id}, now=now)
    return row


# --- use cases ------------------------------------------------------------------------------------------


async def draft(ctx: Services, incident_id: int, vendor: str | None, actor: Actor) -> str:
    """Write the email to the vendor and post it for review; a follow-up once an earlier one was sent."""
    check_may_escalate(ctx, actor)
    key, config = _pick_vendor(ctx, vendor)
    known = await evidence.people(ctx, incident_id, actor.user_id)
    from_metrics = await evidence.metrics_evidence(ctx, incident_id)
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        incident = await ctx.store.incident(session, incident_id, lock=True)
        if incident is None:
            raise ActionRefused(f"INC-{incident_id} does not exist")
        if not incident.channel_id:
            raise ActionRefused(f"INC-{incident_id} has no channel yet; try again in a moment")
        sent = sent_thread(await ctx.store.emails_of(session, incident.id), key)
        previous = sent[-1] if sent else None
        kind = "followup" if previous is not None else "escalation"
        context, graph = await evidence.gather(ctx, session, incident, key, config, now, previous, known,
                                               from_metrics)
        written = _render(kind, context, ctx)
        await _store_draft(ctx, session, incident, key, config, kind, written,
                           graph.id if graph is not None else None, actor, now, from_metrics.host_graphs)
    ctx.wake_outbox()
    what = "A follow-up email" if kind == "followup" else "An escalation email"
    return f":email: {what} to {config.name} is drafted in the channel: review it, then press Send."


async def _email(ctx: Services, session: Session, email_id: int) -> Email:
    """The email a button names, or a refusal the person sees."""
    row = await ctx.store.email(session, email_id)
    if row is None:
        raise ActionRefused(f"email {email_id} does not exist")
    return row


async def _draft_all_clear(ctx: Services, email_id: int, actor: Actor) -> str:
    async with ctx.store.sessions() as session:
        incident_id = (await _email(ctx, session, email_id)).incident_id
    known = await evidence.people(ctx, incident_id, actor.user_id)
    graph = await span_graph(ctx, incident_id)  # drawn before the transaction, which locks the incident
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        last = await _email(ctx, session, email_id)
        incident = await ctx.store.incident(session, last.incident_id, lock=True)
        assert incident is not None
        key = last.vendor
        config = _vendor_by_key(ctx, key)
        emails = await ctx.store.emails_of(session, incident.id)
        if any(e.kind == "allclear" and e.vendor == key and e.status != "discarded" for e in emails):
            raise ActionRefused(f"an all-clear email to {config.name} is already drafted or sent")
        sent = sent_thread(emails, key)
        previous = sent[-1] if sent else last
        graph_id = await keep_graph(ctx, session, incident.id, graph, now) if graph is not None else None
        context, _ = await evidence.gather(ctx, session, incident, key, config, now, previous, known)
        written = _render("allclear", context, ctx)
        await _store_draft(ctx, session, incident, key, config, "allclear", written, graph_id, actor, now)
    ctx.wake_outbox()
    return f":email: An all-clear email to {config.name} is drafted in the channel: review it, then press Send."


async def offer_all_clear(ctx: Services, session: Session, incident: Incident, now: datetime) -> None:
    """On resolve (inside its transaction): offer an all-clear email to each vendor that was emailed."""
    last_by_vendor: dict[str, Email] = {}
    for row in await ctx.store.emails_of(session, incident.id):
        if row.status == "sent" and row.kind != "allclear":
            last_by_vendor[row.vendor] = row
        elif row.kind == "allclear" and row.status != "discarded":
            last_by_vendor.pop(row.vendor, None)
    if not last_by_vendor:
        return
    offered = [(row.id, vendor_name(ctx, key)) for key, row in last_by_vendor.items()]
    text, message = all_clear_offer(f"INC-{incident.id}", offered)
    await ctx.store.enqueue(session, incident.id, "post", {"text": text, "blocks": message}, now=now)


@dataclass(frozen=True, slots=True)
class EditableEmail:
    """A draft as the Edit modal shows it."""

    email_id: int
    to: list[str]
    cc: list[str]
    subject: str
    text: str


async def editable_email(ctx: Services, email_id: int, actor: Actor) -> EditableEmail:
    """The draft behind an Edit button, or a refusal when it can no longer be edited in Slack (or not by
    ``actor``)."""
    check_may_escalate(ctx, actor)
    async with ctx.store.sessions() as session:
        row = await _email(ctx, session, email_id)
    if row.status not in EDITABLE:
        raise ActionRefused(f"this email is {row.status}; it can no longer be edited")
    if len(row.text) > EDIT_LIMIT:
        # Slack's text input holds 3,000 characters: editing there would cut the email silently.
        raise ActionRefused(f"this email is {len(row.text)} characters long, more than a Slack text field holds "
                            f"({EDIT_LIMIT}); send it as drafted, or discard it and write it by hand")
    return EditableEmail(row.id, list(row.to), list(row.cc), row.subject, row.text)


async def email_button(ctx: Services, action_id: str, email_id: int, actor: Actor) -> Reply | None:
    check_may_escalate(ctx, actor)
    if action_id == blocks.EMAIL_ALL_CLEAR:
        return Reply(await _draft_all_clear(ctx, email_id, actor))
    if action_id in (blocks.EMAIL_SEND, blocks.EMAIL_RETRY):
        return Reply(await _start_sending(ctx, email_id, actor, retry=action_id == blocks.EMAIL_RETRY))
    if action_id == blocks.EMAIL_DISCARD:
        return Reply(await _discard(ctx, email_id, actor))
    raise ActionRefused(f"unknown email action {action_id}")


async def _start_sending(ctx: Services, email_id: int, actor: Actor, *, retry: bool) -> str:
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        row = await _email(ctx, session, email_id)
        if ctx.mail_sender is None:
            raise ActionRefused("email is not set up: configure `smtp` and `vendors` in the config file")
        # A conditional update: two clicks (or two replicas) cannot both start a send.
        claimed = await ctx.store.update_email(session, email_id, only_if=EDITABLE, status="sending", error=None,
                                               message_id=None, raw=None)
        if not claimed:
            await ctx.store.reread(session, row)
            raise ActionRefused(f"this email is already {row.status}")
        vendor = vendor_name(ctx, row.vendor)
        if retry:
            await ctx.store.add_timeline(session, row.incident_id, at=now, kind="email", source=actor.source,
                                         actor=actor.user_id, text=f"Email to {vendor}: retry by {actor.user_id}",
                                         data={"email_id": row.id}, now=now)
        payload = {"email_id": row.id, "by": actor.user_id}
        await ctx.store.enqueue(session, row.incident_id, "update_email_message", payload, now=now)
        await ctx.store.enqueue(session, row.incident_id, "send_email", payload, now=now)
    ctx.wake_outbox()
    return f":outbox_tray: Sending the email to {vendor}…"


async def _discard(ctx: Services, email_id: int, actor: Actor) -> str:
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        row = await _email(ctx, session, email_id)
        done = await ctx.store.update_email(session, email_id, only_if=EDITABLE, status="discarded")
        if not done:
            await ctx.store.reread(session, row)
            raise ActionRefused(f"this email is {row.status}; it can no longer be discarded")
        vendor = vendor_name(ctx, row.vendor)
        await ctx.store.add_timeline(session, row.incident_id, at=now, kind="escalation", source=actor.source,
                                     actor=actor.user_id,
                                     text=f"Email draft to {vendor} discarded by {actor.user_id}",
                                     data={"email_id": row.id}, now=now)
        await ctx.store.enqueue(session, row.incident_id, "update_email_message",
                                {"email_id": row.id, "by": actor.user_id}, now=now)
    ctx.wake_outbox()
    return f"The draft to {vendor} is discarded."


_SPLIT = re.compile(r"[,;\n]+")


def _addresses(text: str) -> list[str]:
    return [part.strip() for part in _SPLIT.split(text or "") if part.strip()]


async def edit_draft(ctx: Services, email_id: int, actor: Actor, *, to: str, cc: str, subject: str,
                     body: str) -> None:
    """The Edit modal was submitted: check it, store the new draft, refresh the preview."""
    try:
        check_may_escalate(ctx, actor)
    except ActionRefused as exc:
        raise EmailRefused("to", str(exc)) from None
    to_list, cc_list = _addresses(to), _addresses(cc)
    if not to_list:
        raise EmailRefused("to", "Give at least one recipient")
    for field, values in (("to", to_list), ("cc", cc_list)):
        try:
            check_addresses(values, field.capitalize())
        except ValueError as exc:
            raise EmailRefused(field, str(exc)) from None
    if not subject.strip():
        raise EmailRefused("subject", "Give the email a subject")
    if not body.strip():
        raise EmailRefused("body", "The email needs a body")
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        row = await ctx.store.email(session, email_id)
        if row is None:
            raise EmailRefused("body", f"email {email_id} does not exist")
        if row.status not in EDITABLE:
            raise EmailRefused("body", f"this email is {row.status}; it can no longer be edited")
        current = Draft(to=list(row.to), cc=list(row.cc), subject=row.subject, text=row.text, html=row.html)
        try:
            changed = edited(current, to=to_list, cc=cc_list, subject=subject, text=body)
        except ValueError as exc:
            raise EmailRefused("to", str(exc)) from None
        row.to, row.cc, row.subject = list(changed.to), list(changed.cc), changed.subject
        row.text, row.html = changed.text, changed.html
        vendor = vendor_name(ctx, row.vendor)
        await ctx.store.add_timeline(session, row.incident_id, at=now, kind="escalation", source=actor.source,
                                     actor=actor.user_id, text=f"Email draft to {vendor} edited by {actor.user_id}",
                                     data={"email_id": row.id, "subject": row.subject}, now=now)
        await ctx.store.enqueue(session, row.incident_id, "update_email_message",
                                {"email_id": row.id, "by": actor.user_id}, now=now)
    ctx.wake_outbox()
