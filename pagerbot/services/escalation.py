"""Escalation emails to the hosting vendor (filled in by the escalation feature)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pagerbot.outbox.worker import Handler
from pagerbot.services.context import Services
from pagerbot.services.incidents import ActionRefused, Actor
from pagerbot.settings import Settings
from pagerbot.store.tables import Incident


class EmailRefused(ActionRefused):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def smtp_sender(settings: Settings) -> Any:
    return None


def outbox_handlers() -> dict[str, Handler]:
    return {}


async def offer_all_clear(ctx: Services, session: AsyncSession, incident: Incident, now: datetime) -> None:
    return None


async def draft(ctx: Services, incident_id: int, vendor: str | None, actor: Actor) -> str:
    raise ActionRefused("no vendors are configured (vendors in the config)")


async def email_button(ctx: Services, action_id: str, email_id: int, actor: Actor) -> Any:
    raise ActionRefused("email is not available")


async def edit_draft(ctx: Services, email_id: int, actor: Actor, *, to: str, cc: str, subject: str, body: str) -> None:
    raise EmailRefused("body", "email is not available")
