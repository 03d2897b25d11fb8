"""What graphs mark on their time axis. Kept apart from the renderer so the server can build markers
without loading matplotlib (rendering happens in the worker process)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Marker:
    """A vertical line with a label: the incident start, an alert, a deploy..."""

    at: datetime
    label: str
    color: str | None = None
