"""Escalation emails to the hosting vendor: drafted with the evidence, reviewed in Slack, sent over SMTP.

The flow (docs/escalation.md):

1. ``draft`` (``/incident escalate [vendor]`` or the Escalate button) renders the vendor's templates into an
   ``Email`` row (status ``draft``) and queues ``post_email_draft``: a preview with Send, Edit and Discard.
2. Send marks the row ``sending`` and queues ``send_email``. That op writes the Message-ID on the row
   *before* talking to SMTP; if it is ever re-entered with that marker set (a crash or a lost database
   write after SMTP), it marks the email failed with "may have been sent" instead of sending again.
3. Every state change (sending, sent, failed, discarded, edited) re-renders the same Slack message
   (``update_email_message``), read from the row at delivery time.
4. A failure keeps the draft and offers Retry; Retry is the only way an email is sent again.
"""

from __future__ import annotations

import email.utils
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pagerbot.chat import blocks
from pagerbot.core.asks import suggest_asks
from pagerbot.core.escaping import mrkdwn, one_line
from pagerbot.core.findings import Finding, FindingKind
from pagerbot.core.people import is_user_id, user_ids
from pagerbot.core.records import EscalationRecord, TimelineEntry
from pagerbot.mail import compose
from pagerbot.mail.compose import Attachment, Draft, EscalationContext, HostSummary, VendorInfo
from pagerbot.mail.smtp import MailError, SmtpSettings, send_message
from pagerbot.mail.templates import TemplateProblem, TemplateSet
from pagerbot.observability import EMAILS_SENT
from pagerbot.outbox.ops import _post_once
from pagerbot.outbox.worker import Handler, Job, Persist, UndeliverableError
from pagerbot.services.actor import ActionRefused, Actor
from pagerbot.services.context import Services
from pagerbot.services.graphs import keep_graph, span_graph
from pagerbot.services.people import names_for
from pagerbot.services.ports import MailSender
from pagerbot.services.reply import Reply
from pagerbot.settings import Settings, VendorConfig
from pagerbot.slack.views import edit_email_modal
from pagerbot.store.repository import incident_record, rowcount
from pagerbot.store.tables import Email, Graph, Incident

log = logging.getLogger("pagerbot.escalation")

PREVIEW_LIMIT = 2600  # the body shown in Slack (a section holds 3000 characters, with room for the fences)
MAYBE_SENT = ("the previous attempt was interrupted after contacting the SMTP server, so the email may have been "
              "sent; check before retrying")
EDIT_LIMIT = 3000  # a Slack plain_text_input holds this many characters
EDITABLE = ("draft", "failed")
KIND_LABEL = {"escalation": "Escalation email", "followup": "Follow-up email", "allclear": "All-clear email"}


class EmailRefused(ActionRefused):
    """A value in the Edit modal that cannot be used; ``field`` is the modal's block id."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# --- SMTP -----------------------------------------------------------------------------------------------


def smtp_settings(settings: Settings) -> SmtpSettings:
    """The ``smtp`` config as the mail library's settings (implicit TLS wins over STARTTLS when both are on)."""
    smtp = settings.config.smtp
    return SmtpSettings(host=smtp.host, port=smtp.port, starttls=smtp.starttls and not smtp.tls, tls=smtp.tls,
                        username=smtp.username or None, password=smtp.password, sender=smtp.sender,
                        timeout=smtp.timeout_seconds)


def smtp_sender(settings: Settings, *, tls_context: Any = None) -> MailSender | None:
    """The production mail sender (``send_message`` with the config's SMTP), or None without vendors."""
    if not settings.config.vendors:
        return None
    smtp = smtp_settings(settings)
    if tls_context is not None:
        from dataclasses import replace

        smtp = replace(smtp, tls_context=tls_context)

    async def send(message: EmailMessage) -> dict[str, str]:
        return await send_message(message, smtp)

    return send


def _sender_address(ctx: Services) -> str:
    return ctx.settings.config.smtp.sender


def _sender_domain(ctx: Services) -> str:
    _, addr = email.utils.parseaddr(_sender_address(ctx))
    domain = addr.rpartition("@")[2].strip()
    return domain or "pagerbot.invalid"


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


def _vendor_info(key: str, config: VendorConfig) -> VendorInfo:
    return VendorInfo(name=config.name, to=tuple(config.to), cc=tuple(config.cc), account=config.account or "",
                      phone=config.phone, portal_url=config.portal_url, template=config.template, key=key)


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


# --- what the email is written from ---------------------------------------------------------------------


def _findings(raw: Any) -> list[Finding]:
    found: list[Finding] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, Mapping):
            continue
        try:
            numbers = item.get("numbers") or {}
            found.append(Finding(kind=FindingKind(str(item["kind"])), host=str(item["host"]),
                                 sentence=str(item["sentence"]), score=float(item.get("score") or 0),
                                 pool=str(item["pool"]) if item.get("pool") else None,
                                 numbers={str(k): float(v) for k, v in dict(numbers).items()}))
        except (KeyError, ValueError, TypeError):
            continue
    return found


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _hosts(raw: Any) -> list[HostSummary]:
    hosts: list[HostSummary] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, Mapping) or not item.get("host"):
            continue
        cpus = _number(item.get("cpus"))
        findings = item.get("findings")
        hosts.append(HostSummary(
            host=str(item["host"]), load=_number(item.get("load")), cpus=int(cpus) if cpus else None,
            iowait=_number(item.get("iowait")), cpu_busy=_number(item.get("cpu_busy")),
            mem_available_pct=_number(item.get("mem_available_pct")),
            findings=tuple(str(f) for f in findings) if isinstance(findings, list) else (),
            pool=str(item["pool"]) if item.get("pool") else None))
    return hosts


def _record(row: Email) -> EscalationRecord:
    return EscalationRecord(vendor=row.vendor, subject=row.subject, status=row.status, created_at=row.created_at,
                            sent_at=row.sent_at, sent_by=row.sent_by, message_id=row.message_id)


async def _emails(session: AsyncSession, incident_id: int) -> list[Email]:
    rows = await session.execute(select(Email).where(Email.incident_id == incident_id).order_by(Email.id))
    return list(rows.scalars())


def _sent(emails: Sequence[Email], vendor: str, *, before: int | None = None) -> list[Email]:
    """Emails to ``vendor`` that went out (the mail thread), oldest first."""
    return [e for e in emails if e.vendor == vendor and e.status == "sent" and e.message_id
            and (before is None or e.id < before)]


async def _names(ctx: Services, incident_id: int) -> dict[str, str]:
    """The names of the people the email will mention, looked up before the drafting transaction (which
    locks the incident: a slow Slack must not hold up the alerts joining it). Unknown names stay IDs."""
    async with ctx.store.sessions() as session:
        incident = await ctx.store.incident(session, incident_id)
        if incident is None:
            return {}
        timeline = await ctx.store.timeline(session, incident_id)
    return await names_for(ctx, user_ids(timeline, incident_record(incident)))


async def _context(ctx: Services, session: AsyncSession, incident: Incident, key: str, vendor: VendorConfig,
                   now: datetime, previous: Email | None,
                   names: Mapping[str, str]) -> tuple[EscalationContext, int | None]:
    alerts = await ctx.store.alerts_of(session, incident.id)
    timeline = await ctx.store.timeline(session, incident.id)
    participants = sorted({e.actor for e in timeline if e.actor and is_user_id(e.actor)})
    graph = await _graph_for(session, incident.id, {a.host for a in alerts if a.host})
    summary: Mapping[str, Any] = graph.summary if graph is not None and isinstance(graph.summary, dict) else {}
    findings = _findings(summary.get("findings"))
    hosts = _hosts(summary.get("hosts"))
    if not hosts:  # no graph yet: at least name the hosts the alerts are about
        hosts = [HostSummary(host=h) for h in sorted({a.host for a in alerts if a.host})]
    stands_out = [str(s) for s in summary.get("stands_out") or [] if isinstance(s, str)]
    changes: list[TimelineEntry] = []
    if previous is not None:
        since = previous.sent_at or previous.created_at
        changes = [e for e in timeline if e.at > since and e.kind not in ("escalation", "email")]
    context = EscalationContext(
        incident=incident_record(incident, participants), vendor=_vendor_info(key, vendor), now=now,
        tz=ctx.settings.config.timezone, hosts=hosts, findings=findings, stands_out=stands_out,
        asks=suggest_asks(findings), timeline=timeline,
        graph_png=graph.png if graph is not None and graph.png else None,
        previous=_record(previous) if previous is not None else None, changes_since_previous=changes,
        names=names)
    return context, (graph.id if graph is not None and graph.png else None)


async def _graph_for(session: AsyncSession, incident_id: int, alert_hosts: set[str]) -> Graph | None:
    """The newest graph that shows every host the alerts name (the live cluster graph rather than a pool's
    graph someone asked for last); the newest of all when none does."""
    rows = list((await session.execute(select(Graph).where(Graph.incident_id == incident_id,
                                                            func.length(Graph.png) > 0)  # superseded live graphs
                                       .order_by(Graph.id.desc()).limit(20))).scalars())
    for row in rows:
        summary = row.summary if isinstance(row.summary, dict) else {}
        shown = {str(h.get("host")) for h in summary.get("hosts") or [] if isinstance(h, dict)}
        if alert_hosts <= shown:
            return row
    return rows[0] if rows else None


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


async def _store_draft(ctx: Services, session: AsyncSession, incident: Incident, key: str, vendor: VendorConfig,
                       kind: str, written: Draft, graph_id: int | None, actor: Actor, now: datetime) -> Email:
    row = Email(incident_id=incident.id, vendor=key, kind=kind, status="draft", to=list(written.to),
                cc=list(written.cc), subject=written.subject, text=written.text, html=written.html,
                graph_id=graph_id, created_at=now, created_by=actor.user_id)
    session.add(row)
    await session.flush()
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
    key, config = _pick_vendor(ctx, vendor)
    names = await _names(ctx, incident_id)
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        incident = await ctx.store.incident(session, incident_id, lock=True)
        if incident is None:
            raise ActionRefused(f"INC-{incident_id} does not exist")
        if not incident.channel_id:
            raise ActionRefused(f"INC-{incident_id} has no channel yet; try again in a moment")
        sent = _sent(await _emails(session, incident.id), key)
        previous = sent[-1] if sent else None
        kind = "followup" if previous is not None else "escalation"
        context, graph_id = await _context(ctx, session, incident, key, config, now, previous, names)
        written = _render(kind, context, ctx)
        await _store_draft(ctx, session, incident, key, config, kind, written, graph_id, actor, now)
    ctx.wake_outbox()
    what = "A follow-up email" if kind == "followup" else "An escalation email"
    return f":email: {what} to {config.name} is drafted in the channel: review it, then press Send."


async def _email(session: AsyncSession, email_id: int) -> Email:
    """The email a button names, or a refusal the person sees."""
    row = await session.get(Email, email_id)
    if row is None:
        raise ActionRefused(f"email {email_id} does not exist")
    return row


async def _draft_all_clear(ctx: Services, email_id: int, actor: Actor) -> str:
    async with ctx.store.sessions() as session:
        incident_id = (await _email(session, email_id)).incident_id
    names = await _names(ctx, incident_id)
    graph = await span_graph(ctx, incident_id)  # drawn before the transaction, which locks the incident
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        last = await _email(session, email_id)
        incident = await ctx.store.incident(session, last.incident_id, lock=True)
        assert incident is not None
        key = last.vendor
        config = _vendor_by_key(ctx, key)
        emails = await _emails(session, incident.id)
        if any(e.kind == "allclear" and e.vendor == key and e.status != "discarded" for e in emails):
            raise ActionRefused(f"an all-clear email to {config.name} is already drafted or sent")
        sent = _sent(emails, key)
        previous = sent[-1] if sent else last
        graph_id = await keep_graph(session, incident.id, graph, now) if graph is not None else None
        context, _ = await _context(ctx, session, incident, key, config, now, previous, names)
        written = _render("allclear", context, ctx)
        await _store_draft(ctx, session, incident, key, config, "allclear", written, graph_id, actor, now)
    ctx.wake_outbox()
    return f":email: An all-clear email to {config.name} is drafted in the channel: review it, then press Send."


async def offer_all_clear(ctx: Services, session: AsyncSession, incident: Incident, now: datetime) -> None:
    """On resolve (inside its transaction): offer an all-clear email to each vendor that was emailed."""
    last_by_vendor: dict[str, Email] = {}
    for row in await _emails(session, incident.id):
        if row.status == "sent" and row.kind != "allclear":
            last_by_vendor[row.vendor] = row
        elif row.kind == "allclear" and row.status != "discarded":
            last_by_vendor.pop(row.vendor, None)
    if not last_by_vendor:
        return
    vendors = ctx.settings.config.vendors
    names = {key: (vendors[key].name if key in vendors else key) for key in last_by_vendor}
    text = f"INC-{incident.id} is resolved. Tell {', '.join(names.values())} that all is clear?"
    buttons = [ButtonElement(text=PlainTextObject(text=f"All-clear email to {names[key]}"[:75]),
                             action_id=blocks.EMAIL_ALL_CLEAR, value=str(row.id), style="primary")
               for key, row in last_by_vendor.items()][:5]
    message: list[Block] = [SectionBlock(text=MarkdownTextObject(text=f":email: {mrkdwn(text)}")),
                            ActionsBlock(elements=buttons)]
    await ctx.store.enqueue(session, incident.id, "post", {"text": text, "blocks": [b.to_dict() for b in message]},
                            now=now)


async def email_button(ctx: Services, action_id: str, email_id: int, actor: Actor) -> Reply | None:
    if action_id == blocks.EMAIL_ALL_CLEAR:
        return Reply(await _draft_all_clear(ctx, email_id, actor))
    if action_id == blocks.EMAIL_EDIT:
        async with ctx.store.sessions() as session:
            row = await _email(session, email_id)
        if row.status not in EDITABLE:
            raise ActionRefused(f"this email is {row.status}; it can no longer be edited")
        if len(row.text) > EDIT_LIMIT:
            # Slack's text input holds 3,000 characters: editing there would cut the email silently.
            raise ActionRefused(f"this email is {len(row.text)} characters long, more than a Slack text field holds "
                                f"({EDIT_LIMIT}); send it as drafted, or discard it and write it by hand")
        return Reply("", view=edit_email_modal(row.id, list(row.to), list(row.cc), row.subject, row.text))
    if action_id in (blocks.EMAIL_SEND, blocks.EMAIL_RETRY):
        return Reply(await _start_sending(ctx, email_id, actor, retry=action_id == blocks.EMAIL_RETRY))
    if action_id == blocks.EMAIL_DISCARD:
        return Reply(await _discard(ctx, email_id, actor))
    raise ActionRefused(f"unknown email action {action_id}")


async def _start_sending(ctx: Services, email_id: int, actor: Actor, *, retry: bool) -> str:
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        row = await _email(session, email_id)
        if ctx.mail_sender is None:
            raise ActionRefused("email is not set up: configure `smtp` and `vendors` in the config file")
        # A conditional update: two clicks (or two replicas) cannot both start a send.
        claimed = await session.execute(
            update(Email).where(Email.id == email_id, Email.status.in_(EDITABLE))
            .values(status="sending", error=None, message_id=None, raw=None))
        if not rowcount(claimed):
            await session.refresh(row)
            raise ActionRefused(f"this email is already {row.status}")
        vendor = _vendor_name(ctx, row.vendor)
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
        row = await _email(session, email_id)
        done = await session.execute(update(Email).where(Email.id == email_id, Email.status.in_(EDITABLE))
                                     .values(status="discarded"))
        if not rowcount(done):
            await session.refresh(row)
            raise ActionRefused(f"this email is {row.status}; it can no longer be discarded")
        vendor = _vendor_name(ctx, row.vendor)
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
    to_list, cc_list = _addresses(to), _addresses(cc)
    if not to_list:
        raise EmailRefused("to", "Give at least one recipient")
    for field, values in (("to", to_list), ("cc", cc_list)):
        try:
            compose.check_addresses(values, field.capitalize())
        except ValueError as exc:
            raise EmailRefused(field, str(exc)) from None
    if not subject.strip():
        raise EmailRefused("subject", "Give the email a subject")
    if not body.strip():
        raise EmailRefused("body", "The email needs a body")
    now = ctx.clock.now()
    async with ctx.store.transaction() as session:
        row = await session.get(Email, email_id)
        if row is None:
            raise EmailRefused("body", f"email {email_id} does not exist")
        if row.status not in EDITABLE:
            raise EmailRefused("body", f"this email is {row.status}; it can no longer be edited")
        current = Draft(to=list(row.to), cc=list(row.cc), subject=row.subject, text=row.text, html=row.html)
        try:
            changed = compose.edited(current, to=to_list, cc=cc_list, subject=subject, text=body)
        except ValueError as exc:
            raise EmailRefused("to", str(exc)) from None
        row.to, row.cc, row.subject = list(changed.to), list(changed.cc), changed.subject
        row.text, row.html = changed.text, changed.html
        vendor = _vendor_name(ctx, row.vendor)
        await ctx.store.add_timeline(session, row.incident_id, at=now, kind="escalation", source=actor.source,
                                     actor=actor.user_id, text=f"Email draft to {vendor} edited by {actor.user_id}",
                                     data={"email_id": row.id, "subject": row.subject}, now=now)
        await ctx.store.enqueue(session, row.incident_id, "update_email_message",
                                {"email_id": row.id, "by": actor.user_id}, now=now)
    ctx.wake_outbox()


def _vendor_name(ctx: Services, key: str) -> str:
    vendor = ctx.settings.config.vendors.get(key)
    return vendor.name if vendor is not None else key


# --- the Slack message ----------------------------------------------------------------------------------


def _button(text: str, action_id: str, email_id: int, style: str | None = None) -> ButtonElement:
    return ButtonElement(text=PlainTextObject(text=text), action_id=action_id, value=str(email_id), style=style)


def _preview(ctx: Services, row: Email, by: str | None) -> tuple[str, list[dict[str, Any]]]:
    """The draft as people review it, with the buttons its status allows."""
    vendor = ctx.settings.config.vendors.get(row.vendor)
    name = vendor.name if vendor is not None else row.vendor
    label = KIND_LABEL.get(row.kind, "Email")
    tz = ctx.settings.config.timezone
    head = (f":email: *{label} to {mrkdwn(name)}*" + (f" (drafted by <@{row.created_by}>)" if row.created_by else "")
            + f"\n*To:* {mrkdwn(', '.join(row.to))}")
    if row.cc:
        head += f"\n*Cc:* {mrkdwn(', '.join(row.cc))}"
    head += f"\n*Subject:* {mrkdwn(row.subject)}"
    body = row.text
    if len(body) > PREVIEW_LIMIT:
        body = body[:PREVIEW_LIMIT] + "\n… (shortened here; the email has it all)"
    message: list[Block] = [SectionBlock(text=MarkdownTextObject(text=head[:3000])),
                            SectionBlock(text=MarkdownTextObject(text=f"```{mrkdwn(body)}```"[:3000]))]
    notes: list[str] = []
    if row.graph_id is not None:
        notes.append(f":paperclip: {compose.GRAPH_FILENAME} attached")
    if vendor is not None and vendor.phone:
        notes.append(f":telephone_receiver: {mrkdwn(vendor.phone)}")
    if vendor is not None and vendor.portal_url and vendor.portal_url.startswith(("https://", "http://")):
        url = vendor.portal_url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
        notes.append(f":ticket: <{url}|{mrkdwn(name)} support portal>")
    if notes:
        message.append(ContextBlock(elements=[MarkdownTextObject(text="   ".join(notes)[:3000])]))
    who = f"<@{by}>" if by else "someone"
    if row.status == "draft":
        message.append(ActionsBlock(elements=[_button("Send", blocks.EMAIL_SEND, row.id, "primary"),
                                              _button("Edit", blocks.EMAIL_EDIT, row.id),
                                              _button("Discard", blocks.EMAIL_DISCARD, row.id, "danger")]))
        status = "draft"
    elif row.status == "sending":
        status = f":hourglass_flowing_sand: Sending (requested by {who})…"
        message.append(ContextBlock(elements=[MarkdownTextObject(text=status)]))
    elif row.status == "sent":
        when = compose.format_when(row.sent_at, tz) if row.sent_at else "just now"
        sender = f"<@{row.sent_by}>" if row.sent_by else "someone"
        status = f":white_check_mark: Sent by {sender} at {when}"
        message.append(ContextBlock(elements=[MarkdownTextObject(text=status)]))
    elif row.status == "failed":
        status = f":x: Not sent: {mrkdwn(one_line(row.error or 'unknown error', 600))}. The draft is kept."
        message.append(SectionBlock(text=MarkdownTextObject(text=status[:3000])))
        message.append(ActionsBlock(elements=[_button("Retry", blocks.EMAIL_RETRY, row.id, "primary"),
                                              _button("Edit", blocks.EMAIL_EDIT, row.id),
                                              _button("Discard", blocks.EMAIL_DISCARD, row.id, "danger")]))
    else:
        status = f":wastebasket: Discarded by {who}"
        message.append(ContextBlock(elements=[MarkdownTextObject(text=status)]))
    text = f"{label} to {name} ({row.status}): {one_line(row.subject, 150)}"
    return text, [b.to_dict() for b in message]


async def _load_email(ctx: Services, job: Job) -> tuple[Email, Incident]:
    email_id = int(job.payload.get("email_id") or 0)
    async with ctx.store.sessions() as session:
        row = await session.get(Email, email_id)
        incident = await ctx.store.incident(session, row.incident_id) if row is not None else None
    if row is None or incident is None:
        raise UndeliverableError(f"email {email_id} does not exist")
    return row, incident


def _channel(incident: Incident) -> str:
    if not incident.channel_id:
        raise UndeliverableError(f"INC-{incident.id} has no channel")
    return incident.channel_id


def _set_email(email_id: int, **values: Any) -> Persist:
    async def persist(session: AsyncSession) -> None:
        await session.execute(update(Email).where(Email.id == email_id).values(**values))
    return persist


async def post_email_draft(ctx: Services, job: Job) -> Persist | None:
    row, incident = await _load_email(ctx, job)
    channel = _channel(incident)
    text, preview = _preview(ctx, row, job.payload.get("by"))
    if row.slack_ts:
        await ctx.chat.update_message(channel, row.slack_ts, text, preview)
        return None
    ts = await _post_once(ctx, job, channel, text, preview)
    return _set_email(row.id, slack_ts=ts)


async def update_email_message(ctx: Services, job: Job) -> Persist | None:
    row, incident = await _load_email(ctx, job)
    if not row.slack_ts:
        return None  # post_email_draft, still queued, shows the current state
    text, preview = _preview(ctx, row, job.payload.get("by"))
    await ctx.chat.update_message(_channel(incident), row.slack_ts, text, preview)
    return None


def _attachments(png: bytes | None) -> list[Attachment]:
    return [Attachment(compose.GRAPH_FILENAME, "image/png", png)] if png else []


def _failed(ctx: Services, row: Email, by: str | None, error: str, *, clear_id: bool) -> Persist:
    vendor = _vendor_name(ctx, row.vendor)

    async def persist(session: AsyncSession) -> None:
        now = ctx.clock.now()
        values: dict[str, Any] = {"status": "failed", "error": error[:2000]}
        if clear_id:
            values.update(message_id=None, in_reply_to=None, references=None)
        await session.execute(update(Email).where(Email.id == row.id).values(**values))
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
    png: bytes | None = None
    async with ctx.store.sessions() as session:
        if row.graph_id is not None:
            png = (await session.execute(select(Graph.png).where(Graph.id == row.graph_id))).scalar_one_or_none()
        thread = _sent(await _emails(session, incident.id), row.vendor, before=row.id)
    in_reply_to, references = compose.thread_headers([_record(e) for e in thread])
    now = ctx.clock.now()
    try:
        message_id = compose.new_message_id(_sender_domain(ctx))
        message = compose.build_message(
            Draft(to=list(row.to), cc=list(row.cc), subject=row.subject, text=row.text, html=row.html,
                  attachments=_attachments(png)),
            sender=_sender_address(ctx), message_id=message_id, in_reply_to=in_reply_to, references=references,
            date=now)
    except ValueError as exc:
        EMAILS_SENT.labels("failed").inc()
        return _failed(ctx, row, by, str(exc), clear_id=True)
    refs = " ".join(references) or None
    async with ctx.store.transaction() as session:
        claimed = await session.execute(
            update(Email).where(Email.id == row.id, Email.status == "sending", Email.message_id.is_(None))
            .values(message_id=message_id, in_reply_to=in_reply_to, references=refs))
        if not rowcount(claimed):
            return None  # another worker has this attempt
    try:
        refused = await ctx.mail_sender(message)
    except MailError as exc:
        EMAILS_SENT.labels("failed").inc()
        log.warning("email %s not sent: %s", row.id, exc.reason, extra={"incident_id": incident.id})
        return _failed(ctx, row, by, exc.reason, clear_id=True)
    EMAILS_SENT.labels("sent").inc()
    raw = message.as_bytes()
    vendor = _vendor_name(ctx, row.vendor)
    text = f"Email to {vendor} sent by {by or 'pagerbot'}: {one_line(row.subject, 300)}"
    if isinstance(refused, Mapping) and refused:
        text += f" (refused by the server: {', '.join(refused)})"

    async def persist(session: AsyncSession) -> None:
        done = ctx.clock.now()
        await session.execute(update(Email).where(Email.id == row.id).values(
            status="sent", raw=raw, sent_at=done, sent_by=by, error=None))
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
