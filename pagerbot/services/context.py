"""The ports a use case needs, bundled: built once by bootstrap.build(), passed to every service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pagerbot.clock import Clock
from pagerbot.services.people import NameCache
from pagerbot.settings import Settings
from pagerbot.store.repository import Store

if TYPE_CHECKING:
    from pagerbot.chat.port import ChatPort
    from pagerbot.metrics.series import MetricsSource


def _nothing() -> None:
    return None


@dataclass
class Services:
    settings: Settings
    store: Store
    clock: Clock
    chat: ChatPort
    metrics: MetricsSource | None = None
    graphs: Any = None  # pagerbot.graphs.worker.GraphRenderer
    mail_sender: Any = None  # async callable(EmailMessage) -> None
    wake_outbox: Callable[[], None] = field(default=_nothing)
    wake_inbox: Callable[[], None] = field(default=_nothing)
    names: NameCache = field(default_factory=NameCache)  # user ID -> name, for text that leaves Slack
