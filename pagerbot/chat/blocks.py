"""Block Kit for every message pagerbot posts; pure functions of records (no I/O)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    ImageBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from pagerbot.core.escaping import mrkdwn, one_line, plain
from pagerbot.core.lifecycle import STATUS_EMOJI, Status
from pagerbot.core.records import AlertRecord, AlertTally, IncidentRecord

# action_ids: what a button means is decided in services/buttons.py (run_button); slack/app.py routes them there
ACK = "incident_ack"
ESCALATE = "incident_escalate"
GRAPHS = "incident_graphs"
RESOLVE = "incident_resolve"
POSTMORTEM = "incident_postmortem"
EMAIL_SEND = "send_email"
EMAIL_EDIT = "email_edit"
EMAIL_DISCARD = "email_discard"
EMAIL_RETRY = "email_retry"
EMAIL_ALL_CLEAR = "email_all_clear"
HEADER_BUTTONS = (ACK, ESCALATE, GRAPHS, RESOLVE)
ALL_ACTIONS = (*HEADER_BUTTONS, POSTMORTEM, EMAIL_SEND, EMAIL_EDIT, EMAIL_DISCARD, EMAIL_RETRY, EMAIL_ALL_CLEAR)

MAX_ALERT_LINES = 8
DIGEST_HOSTS = 15  # the busiest hosts a storm digest names
HEADER_HOST_NAMES = 40  # the header lists hosts in 300 characters: more names never show


def local_time(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def topic(incident: IncidentRecord) -> str:
    """severity · status · lead, within Slack's 250 characters."""
    lead = f"lead <@{incident.lead}>" if incident.lead else "no lead yet"
    # a topic shows no formatting but does read <…> as a mention or link: the title's &, <, > are escaped
    title = incident.title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return one_line(f"SEV{incident.severity} · {incident.status} · {lead} · {title}", 250)


def purpose(incident: IncidentRecord) -> str:
    return one_line(f"{incident.ref}: {incident.title}", 250)


def _dicts(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    return [block.to_dict() for block in blocks]


def _button(text: str, action_id: str, value: str, style: str | None = None) -> ButtonElement:
    return ButtonElement(text=PlainTextObject(text=text), action_id=action_id, value=value, style=style)


def header(incident: IncidentRecord, alerts: AlertTally, *, tz: ZoneInfo,
           graph_file_id: str | None = None, findings: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The pinned message: the facts, live graph and the four buttons."""
    status = Status(incident.status)
    hosts = alerts.hosts
    firing, total = alerts.firing, alerts.total
    started = alerts.started or incident.opened_at
    fields = [
        MarkdownTextObject(text=f"*Severity*\nSEV{incident.severity}"),
        MarkdownTextObject(text=f"*Status*\n{STATUS_EMOJI[status]} {status.value}"),
        MarkdownTextObject(text=f"*Lead*\n{f'<@{incident.lead}>' if incident.lead else 'nobody yet'}"),
        MarkdownTextObject(text=f"*Started*\n{local_time(started, tz)}"),
        MarkdownTextObject(text=f"*Alerts*\n{firing} firing, {total - firing} resolved"),
        MarkdownTextObject(text=f"*Hosts*\n{mrkdwn(one_line(', '.join(hosts), 300)) if hosts else '—'}"),
    ]
    blocks: list[Block] = [
        HeaderBlock(text=plain(f"{incident.ref}: {incident.title}", 150)),
        SectionBlock(fields=fields),
    ]
    if incident.description:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=mrkdwn(one_line(incident.description, 2900)))))
    lines = [_alert_line(a) for a in alerts.first[:MAX_ALERT_LINES]]
    if lines:
        more = total - len(lines)
        text = "\n".join(lines) + (f"\n…and {more} more" if more > 0 else "")
        blocks.append(SectionBlock(text=MarkdownTextObject(text=text[:3000])))
    if findings:
        text = "\n".join(f"• {mrkdwn(one_line(f, 400))}" for f in findings[:3])
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"*What stands out*\n{text}"[:3000])))
    if graph_file_id:
        blocks.append(ImageBlock(slack_file={"id": graph_file_id}, alt_text="Stacked load per host",
                                 title=PlainTextObject(text="Load per host (live)")))
    value = str(incident.id)
    if status.is_open:
        blocks.append(ActionsBlock(block_id="incident_actions", elements=[
            _button("Acknowledge", ACK, value, "primary"),
            _button("Escalate", ESCALATE, value),
            _button("Graphs", GRAPHS, value),
            _button("Resolve", RESOLVE, value, "danger"),
        ]))
    else:
        blocks.append(ActionsBlock(block_id="incident_actions", elements=[
            _button("Postmortem", POSTMORTEM, value, "primary"), _button("Graphs", GRAPHS, value)]))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(
        text=f"Opened {local_time(incident.opened_at, tz)} · `/incident help` for commands")]))
    return _dicts(blocks)


def header_text(incident: IncidentRecord) -> str:
    return one_line(f"{incident.ref} SEV{incident.severity} {incident.status}: {incident.title}", 300)


def _alert_line(alert: AlertRecord) -> str:
    icon = ":large_green_circle:" if alert.state == "resolved" else ":red_circle:"
    where = f" on {mrkdwn(alert.host)}" if alert.host else ""
    return f"{icon} *{mrkdwn(one_line(alert.name, 100))}*{where}: {mrkdwn(one_line(alert.title, 200))}"


def announcement(incident: IncidentRecord, channel_id: str) -> str:
    title = mrkdwn(one_line(incident.title, 200))
    return f":rotating_light: SEV{incident.severity} {incident.ref} opened: {title} → <#{channel_id}>"


def digest(alerts: AlertTally) -> tuple[str, list[dict[str, Any]]]:
    """One message for a storm, updated in place: counts by alert name and by host."""
    by_name = Counter({name: firing for name, firing, _ in alerts.by_name if firing})
    by_host = Counter(dict(alerts.busiest_hosts))
    firing, total = alerts.firing, alerts.total
    resolved = total - firing
    text = f"Alert digest: {firing} firing, {resolved} resolved"
    name_lines = "\n".join(f"• *{mrkdwn(one_line(n, 80))}* × {c}" for n, c in by_name.most_common(10))
    host_lines = ", ".join(f"{mrkdwn(one_line(h, 60))} ({c})" for h, c in by_host.most_common(DIGEST_HOSTS))
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(
        text=f":bell: *Alert digest*: {firing} firing, {resolved} resolved, {total} in all")),
    ]
    if name_lines:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"*By alert*\n{name_lines}"[:3000])))
    if host_lines:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"*By host*\n{host_lines}"[:3000])))
    return text, _dicts(blocks)


def offer_resolve(incident: IncidentRecord) -> tuple[str, list[dict[str, Any]]]:
    text = f"Every alert of {incident.ref} has resolved. Resolve the incident?"
    return text, _dicts([
        SectionBlock(text=MarkdownTextObject(text=f":large_green_circle: {text}")),
        ActionsBlock(elements=[_button("Resolve", RESOLVE, str(incident.id), "primary")]),
    ])


def offer_postmortem(incident: IncidentRecord) -> tuple[str, list[dict[str, Any]]]:
    text = f"{incident.ref} is resolved. Export the postmortem?"
    return text, _dicts([
        SectionBlock(text=MarkdownTextObject(text=f":memo: {text}")),
        ActionsBlock(elements=[_button("Postmortem", POSTMORTEM, str(incident.id), "primary")]),
    ])


def divider() -> dict[str, Any]:
    return DividerBlock().to_dict()


def section(text: str) -> dict[str, Any]:
    return SectionBlock(text=MarkdownTextObject(text=text[:3000])).to_dict()
