"""Every outbox op, from every feature, in one table for the worker."""

from __future__ import annotations

from pagerbot.outbox.ops import default_handlers
from pagerbot.services import email_delivery, graphs, page_delivery, postmortem
from pagerbot.services.delivery import Handler


def all_handlers() -> dict[str, Handler]:
    handlers = default_handlers()
    handlers.update(graphs.outbox_handlers())
    handlers.update(email_delivery.outbox_handlers())
    handlers.update(postmortem.outbox_handlers())
    handlers.update(page_delivery.outbox_handlers())
    return handlers
