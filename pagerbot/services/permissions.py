"""Who may do what (docs/security.md), checked by the use cases themselves, so that every way in (slash
command, button, modal, the local page) meets the same rule.

Each rule is a list of Slack user IDs in the config, empty meaning anyone in the channel.
"""

from __future__ import annotations

from pagerbot.services.actor import ActionRefused, Actor
from pagerbot.services.context import Services


def _check_allowed(allowed: list[str], actor: Actor, what: str, *, also: str | None = None) -> None:
    if actor.source == "pagerbot" or not allowed or actor.user_id in allowed or actor.user_id == also:
        return  # pagerbot's own moves (auto-resolve, a policy's vendor step) follow the config that enabled them
    raise ActionRefused(f"you are not allowed to {what} (ask one of: {', '.join(allowed)})")


def check_may_resolve(ctx: Services, actor: Actor) -> None:
    """``slack.resolvers``: resolve and reopen (a status move into or out of resolved)."""
    _check_allowed(ctx.settings.config.slack.resolvers, actor, "resolve or reopen incidents")


def check_may_escalate(ctx: Services, actor: Actor) -> None:
    """``slack.escalators``: draft an escalation and every action on its emails (send, edit, retry, discard,
    all-clear)."""
    _check_allowed(ctx.settings.config.slack.escalators, actor, "escalate incidents or act on their emails")


def check_may_coordinate(ctx: Services, lead: str | None, actor: Actor) -> None:
    """``slack.coordinators``: change the severity or the lead; the incident's ``lead`` may always (to hand
    over)."""
    _check_allowed(ctx.settings.config.slack.coordinators, actor, "change the severity or the lead", also=lead)


def check_may_schedule(ctx: Services, actor: Actor) -> None:
    """``oncall.schedulers``: record an on-call override (``oncall take``, ``oncall override``), which decides
    whom the next page wakes."""
    _check_allowed(ctx.settings.config.oncall.schedulers, actor, "record on-call overrides")
