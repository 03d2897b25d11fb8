"""What graphs mark on their time axis. Kept apart from the renderer so the server can build markers
without loading matplotlib (rendering happens in the worker process)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Marker:
    """A thin vertical line with a label in the lane above the plot: an alert, the incident opening...

    ``kind`` is "alert" or "event"; markers close in time are told as one label
    ("INC-1 opened · 3 alert names": alert markers are one per alert name, so that is what the label counts).
    """

    at: datetime
    label: str
    color: str | None = None
    kind: str = "alert"


@dataclass(frozen=True, slots=True)
class Span:
    """A shaded stretch of time: the incident (``kind`` "incident") or one of its waves ("wave")."""

    start: datetime
    end: datetime
    label: str
    kind: str = "wave"
