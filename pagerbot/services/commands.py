"""`/incident …`: parse the text, find the incident, run the use case, and say what happened.

The same dispatcher serves Slack's slash command and the local page, so both behave alike.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pagerbot.core.alerts import Severity
from pagerbot.core.escaping import mrkdwn, one_line
from pagerbot.core.lifecycle import IllegalMove, parse_status
from pagerbot.core.naming import parse_incident_ref
from pagerbot.services import incidents
from pagerbot.services.actor import ActionRefused, Actor
from pagerbot.services.context import Services
from pagerbot.services.escalation import draft
from pagerbot.services.graphs import host_summary_text, request_graph
from pagerbot.services.permissions import check_may_resolve
from pagerbot.services.postmortem import share_postmortem
from pagerbot.services.reply import DeclareForm, ResolveForm
from pagerbot.services.reply import Reply as Reply  # re-exported: callers long imported it from here

USAGE = """*Usage:* `/incident <subcommand>` (in an incident channel the incident is implied; elsewhere add `INC-42`)
• `declare [title]`: open an incident (a form when no title)
• `status [investigating|identified|monitoring]`: show or change the status
• `ack`: acknowledge, which stops the paging (the first to acknowledge becomes the lead)
• `sev 1-4`: change the severity
• `lead @user`: make someone the incident lead
• `note TEXT`: add a note to the timeline (`cause:`, `went-well:`, `went-badly:`, `action:` feed the postmortem)
• `timeline`: the latest timeline entries
• `graph [pool|host] [window]`: a load graph now, e.g. `graph db 6h`
• `hosts`: the host summary and what stands out
• `escalate [vendor]`: draft an email to the hosting vendor
• `resolve [summary]`: resolve the incident
• `reopen`: reopen a resolved incident
• `postmortem`: export the postmortem as Markdown
• `oncall`: who is on call now and next; `oncall take [rotation] [4h]` covers a shift yourself,
  `oncall override @user [rotation] [4h]` records someone else covering it
• `help`: this text"""

SUBCOMMANDS = ("declare", "status", "ack", "sev", "lead", "note", "timeline", "graph", "hosts", "escalate",
               "resolve", "reopen", "postmortem", "oncall", "help")


@dataclass(frozen=True, slots=True)
class CommandRequest:
    text: str
    user_id: str
    channel_id: str
    trigger_id: str | None = None
    source: str = "slack"

    @property
    def actor(self) -> Actor:
        return Actor(self.user_id, self.source)


class UsageError(Exception):
    pass


_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>|^([UW][A-Z0-9]{2,})$")


def parse_user(text: str) -> str:
    match = _MENTION.search(text.strip())
    if not match:
        raise UsageError(f"{text.strip() or 'nobody'!s} is not a user: mention them, as in `lead @alice`")
    return match.group(1) or match.group(2)


async def resolve_incident(ctx: Services, request: CommandRequest, args: list[str]) -> tuple[int, list[str]]:
    """The incident named in the arguments (INC-42), else the one whose channel this is."""
    if args and (number := parse_incident_ref(args[0])) is not None and args[0].lower().startswith(("inc", "#")):
        async with ctx.store.sessions() as session:
            if await ctx.store.incident(session, number) is None:
                raise UsageError(f"INC-{number} does not exist")
        return number, args[1:]
    async with ctx.store.sessions() as session:
        row = await ctx.store.incident_by_channel(session, request.channel_id)
    if row is None:
        raise UsageError("this is not an incident channel: run it in one, or name the incident, e.g. `INC-42`")
    return row.id, args


Handler = Callable[[Services, CommandRequest, int, str], Awaitable[Reply]]


async def run_command(ctx: Services, request: CommandRequest) -> Reply:
    words = request.text.strip().split()
    if words and words[0].lower().startswith("inc-") and len(words) > 1:
        words = [words[1], words[0], *words[2:]]  # `/incident INC-42 ack` reads as `ack INC-42`
    if not words or words[0].lower() in {"help", "-h", "--help"}:
        return Reply(USAGE)
    name, rest = words[0].lower(), words[1:]
    if name not in SUBCOMMANDS:
        return Reply(f"Unknown subcommand `{mrkdwn(one_line(name, 40))}`.\n{USAGE}")
    try:
        if name == "declare":
            return await _declare(ctx, request, " ".join(rest))
        if name == "oncall":
            return await _oncall(ctx, request, rest)
        incident_id, rest = await resolve_incident(ctx, request, rest)
        argument = " ".join(rest)
        await incidents.record_command(ctx, incident_id, request.actor, request.text)
        return await HANDLERS[name](ctx, request, incident_id, argument)
    except (UsageError, ActionRefused, IllegalMove) as exc:
        return Reply(f":warning: {exc}")


async def _declare(ctx: Services, request: CommandRequest, title: str) -> Reply:
    if not title.strip():
        return Reply("Fill in the form to declare an incident.", form=DeclareForm(request.channel_id))
    incident_id = await incidents.declare(ctx, request.actor, title)
    return Reply(f":rotating_light: Declared INC-{incident_id}: {mrkdwn(one_line(title, 200))}. "
                 "Its channel opens in a moment.")  # said where it was typed: the channel is not there yet


async def _status(ctx: Services, request: CommandRequest, incident_id: int, argument: str) -> Reply:
    if argument.strip():
        target = parse_status(argument.split()[0])
        note = " ".join(argument.split()[1:]) or None
        return Reply(await incidents.move(ctx, incident_id, target, request.actor, note=note), shown_in_channel=True)
    async with ctx.store.sessions() as session:
        row = await ctx.store.incident(session, incident_id)
        firing, total = await ctx.store.alert_counts(session, incident_id)
    assert row is not None
    lead = f"<@{row.lead}>" if row.lead else "nobody"
    return Reply(f"*INC-{row.id}* {mrkdwn(row.title)}\nSEV{row.severity} · {row.status} · lead {lead} · "
                 f"{firing} of {total} alerts firing")


async def _ack(ctx: Services, request: CommandRequest, incident_id: int, argument: str) -> Reply:
    from pagerbot.services.paging import acknowledge

    return Reply(await acknowledge(ctx, incident_id, request.actor), shown_in_channel=True)


async def _oncall(ctx: Services, request: CommandRequest, words: list[str]) -> Reply:
    """`oncall`, `oncall take [rotation] [duration]`, `oncall override @user [rotation] [duration]`."""
    from pagerbot.services import oncall

    if not words:
        return Reply(oncall.summary_text(ctx, await oncall.who_is_on_call(ctx)))
    action, rest = words[0].lower(), words[1:]
    if action not in {"take", "override"}:
        raise UsageError("use `oncall`, `oncall take [rotation] [4h]` or `oncall override @user [rotation] [4h]`")
    who = request.user_id
    if action == "override":
        if not rest:
            raise UsageError("say who covers the shift: `oncall override @user [rotation] [4h]`")
        who, rest = parse_user(rest[0]), rest[1:]
    rotation: str | None = None
    duration = None
    for word in rest:
        if word[:1].isdigit():
            duration = oncall.parse_duration(word)
        else:
            rotation = word
    return Reply(await oncall.take(ctx, request.actor, who, rotation, duration), public=True)


async def _sev(ctx: Services, request: CommandRequest, incident_id: int, argument: str) -> Reply:
    if argument.strip() not in {"1", "2", "3", "4", "sev1", "sev2", "sev3", "sev4"}:
        raise UsageError("give a severity from 1 (worst) to 4, as in `sev 2`")
    return Reply(await incidents.set_severity(ctx, incident_id, Severity.parse(argument.strip()), request.actor),
                 shown_in_channel=True)


async def _lead(ctx: Services, request: CommandRequest, incident_id: int, argument: str) -> Reply:
    return Reply(await incidents.set_lead(ctx, incident_id, parse_user(argument), request.actor),
                 shown_in_channel=True)


async def _note(ctx: Services, request: CommandRequest, incident_id: int, argument: str) -> Reply:
    return Reply(await incidents.add_note(ctx, incident_id, argument, request.actor), shown_in_channel=True)


async def _timeline(ctx: Services, request: CommandRequest, incident_id: int, argument: str) -> Reply:
    async with ctx.store.sessions() as session:
        entries = await ctx.store.timeline(session, incident_id)
    tz = ctx.settings.tz
    latest = entries[-15:]
    lines = [f"`{e.at.astimezone(tz):%H:%M}` {mrkdwn(e.source)}"
             f"{' · ' + mrkdwn(e.actor) if e.actor else ''}: {mrkdwn(one_line(e.text, 200))}" for e in latest]
    header = f"*Timeline of INC-{incident_id}* (latest {len(latest)} of {len(entries)})"
    return Reply("\n".join([header, *lines])[:3000])


async def _resolve(ctx: Services, request: CommandRequest, incident_id: int, argument: str) -> Reply:
    if not argument.strip() and request.trigger_id:
        check_may_resolve(ctx, request.actor)  # before asking for a summary it would refuse
        return Reply("Add a summary to resolve.",
                     form=ResolveForm(incident_id, await incidents.mitigation_default(ctx, incident_id)))
    return Reply(await incidents.resolve(ctx, incident_id, request.actor, argument.strip() or None),
                 shown_in_channel=True)


async def _reopen(ctx: Services, request: CommandRequest, incident_id: int, argument: str) -> Reply:
    return Reply(await incidents.reopen(ctx, incident_id, request.actor), shown_in_channel=True)


async def _graph(ctx: Services, request: CommandRequest, incident_id: int, argument: str) -> Reply:
    return Reply(await request_graph(ctx, incident_id, argument, request.actor), shown_in_channel=True)


async def _hosts(ctx: Services, request: CommandRequest, incident_id: int, argument: str) -> Reply:
    return Reply(await host_summary_text(ctx, incident_id))


async def _escalate(ctx: Services, request: CommandRequest, incident_id: int, argument: str) -> Reply:
    # the draft is in the channel; the answer says what to do with it (not the same words)
    return Reply(await draft(ctx, incident_id, argument.strip() or None, request.actor))


async def _postmortem(ctx: Services, request: CommandRequest, incident_id: int, argument: str) -> Reply:
    return Reply(await share_postmortem(ctx, incident_id, request.actor), shown_in_channel=True)


HANDLERS: dict[str, Handler] = {
    "status": _status, "ack": _ack, "sev": _sev, "lead": _lead, "note": _note, "timeline": _timeline,
    "graph": _graph, "hosts": _hosts, "escalate": _escalate, "resolve": _resolve, "reopen": _reopen,
    "postmortem": _postmortem,
}
