"""Metric watches: threshold rules evaluated on recent series (pure)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pagerbot.metrics.series import CPUS, Series


class Watch(Protocol):
    name: str
    metric: str
    above: float
    per_core: bool
    for_minutes: int
    pool: str | None
    hosts: list[str]
    severity: str


@dataclass(frozen=True, slots=True)
class WatchResult:
    watch: str
    host: str
    firing: bool
    text: str
    severity: str


def evaluate(watches: Sequence[Watch], series: Sequence[Series], pools: Mapping[str, Sequence[str]]
             ) -> list[WatchResult]:
    """A host fires when every sample of the last ``for_minutes`` is above the threshold; hosts with data
    that do not fire are reported resolved (the intake ignores resolves of alerts that never fired)."""
    by_key = {(s.host, s.metric): s for s in series}
    results: list[WatchResult] = []
    for watch in watches:
        hosts = list(watch.hosts) or (list(pools.get(watch.pool, [])) if watch.pool else
                                      sorted({s.host for s in series}))
        for host in hosts:
            samples = by_key.get((host, watch.metric))
            if samples is None or not samples.times:
                continue
            end = samples.times[-1]
            recent = [v for t, v in zip(samples.times, samples.values, strict=False)
                      if t > end - watch.for_minutes * 60 and math.isfinite(v)]
            if not recent:
                continue
            divisor = 1.0
            if watch.per_core:
                cores = by_key.get((host, CPUS))
                finite = [v for v in (cores.values if cores else []) if math.isfinite(v) and v > 0]
                if not finite:
                    continue
                divisor = finite[-1]
            values = [v / divisor for v in recent]
            firing = min(values) > watch.above
            unit = " per core" if watch.per_core else ""
            text = (f"{host}: {watch.metric}{unit} above {watch.above:g} for {watch.for_minutes} min "
                    f"(now {values[-1]:.2f})")
            results.append(WatchResult(watch.name, host, firing, text, watch.severity))
    return results
