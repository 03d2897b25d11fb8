"""Alerts in: accept a delivery into the inbox, then apply it: decide the incident, queue what Slack must show.

Persist first: a webhook answers 2xx only after ``accept_alerts`` committed the delivery. Applying it is the
inbox worker's job; duplicate deliveries change nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pagerbot.chat import blocks
from pagerbot.core.alerts import AlertEvent, AlertState
from pagerbot.core.escaping import mrkdwn, one_line
from pagerbot.core.grouping import Candidate, Decision, decide, group_key, grouping_fallback
from pagerbot.core.lanes import lane_of
from pagerbot.core.lifecycle import Status
from pagerbot.core.timezones import aware
from pagerbot.core.waves import WaveStart, alerts_by_name, starts_wave, wave_times
from pagerbot.observability import INCIDENTS_OPENED
from pagerbot.services.context import Services
from pagerbot.services.opening import enqueue_opening, enqueue_post, enqueue_refresh
from pagerbot.store.inbox import BODY, EVENTS
from pagerbot.store.repository import Alert, Incident, NewAlert, Session, incident_record

log = logging.getLogger("pagerbot.alerts")


@dataclass
class IntakeResult:
    """What applying a batch of deliveries did."""

    incidents: list[int] = field(default_factory=list)
    opened: list[tuple[int, str]] = field(default_factory=list)  # (incident, group key)
    new: int = 0
    updated: int = 0
    resolved: int = 0
    duplicates: int = 0
    ignored: int = 0


async def accept_alerts(ctx: Services, source: str, events: Sequence[AlertEvent], *, body: str | None = None) -> None:
    """Store a delivery in the inbox (committed when this returns) and wake the inbox worker, which applies it.

    This is all a webhook waits for before its 2xx: the grouping, de-duplication and Slack side effects
    happen in the worker, in batches (services/inbox.py). ``body``, the text a webhook's ``events`` were
    parsed from, is stored instead of them: the worker parses it again (intake/bodies.py).
    """
    if not events:
        return
    lane = lane_of(events, ctx.settings.config.grouping.labels)
    if body is not None:
        await ctx.store.inbox.put(source, BODY, body, ctx.clock.now(), lane)
        ctx.parsed.keep(source, body, events)  # stored: the worker need not parse it again (services/parsed.py)
    else:
        await ctx.store.inbox.put(source, EVENTS, json.dumps([e.to_json() for e in events], separators=(",", ":")),
                                  ctx.clock.now(), lane)
    ctx.wake_inbox()


async def apply_alerts(ctx: Services, session: Session,
                       deliveries: Sequence[Sequence[AlertEvent]]) -> IntakeResult:
    """Apply deliveries, in the order they were received, in the caller's transaction.

    Each delivery's alerts join the group of the configured labels. Within a delivery the last word on an
    alert occurrence wins. Across deliveries, a group's deliveries are applied together, in rounds
    (:class:`Rounds`): one incident decision, one INSERT of the new alerts and one UPDATE of the changed ones
    per group and round, which is what lets a storm be applied as fast as it is answered. A round ends where
    merging would change the outcome, so a batch leaves the same alerts, incidents and timeline as applying its
    deliveries one by one (tests/integration/test_batch_equivalence.py); only the channel's news is coalesced
    (one message for the alerts of a round).
    """
    grouping = ctx.settings.config.grouping
    keyed: list[list[tuple[str, AlertEvent]]] = []
    for delivery in deliveries:
        await _breathe(len(delivery))
        keyed.append([(group_key(event.labels, grouping.labels, fallback=grouping_fallback(event)), event)
                      for event in _latest_per_occurrence(delivery)])
    settled = await ctx.store.settled_groups(session, sorted({key for words in keyed for key, _ in words}))
    rounds = Rounds(settled)
    for words in keyed:
        rounds.add(words)
    result = IntakeResult(duplicates=rounds.duplicates)
    for groups in rounds.rounds:
        for key, events in groups.items():
            await _apply_group(ctx, session, key, events, result)
    return result


def _same_word(said: tuple[int, AlertEvent] | None, turn: int, event: AlertEvent) -> bool:
    """Whether ``event`` repeats the alert's word ``said`` in round ``turn``: applied after it, it would change
    nothing (services/alerts._changes compares the same fields)."""
    if said is None or said[0] != turn:
        return False
    before = said[1]
    if _occurrence_key(before) != _occurrence_key(event) or before.state is not event.state:
        return False
    return event.state is not AlertState.FIRING or (
        before.title == event.title and before.severity == event.severity
        and before.description == event.description and before.annotations == event.annotations
        and before.labels == event.labels)


@dataclass
class _GroupRound:
    """What a group's words in one round hold so far (Rounds)."""

    firing: bool = False
    other: bool = False  # resolves, acknowledges
    worst: int = 99  # the worst (lowest) severity of its firing words
    left_out: int | None = None
    closed: bool = False  # nothing more joins it


class Rounds:
    """A batch's deliveries in rounds: round by round, group by group, each group's deliveries in arrival order.

    A delivery's words of a group join the round the group's last delivery went to, unless applying them
    together could tell another story than applying them one after the other:

    - a word on an alert that the round already holds (its second word must see the first applied), unless
      it says the same (Alertmanager resends a group's alerts with every notification): one by one, such a
      repeat changes nothing, so it is counted as a duplicate and left out;
    - a firing word after a resolve or an acknowledge of the group (all may have resolved in between: the
      resolve offer, then a new wave);
    - a firing word worse than the round's (the incident rises once per step, as it would one by one);
    - another count of alerts the sender left out;
    - a group whose incident may open, reopen or begin a wave (no open incident, or every alert resolved: it
      is not in ``settled``): its first firing delivery goes alone, so the incident opens with that delivery's
      alerts and the next ones are news in it, as they would be.

    A storm's deliveries (firing alerts of one group, an open incident) make one round.
    """

    def __init__(self, settled: set[str]) -> None:
        self.rounds: list[dict[str, list[AlertEvent]]] = []
        self._settled = set(settled)
        self._last: dict[str, int] = {}  # group -> the round its last delivery joined
        self._state: dict[tuple[int, str], _GroupRound] = {}
        self._next_word: dict[tuple[str, str], int] = {}  # alert -> the first round its next word may join
        self._said: dict[tuple[str, str], tuple[int, AlertEvent]] = {}  # alert -> its last word and its round
        self.duplicates = 0  # words left out: the same as the alert's last word, in the same round

    def add(self, words: Sequence[tuple[str, AlertEvent]]) -> None:
        """One delivery's words, with their groups. Two occurrences of one alert in a delivery (a sender's
        history) go in turn, as if delivered one after the other."""
        parts: list[dict[str, list[AlertEvent]]] = []
        seen: list[set[tuple[str, str]]] = []
        for key, event in words:
            alert = (event.source, event.fingerprint)
            n = next((i for i in range(len(parts) - 1, -1, -1) if alert in seen[i]), -1) + 1
            if n == len(parts):
                parts.append(defaultdict(list))
                seen.append(set())
            parts[n][key].append(event)
            seen[n].add(alert)
        for part in parts:
            for key, events in part.items():
                self._add_group(key, events)

    def _add_group(self, key: str, events: list[AlertEvent]) -> None:
        last = self._last.get(key)
        left_out = max((e.left_out for e in events if e.source in TRUNCATING_SENDERS), default=None)
        if last is not None and not self._state[(last, key)].closed and (
                left_out is None or left_out == self._state[(last, key)].left_out):
            fresh = [e for e in events if not _same_word(self._said.get((e.source, e.fingerprint)), last, e)]
            if len(fresh) < len(events):
                self.duplicates += len(events) - len(fresh)
                events = fresh
                if not events:
                    return
        firing = [e for e in events if e.state is AlertState.FIRING]
        others = len(firing) < len(events)
        worst = min((int(e.severity) for e in firing), default=99)
        alone = bool(firing) and key not in self._settled
        turn = max([0 if last is None else last] + [self._next_word.get((e.source, e.fingerprint), 0)
                                                     for e in events])
        if last is not None and turn == last:
            current = self._state[(turn, key)]
            worse = bool(firing) and current.firing and worst < current.worst
            other_count = left_out is not None and current.left_out is not None and left_out != current.left_out
            if current.closed or alone or (firing and current.other) or worse or other_count:
                turn += 1
        while turn >= len(self.rounds):
            self.rounds.append(defaultdict(list))
        self.rounds[turn][key].extend(events)
        state = self._state.setdefault((turn, key), _GroupRound())
        state.firing = state.firing or bool(firing)
        state.other = state.other or others
        state.worst = min(state.worst, worst)
        state.left_out = left_out if left_out is not None else state.left_out
        state.closed = state.closed or alone
        self._last[key] = turn
        for event in events:
            self._next_word[(event.source, event.fingerprint)] = turn + 1
            self._said[(event.source, event.fingerprint)] = (turn, event)
        if firing:
            self._settled.add(key)  # opened, reopened, or a wave began: open with a firing alert
        if others:
            self._settled.discard(key)  # every alert may have resolved


BREATHE_EVERY = 250
"""Alerts a storm batch's loops go through before they let the event loop serve the webhooks a moment."""


async def _breathe(alerts: int) -> None:
    """Let other tasks of the event loop run (a webhook's INSERT): a batch holds thousands of alerts, and
    going through them at once held the loop for tens of milliseconds. Free below a handful of alerts."""
    if alerts >= 10:
        await asyncio.sleep(0)


def report(result: IntakeResult) -> None:
    """Log and count what an applied batch did (after its commit)."""
    for incident_id, key in result.opened:
        INCIDENTS_OPENED.inc()
        log.info("INC-%d opened by alerts of group %s", incident_id, key, extra={"incident_id": incident_id})
    if result.new + result.updated + result.resolved:  # Alertmanager resends are not news
        opened = {incident_id for incident_id, _ in result.opened}
        for incident_id in sorted(set(result.incidents) - opened):
            log.info("INC-%d: alerts applied (batch: %d new, %d updated, %d resolved)", incident_id, result.new,
                     result.updated, result.resolved, extra={"incident_id": incident_id})


def merged(results: Sequence[IntakeResult]) -> IntakeResult:
    total = IntakeResult()
    for result in results:
        _merge(total, result)
    return total


def _merge(into: IntakeResult, part: IntakeResult) -> None:
    into.incidents += part.incidents
    into.opened += part.opened
    into.new += part.new
    into.updated += part.updated
    into.resolved += part.resolved
    into.duplicates += part.duplicates
    into.ignored += part.ignored


def _occurrence_key(event: AlertEvent) -> tuple[str, str, str]:
    started = event.starts_at.isoformat() if event.starts_at and not event.identity_by_key else ""
    return event.source, event.fingerprint, started


def _latest_per_occurrence(events: Sequence[AlertEvent]) -> list[AlertEvent]:
    """Within one delivery the last word on an alert occurrence wins."""
    return list({_occurrence_key(event): event for event in events}.values())


def _new_alert(event: AlertEvent, *, incident_id: int, occurrence: str, wave: int, now: datetime) -> NewAlert:
    resolved = event.state is AlertState.RESOLVED
    return NewAlert(
        incident_id, event.source, event.fingerprint, occurrence, event.name, event.title, event.description,
        int(event.severity), _STATE_TEXT[event.state], event.host, _plain(event.labels), _plain(event.annotations),
        event.url, event.starts_at, event.ends_at if resolved else None, wave, 1, now, now)


_STATE_TEXT = {state: state.value for state in AlertState}  # an enum's .value is a slow property


def _plain(values: Mapping[str, str]) -> dict[str, str]:
    return values if type(values) is dict else dict(values)


def _changes(row: Alert, event: AlertEvent) -> dict[str, Any]:
    """What differs between the stored occurrence and this delivery (empty for a pure repeat).

    A resolve or an acknowledge changes the state only: senders send them without the alert's details
    (PagerDuty's carry no payload, a generic resolve often only the key), which must not wipe the stored ones.
    """
    changes: dict[str, Any] = {}
    if row.state != event.state.value:
        changes["state"] = event.state.value
        changes["ends_at"] = event.ends_at if event.state is AlertState.RESOLVED else None
    if event.state is not AlertState.FIRING:
        return changes
    if row.title != event.title:
        changes["title"] = event.title
    if row.severity != int(event.severity):
        changes["severity"] = int(event.severity)
    if row.description != event.description:
        changes["description"] = event.description
    if row.annotations != dict(event.annotations):
        changes["annotations"] = dict(event.annotations)
    if row.labels != dict(event.labels):
        changes["labels"] = dict(event.labels)
    return changes


async def _apply_group(ctx: Services, session: Session, key: str, events: Sequence[AlertEvent],
                       result: IntakeResult) -> None:
    now = ctx.clock.now()
    storm_threshold = ctx.settings.config.intake.storm_threshold
    latest = await ctx.store.latest_incident(session, key)

    fingerprints = {(e.source, e.fingerprint) for e in events}
    existing: dict[tuple[str, str], list[Alert]] = defaultdict(list)
    sources = {s for s, _ in fingerprints}
    for source in sources:
        names = [f for s, f in fingerprints if s == source]
        for stored in await ctx.store.alerts_by_fingerprint(session, source, names):
            existing[(stored.source, stored.fingerprint)].append(stored)

    new_events: list[tuple[AlertEvent, str]] = []
    new_words: list[int] = []  # the place of each new event among ``events``: the rises go in delivery order
    changed: dict[int, Alert] = {}  # stored alerts this round changed, written in one statement after the loop
    touched_incidents: set[int] = set()
    resolved_rows: list[Alert] = []
    refired_rows: list[Alert] = []
    rises: list[tuple[int, int, AlertEvent]] = []  # (word, incident, alert) of firing alerts whose severity changed
    for n, event in enumerate(events):
        if n % BREATHE_EVERY == BREATHE_EVERY - 1:
            await _breathe(BREATHE_EVERY)
        known = existing.get((event.source, event.fingerprint), [])
        row: Alert | None
        if event.starts_at is not None and not event.identity_by_key:
            occurrence = event.starts_at.isoformat()
            row = next((r for r in known if r.occurrence == occurrence), None)
        else:
            last = known[-1] if known else None
            if last is not None and (last.state != AlertState.RESOLVED.value or event.state is not AlertState.FIRING):
                row, occurrence = last, last.occurrence
            else:
                row, occurrence = None, f"#{len(known) + 1}"
        if row is not None and event.starts_at is not None and not event.identity_by_key:
            event = _late(event, known)  # a resend of an occurrence that a newer one ended: it stays ended
        if row is None:
            if event.state is AlertState.RESOLVED and (latest is None or latest.resolved_at is not None):
                result.ignored += 1  # a resolve for an alert we never saw, and nothing open to attach it to
                continue
            if event.state is AlertState.ACKNOWLEDGED:
                result.ignored += 1  # an acknowledge for an alert we never saw (PagerDuty drops those too)
                continue
            if event.starts_at is not None and not event.identity_by_key:
                event = _late(event, known)
                for older in _superseded(event, known):
                    older.state, older.ends_at = AlertState.RESOLVED.value, event.starts_at
                    older.last_received_at = now
                    changed[older.id] = older
                    touched_incidents.add(older.incident_id)
                    resolved_rows.append(older)
                    result.resolved += 1
            new_events.append((event, occurrence))
            new_words.append(n)
            continue
        changes = _changes(row, event)
        if not changes:
            result.duplicates += 1
            continue
        changes["last_received_at"] = now
        changes["received_count"] = row.received_count + 1
        for name, value in changes.items():
            setattr(row, name, value)
        changed[row.id] = row
        touched_incidents.add(row.incident_id)
        if "severity" in changes and row.state == AlertState.FIRING.value:
            rises.append((n, row.incident_id, event))
        if changes.get("state") == AlertState.RESOLVED.value:
            result.resolved += 1
            resolved_rows.append(row)
        elif changes.get("state") == AlertState.FIRING.value:
            refired_rows.append(row)
            result.updated += 1
        else:
            result.updated += 1

    await ctx.store.update_alerts(session, list(changed.values()))

    incident = latest
    opened = False
    waves_begun: set[int] = set()  # incidents whose alerts fired again after a lull, in this round
    firing_new = [e for e, _ in new_events if e.state is not AlertState.RESOLVED]
    if new_events:
        candidate = None if latest is None else Candidate(latest.id, latest.resolved_at is None, latest.resolved_at)
        window = timedelta(minutes=ctx.settings.config.grouping.window_minutes)
        decision = decide(candidate, now=now, window=window) if firing_new else Decision.JOIN
        if decision is Decision.OPEN:
            incident = await _open(ctx, session, key, firing_new, now)
            opened = True
            result.opened.append((incident.id, key))
        elif decision is Decision.REOPEN:
            assert incident is not None
            await _new_wave(ctx, session, incident, [(e.name, e.host) for e in firing_new], now,
                            fired_since=[e.starts_at for e in firing_new], reopen_key=key)
            waves_begun.add(incident.id)
        elif incident is not None and incident.resolved_at is None and starts_wave(
                lull_since=incident.all_resolved_offered_at, alert_fires=bool(firing_new)):
            await _new_wave(ctx, session, incident, [(e.name, e.host) for e in firing_new], now,
                            fired_since=[e.starts_at for e in firing_new])
            waves_begun.add(incident.id)
        assert incident is not None
        rows = []
        for n, (e, occ) in enumerate(new_events):
            if n % BREATHE_EVERY == BREATHE_EVERY - 1:
                await _breathe(BREATHE_EVERY)
            rows.append(_new_alert(e, incident_id=incident.id, occurrence=occ, wave=incident.wave, now=now))
        await ctx.store.insert_alerts(session, rows)
        result.new += len(new_events)
        touched_incidents.add(incident.id)
        if not opened:
            rises += [(n, incident.id, e) for n, (e, _) in zip(new_words, new_events, strict=True)
                      if e.state is AlertState.FIRING]
    if incident is not None and await _note_left_out(ctx, session, incident, events, now):
        touched_incidents.add(incident.id)
    result.incidents += sorted(touched_incidents)
    if opened:
        return
    raised = await _raise_severity(ctx, session, incident, [(i, e) for _, i, e in sorted(rises, key=lambda r: r[0])],
                                   now)

    for incident_id in touched_incidents:
        target = (incident if incident is not None and incident.id == incident_id
                  else await ctx.store.incident(session, incident_id))
        if target is None:
            continue
        mine_refired = [r for r in refired_rows if r.incident_id == incident_id]
        if target.resolved_at is None and incident_id not in waves_begun and starts_wave(
                lull_since=target.all_resolved_offered_at, alert_fires=bool(mine_refired)):
            await _new_wave(ctx, session, target, [(r.name, r.host) for r in mine_refired], now,
                            fired_since=[r.starts_at for r in mine_refired])
            await ctx.store.set_alerts_wave(session, [r.id for r in mine_refired], target.wave)
            waves_begun.add(incident_id)
        mine_new = [e for e, _ in new_events] if incident is not None and target.id == incident.id else []
        firing, total = await ctx.store.alerts_firing_and_count(
            session, incident_id, storm_threshold + 1, firing=any(e.state is AlertState.FIRING for e in mine_new))
        mine_resolved = [r for r in resolved_rows if r.incident_id == incident_id]
        if total > storm_threshold:
            # The digest's next update, at most one per digest interval. In a storm the header's counts move
            # with every delivery: it follows the digest's pace (one update per digest interval, shown with
            # the state at delivery) instead of being redrawn, from all the incident's alerts, as fast as
            # Slack answers. Both in one statement.
            due = _digest_due(ctx, target, now)
            await ctx.store.enqueue_coalesced(session, incident_id, [
                ("digest", f"digest:{incident_id}", due), ("update_header", f"header:{incident_id}", due)], now=now)
            if incident_id in raised:
                await enqueue_refresh(ctx, session, incident_id, now)
        else:
            # a new wave's first alerts are in its message already
            fired = [] if incident_id in waves_begun else [e for e in mine_new if e.state is not AlertState.RESOLVED]
            lines = [f":red_circle: *{mrkdwn(one_line(e.name or e.title, 100))}*"
                     f"{' on ' + mrkdwn(e.host) if e.host else ''}: {mrkdwn(one_line(e.title, 200))}"
                     for e in fired]
            lines += [f":large_green_circle: Resolved: *{mrkdwn(one_line(r.name or r.title, 100))}*"
                      f"{' on ' + mrkdwn(r.host) if r.host else ''}" for r in mine_resolved]
            if lines:
                await enqueue_post(ctx, session, incident_id, "\n".join(lines)[:3000], now=now)
            await enqueue_refresh(ctx, session, incident_id, now, topic=incident_id in raised)
        if not firing and total > 0 and target.resolved_at is None and target.all_resolved_offered_at is None:
            target.all_resolved_offered_at = now
            text, offer = blocks.offer_resolve(incident_record(target))
            await ctx.store.enqueue(session, incident_id, "offer_resolve", {"text": text, "blocks": offer}, now=now)
            await ctx.store.add_timeline(session, incident_id, at=now, kind="alert_resolved", source="pagerbot",
                                         actor=None, text="Every alert has resolved; offered to resolve the incident",
                                         now=now)
        elif firing and target.all_resolved_offered_at is not None:
            target.all_resolved_offered_at = None


TRUNCATING_SENDERS = frozenset({"alertmanager", "grafana"})
"""Senders whose notifications say how many alerts they left out (``truncatedAlerts``, over ``max_alerts``)."""


async def _note_left_out(ctx: Services, session: Session, incident: Incident,
                         events: Sequence[AlertEvent], now: datetime) -> bool:
    """Keep on the incident how many alerts its sender's last notification left out; True when that changed.

    The header shows it while it lasts, and the timeline records each new count ("Alertmanager left out 2
    alerts"): those alerts never reach pagerbot, so the incident would otherwise look smaller than it is.
    """
    counted = [e for e in events if e.source in TRUNCATING_SENDERS]
    if incident.resolved_at is not None or not counted:
        return False
    count = max(e.left_out for e in counted)
    if count == (incident.alerts_left_out or 0):
        return False
    incident.alerts_left_out, incident.left_out_by = count, counted[0].source
    note = incident_record(incident).left_out_note
    if note:
        await ctx.store.add_timeline(session, incident.id, at=now, kind="alert", source=counted[0].source,
                                     actor=None, text=f"{note} of its notification (its receiver's max_alerts)",
                                     now=now)
    return True


async def _raise_severity(ctx: Services, session: Session, incident: Incident | None,
                          rises: Sequence[tuple[int, AlertEvent]], now: datetime) -> set[int]:
    """Raise each open incident to the worst severity its firing alerts now have; the incidents raised.

    Never lowered automatically: a person lowers it (``/incident sev``). The timeline and the channel say
    which alert raised it; the caller updates the header and the topic.
    """
    worst: dict[int, AlertEvent] = {}
    for incident_id, event in rises:
        if incident_id not in worst or event.severity < worst[incident_id].severity:
            worst[incident_id] = event
    raised: set[int] = set()
    for incident_id, event in worst.items():
        target = incident if incident is not None and incident.id == incident_id else await ctx.store.incident(
            session, incident_id)
        if target is None or target.resolved_at is not None or int(event.severity) >= target.severity:
            continue
        previous, target.severity = target.severity, int(event.severity)
        name = one_line(event.name or event.title, 100)
        text = f"Severity raised from SEV{previous} to SEV{target.severity}: {name} is {event.severity.label}"
        await ctx.store.add_timeline(session, incident_id, at=now, kind="status", source=event.source, actor=None,
                                     text=text, now=now)
        await enqueue_post(ctx, session, incident_id, f":arrow_up: {mrkdwn(text)}", now=now)
        raised.add(incident_id)
    return raised


def _superseded(event: AlertEvent, known: Sequence[Alert]) -> list[Alert]:
    """Older occurrences of the alert still firing: an alert has one active occurrence at a time (as in
    Alertmanager, where the fingerprint identifies the active alert), so a newer one means they ended and
    their resolve was never delivered (lost, or sent while pagerbot answered 503)."""
    assert event.starts_at is not None
    return [r for r in known if r.state != AlertState.RESOLVED.value and r.starts_at is not None
            and r.starts_at < event.starts_at]


def _late(event: AlertEvent, known: Sequence[Alert]) -> AlertEvent:
    """A firing occurrence delivered after a newer occurrence of the alert is over: it ended when that began."""
    assert event.starts_at is not None
    newer = [r.starts_at for r in known if r.starts_at is not None and r.starts_at > event.starts_at]
    if not newer or event.state is AlertState.RESOLVED:
        return event
    return replace(event, state=AlertState.RESOLVED, ends_at=min(newer))


def _digest_due(ctx: Services, incident: Incident, now: datetime) -> datetime:
    """When the digest's next update may go: at most one per digest interval."""
    interval = timedelta(seconds=ctx.settings.config.intake.digest_seconds)
    return max(now, incident.digest_at + interval) if incident.digest_at else now


async def _open(ctx: Services, session: Session, key: str, events: Sequence[AlertEvent],
                now: datetime) -> Incident:
    first = min(events, key=lambda e: (int(e.severity), e.starts_at or now))
    incident = Incident(
        title=one_line(first.title or first.name, 500), description=one_line(first.description, 2000) or None,
        severity=min(int(e.severity) for e in events), status=Status.INVESTIGATING.value, group_key=key,
        open_group_key=key, wave=1, opened_at=now, last_status_at=now, created_by=first.source)
    await ctx.store.add_incident(session, incident)
    await ctx.store.add_timeline(session, incident.id, at=now, kind="status", source=first.source, actor=None,
                                 text=f"Incident opened from {first.source} alert"
                                      f"{' ' + first.name if first.name else ''}: {first.title}",
                                 now=now)
    await enqueue_opening(ctx, session, incident, now)
    return incident


async def _new_wave(ctx: Services, session: Session, incident: Incident, fired: Sequence[tuple[str, str | None]],
                    now: datetime, *, fired_since: Sequence[datetime | None] = (),
                    reopen_key: str | None = None) -> None:
    """Alerts fired again after every one had resolved: a new wave, told as news at the bottom of the channel.

    With ``reopen_key`` the incident had been resolved and is reopened. The standing "Resolve?" offer is
    withdrawn, the storm digest of the last wave is closed (the new wave gets its own), and the header and
    topic say which wave this is. The wave begins when its alerts say they began (``fired_since``, their
    startsAt), after the lull that began when the earlier alerts say they ended (core.waves.wave_times)."""
    offered = incident.all_resolved_offered_at
    previous_digest, previous_wave = incident.digest_ts, incident.wave
    resolved_until = await ctx.store.last_alert_end(session, incident.id)
    began_at, lull_since = wave_times(
        fired_since=[aware(moment) if moment else None for moment in fired_since],
        resolved_until=aware(resolved_until) if resolved_until else None,
        lull_noticed=aware(offered or incident.resolved_at or now), now=now)
    wave = WaveStart(number=incident.wave + 1, began_at=began_at, lull_since=lull_since,
                     alerts=alerts_by_name(fired), reopened=reopen_key is not None)
    incident.wave = wave.number
    incident.wave_started_at = began_at
    if reopen_key is not None:
        incident.status = Status.INVESTIGATING.value
        incident.resolved_at = None
        incident.open_group_key = reopen_key
        incident.last_status_at = now
    incident.all_resolved_offered_at = None
    incident.digest_ts = None
    incident.digest_at = None
    await ctx.store.flush(session)
    await ctx.store.add_timeline(session, incident.id, at=began_at, kind="wave", source="pagerbot", actor=None,
                                 text=wave.timeline_text, data={"wave": wave.number}, now=now)
    text, news = blocks.wave_started(wave, incident_record(incident), ctx.settings.tz)
    await enqueue_post(ctx, session, incident.id, text, news, now=now)
    if offered is not None:
        await ctx.store.enqueue(session, incident.id, "withdraw_offer", {"at": began_at.isoformat()}, now=now)
    if previous_digest:
        await ctx.store.enqueue(session, incident.id, "close_digest", {"ts": previous_digest, "wave": previous_wave},
                                now=now)
    await enqueue_refresh(ctx, session, incident.id, now)
    if ctx.metrics is not None:
        await ctx.store.enqueue(session, incident.id, "refresh_graph", {"reason": "new wave"}, now=now,
                                coalesce_key=f"graph:{incident.id}")
