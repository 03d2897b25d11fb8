"""Delivering pages (outbox ops): the direct message, the channel's mention, and each person's extra contacts.

The direct message and the extra contacts are queued without an incident (the outbox orders an incident's rows,
and a page must not wait behind its channel's set-up, nor an SMS behind Slack). Slack's retryable errors are
retried by the outbox; an extra contact (email-to-SMS, webhook, PagerDuty) is tried once and its outcome goes on
the timeline, so a broken push service never holds anything up.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

import httpx
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from pagerbot.chat.blocks import clock, page_mention, page_message
from pagerbot.core.escaping import one_line
from pagerbot.services.context import Services
from pagerbot.services.delivery import Handler, Job, Persist, UndeliverableError, post_once
from pagerbot.services.oncall import person
from pagerbot.services.paging import queue_page_dm_edits
from pagerbot.services.ports import ChatError
from pagerbot.settings import OncallContactConfig, OncallWebhookConfig
from pagerbot.store.repository import Incident, Page, Session

log = logging.getLogger("pagerbot.paging")
HTTP_TIMEOUT = 10.0
PD_SEVERITY = {1: "critical", 2: "error", 3: "warning", 4: "info"}
DEFAULT_WEBHOOK_BODY: dict[str, Any] = {
    "title": "{{ ref }} SEV{{ severity }}", "message": "{{ title }}", "url": "{{ url }}", "priority": "{{ priority }}",
}


async def _load(ctx: Services, page_id: int) -> tuple[Page, Incident]:
    async with ctx.store.sessions() as session:
        page = await ctx.store.oncall.page(session, page_id)
        incident = await ctx.store.incident(session, page.incident_id) if page is not None else None
    if page is None or incident is None:
        raise UndeliverableError(f"page {page_id} does not exist")
    return page, incident


def _note(ctx: Services, incident_id: int, text: str, data: Mapping[str, Any] | None = None) -> Persist:
    async def persist(session: Session) -> None:
        now = ctx.clock.now()
        await ctx.store.add_timeline(session, incident_id, at=now, kind="page", source="pagerbot", actor="pagerbot",
                                     text=text, data=dict(data or {}), now=now)
    return persist


def _role(page: Page) -> str:
    return f"{page.rotation} on call" if page.rotation else "on call"


async def _slack_user(ctx: Services, target: str) -> str | None:
    return await ctx.chat.lookup_user_by_email(target) if "@" in target else target


async def page_dm(ctx: Services, job: Job) -> Persist | None:
    page, incident = await _load(ctx, int(job.payload["page_id"]))
    if _handled(incident):
        return None
    try:
        user = await _slack_user(ctx, page.target)
        if user is None:
            return _note(ctx, incident.id, f"Page to {page.target} not delivered: no Slack user has this email")
        channel = await ctx.chat.open_dm(user)
    except ChatError as exc:
        if exc.retryable:
            raise
        return _note(ctx, incident.id, f"Page to {page.target} not delivered: Slack said {exc.error}")
    text, blocks = await _page_text(ctx, page, incident)
    ts = await post_once(ctx, job, channel, text, blocks)
    return _recorded(ctx, page.id, incident, channel, ts)


async def _page_text(ctx: Services, page: Page, incident: Incident) -> tuple[str, list[dict[str, Any]]]:
    """A page's direct message as the incident stands: its channel once there is one, and who acknowledged it
    (or that it resolved) instead of the button once someone did."""
    async with ctx.store.sessions() as session:
        firing, _ = await ctx.store.alert_counts(session, incident.id)
    return page_message(ref=f"INC-{incident.id}", incident_id=incident.id, title=incident.title,
                        severity=incident.severity, status=incident.status, opened_at=incident.opened_at,
                        channel_id=incident.channel_id, role=_role(page), repeat=page.repeat, firing=firing,
                        tz=ctx.settings.tz, handled=_handled_line(ctx, page, incident))


def _handled_line(ctx: Services, page: Page, incident: Incident) -> str | None:
    said = []
    if page.acknowledged_at is not None and (incident.resolved_at is None
                                             or page.acknowledged_at < incident.resolved_at):
        who = f" by {person(page.acknowledged_by)}" if page.acknowledged_by else ""
        said.append(f"Acknowledged{who} at {clock(page.acknowledged_at, ctx.settings.tz)}")
    if incident.resolved_at is not None:
        said.append(f"INC-{incident.id} resolved at {clock(incident.resolved_at, ctx.settings.tz)}")
    elif said:
        said.append("the paging stopped")
    return "; ".join(said) + "." if said else None


def _recorded(ctx: Services, page_id: int, shown: Incident, channel: str, ts: str) -> Persist:
    """Keep where the direct message is, so that it follows the incident; when the incident moved on while it
    was being sent (its channel was created, someone acknowledged), edit it at once: the edits queued meanwhile
    did not know of this message."""
    async def persist(session: Session) -> None:
        await ctx.store.oncall.record_dm(session, page_id, channel, ts)
        current = await ctx.store.incident(session, shown.id)
        if current is not None and (current.channel_id != shown.channel_id or _handled(current)):
            await queue_page_dm_edits(ctx, session, shown.id, ctx.clock.now())
    return persist


async def update_page_dms(ctx: Services, job: Job) -> Persist | None:
    """Edit each of the incident's page messages to show it as it is now."""
    incident_id = int(job.payload["incident_id"])
    async with ctx.store.sessions() as session:
        incident = await ctx.store.incident(session, incident_id)
        pages = await ctx.store.oncall.pages_with_dm(session, incident_id) if incident is not None else []
    if incident is None:
        return None
    for page in pages:
        assert page.dm_channel is not None and page.dm_ts is not None
        text, blocks = await _page_text(ctx, page, incident)
        try:
            await ctx.chat.update_message(page.dm_channel, page.dm_ts, text, blocks)
        except ChatError as exc:
            if exc.retryable:
                raise
            log.warning("page %s: its message could not be edited (%s)", page.id, exc.error,
                        extra={"incident_id": incident_id})
    return None


def _handled(incident: Incident) -> bool:
    """Acknowledged or resolved while the page waited (a Slack outage): waking someone now would be noise."""
    return incident.resolved_at is not None or incident.acknowledged_at is not None


async def page_mention_op(ctx: Services, job: Job) -> Persist | None:
    page, incident = await _load(ctx, int(job.payload["page_id"]))
    if _handled(incident):
        return None
    if not incident.channel_id:
        raise UndeliverableError(f"INC-{incident.id} has no channel")
    user = await _slack_user(ctx, page.target)
    who = person(user) if user else person(page.target)
    await post_once(ctx, job, incident.channel_id, page_mention(who=who, role=_role(page), repeat=page.repeat), None)
    return None


def _facts(ctx: Services, page: Page | None, incident: Incident, target: str) -> dict[str, Any]:
    return {"ref": f"INC-{incident.id}", "title": incident.title, "severity": incident.severity,
            "status": incident.status, "channel": incident.channel_name or "", "who": target,
            "rotation": (page.rotation if page else None) or "",
            "url": f"{ctx.settings.public_url}/incidents/{incident.id}",
            "priority": "urgent" if incident.severity <= 2 else "default"}


def _contact(ctx: Services, target: str, index: int) -> OncallContactConfig | None:
    contacts = ctx.settings.config.oncall.contacts.get(target, [])
    return contacts[index] if 0 <= index < len(contacts) else None


async def page_contact(ctx: Services, job: Job) -> Persist | None:
    page, incident = await _load(ctx, int(job.payload["page_id"]))
    contact = _contact(ctx, page.target, int(job.payload["contact"]))
    if contact is None or _handled(incident):
        return None  # the config changed since the page was queued, or someone acknowledged meanwhile
    if job.maybe_sent:
        # an earlier attempt may have reached the person: a second text at 05:30 is worse than none
        return _note(ctx, incident.id, f"Page to {page.target} by {_kind(contact)} not repeated: an earlier "
                                       "attempt was interrupted and may have been delivered")
    facts = _facts(ctx, page, incident, page.target)
    try:
        if contact.email is not None:
            await _send_sms_email(ctx, contact.email, facts)
            where = f"email to {contact.email}"
        elif contact.webhook is not None:
            await _post_webhook(contact.webhook, facts)
            where = f"webhook {_host(contact.webhook.url)}"
        else:
            assert contact.pagerduty is not None
            await _pagerduty(ctx, contact.pagerduty, "trigger", incident, page.target, facts)
            where = "PagerDuty"
    except ContactFailed as exc:
        log.warning("page %s by %s failed: %s", page.id, _kind(contact), exc, extra={"incident_id": incident.id})
        return _note(ctx, incident.id, f"Page to {page.target} by {_kind(contact)} failed: {exc}",
                     {"page_id": page.id, "contact": _kind(contact), "ok": False})
    return _note(ctx, incident.id, f"Page to {page.target} sent by {where}",
                 {"page_id": page.id, "contact": _kind(contact), "ok": True})


async def pagerduty_event(ctx: Services, job: Job) -> Persist | None:
    """Acknowledge or resolve what a page triggered in PagerDuty (its dedup key is the incident and person)."""
    payload = job.payload
    target = str(payload["target"])
    contact = _contact(ctx, target, int(payload["contact"]))
    if contact is None or contact.pagerduty is None:
        return None
    async with ctx.store.sessions() as session:
        incident = await ctx.store.incident(session, int(payload["incident_id"]))
    if incident is None:
        raise UndeliverableError(f"incident {payload['incident_id']} does not exist")
    action = str(payload["action"])
    try:
        await _pagerduty(ctx, contact.pagerduty, action, incident, target, _facts(ctx, None, incident, target))
    except ContactFailed as exc:
        return _note(ctx, incident.id, f"PagerDuty {action} for {target} failed: {exc}")
    return _note(ctx, incident.id, f"PagerDuty told: {action}d for {target}")


async def vendor_draft(ctx: Services, job: Job) -> Persist | None:
    """The chain's last resort: the vendor escalation email, drafted in the channel for a person to send."""
    from pagerbot.services.escalation import draft
    from pagerbot.services.paging import PAGERBOT

    if job.incident_id is None:
        raise UndeliverableError("a vendor draft needs an incident")
    async with ctx.store.sessions() as session:
        incident = await ctx.store.incident(session, job.incident_id)
    if incident is None or incident.resolved_at is not None:
        return None
    await draft(ctx, job.incident_id, str(job.payload["vendor"]), PAGERBOT)
    return None


class ContactFailed(Exception):
    """An extra contact could not be reached; the message is one line for the timeline."""


def _kind(contact: OncallContactConfig) -> str:
    return "email" if contact.email is not None else "webhook" if contact.webhook is not None else "PagerDuty"


def _host(url: str) -> str:
    return httpx.URL(url).host


async def _send_sms_email(ctx: Services, address: str, facts: Mapping[str, Any]) -> None:
    if ctx.mail_sender is None:
        raise ContactFailed("email is not set up: configure `smtp` in the config file")
    message = EmailMessage()
    message["From"] = ctx.settings.config.smtp.sender
    message["To"] = address
    message["Subject"] = one_line(f"{facts['ref']} SEV{facts['severity']}", 60)
    # SMS gateways keep the first 160 characters or so: the facts first, the link last
    message.set_content(one_line(f"{facts['title']} ({facts['status']}). Acknowledge in Slack. {facts['url']}", 300))
    try:
        await ctx.mail_sender(message)
    except Exception as exc:
        reason = getattr(exc, "reason", None)  # the mail sender's own errors (MailError) say what went wrong
        if not isinstance(reason, str):
            log.exception("the email page to %s failed unexpectedly", address)
            reason = f"unexpected error ({type(exc).__name__})"
        raise ContactFailed(reason) from None


def _render(value: Any, facts: Mapping[str, Any], env: SandboxedEnvironment) -> Any:
    """Every string of the body is a template; the structure stays JSON whatever the facts hold."""
    if isinstance(value, str):
        return env.from_string(value).render(facts)
    if isinstance(value, list):
        return [_render(v, facts, env) for v in value]
    if isinstance(value, dict):
        return {str(k): _render(v, facts, env) for k, v in value.items()}
    return value


def webhook_body(config: OncallWebhookConfig, facts: Mapping[str, Any]) -> Any:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    try:
        return _render(config.body if config.body is not None else DEFAULT_WEBHOOK_BODY, facts, env)
    except TemplateError as exc:
        raise ContactFailed(f"the webhook's body template does not render ({exc})") from None


async def _post(url: str, body: Any, headers: Mapping[str, str] | None = None) -> httpx.Response:
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as client:
            response = await client.post(url, json=body, headers=dict(headers or {}))
    except httpx.HTTPError as exc:
        raise ContactFailed(f"{_host(url)} unreachable ({type(exc).__name__})") from None
    if response.status_code >= 300:
        raise ContactFailed(f"{_host(url)} answered {response.status_code}: {one_line(response.text, 200)}")
    return response


async def _post_webhook(config: OncallWebhookConfig, facts: Mapping[str, Any]) -> None:
    await _post(config.url, webhook_body(config, facts), config.headers)


def pagerduty_dedup_key(incident_id: int, target: str) -> str:
    return f"pagerbot-INC-{incident_id}-{re.sub(r'[^A-Za-z0-9@._-]', '_', target)}"[:255]


async def _pagerduty(ctx: Services, routing_key: str, action: str, incident: Incident, target: str,
                     facts: Mapping[str, Any]) -> None:
    body: dict[str, Any] = {"routing_key": routing_key, "event_action": action,
                            "dedup_key": pagerduty_dedup_key(incident.id, target)}
    if action == "trigger":
        body["payload"] = {
            "summary": one_line(f"{facts['ref']} SEV{incident.severity}: {incident.title}", 1024),
            "source": "pagerbot", "severity": PD_SEVERITY.get(incident.severity, "critical"),
            "custom_details": {"incident": facts["ref"], "status": incident.status, "paged": target,
                               "channel": facts["channel"]},
        }
        body["client"] = "pagerbot"
        body["client_url"] = facts["url"]
    await _post(ctx.settings.config.oncall.pagerduty_url, body)


def outbox_handlers() -> dict[str, Handler]:
    return {"page_dm": page_dm, "update_page_dms": update_page_dms, "page_mention": page_mention_op,
            "page_contact": page_contact,
            "pagerduty_event": pagerduty_event, "oncall_vendor_draft": vendor_draft}
