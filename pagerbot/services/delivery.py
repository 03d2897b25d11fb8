"""What a side effect's delivery is, as the use cases that queue it and the outbox worker that runs it agree.

A use case queues an outbox row (``Store.enqueue``); the worker (``outbox/worker.py``) claims it and calls
the ``Handler`` registered for its op with the row as a ``Job``. The handler talks to the world through the
ports and returns a ``Persist`` (or None): what to write once it succeeded, which the worker runs in the
transaction that marks the row done. ``UndeliverableError`` sets a row aside for good.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pagerbot.services.context import Services
from pagerbot.store.repository import Session

Persist = Callable[[Session], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    incident_id: int | None
    op: str
    payload: Mapping[str, Any]
    attempts: int
    maybe_sent: bool
    created_at: datetime


Handler = Callable[[Services, Job], Awaitable[Persist | None]]


class UndeliverableError(Exception):
    """A row that can never be delivered (e.g. its channel was never created); it is set aside."""


async def post_once(ctx: Services, job: Job, channel: str, text: str,
                    message_blocks: list[dict[str, Any]] | None) -> str:
    """Post a message exactly once: after an ambiguous failure, look for the earlier attempt first."""
    if job.maybe_sent:
        found = await ctx.chat.find_posted(channel, job.id, (job.created_at - timedelta(minutes=1)).timestamp())
        if found:
            return found
    posted = await ctx.chat.post_message(channel, text, message_blocks, outbox_id=job.id)
    return posted.ts


async def wait_first(*waits: Awaitable[Any], timeout: float) -> None:
    """Return when the first of ``waits`` completes or ``timeout`` passes; the others are cancelled. The inbox
    and outbox workers sleep this way: until woken, or until their next poll."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
