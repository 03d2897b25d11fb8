"""The postmortem's "At the peak": the hosts as they were when the cluster carried the most load.

Asked of the metrics source for the incident's whole window when the postmortem is exported, and
summarised as the channel's host summary was (``diagnosis.summarize_hosts`` as of that moment), so the
figures agree with what the channel showed then. When the source cannot answer, the busiest of the host
summaries recorded with the graphs posted during the incident stands in.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pagerbot.core.diagnosis import summarize_hosts, summary_json
from pagerbot.core.findings import Finding, FindingKind
from pagerbot.core.onset import MIN_RISE, ONSET_METRIC, Onset, rising_since
from pagerbot.core.peak import busiest_summary, cluster_load_peak, summary_load
from pagerbot.core.series import ALL_METRICS
from pagerbot.services.context import Services
from pagerbot.services.ports import MetricsUnavailable

log = logging.getLogger("pagerbot.postmortem")

# Points per series fetched for the window: fine enough that a peak of a few minutes is not averaged away.
_POINTS = 720
# Fetched before the window too: the summary's baseline ("load rose 3-fold") needs the calm before.
_LEAD_IN = timedelta(hours=1)
# How far before the incident's start the metrics are searched for where a finding's trouble began.
_ONSET_LOOKBACK = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Peak:
    at: datetime
    cluster_load: float
    source: str  # "metrics": asked at export time; "recorded": the busiest summary recorded in the channel
    findings: Sequence[Finding] = ()
    stands_out: Sequence[str] = ()
    hosts: Sequence[Mapping[str, Any]] = field(default_factory=list)  # summary_json's host entries
    onsets: Sequence[Onset] = ()  # where the findings' trouble began in the metrics (only when asked of them)


def findings_of(summary: Mapping[str, Any]) -> list[Finding]:
    return [Finding(kind=FindingKind(f["kind"]), host=f["host"], sentence=f["sentence"], score=f["score"] or 0.0,
                    pool=f.get("pool")) for f in summary.get("findings", [])]


def _from_summary(at: datetime, summary: Mapping[str, Any], source: str) -> Peak:
    return Peak(at=at, cluster_load=summary_load(summary), source=source, findings=findings_of(summary),
                stands_out=list(summary.get("stands_out", [])), hosts=list(summary.get("hosts", [])))


async def _from_metrics(ctx: Services, start: datetime, end: datetime, incident_id: int) -> Peak | None:
    if ctx.metrics is None:
        return None
    step = max(60, int((end - start).total_seconds() // _POINTS // 60 * 60))
    try:
        series = await ctx.metrics.fetch(ALL_METRICS, start - _LEAD_IN, end, step)
    except MetricsUnavailable as exc:
        log.warning("postmortem of INC-%s: the peak from the recorded summaries (%s)", incident_id, exc,
                    extra={"incident_id": incident_id})
        return None
    found = cluster_load_peak(series, start, end, step)
    if found is None:
        return None
    at, _ = found
    pools = {name: list(members) for name, members in ctx.settings.config.metrics.pools.items() if members}
    summary = summary_json(summarize_hosts(series, now=at, pools=pools))
    peak = _from_summary(at, summary, "metrics")
    return replace(peak, onsets=await _onsets(ctx, peak.findings, start - _ONSET_LOOKBACK, at, incident_id))


async def _onsets(ctx: Services, findings: Sequence[Finding], since: datetime, peak: datetime,
                  incident_id: int) -> list[Onset]:
    """For each host finding at the peak, when its metric began the rise that was still going on at the peak
    (one fetch for all of them, a sample a minute)."""
    assert ctx.metrics is not None
    wanted = list(dict.fromkeys((f.host, ONSET_METRIC[f.kind]) for f in findings if f.kind in ONSET_METRIC))
    if not wanted:
        return []
    try:
        series = await ctx.metrics.fetch(sorted({m for _, m in wanted}), since, peak, 60,
                                         sorted({h for h, _ in wanted}))
    except MetricsUnavailable as exc:
        log.warning("postmortem of INC-%s: no onsets (%s)", incident_id, exc, extra={"incident_id": incident_id})
        return []
    by_key = {(s.host, s.metric): s for s in series}
    found = []
    for host, metric in wanted:
        s = by_key.get((host, metric))
        at = rising_since(s.times, s.values, min_rise=MIN_RISE[metric]) if s is not None else None
        if at is not None:
            found.append(Onset(host, metric, at))
    return sorted(found, key=lambda onset: onset.at)


async def find_peak(ctx: Services, incident_id: int, start: datetime, end: datetime,
                    recorded: Sequence[tuple[datetime, Mapping[str, Any]]]) -> Peak | None:
    """The peak within [start, end]: from the metrics source, else from ``recorded`` (when, summary) pairs."""
    peak = await _from_metrics(ctx, start, end, incident_id)
    if peak is not None:
        return peak
    busiest = busiest_summary(recorded, start, end)
    return _from_summary(busiest[0], busiest[1], "recorded") if busiest else None
