"""Who was paged when, and how long each page waited for an acknowledgement, read from the timeline (pure).

The paging chain records each page as a ``page`` entry whose data names the page, and its end as a ``page``
entry with ``stopped`` and ``by`` (services/paging.py); the postmortem's key times show them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pagerbot.core.records import TimelineEntry


@dataclass(frozen=True, slots=True)
class PageRecord:
    at: datetime
    target: str  # a Slack user ID or an email address, as configured
    rotation: str | None
    repeat: int
    acknowledged_by: str | None
    time_to_acknowledge: timedelta | None  # None while nobody has acknowledged


def pages_from_timeline(timeline: Sequence[TimelineEntry], acknowledged_at: datetime | None) -> list[PageRecord]:
    by: str | None = None
    stopped = False
    for entry in timeline:
        if entry.kind == "page" and entry.data.get("stopped") == "acknowledged":
            by = str(entry.data["by"]) if entry.data.get("by") else None
            stopped = True
    records = []
    for entry in timeline:
        if entry.kind != "page" or "page_id" not in entry.data:
            continue
        waited = max(acknowledged_at - entry.at, timedelta(0)) if stopped and acknowledged_at else None
        records.append(PageRecord(at=entry.at, target=str(entry.data.get("target") or ""),
                                  rotation=entry.data.get("rotation"), repeat=int(entry.data.get("repeat") or 0),
                                  acknowledged_by=by if waited is not None else None, time_to_acknowledge=waited))
    return records
