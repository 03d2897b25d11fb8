"""Host diagnosis: what the metrics say about each host and pool, in plain sentences.

Pure: no I/O and no clock reads (``now`` is passed in). The input is whatever a metrics source returned
(``Series`` of canonical metrics, NaN for gaps); the output is a ``ClusterSummary`` with one
``HostSummary`` per host, ``PoolSummary`` per pool, ``Finding`` objects and at most three ranked
"what stands out" sentences.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pagerbot.core import series as m
from pagerbot.core.findings import Finding, FindingKind
from pagerbot.core.series import Series

NAN = float("nan")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a number becomes a finding. Defaults suit ordinary Linux servers."""

    load_per_core: float = 1.5  # overloaded above this (1-minute load / cores)
    iowait_pct: float = 25.0  # I/O-bound above this
    disk_busy_pct: float = 85.0  # ... or when the busiest disk is busy more than this
    swap_used_bytes: float = 256 * 2**20  # swapping: this much swap in use ...
    swap_growth_bytes: float = 64 * 2**20  # ... or swap use grew this much within the window
    mem_low_pct: float = 5.0  # swap in use while available memory is below this is swapping too
    stale_seconds: float = 180.0  # last report older than this is stale
    recent_seconds: float = 300.0  # "now" values are the mean of the last 5 minutes of the window
    pool_busy_load_per_core: float = 0.5  # imbalance is only judged while the pool is this busy
    imbalance_low_ratio: float = 0.6  # a member below 0.6 x the mean of the others is under-used
    imbalance_high_ratio: float = 1.6  # ... above 1.6 x is over-used
    rise_factor: float = 2.0  # a pool's recent load this many times its earlier baseline stands out
    rise_min_load_per_core: float = 0.25  # ... when the recent load is at least this high
    group_at: int = 4  # this many hosts of one pool with the same finding are told as one sentence
    max_stands_out: int = 3


@dataclass(frozen=True, slots=True)
class HostSummary:
    host: str
    pools: tuple[str, ...]
    load1: float  # mean over the recent window; NaN when unknown
    load5: float
    cpus: float
    load_per_core: float
    cpu_busy: float  # percent
    iowait: float  # percent
    mem_available_pct: float
    mem_available_bytes: float
    mem_total_bytes: float
    swap_used_bytes: float
    disk_busy: float  # percent
    net_in: float  # bytes/s
    net_out: float  # bytes/s
    last_report_age: float | None  # seconds; None when the host sent nothing in the window
    load_baseline: float  # median 1-minute load in the earlier half of the window; NaN when unknown

    @property
    def has_data(self) -> bool:
        return self.last_report_age is not None


@dataclass(frozen=True, slots=True)
class PoolSummary:
    name: str
    hosts: tuple[str, ...]
    reporting: int  # members with any data
    load_mean: float  # mean recent 1-minute load of reporting members
    load_per_core: float  # summed load / summed cores (NaN when cores unknown)
    baseline_mean: float  # mean load of the members in the earlier half of the window
    rise: float  # load_mean / baseline_mean (NaN when no baseline)
    busy: bool


@dataclass(frozen=True, slots=True)
class ClusterSummary:
    now: datetime
    hosts: list[HostSummary]
    pools: list[PoolSummary]
    findings: list[Finding]  # ranked, highest score first
    stands_out: list[str] = field(default_factory=list)  # at most three plain sentences, ranked

    def host(self, name: str) -> HostSummary | None:
        for h in self.hosts:
            if h.host == name:
                return h
        return None

    def pool(self, name: str) -> PoolSummary | None:
        for p in self.pools:
            if p.name == name:
                return p
        return None


# ---------------------------------------------------------------------------------------------- numbers

def _finite(x: float) -> bool:
    return not math.isnan(x) and not math.isinf(x)


def _mean(values: Iterable[float]) -> float:
    total = 0.0
    n = 0
    for v in values:
        if _finite(v):
            total += v
            n += 1
    return total / n if n else NAN


def _window(s: Series, lo: float, hi: float) -> list[float]:
    return [v for t, v in zip(s.times, s.values, strict=False) if lo <= t <= hi and _finite(v)]


def _last_time(s: Series, hi: float) -> float | None:
    for t, v in zip(reversed(s.times), reversed(s.values), strict=False):
        if t <= hi and _finite(v):
            return float(t)
    return None


def _recent(s: Series | None, cut: float, hi: float) -> float:
    """Mean of the samples after ``cut``; the last finite sample when none is that recent."""
    if s is None:
        return NAN
    vals = _window(s, cut, hi)
    if vals:
        return sum(vals) / len(vals)
    for t, v in zip(reversed(s.times), reversed(s.values), strict=False):
        if t <= hi and _finite(v):
            return float(v)
    return NAN


def _median(values: Sequence[float]) -> float:
    vals = sorted(v for v in values if _finite(v))
    if not vals:
        return NAN
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2


def _baseline(s: Series, cut: float) -> float:
    """The load before things changed: the median of the earlier half of the window (before ``cut``)."""
    first = next((t for t, v in zip(s.times, s.values, strict=False) if _finite(v)), None)
    if first is None or first >= cut:
        return NAN
    return _median(_window(s, first, first + (cut - first) / 2))


def _fmt(x: float) -> str:
    """A load-like number: one decimal below 100."""
    if not _finite(x):
        return "?"
    return f"{x:.1f}" if abs(x) < 100 else f"{x:.0f}"


def _pct(x: float) -> str:
    return f"{x:.0f} %" if _finite(x) else "? %"


def _cores(x: float) -> str:
    if not _finite(x):
        return ""
    n = round(x)
    return f" on {n} core{'s' if n != 1 else ''}"


def _bytes(x: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(x) >= size:
            return f"{x / size:.1f} {unit}"
    return f"{x:.0f} B"


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} seconds"
    if seconds < 7200:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


_FOLD = {2: "twofold", 3: "threefold", 4: "fourfold", 5: "fivefold", 6: "sixfold", 7: "sevenfold",
         8: "eightfold", 9: "ninefold", 10: "tenfold"}


def _fold(ratio: float) -> str:
    n = round(ratio)
    if abs(ratio - n) > 0.25 or n < 2:
        return f"{ratio:.1f}-fold"
    return _FOLD.get(n, f"{n}-fold")


def _share(ratio: float) -> str:
    """How a member's load compares with the others': 'half', 'a third', 'twice'..."""
    words = ((0.1, "a tenth of"), (0.2, "a fifth of"), (0.25, "a quarter of"), (1 / 3, "a third of"),
             (0.5, "half"), (2 / 3, "two thirds of"), (2.0, "twice"), (3.0, "three times"),
             (4.0, "four times"))
    best = min(words, key=lambda w: abs(math.log(max(ratio, 1e-9) / w[0])))
    if abs(math.log(max(ratio, 1e-9) / best[0])) < 0.12:
        return best[1]
    return f"{ratio * 100:.0f} % of" if ratio < 1 else f"{ratio:.1f} times"


# ---------------------------------------------------------------------------------------------- summary

def summarize_hosts(
    series: Sequence[Series], *, now: datetime, pools: Mapping[str, Sequence[str]],
    thresholds: Thresholds = Thresholds(),
) -> ClusterSummary:
    """Summarize every host seen in ``series`` or named in ``pools`` as of ``now``."""
    th = thresholds
    hi = now.timestamp()
    cut = hi - th.recent_seconds
    by_host: dict[str, dict[str, Series]] = defaultdict(dict)
    for s in series:
        if s.metric in by_host[s.host]:  # two series for one host and metric: keep the longer
            if len(s.times) <= len(by_host[s.host][s.metric].times):
                continue
        by_host[s.host][s.metric] = s
    pool_of: dict[str, list[str]] = defaultdict(list)
    for pool, members in pools.items():
        for h in members:
            pool_of[h].append(pool)
    names = sorted(set(by_host) | set(pool_of))

    hosts: list[HostSummary] = []
    for name in names:
        ms = by_host.get(name, {})
        last: float | None = None
        for s in ms.values():
            t = _last_time(s, hi)
            if t is not None and (last is None or t > last):
                last = t
        load1 = _recent(ms.get(m.LOAD1), cut, hi)
        cpus = _recent(ms.get(m.CPUS), cut, hi)
        mem_av = _recent(ms.get(m.MEM_AVAILABLE), cut, hi)
        mem_tot = _recent(ms.get(m.MEM_TOTAL), cut, hi)
        baseline = _baseline(ms[m.LOAD1], cut) if m.LOAD1 in ms else NAN
        hosts.append(HostSummary(
            host=name, pools=tuple(pool_of.get(name, ())),
            load1=load1, load5=_recent(ms.get(m.LOAD5), cut, hi), cpus=cpus,
            load_per_core=load1 / cpus if _finite(load1) and _finite(cpus) and cpus > 0 else NAN,
            cpu_busy=_recent(ms.get(m.CPU_BUSY), cut, hi), iowait=_recent(ms.get(m.IOWAIT), cut, hi),
            mem_available_pct=100.0 * mem_av / mem_tot if _finite(mem_av) and _finite(mem_tot) and mem_tot > 0
            else NAN,
            mem_available_bytes=mem_av, mem_total_bytes=mem_tot,
            swap_used_bytes=_recent(ms.get(m.SWAP_USED), cut, hi),
            disk_busy=_recent(ms.get(m.DISK_BUSY), cut, hi),
            net_in=_recent(ms.get(m.NET_IN), cut, hi), net_out=_recent(ms.get(m.NET_OUT), cut, hi),
            last_report_age=max(0.0, hi - last) if last is not None else None,
            load_baseline=baseline,
        ))
    index = {h.host: h for h in hosts}

    findings: list[Finding] = []
    for hs in hosts:
        findings.extend(_host_findings(hs, ms=by_host.get(hs.host, {}), th=th, cut=cut, hi=hi))

    pool_summaries: list[PoolSummary] = []
    for pool, members in pools.items():
        mem = [index[h] for h in dict.fromkeys(members) if h in index]
        ps = _pool_summary(pool, mem, th)
        pool_summaries.append(ps)
        if ps.busy:
            findings.extend(_imbalance(pool, mem, th))

    findings.sort(key=lambda f: (-f.score, f.host, f.kind.value))
    stands = _stands_out(findings, pool_summaries, hosts, th)
    return ClusterSummary(now=now, hosts=hosts, pools=pool_summaries, findings=findings, stands_out=stands)


def _host_findings(h: HostSummary, *, ms: Mapping[str, Series], th: Thresholds, cut: float,
                   hi: float) -> list[Finding]:
    out: list[Finding] = []
    pool = h.pools[0] if h.pools else None
    if h.last_report_age is None:
        out.append(Finding(FindingKind.DOWN, h.host, f"{h.host} sent no metrics in the window", 2.5, pool))
        return out
    if h.last_report_age > th.stale_seconds:
        out.append(Finding(
            FindingKind.STALE, h.host, f"{h.host} last reported {_age(h.last_report_age)} ago",
            1.0 + min(h.last_report_age / th.stale_seconds, 10.0) * 0.1, pool,
            {"age_seconds": h.last_report_age},
        ))
    load_txt = f"load {_fmt(h.load1)}{_cores(h.cpus)}" if _finite(h.load1) else ""
    io_score = max(h.iowait / th.iowait_pct if _finite(h.iowait) else 0.0,
                   h.disk_busy / th.disk_busy_pct if _finite(h.disk_busy) else 0.0)
    if io_score > 1.0:
        parts = []
        if _finite(h.iowait) and h.iowait > th.iowait_pct:
            parts.append(f"iowait {_pct(h.iowait)}")
        if _finite(h.disk_busy) and h.disk_busy > th.disk_busy_pct:
            parts.append(f"disk busy {_pct(h.disk_busy)}")
        if load_txt:
            parts.append(load_txt)
        nums = {k: v for k, v in (("iowait", h.iowait), ("disk_busy", h.disk_busy), ("load1", h.load1),
                                  ("cpus", h.cpus)) if _finite(v)}
        # Disk-bound hosts usually also carry a high load: count both, so db1 outranks a busy web host.
        lpc = h.load_per_core / th.load_per_core if _finite(h.load_per_core) else 0.0
        out.append(Finding(FindingKind.IO_BOUND, h.host, f"{h.host} is disk-bound ({', '.join(parts)})",
                           io_score + 0.5 * max(lpc, 0.0) + 0.5, pool, nums))
    if _finite(h.load_per_core) and h.load_per_core > th.load_per_core:
        extra = f", CPU {_pct(h.cpu_busy)} busy" if _finite(h.cpu_busy) else ""
        out.append(Finding(
            FindingKind.OVERLOADED, h.host, f"{h.host} is overloaded ({load_txt}{extra})",
            h.load_per_core / th.load_per_core, pool,
            {k: v for k, v in (("load1", h.load1), ("cpus", h.cpus), ("load_per_core", h.load_per_core),
                               ("cpu_busy", h.cpu_busy)) if _finite(v)},
        ))
    swap = ms.get(m.SWAP_USED)
    if swap is not None and _finite(h.swap_used_bytes) and h.swap_used_bytes > 0:
        vals = _window(swap, -math.inf, hi)
        growth = (vals[-1] - min(vals)) if vals else 0.0
        low_mem = _finite(h.mem_available_pct) and h.mem_available_pct < th.mem_low_pct
        if h.swap_used_bytes > th.swap_used_bytes or growth > th.swap_growth_bytes or low_mem:
            mem = f", {_pct(h.mem_available_pct)} memory available" if _finite(h.mem_available_pct) else ""
            grew = f", up {_bytes(growth)} in the window" if growth > th.swap_growth_bytes else ""
            score = 1.0 + min(h.swap_used_bytes / th.swap_used_bytes, 5.0) * 0.1 + (0.5 if growth else 0.0)
            out.append(Finding(
                FindingKind.SWAPPING, h.host,
                f"{h.host} is swapping ({_bytes(h.swap_used_bytes)} swap used{grew}{mem})", score, pool,
                {k: v for k, v in (("swap_used", h.swap_used_bytes), ("swap_growth", growth),
                                   ("mem_available_pct", h.mem_available_pct)) if _finite(v)},
            ))
    return out


def _pool_summary(pool: str, members: Sequence[HostSummary], th: Thresholds) -> PoolSummary:
    rep = [h for h in members if _finite(h.load1)]
    load_mean = _mean(h.load1 for h in rep)
    with_cores = [h for h in rep if _finite(h.cpus) and h.cpus > 0]
    lpc = (sum(h.load1 for h in with_cores) / sum(h.cpus for h in with_cores)) if with_cores else NAN
    baseline = _mean(h.load_baseline for h in rep)
    rise = load_mean / baseline if _finite(baseline) and baseline > 0 and _finite(load_mean) else NAN
    # Without core counts, a pool is called busy when its members carry a load of 1 or more on average.
    busy = (lpc >= th.pool_busy_load_per_core) if _finite(lpc) else (_finite(load_mean) and load_mean >= 1.0)
    return PoolSummary(pool, tuple(h.host for h in members), len([h for h in members if h.has_data]),
                       load_mean, lpc, baseline, rise, bool(busy))


def _imbalance(pool: str, members: Sequence[HostSummary], th: Thresholds) -> list[Finding]:
    rep = [h for h in members if _finite(h.load1)]
    if len(rep) < 3:  # of two hosts (a primary and its replica), neither is the odd one out
        return []
    # Compare per core when every member knows its cores (mixed hardware behind one balancer).
    per_core = all(_finite(h.cpus) and h.cpus > 0 for h in rep)

    def load(h: HostSummary) -> float:
        return h.load1 / h.cpus if per_core else h.load1

    # Against the pool's median, so one hot member does not make all the others look idle.
    median = _median([load(h) for h in rep])
    if not median > 0:
        return []
    out: list[Finding] = []
    for h in rep:
        ratio = load(h) / median
        if not h.has_data or not _finite(ratio):
            continue
        # In the plain numbers, show loads (not per core) so people recognise them.
        pool_mean = _mean(x.load1 for x in rep if x is not h)
        nums = {"load1": h.load1, "pool_mean": pool_mean, "ratio": ratio}
        if ratio < th.imbalance_low_ratio:
            out.append(Finding(
                FindingKind.IMBALANCED_LOW, h.host,
                f"{h.host} carries {_share(ratio)} the load of the other {pool} hosts",
                1.0 + (th.imbalance_low_ratio - ratio), pool, nums))
        elif ratio > th.imbalance_high_ratio:
            out.append(Finding(
                FindingKind.IMBALANCED_HIGH, h.host,
                f"{h.host} carries {_share(ratio)} the load of the other {pool} hosts",
                1.0 + min(ratio - th.imbalance_high_ratio, 3.0) * 0.5, pool, nums))
    return out


_KIND_PLURAL = {
    FindingKind.OVERLOADED: "are overloaded",
    FindingKind.IO_BOUND: "are disk-bound",
    FindingKind.SWAPPING: "are swapping",
    FindingKind.STALE: "have stopped reporting",
    FindingKind.DOWN: "sent no metrics",
    FindingKind.IMBALANCED_LOW: "are under-used by the load balancer",
    FindingKind.IMBALANCED_HIGH: "get more than their share of the load",
}


def _stands_out(findings: Sequence[Finding], pools: Sequence[PoolSummary], hosts: Sequence[HostSummary],
                th: Thresholds) -> list[str]:
    pool_sizes = {p.name: len(p.hosts) for p in pools}
    candidates: list[tuple[float, str, str | None]] = []  # score, sentence, the host or pool it is about
    # Many hosts of one pool with the same finding: one sentence for all of them.
    grouped: dict[tuple[FindingKind, str | None], list[Finding]] = defaultdict(list)
    for f in findings:
        grouped[(f.kind, f.pool)].append(f)
    told: set[str] = set()
    for (kind, pool), fs in grouped.items():
        if len(fs) >= th.group_at:
            where = f"{pool} hosts" if pool else "hosts"
            total = pool_sizes.get(pool, len(hosts)) if pool else len(hosts)
            worst = fs[0]
            candidates.append((worst.score + 0.3, f"{len(fs)} of {total} {where} {_KIND_PLURAL[kind]} "
                                                  f"(worst: {worst.sentence})", pool))
            told.update(f"{f.host}:{f.kind.value}" for f in fs)
    seen_hosts: set[str] = set()
    for f in findings:  # already ranked
        if f"{f.host}:{f.kind.value}" in told or f.host in seen_hosts:
            continue
        seen_hosts.add(f.host)
        candidates.append((f.score, f.sentence, f.host))
    candidates.sort(key=lambda c: -c[0])
    top = candidates[: th.max_stands_out]
    # A pool whose load rose: "web load rose threefold in step with it", placed after the finding it
    # accompanies (the top finding about another pool's host), or on its own.
    rises = sorted((p for p in pools if _finite(p.rise) and p.rise >= th.rise_factor
                    and (not _finite(p.load_per_core) or p.load_per_core >= th.rise_min_load_per_core)),
                   key=lambda p: -p.rise)
    if top:  # the lead's own pool rising says nothing new ("db1 is disk-bound" already tells db rose)
        rises = [p for p in rises if top[0][2] not in p.hosts and top[0][2] != p.name]
    out = [c[1] for c in top]
    if rises:
        p = rises[0]  # one rise sentence is enough
        lead = next((c for c in top if c[2] is not None and c[2] not in p.hosts and c[2] != p.name), None)
        if lead is not None:
            out.insert(out.index(lead[1]) + 1, f"{p.name} load rose {_fold(p.rise)} in step with it")
        else:
            score = p.rise / th.rise_factor
            pos = next((i for i, c in enumerate(top) if c[0] < score), len(top))
            out.insert(pos, f"{p.name} load rose {_fold(p.rise)} "
                            f"({_fmt(p.baseline_mean)} to {_fmt(p.load_mean)} per host)")
    return out[: th.max_stands_out]


# ---------------------------------------------------------------------------------------------- stored form

def summary_json(summary: ClusterSummary) -> dict[str, Any]:
    """The one stored form of a summary (``graphs.summary``), read by the pinned header, the escalation
    email and the postmortem. Unknown numbers (NaN) become null.

    ``hosts`` entries carry ``host``, ``pool`` (the first pool), ``pools``, ``load`` (1-minute load),
    ``load5``, ``cpus``, ``load_per_core``, ``cpu_busy``, ``iowait``, ``mem_available_pct``,
    ``mem_available_bytes``, ``mem_total_bytes``, ``swap_used_bytes``, ``disk_busy``, ``net_in``,
    ``net_out``, ``last_report_age`` (seconds, null without data) and ``findings`` (the host's sentences).
    """
    sentences: dict[str, list[str]] = defaultdict(list)
    for f in summary.findings:
        sentences[f.host].append(f.sentence)
    return {
        "stands_out": list(summary.stands_out),
        "findings": [{"kind": f.kind.value, "host": f.host, "sentence": f.sentence, "score": _json_number(f.score),
                      "pool": f.pool, "numbers": {k: v for k, v in f.numbers.items() if _finite(v)}}
                     for f in summary.findings],
        "hosts": [_host_json(h, sentences.get(h.host, [])) for h in summary.hosts],
    }


def _json_number(x: float | None) -> float | None:
    return None if x is None or not _finite(x) else float(x)


def _host_json(h: HostSummary, findings: Sequence[str]) -> dict[str, Any]:
    return {
        "host": h.host, "pool": h.pools[0] if h.pools else None, "pools": list(h.pools),
        "load": _json_number(h.load1), "load5": _json_number(h.load5), "cpus": _json_number(h.cpus),
        "load_per_core": _json_number(h.load_per_core), "cpu_busy": _json_number(h.cpu_busy),
        "iowait": _json_number(h.iowait), "mem_available_pct": _json_number(h.mem_available_pct),
        "mem_available_bytes": _json_number(h.mem_available_bytes),
        "mem_total_bytes": _json_number(h.mem_total_bytes), "swap_used_bytes": _json_number(h.swap_used_bytes),
        "disk_busy": _json_number(h.disk_busy), "net_in": _json_number(h.net_in), "net_out": _json_number(h.net_out),
        "last_report_age": _json_number(h.last_report_age), "findings": list(findings),
    }
