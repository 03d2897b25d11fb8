"""Timeline assembly: recorded entries and the alerts' own history, in order."""

from __future__ import annotations

from collections.abc import Sequence

from pagerbot.core.records import AlertRecord, TimelineEntry


def alert_entries(alert: AlertRecord) -> list[TimelineEntry]:
    where = f" on {alert.host}" if alert.host else ""
    fired_at = alert.starts_at or alert.first_received_at
    entries = [TimelineEntry(at=fired_at, kind="alert", source=alert.source, actor=None,
                             text=f"{alert.name}{where} fired: {alert.title}",
                             data={"fingerprint": alert.fingerprint, "wave": alert.wave})]
    if alert.state == "resolved":
        entries.append(TimelineEntry(at=alert.ends_at or alert.last_received_at, kind="alert_resolved",
                                     source=alert.source, actor=None, text=f"{alert.name}{where} resolved",
                                     data={"fingerprint": alert.fingerprint, "wave": alert.wave}))
    return entries


def merge_alerts(entries: Sequence[TimelineEntry], alerts: Sequence[AlertRecord]) -> list[TimelineEntry]:
    merged = list(entries)
    for alert in alerts:
        merged.extend(alert_entries(alert))
    # Stable: entries at the same instant keep their recorded order, alerts after commands.
    merged.sort(key=lambda e: e.at)
    return merged


def latest(entries: Sequence[TimelineEntry], count: int) -> list[TimelineEntry]:
    return list(entries[-count:])
