"""Who is on call: the configured rotations, their iCalendar feeds (httpx) and the overrides people record.

`/incident oncall` and `GET /oncall` show it; the escalation chain (services/paging.py) asks it whom to page.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from pagerbot.core.escaping import mrkdwn
from pagerbot.core.ical import CalendarError, parse_calendar
from pagerbot.core.oncall import Rotation, Shift, next_on_call, on_call, parse_handoff
from pagerbot.services.actor import ActionRefused, Actor
from pagerbot.services.context import Services
from pagerbot.services.permissions import check_may_schedule
from pagerbot.settings import OncallRotationConfig
from pagerbot.store.repository import OncallOverride, Session

log = logging.getLogger("pagerbot.oncall")

MAX_OVERRIDE = timedelta(days=31)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(m|min|mins|minutes?|h|hours?|d|days?)$")

Calendars = dict[str, list[Shift] | None]


def rotation(name: str, config: OncallRotationConfig) -> Rotation:
    kwargs: dict[str, Any] = {"start": config.start} if config.start else {}
    return Rotation(name, tuple(config.members), config.every, parse_handoff(config.handoff, config.every), **kwargs)


async def fetch_calendars(ctx: Services, names: list[str] | None = None) -> Calendars:
    """The shifts of every rotation that has an ``ical_url`` (or of ``names``). A feed that cannot be read is
    logged and left out (None): the rotation's members stand in, so a calendar outage never stops a page."""
    config = ctx.settings.config.oncall
    found: Calendars = {}
    wanted = [n for n in (names or list(config.rotations)) if n in config.rotations and config.rotations[n].ical_url]
    if not wanted:
        return found
    async with httpx.AsyncClient(timeout=config.ical_timeout_seconds, follow_redirects=True) as client:
        for name in wanted:
            url = str(config.rotations[name].ical_url)
            try:
                response = await client.get(url)
                response.raise_for_status()
                found[name] = parse_calendar(response.text, ctx.settings.tz)
            except (httpx.HTTPError, CalendarError) as exc:
                log.warning("oncall: the calendar of rotation %s could not be read (%s: %s); its members stand in",
                            name, type(exc).__name__, exc)
                found[name] = None
    return found


async def overrides(ctx: Services, session: Session, rotation_name: str, since: datetime) -> list[Shift]:
    rows = await ctx.store.oncall.overrides(session, rotation_name, since)
    return [Shift(r.who, r.starts_at, r.ends_at, "override") for r in rows]


async def shift_at(ctx: Services, session: Session, name: str, moment: datetime,
                   calendars: Calendars) -> Shift | None:
    config = ctx.settings.config.oncall.rotations[name]
    covering = await overrides(ctx, session, name, moment)
    return on_call(rotation(name, config), moment, ctx.settings.tz, overrides=covering,
                   calendar=calendars.get(name) if config.ical_url else None)


@dataclass(frozen=True, slots=True)
class RotationNow:
    name: str
    now: Shift | None
    next: Shift | None


async def who_is_on_call(ctx: Services) -> list[RotationNow]:
    """Every rotation with who is on call now and who takes over next (and when)."""
    moment = ctx.clock.now()
    calendars = await fetch_calendars(ctx)
    answer: list[RotationNow] = []
    async with ctx.store.sessions() as session:
        for name, config in ctx.settings.config.oncall.rotations.items():
            covering = await overrides(ctx, session, name, moment)
            feed = calendars.get(name) if config.ical_url else None
            spec = rotation(name, config)
            answer.append(RotationNow(name, on_call(spec, moment, ctx.settings.tz, overrides=covering, calendar=feed),
                                      next_on_call(spec, moment, ctx.settings.tz, overrides=covering, calendar=feed)))
    return answer


def parse_duration(text: str) -> timedelta:
    match = _DURATION.fullmatch(text.strip().lower())
    if not match:
        raise ActionRefused(f"{text!r} is not a duration: give one such as 30m, 4h or 2d")
    amount, unit = float(match.group(1)), match.group(2)[0]
    return timedelta(minutes=amount) if unit == "m" else timedelta(hours=amount) if unit == "h" else timedelta(
        days=amount)


async def take(ctx: Services, actor: Actor, who: str, rotation_name: str | None,
               duration: timedelta | None) -> str:
    """Record that ``who`` covers ``rotation_name`` from now for ``duration`` (by default until the current
    shift ends). Returns what to tell the person who asked."""
    rotations = ctx.settings.config.oncall.rotations
    if not rotations:
        raise ActionRefused("no on-call rotation is configured (oncall.rotations)")
    check_may_schedule(ctx, actor)
    name = rotation_name or next(iter(rotations))
    if name not in rotations:
        raise ActionRefused(f"{name!r} is not a rotation: expected one of {', '.join(rotations)}")
    now = ctx.clock.now()
    calendars = await fetch_calendars(ctx, [name])
    async with ctx.store.transaction() as session:
        current = await shift_at(ctx, session, name, now, calendars)
        ends = now + duration if duration is not None else (current.ends if current else now + timedelta(hours=8))
        if ends - now > MAX_OVERRIDE:
            raise ActionRefused("an override lasts at most 31 days; change the rotation for longer")
        if ends <= now:
            raise ActionRefused("an override must last a while: give a duration such as 4h")
        session.add(OncallOverride(rotation=name, who=who, starts_at=now, ends_at=ends, created_by=actor.user_id,
                                   created_at=now))
    log.info("oncall: %s covers %s until %s (recorded by %s)", who, name, ends.isoformat(), actor.user_id)
    until = ends.astimezone(ctx.settings.tz).strftime("%a %d %b %H:%M %Z")
    return f":pager: {person(who)} is on call for *{name}* until {until} (override recorded by {actor.mention})."


def person(who: str) -> str:
    return f"<@{who}>" if re.fullmatch(r"[UW][A-Z0-9]{2,}", who) else mrkdwn(who)


def shift_json(shift: Shift | None) -> dict[str, Any] | None:
    if shift is None:
        return None
    return {"who": shift.who, "from": shift.starts.isoformat(), "until": shift.ends.isoformat(), "why": shift.why}


def summary_text(ctx: Services, rotations: list[RotationNow]) -> str:
    if not rotations:
        return "No on-call rotation is configured (`oncall.rotations`, see docs/oncall.md)."
    tz = ctx.settings.tz
    lines = ["*On call*"]
    for entry in rotations:
        now = f"{person(entry.now.who)}" + (" (override)" if entry.now.why == "override" else "") \
            if entry.now else "nobody"
        later = (f"; next {person(entry.next.who)} from {entry.next.starts.astimezone(tz):%a %d %b %H:%M %Z}"
                 if entry.next else "")
        lines.append(f"• *{entry.name}*: {now}{later}")
    return "\n".join(lines)
