"""Postmortem export (filled in by the postmortem feature)."""

from __future__ import annotations

from pagerbot.outbox.worker import Handler
from pagerbot.services.context import Services
from pagerbot.services.incidents import ActionRefused, Actor


class NoSuchIncident(Exception):
    pass


def outbox_handlers() -> dict[str, Handler]:
    return {}


async def build_postmortem(ctx: Services, incident_id: int) -> tuple[str, dict[str, bytes]]:
    raise NoSuchIncident(incident_id)


async def share_postmortem(ctx: Services, incident_id: int, actor: Actor) -> str:
    raise ActionRefused("postmortems are not available yet")
