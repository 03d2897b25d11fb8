"""The parts of the postmortem that are worked out rather than copied: impact from the alerts, detection,
action items, and the timeline's key events (the full log goes to the appendix).

Everything returned is :class:`Md` (already escaped) or plain text the template escapes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Protocol
from urllib.parse import quote

from pagerbot.core.actions import parse_action
from pagerbot.core.durations import KeyTimes, human_duration
from pagerbot.core.onset import Onset
from pagerbot.core.people import entry_text, name_of
from pagerbot.core.records import TimelineEntry
from pagerbot.core.timezones import aware
from pagerbot.core.waves import AlertWaves
from pagerbot.postmortem.markdown import Md, cell, inline

# What the main timeline keeps: what people did and decided, and what the incident went through. Command
# echoes, the bot's channel mechanics (channel, topic, purpose, header, pins), graph posts and each single
# alert's firing stay in the appendix; the alerts are summed up as one row per alert name and wave.
KEY_KINDS = frozenset({"status", "wave", "escalation", "email", "reply", "email_reply", "note", "pin"})
_MAX_HOSTS = 6
_ALERTS = Md("alerts")
_METRIC_WORDS = {"load1": "load", "swap_used": "swap use"}


class TimelineRowCells(Protocol):
    """What key_events reads of a full-log row: its local time and its escaped text and actor."""

    @property
    def local(self) -> str: ...

    @property
    def actor(self) -> Md: ...

    @property
    def text(self) -> Md: ...


@dataclass(frozen=True, slots=True)
class ImpactLine:
    """One alert name: on which hosts, for how long in all, in how many waves (each with its span)."""

    name: str
    hosts: Md
    firing_for: Md
    waves: int
    spans: Md


@dataclass(frozen=True, slots=True)
class ActionRow:
    action: str
    owner: str
    priority: str
    link: Md
    added_by: Md


@dataclass(frozen=True, slots=True)
class KeyEvent:
    local: Md
    text: Md
    actor: Md


def _clock(moment: datetime, zone: tzinfo) -> str:
    return aware(moment).astimezone(zone).strftime("%H:%M")


def _minute(moment: datetime, zone: tzinfo) -> str:
    return aware(moment).astimezone(zone).isoformat(" ", "minutes")[:16]


def _hosts(hosts: Sequence[str]) -> Md:
    shown = ", ".join(inline(h) for h in hosts[:_MAX_HOSTS])
    if len(hosts) > _MAX_HOSTS:
        shown += f" and {len(hosts) - _MAX_HOSTS} more"
    return Md(shown or "no host named")


def impact_lines(by_name: Sequence[AlertWaves], until: datetime, zone: tzinfo) -> list[ImpactLine]:
    lines = []
    for alert in by_name:
        spans = ", ".join(f"{_clock(w.start, zone)}–{_clock(w.end, zone) if w.end else 'still firing'}"
                          for w in alert.waves)
        lines.append(ImpactLine(name=alert.name, hosts=_hosts(alert.hosts),
                                firing_for=Md(human_duration(alert.firing_for(until))), waves=len(alert.waves),
                                spans=Md(spans)))
    return lines


def detection(times: KeyTimes, first_alert: tuple[str, datetime] | None, zone: tzinfo,
              onsets: Sequence[Onset] = ()) -> list[Md]:
    """Onset in the metrics versus the first alert versus detection (pagerbot opening the incident) versus a
    person taking it (acknowledgement), each with the gap it left."""
    lines = []
    for onset in onsets:
        if onset.at > times.detected:
            continue  # a rise that began after the incident opened was not there to be detected
        before = (f", {human_duration(times.started - onset.at)} before the first alert"
                  if onset.at < times.started else "")
        lines.append(Md(f"Onset in the metrics: {inline(_METRIC_WORDS.get(onset.metric, onset.metric))} on "
                        f"{inline(onset.host)} rising since {_clock(onset.at, zone)}{before}."))
    if first_alert is not None:
        name, at = first_alert
        lines.append(Md(f"First alert: {inline(name)} started at {_clock(at, zone)}."))
    opened_after = times.detected - times.started
    lines.append(Md(f"pagerbot opened the incident at {_clock(times.detected, zone)}, "
                    f"{human_duration(opened_after)} after the start."))
    if times.acknowledged is not None:
        waited = max(times.acknowledged - times.detected, timedelta(0))
        lines.append(Md(f"Acknowledged at {_clock(times.acknowledged, zone)}, {human_duration(waited)} "
                        "after the incident opened."))
    else:
        lines.append(Md("Nobody acknowledged the incident."))
    return lines


def _link(url: str | None) -> Md:
    if not url:
        return Md("—")
    destination = quote(url, safe=":/?#@!$&'*+,;=%-._~")  # no (, ), <, > or space: nothing leaves the link
    return Md(f"[{cell(url)}]({destination})")


def action_rows(notes: Sequence[tuple[TimelineEntry, str | None, Md]], names: Mapping[str, str]) -> list[ActionRow]:
    """``notes``: (the note after its ``action:`` tag, who wrote it, when) of each action item."""
    rows = []
    for entry, actor, at in notes:
        item = parse_action(entry.text)
        owner = name_of(item.owner, names) if item.owner and names.get(item.owner) else (item.owner or "")
        text = entry_text(dataclasses.replace(entry, text=item.text), names)
        rows.append(ActionRow(action=text or "(no text)", owner=owner or "unassigned",
                              priority=item.priority or "—", link=_link(item.link),
                              added_by=Md(f"{inline(actor or 'unknown')}, {at}")))
    return rows


def key_events(rows: Sequence[tuple[TimelineEntry, TimelineRowCells]], by_name: Sequence[AlertWaves],
               until: datetime, zone: tzinfo) -> tuple[list[KeyEvent], Md]:
    """The main timeline: the ``KEY_KINDS`` entries (their cells as the appendix escaped them, each entry
    paired with its row), and for each alert name the start and end of each wave; and the table's body."""
    waves: list[tuple[datetime, KeyEvent]] = []
    for alert in by_name:
        count = len(alert.waves)
        for number, wave in enumerate(alert.waves, start=1):
            which = f" (wave {number} of {count})" if count > 1 else ""
            later = [h for h in wave.hosts if h not in wave.first_hosts]
            then = f"; later also on {_hosts(later)}" if later else ""
            waves.append((wave.start, KeyEvent(Md(_minute(wave.start, zone)), Md(
                f"{cell(alert.name)} fired on {_hosts(wave.first_hosts)}{which}{then}"), _ALERTS)))
            if wave.end is not None:
                waves.append((wave.end, KeyEvent(Md(_minute(wave.end, zone)), Md(
                    f"{cell(alert.name)} cleared{which}, after {human_duration(wave.duration(until))}"), _ALERTS)))
    waves.sort(key=lambda item: item[0])
    # The rows are in time order already: the few wave lines are merged in (first at a tie), no sort of all.
    events: list[KeyEvent] = []
    pending = 0
    for entry, row in rows:
        if entry.kind not in KEY_KINDS:
            continue
        at = aware(entry.at)
        while pending < len(waves) and waves[pending][0] <= at:
            events.append(waves[pending][1])
            pending += 1
        events.append(KeyEvent(Md(row.local[:16]), row.text, row.actor))
    events += [event for _, event in waves[pending:]]
    return events, Md("\n".join(f"| {e.local} | {e.text} | {e.actor} |" for e in events))
