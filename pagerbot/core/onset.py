"""When a host's trouble began in its metrics: the start of the rise that is still going on (pure).

Alerts fire once a threshold has been crossed for a while; the metrics often show the change much earlier
(iowait stepping up when a RAID rebuild starts, an hour before the first alert). :func:`rising_since` finds
that step: the quiet level is the low end of the window, the current level is the recent median, and the
onset is the first sample above the midway mark after the last stretch of quiet samples.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pagerbot.core.findings import FindingKind

# Which metric shows the onset of each kind of finding (kinds without an onset are absent).
ONSET_METRIC = {FindingKind.IO_BOUND: "iowait", FindingKind.OVERLOADED: "load1", FindingKind.SWAPPING: "swap_used"}
# How far the metric must have moved above its quiet level for a rise to count, in its own unit.
MIN_RISE = {"iowait": 5.0, "load1": 1.0, "swap_used": 64 * 1024 * 1024}

QUIET_SAMPLES = 5  # this many samples in a row below the mark end the rise (single dips do not)
RECENT_SAMPLES = 10  # the current level is the median of the last few samples
MARK = 0.15  # the onset is where the metric first passes this fraction of the way from quiet to current


@dataclass(frozen=True, slots=True)
class Onset:
    host: str
    metric: str
    at: datetime  # UTC


def rising_since(times: Sequence[float], values: Sequence[float], *, min_rise: float) -> datetime | None:
    """The start of the rise the series ends in, or None when it does not end risen (by at least
    ``min_rise`` above its quiet level) or the rise began before the window (no quiet stretch to find)."""
    points = [(t, v) for t, v in zip(times, values, strict=False) if not math.isnan(v)]
    if len(points) < QUIET_SAMPLES + RECENT_SAMPLES:
        return None
    ordered = sorted(v for _, v in points)
    quiet = ordered[len(ordered) // 10]
    current = statistics.median(v for _, v in points[-RECENT_SAMPLES:])
    if current - quiet < min_rise:
        return None
    mark = quiet + MARK * (current - quiet)
    below = 0
    first_above: float | None = None
    for t, v in reversed(points):
        if v >= mark:
            first_above, below = t, 0
            continue
        below += 1
        if below >= QUIET_SAMPLES:
            return datetime.fromtimestamp(first_above, UTC) if first_above is not None else None
    return None
