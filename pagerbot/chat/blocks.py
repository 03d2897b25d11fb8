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

from pagerbot.core.escaping import mrkdwn, one_line, plain, slack_entities
from pagerbot.core.lifecycle import STATUS_EMOJI, Status
from pagerbot.core.records import AlertRecord, AlertTally, IncidentRecord
from pagerbot.core.waves import WaveStart, wave_label

# action_ids: what a button means is decided in services/buttons.py (run_button); slack/app.py routes them there
ACK = "incident_ack"
ESCALATE = "incident_escalate"
GRAPHS = "incident_graphs"
RESOLVE = "incident_resolve"
# the "Every alert has resolved" offer's button: its value names the wave it was offered in ("7:1"), so that
# a press after the alerts fired again is answered with what happened instead of resolving a live incident
RESOLVE_OFFER = "incident_resolve_offer"
POSTMORTEM = "incident_postmortem"
EMAIL_SEND = "send_email"
EMAIL_EDIT = "email_edit"
EMAIL_DISCARD = "email_discard"
EMAIL_RETRY = "email_retry"
EMAIL_ALL_CLEAR = "email_all_clear"
PAGE_ACK = "page_ack"  # the Acknowledge button of a page (a direct message); see page_message below
PAGE_FACTS = "page_facts"  # the block of a page's facts, which stays when the message is edited
HEADER_BUTTONS = (ACK, ESCALATE, GRAPHS, RESOLVE)
ALL_ACTIONS = (*HEADER_BUTTONS, RESOLVE_OFFER, POSTMORTEM, EMAIL_SEND, EMAIL_EDIT, EMAIL_DISCARD, EMAIL_RETRY,
               EMAIL_ALL_CLEAR, PAGE_ACK)

MAX_ALERT_LINES = 8
DIGEST_HOSTS = 15  # the busiest hosts a storm digest names
HEADER_HOST_NAMES = 40  # the header lists hosts in 300 characters: more names never show


def local_time(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def clock(moment: datetime, tz: ZoneInfo) -> str:
    """The time of day people read in a message: "10:31" (the date is the channel's)."""
    return moment.astimezone(tz).strftime("%H:%M")


def current_wave(incident: IncidentRecord, tz: ZoneInfo) -> str:
    """"wave 2 since 10:31", or "" during the first wave."""
    started = incident.wave_started_at
    return wave_label(incident.wave, started, clock(started, tz) if started else "")


def topic(incident: IncidentRecord, tz: ZoneInfo | None = None) -> str:
    """severity · status (· wave 2 since 10:31) · lead, within Slack's 250 characters."""
    lead = f"lead <@{incident.lead}>" if incident.lead else "no lead yet"
    wave = current_wave(incident, tz) if tz is not None and Status(incident.status).is_open else ""
    status = f"{incident.status} · {wave}" if wave else incident.status
    # a topic shows no formatting but does read <…> as a mention or link: the title's &, <, > are escaped
    return one_line(f"SEV{incident.severity} · {status} · {lead} · {slack_entities(incident.title)}", 250)


def purpose(incident: IncidentRecord) -> str:
    return one_line(f"{incident.ref}: {slack_entities(incident.title)}", 250)


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
    wave = current_wave(incident, tz)
    fields = [
        MarkdownTextObject(text=f"*Severity*\nSEV{incident.severity}"),
        MarkdownTextObject(text=f"*Status*\n{STATUS_EMOJI[status]} {status.value}"
                                + (f"\n:ocean: {wave}" if wave and status.is_open else "")),
        MarkdownTextObject(text=f"*Lead*\n{f'<@{incident.lead}>' if incident.lead else 'nobody yet'}"),
        MarkdownTextObject(text=f"*Started*\n{local_time(started, tz)}"),
        MarkdownTextObject(text=f"*Alerts*\n{firing} firing, {total - firing} resolved"
                                + (f"\n:warning: {incident.left_out_note}" if incident.left_out_note else "")),
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
        # past investigating, the button would change nothing: who acknowledged, and when, instead
        acknowledged = acknowledged_line(incident, tz) if status is not Status.INVESTIGATING else ""
        if acknowledged:
            blocks.append(SectionBlock(text=MarkdownTextObject(text=f":eyes: {acknowledged}")))
        ack = [_button("Acknowledge", ACK, value, "primary")] if status is Status.INVESTIGATING else []
        blocks.append(ActionsBlock(block_id="incident_actions", elements=[
            *ack,
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


def acknowledged_line(incident: IncidentRecord, tz: ZoneInfo) -> str:
    """"Acknowledged by @alice at 07:06", or "" before anyone acknowledged."""
    if incident.acknowledged_at is None:
        return ""
    who = f" by <@{incident.acknowledged_by}>" if incident.acknowledged_by else ""
    return f"Acknowledged{who} at {clock(incident.acknowledged_at, tz)}"


def header_text(incident: IncidentRecord) -> str:
    """The header's fallback text (notifications, screen readers): the title may not mention anyone."""
    return one_line(f"{incident.ref} SEV{incident.severity} {incident.status}: {slack_entities(incident.title)}",
                    300)


def _alert_line(alert: AlertRecord) -> str:
    icon = ":large_green_circle:" if alert.state == "resolved" else ":red_circle:"
    where = f" on {mrkdwn(alert.host)}" if alert.host else ""
    return f"{icon} *{mrkdwn(one_line(alert.name, 100))}*{where}: {mrkdwn(one_line(alert.title, 200))}"


def announcement(incident: IncidentRecord, channel_id: str) -> str:
    """The line in the announce channel, kept current (chat.update) with the severity and the status."""
    title = mrkdwn(one_line(incident.title, 200))
    status = Status(incident.status)
    icon = ":rotating_light:" if status.is_open else STATUS_EMOJI[status]
    return f"{icon} SEV{incident.severity} {incident.ref} · {status.value}: {title} → <#{channel_id}>"


def wave_started(wave: WaveStart, incident: IncidentRecord, tz: ZoneInfo) -> tuple[str, list[dict[str, Any]]]:
    """The news at the bottom of the channel: which wave, when, which alerts on which hosts, the lull before."""
    text = (f"Wave {wave.number} of {incident.ref} began at {clock(wave.began_at, tz)}, "
            f"after a lull of {wave.lull_text}")
    lines = []
    for name, hosts in wave.alerts[:10]:
        shown = ", ".join(mrkdwn(one_line(h, 60)) for h in hosts[:DIGEST_HOSTS])
        more = f" and {len(hosts) - DIGEST_HOSTS} more" if len(hosts) > DIGEST_HOSTS else ""
        lines.append(f"• *{mrkdwn(one_line(name, 100))}*" + (f" on {shown}{more}" if shown else ""))
    if len(wave.alerts) > 10:
        lines.append(f"…and {len(wave.alerts) - 10} more alerts")
    since = (f"every alert had resolved at {clock(wave.lull_since, tz)}; "
             + ("the incident is reopened" if wave.reopened else "the incident is still open"))
    return text, _dicts([
        SectionBlock(text=MarkdownTextObject(
            text=f":ocean: *Wave {wave.number} began at {clock(wave.began_at, tz)}*: alerts fired again after a lull "
                 f"of {wave.lull_text}")),
        SectionBlock(text=MarkdownTextObject(text="\n".join(lines)[:3000] or "(no alert details)")),
        ContextBlock(elements=[MarkdownTextObject(text=since)]),
    ])


def offer_withdrawn(incident: IncidentRecord, at: datetime, tz: ZoneInfo, *,
                    resolved_by: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """The "Resolve?" offer once it no longer stands: no button, and why (alerts fired again at ``at``, or
    the incident was resolved then, by ``resolved_by``: a mention, or pagerbot's own name)."""
    if resolved_by:
        text = f"Every alert of {incident.ref} had resolved; {resolved_by} resolved the incident at {clock(at, tz)}."
        return text, _dicts([SectionBlock(text=MarkdownTextObject(text=f":white_check_mark: {text}"))])
    text = (f"Every alert of {incident.ref} had resolved, but alerts fired again at {clock(at, tz)} "
            f"(wave {incident.wave}): the incident stays open.")
    return text, _dicts([SectionBlock(text=MarkdownTextObject(text=f":ocean: ~Resolve the incident?~ {text}"))])


def digest(alerts: AlertTally, *, wave: int = 1, updated_at: datetime | None = None, tz: ZoneInfo | None = None,
           closed: bool = False) -> tuple[str, list[dict[str, Any]]]:
    """One message per wave of a storm, updated in place: counts by alert name and by host, and when it was
    last updated; once the next wave began it is closed and keeps its counts."""
    by_name = Counter({name: firing for name, firing, _ in alerts.by_name if firing})
    by_host = Counter(dict(alerts.busiest_hosts))
    firing, total = alerts.firing, alerts.total
    resolved = total - firing
    text = f"Alert digest, wave {wave}: {firing} firing, {resolved} resolved"
    name_lines = "\n".join(f"• *{mrkdwn(one_line(n, 80))}* × {c}" for n, c in by_name.most_common(10))
    host_lines = ", ".join(f"{mrkdwn(one_line(h, 60))} ({c})" for h, c in by_host.most_common(DIGEST_HOSTS))
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(
        text=f":bell: *Alert digest*: {firing} firing, {resolved} resolved, {total} in all")),
    ]
    if name_lines:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"*By alert*\n{name_lines}"[:3000])))
    if host_lines:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"*By host*\n{host_lines}"[:3000])))
    when = f", last updated {clock(updated_at, tz)}" if updated_at is not None and tz is not None else ""
    state = f" · closed: wave {wave + 1} has a digest of its own" if closed else ""
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"Wave {wave}{when}{state}")]))
    return text, _dicts(blocks)


def offer_resolve(incident: IncidentRecord) -> tuple[str, list[dict[str, Any]]]:
    text = f"Every alert of {incident.ref} has resolved. Resolve the incident?"
    return text, _dicts([
        SectionBlock(text=MarkdownTextObject(text=f":large_green_circle: {text}")),
        ActionsBlock(elements=[_button("Resolve", RESOLVE_OFFER, f"{incident.id}:{incident.wave}", "primary")]),
    ])


def offered_wave(value: str) -> tuple[int, int | None]:
    """A resolve button's value → (incident id, the wave the offer was made in; None for the header's)."""
    incident, _, wave = value.partition(":")
    return int(incident), int(wave) if wave.isdigit() else None


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


# --- pages (on-call paging: services/paging.py) ----------------------------------------------------------


def page_message(*, ref: str, incident_id: int, title: str, severity: int, status: str, opened_at: datetime,
                 channel_id: str | None, role: str, repeat: int, firing: int,
                 tz: ZoneInfo, handled: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """The direct message: the incident's facts and an Acknowledge button (its value is the incident's id).

    ``handled``: what became of the incident ("Acknowledged by <@U…> at 05:34"), shown instead of the button
    once someone acknowledged it or it resolved."""
    again = " (again)" if repeat else ""
    text = one_line(f"Page{again}: SEV{severity} {ref} {title}", 300)
    where = f" · <#{channel_id}>" if channel_id else ""
    facts = (f":rotating_light: *You are paged{again}* as {mrkdwn(role)}.\n"
             f"*{ref}* SEV{severity}: {mrkdwn(one_line(title, 500))}\n"
             f"{status} · {firing} alert{'s' if firing != 1 else ''} firing · "
             f"opened {local_time(opened_at, tz)}{where}")
    blocks: list[Block] = [SectionBlock(block_id=PAGE_FACTS, text=MarkdownTextObject(text=facts[:3000]))]
    if handled is not None:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f":white_check_mark: {handled}"[:3000])]))
    else:
        blocks += [
            ActionsBlock(block_id="page_actions", elements=[ButtonElement(
                text=PlainTextObject(text="Acknowledge"), action_id=PAGE_ACK, value=str(incident_id),
                style="primary")]),
            ContextBlock(elements=[MarkdownTextObject(
                text="Acknowledging stops the paging; with no lead yet, you become the incident's lead.")]),
        ]
    return text, [block.to_dict() for block in blocks]


def page_mention(*, who: str, role: str, repeat: int) -> str:
    """The line in the incident channel: who was paged, so everyone there sees someone is being woken."""
    if repeat:
        return f":pager: Paging {who} again ({mrkdwn(role)}): nobody has acknowledged yet."
    return f":pager: Paging {who} ({mrkdwn(role)}). Acknowledge to stop the paging."
