"""The incident's peak: the moment the cluster carried the most load (pure).

The postmortem's "At the peak" shows the hosts as they were at that moment. Found either in the metrics
(fetched for the incident's whole window when the postmortem is exported) or, when the source cannot be
asked, among the host summaries recorded while the incident ran (each graph posted in the channel kept one).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pagerbot.core.series import LOAD1, Series


def cluster_load_peak(series: Sequence[Series], start: datetime, end: datetime,
                      step_seconds: int) -> tuple[datetime, float] | None:
    """When, within [start, end], the hosts' 1-minute loads summed highest, and that sum. Samples are put
    in ``step_seconds`` buckets so hosts reporting a few seconds apart add up; None without load data."""
    lo, hi = start.timestamp(), end.timestamp()
    step = max(step_seconds, 1)
    totals: dict[int, float] = defaultdict(float)
    for s in series:
        if s.metric != LOAD1:
            continue
        seen: set[int] = set()
        for t, v in zip(s.times, s.values, strict=False):
            bucket = int(t // step)
            if lo <= t <= hi and not math.isnan(v) and bucket not in seen:
                seen.add(bucket)  # one sample per host and bucket
                totals[bucket] += v
    if not totals:
        return None
    bucket, total = max(totals.items(), key=lambda item: (item[1], -item[0]))  # the first of equal peaks
    at = min(max(bucket * step, lo), hi)
    return datetime.fromtimestamp(at, UTC), total


def summary_load(summary: Mapping[str, Any]) -> float:
    """The cluster load a recorded host summary (``diagnosis.summary_json``) showed: its hosts' loads summed."""
    return float(sum(h["load"] for h in summary.get("hosts", []) if isinstance(h.get("load"), int | float)))


def busiest_summary(recorded: Sequence[tuple[datetime, Mapping[str, Any]]], start: datetime,
                    end: datetime) -> tuple[datetime, Mapping[str, Any]] | None:
    """Among (when, summary) pairs recorded within [start, end], the one with the highest cluster load. Only
    summaries of the widest scope count: a pool's or one host's graph summed fewer hosts than the cluster's."""
    inside = [(at, s) for at, s in recorded if start <= at <= end and s.get("hosts")]
    if not inside:
        return None
    widest = max(len(s["hosts"]) for _, s in inside)
    candidates = [(at, s) for at, s in inside if len(s["hosts"]) == widest]
    return max(candidates, key=lambda pair: summary_load(pair[1]))
