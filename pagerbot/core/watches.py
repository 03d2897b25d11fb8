"""Metric watches: threshold rules evaluated on recent series (pure).

A watch such as "load1 per core above 2 for 5 minutes on pool db" is judged per host:

- **firing** when the last sample is above the threshold and every sample has been above it for at least
  ``for_minutes`` (like Prometheus's ``for:``: a host that just started reporting, or whose run above the
  threshold began less recently, is *pending* and not reported). A gap in the samples longer than the
  allowed gap restarts the count, as a missed evaluation does in Prometheus.
- **resolved** as soon as the last sample is at or below the threshold.
- **not judged** (no result, so an alert keeps the state it had) when the host has no sample recent enough
  (nothing within the allowed gap of ``now``), or, for a per-core watch, no core count.

The allowed gap is ``max_gap_seconds`` or two and a half times the series' usual sample interval, whichever
is longer, so a source sampled every 5 minutes is not mistaken for one full of holes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Protocol

from pagerbot.core.series import CPUS, Series

MAX_GAP_SECONDS = 180.0


class Watch(Protocol):
    name: str
    metric: str
    above: float
    per_core: bool
    for_minutes: float
    pool: str | None
    hosts: list[str]
    severity: str


@dataclass(frozen=True, slots=True)
class WatchResult:
    watch: str
    host: str
    firing: bool
    text: str  # stable while the state lasts (the alert's title): no current value in it
    severity: str
    value: float  # the last value (per core for a per-core watch)
    since: float | None = None  # firing: when the run above the threshold began (Unix seconds)


def describe(watch: Watch, host: str) -> str:
    unit = " per core" if watch.per_core else ""
    where = f" (pool {watch.pool})" if watch.pool else ""
    return f"{host}: {watch.metric}{unit} above {watch.above:g} for {watch.for_minutes:g} min{where}"


def _points(s: Series | None, now: float) -> list[tuple[float, float]]:
    if s is None:
        return []
    return [(float(t), float(v)) for t, v in zip(s.times, s.values, strict=False)
            if t <= now and math.isfinite(v)]


def _allowed_gap(points: Sequence[tuple[float, float]], max_gap: float) -> float:
    if len(points) < 2:
        return max_gap
    steps = sorted(b[0] - a[0] for a, b in pairwise(points))
    return max(max_gap, 2.5 * steps[len(steps) // 2])


def _hosts(watch: Watch, series: Sequence[Series], pools: Mapping[str, Sequence[str]]) -> list[str]:
    if watch.hosts:
        return list(dict.fromkeys(watch.hosts))
    if watch.pool:
        return list(dict.fromkeys(pools.get(watch.pool, [])))
    return sorted({s.host for s in series if s.metric == watch.metric})


def evaluate(watches: Sequence[Watch], series: Sequence[Series], pools: Mapping[str, Sequence[str]], *,
             now: float | None = None, max_gap_seconds: float = MAX_GAP_SECONDS) -> list[WatchResult]:
    """Firing and resolved results for each watch and host (pending and unjudged hosts are left out).

    ``now`` is Unix seconds; without it, the newest sample time in ``series`` stands for now."""
    if now is None:
        now = max((float(t) for s in series for t in s.times), default=0.0)
    by_key = {(s.host, s.metric): s for s in series}
    results: list[WatchResult] = []
    for watch in watches:
        for host in _hosts(watch, series, pools):
            points = _points(by_key.get((host, watch.metric)), now)
            if not points:
                continue
            gap = _allowed_gap(points, max_gap_seconds)
            if now - points[-1][0] > gap:
                continue  # nothing recent: not judged
            divisor = 1.0
            if watch.per_core:
                cores = [v for _t, v in _points(by_key.get((host, CPUS)), now) if v > 0]
                if not cores:
                    continue
                divisor = cores[-1]
            last_t, last_v = points[-1][0], points[-1][1] / divisor
            if not last_v > watch.above:
                results.append(WatchResult(watch.name, host, False, describe(watch, host), watch.severity, last_v))
                continue
            since = last_t
            for t, v in reversed(points[:-1]):
                if since - t > gap or not v / divisor > watch.above:
                    break
                since = t
            if last_t - since >= watch.for_minutes * 60 - 1e-6:
                results.append(WatchResult(watch.name, host, True, describe(watch, host), watch.severity, last_v,
                                           since))
    return results
