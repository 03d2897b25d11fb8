"""The ports a use case needs, bundled: built once by bootstrap.build(), passed to every service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pagerbot.services.parsed import ParsedBodies
from pagerbot.services.people import NameCache
from pagerbot.services.ports import ChatPort, Clock, Mailbox, MailSender, MetricsSource, Renderer
from pagerbot.settings import Settings
from pagerbot.store.repository import Store


def _nothing() -> None:
    return None


@dataclass
class Services:
    settings: Settings
    store: Store
    clock: Clock
    chat: ChatPort
    metrics: MetricsSource | None = None
    graphs: Renderer | None = None  # None without a metrics source: nothing to draw
    mail_sender: MailSender | None = None  # None without vendors: nothing to send
    mailbox: Mailbox | None = None  # where the vendors' replies arrive; None without `imap`
    wake_outbox: Callable[[], None] = field(default=_nothing)
    wake_inbox: Callable[[], None] = field(default=_nothing)
    names: NameCache = field(default_factory=NameCache)  # user ID -> name, for text that leaves Slack
    parsed: ParsedBodies = field(default_factory=ParsedBodies)  # webhook bodies parsed, for the inbox worker
