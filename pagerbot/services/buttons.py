"""What a button on an incident or email message does: one use case, shared by Slack and the local page."""

from __future__ import annotations

from pagerbot.chat import blocks
from pagerbot.services import incidents
from pagerbot.services.actor import ActionRefused, Actor
from pagerbot.services.commands import HANDLERS, CommandRequest
from pagerbot.services.context import Services
from pagerbot.services.escalation import editable_email, email_button
from pagerbot.services.paging import acknowledge, acknowledge_page
from pagerbot.services.permissions import check_may_resolve
from pagerbot.services.reply import EditEmailForm, Reply, ResolveForm

EMAIL_ACTIONS = frozenset({blocks.EMAIL_SEND, blocks.EMAIL_RETRY, blocks.EMAIL_DISCARD, blocks.EMAIL_EDIT,
                           blocks.EMAIL_ALL_CLEAR})
# The incident buttons that run the subcommand of the same meaning.
COMMAND_OF_BUTTON = {blocks.ESCALATE: "escalate", blocks.GRAPHS: "graph", blocks.POSTMORTEM: "postmortem"}


async def run_button(ctx: Services, action_id: str, value: str, actor: Actor, *, channel_id: str | None,
                     trigger_id: str | None) -> Reply | None:
    """Run the button ``action_id`` pressed on the message whose value is ``value`` (an incident or email id;
    the resolve offer's names its wave too, "7:1"), on the incident as it is now: a button of an older
    message answers with what happened instead of acting on a state that has passed.

    With a ``trigger_id`` (Slack) the Resolve button asks for a summary in a form; without one (the local
    page) it resolves at once.
    """
    try:
        if action_id == blocks.EMAIL_EDIT:
            email = await editable_email(ctx, int(value), actor)
            return Reply("", form=EditEmailForm(email.email_id, tuple(email.to), tuple(email.cc), email.subject,
                                                 email.text))
        if action_id in EMAIL_ACTIONS:
            return await email_button(ctx, action_id, int(value), actor)
        incident_id, offered_wave = blocks.offered_wave(value)
        if action_id == blocks.ACK:
            return Reply(await acknowledge(ctx, incident_id, actor), shown_in_channel=True)
        if action_id == blocks.PAGE_ACK:  # in the page's DM: the channel is elsewhere, so the answer comes here
            return Reply(await acknowledge_page(ctx, incident_id, actor))
        if action_id == blocks.RESOLVE_OFFER:  # "Every alert has resolved. Resolve?", maybe pressed too late
            stale = await incidents.stale_offer(ctx, incident_id, offered_wave)
            if stale is not None:
                return Reply(f":ocean: {stale}")
            action_id = blocks.RESOLVE
        if action_id == blocks.RESOLVE:
            if trigger_id:
                check_may_resolve(ctx, actor)  # before asking for a summary it would refuse
                return Reply("", form=ResolveForm(incident_id, await incidents.mitigation_default(ctx, incident_id)))
            return Reply(await incidents.resolve(ctx, incident_id, actor, None), shown_in_channel=True)
        request = CommandRequest(text=action_id, user_id=actor.user_id, channel_id=channel_id or "",
                                 trigger_id=trigger_id, source=actor.source)
        return await HANDLERS[COMMAND_OF_BUTTON[action_id]](ctx, request, incident_id, "")
    except ActionRefused as exc:
        return Reply(f":warning: {exc}")
