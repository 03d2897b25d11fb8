"""Which stretch of time a graph shows, how its caption names it, the incident's waves and the capacity line.

Captions are absolute, with the zone's abbreviation and ISO dates ("06:00–15:45 PDT, 2026-03-10"): a graph is
read later, in an email or a postmortem, where "last 6 h" means nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

BEFORE_INCIDENT = timedelta(hours=1)  # every incident graph shows at least this much before the start
AFTER_RESOLVE = timedelta(minutes=30)  # exported graphs show the calm after the resolve


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start


def live_window(incident_start: datetime, now: datetime, longest: timedelta) -> Window:
    """The live graph: from an hour before the incident's start to now, growing with the incident; once that
    is longer than ``longest`` (``metrics.window_hours``), the last ``longest``."""
    start = max(incident_start - BEFORE_INCIDENT, now - longest)
    return Window(min(start, now - timedelta(minutes=5)), now)


def export_window(incident_start: datetime, resolved_at: datetime | None, now: datetime) -> Window:
    """Postmortem and all-clear graphs: the whole incident, from an hour before its start to half an hour
    after its resolve (or now, when that is earlier or the incident is still open)."""
    end = min(now, resolved_at + AFTER_RESOLVE) if resolved_at is not None else now
    return Window(incident_start - BEFORE_INCIDENT, max(end, incident_start))


def zone_name(tz: tzinfo, at: datetime) -> str:
    """The zone's abbreviation at ``at`` ("PDT"), or its UTC offset when it has none ("UTC+05:30")."""
    local = at.astimezone(tz)
    name = local.tzname() or ""
    if name and not name.startswith(("+", "-")):
        return name
    return utc_offset(tz, at)


def utc_offset(tz: tzinfo, at: datetime) -> str:
    """"UTC−7", "UTC+5:30", "UTC"."""
    offset = at.astimezone(tz).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "\u2212"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def caption(window: Window, tz: tzinfo) -> str:
    """"06:00–15:45 PDT, 2026-03-10"; across midnight "2026-03-10 22:00 – 2026-03-11 04:00 PST"; across a
    change of clocks each end names its own zone ("01:00 PST – 04:00 PDT, 2026-03-08")."""
    start, end = window.start.astimezone(tz), window.end.astimezone(tz)
    start_zone, end_zone = zone_name(tz, window.start), zone_name(tz, window.end)
    if start.date() != end.date():
        return (f"{start:%Y-%m-%d %H:%M}" + (f" {start_zone}" if start_zone != end_zone else "")
                + f" \u2013 {end:%Y-%m-%d %H:%M} {end_zone}")
    if start_zone != end_zone:
        return f"{start:%H:%M} {start_zone} \u2013 {end:%H:%M} {end_zone}, {start:%Y-%m-%d}"
    return f"{start:%H:%M}\u2013{end:%H:%M} {end_zone}, {start:%Y-%m-%d}"


def axis_zone(window: Window, tz: tzinfo) -> str:
    """What the time axis says about its zone: "PDT (UTC−7)"."""
    name, offset = zone_name(tz, window.end), utc_offset(tz, window.end)
    return name if name == offset else f"{name} ({offset})"


def capacity_of(cpus_by_host: Mapping[str, float]) -> float | None:
    """The cores of the hosts whose count is known, summed (None when none is known)."""
    known = [c for c in cpus_by_host.values() if math.isfinite(c) and c > 0]
    return float(sum(known)) if known else None


WAVE_GAP = timedelta(minutes=5)  # alerts quiet for less than this between two firings: one wave


def wave_windows(firings: Sequence[tuple[datetime, datetime | None]], until: datetime,
                 gap: timedelta = WAVE_GAP) -> list[Window]:
    """The waves of an incident: the stretches of time in which at least one of its alerts fired. Firings
    are (started, ended or None while firing); a pause shorter than ``gap`` does not end a wave; a wave still
    firing ends at ``until``."""
    waves: list[list[datetime]] = []
    for started, ended in sorted(firings, key=lambda f: f[0]):
        end = min(ended, until) if ended is not None else until
        if waves and started <= waves[-1][1] + gap:
            waves[-1][1] = max(waves[-1][1], end)
        else:
            waves.append([started, max(started, end)])
    return [Window(start, end) for start, end in waves]
