"""Live graphs and host summaries (filled in by the graphs feature)."""

from __future__ import annotations

from pagerbot.outbox.worker import Handler
from pagerbot.services.context import Services
from pagerbot.services.incidents import ActionRefused, Actor


def outbox_handlers() -> dict[str, Handler]:
    return {}


async def refresh_due(ctx: Services) -> int:
    return 0


async def evaluate_watches(ctx: Services) -> int:
    return 0


async def request_graph(ctx: Services, incident_id: int, argument: str, actor: Actor) -> str:
    raise ActionRefused("no metrics source is configured (metrics.source in the config)")


async def host_summary_text(ctx: Services, incident_id: int) -> str:
    raise ActionRefused("no metrics source is configured (metrics.source in the config)")
