"""Names (and how to reach people) for user IDs, through the chat port, cached per process in the Services context.

A name is a nicety: a lookup that fails (Slack down or slow, an unknown user) leaves the ID in place and
never fails an email or an export. Lookups of one batch run together, within LOOKUP_SECONDS in all. One
profile lookup answers both the name and the contact details an email's signature needs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pagerbot.core.people import is_user_id
from pagerbot.services.ports import UserProfile

if TYPE_CHECKING:  # for the annotation only: Services holds a NameCache, so it imports this module
    from pagerbot.services.context import Services

log = logging.getLogger("pagerbot.people")

LOOKUP_SECONDS = 3.0


@dataclass
class NameCache:
    """user ID -> (profile or None when there is no such user or it could not be read, until when that holds)."""

    ttl: timedelta = timedelta(hours=1)
    retry_after_failure: timedelta = timedelta(minutes=1)  # Slack down: do not wait on it for every email
    entries: dict[str, tuple[UserProfile | None, datetime]] = field(default_factory=dict)

    def get(self, user_id: str, now: datetime) -> tuple[bool, UserProfile | None]:
        found = self.entries.get(user_id)
        if found is None or found[1] <= now:
            return False, None
        return True, found[0]

    def put(self, user_id: str, profile: UserProfile | None, until: datetime) -> None:
        self.entries[user_id] = (profile, until)


async def profiles_for(ctx: Services, user_ids: Iterable[str]) -> dict[str, UserProfile]:
    """``{user_id: profile}`` for the IDs whose profile is known; the others are left out."""
    now = ctx.clock.now()
    cache = ctx.names
    profiles: dict[str, UserProfile] = {}
    wanted: list[str] = []
    for user_id in dict.fromkeys(user_ids):
        if not is_user_id(user_id):
            continue
        hit, profile = cache.get(user_id, now)
        if not hit:
            wanted.append(user_id)
        elif profile is not None:
            profiles[user_id] = profile
    if not wanted:
        return profiles
    tasks = {user_id: asyncio.create_task(ctx.chat.user_profile(user_id)) for user_id in wanted}
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
        profile = task.result()
        cache.put(user_id, profile, now + cache.ttl)
        if profile is not None:
            profiles[user_id] = profile
    if pending:
        await asyncio.wait(pending, timeout=1)
    if failed:
        log.warning("user profiles not found, names shown as IDs: %s", ", ".join(failed))
    return profiles


async def names_for(ctx: Services, user_ids: Iterable[str]) -> dict[str, str]:
    """``{user_id: name}`` for the IDs whose name is known; the others are left out (shown as IDs)."""
    return {user_id: profile.name for user_id, profile in (await profiles_for(ctx, user_ids)).items()
            if profile.name}
