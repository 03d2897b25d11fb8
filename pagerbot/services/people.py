"""Names for user IDs, through the chat port, cached per process in the Services context.

A name is a nicety: a lookup that fails (Slack down or slow, an unknown user) leaves the ID in place and
never fails an email or an export. Lookups of one batch run together, within LOOKUP_SECONDS in all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pagerbot.core.people import is_user_id

if TYPE_CHECKING:  # for the annotation only: Services holds a NameCache, so it imports this module
    from pagerbot.services.context import Services

log = logging.getLogger("pagerbot.people")

LOOKUP_SECONDS = 3.0


@dataclass
class NameCache:
    """user ID -> (name or None when there is no such user, until when the answer holds)."""

    ttl: timedelta = timedelta(hours=1)
    retry_after_failure: timedelta = timedelta(minutes=1)  # Slack down: do not wait on it for every email
    entries: dict[str, tuple[str | None, datetime]] = field(default_factory=dict)

    def get(self, user_id: str, now: datetime) -> tuple[bool, str | None]:
        found = self.entries.get(user_id)
        if found is None or found[1] <= now:
            return False, None
        return True, found[0]

    def put(self, user_id: str, name: str | None, until: datetime) -> None:
        self.entries[user_id] = (name, until)


async def names_for(ctx: Services, user_ids: Iterable[str]) -> dict[str, str]:
    """``{user_id: name}`` for the IDs whose name is known; the others are left out (shown as IDs)."""
    now = ctx.clock.now()
    cache = ctx.names
    names: dict[str, str] = {}
    wanted: list[str] = []
    for user_id in dict.fromkeys(user_ids):
        if not is_user_id(user_id):
            continue
        hit, name = cache.get(user_id, now)
        if not hit:
            wanted.append(user_id)
        elif name:
            names[user_id] = name
    if not wanted:
        return names
    tasks = {user_id: asyncio.create_task(ctx.chat.user_name(user_id)) for user_id in wanted}
    done, pending = await asyncio.wait(tasks.values(), timeout=LOOKUP_SECONDS)
    for task in pending:
        task.cancel()
    failed: list[str] = []
    for user_id, task in tasks.items():
        if task not in done:
            failed.append(f"{user_id} (timeout)")
            cache.put(user_id, None, now + cache.retry_after_failure)
            continue
        exc = task.exception()
        if exc is not None:
            failed.append(f"{user_id} ({exc})")
            cache.put(user_id, None, now + cache.retry_after_failure)
            continue
        name = task.result()
        cache.put(user_id, name, now + cache.ttl)
        if name:
            names[user_id] = name
    if pending:
        await asyncio.wait(pending, timeout=1)
    if failed:
        log.warning("user names not found, shown as IDs: %s", ", ".join(failed))
    return names
