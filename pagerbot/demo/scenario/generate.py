"""Generate the demo scenario's recorded metrics and Alertmanager notifications.

Run ``python -m pagerbot.demo.scenario.generate [--out DIR]`` (default: this package's directory).
The output is deterministic: the same code writes the same files, byte for byte (the gzip header
carries no name and no time). The files are committed; this script documents how they were made.

The story (all times UTC on 2026-03-10; the company is in America/Los_Angeles, PDT = UTC-7 since
DST began on 2026-03-08):

* web1-web4 (4 cores, 8 GiB) sit behind the vendor's load balancer; db1 (primary) and db2 (replica)
  have 8 cores and 32 GiB. Traffic follows the day in Los Angeles: busy evening, quiet night
  (trough about 04:00 local = 11:00 UTC), climbing through the day.
* 12:40 (05:40 local): in the vendor's maintenance window a failed disk of db1 was replaced and the
  RAID rebuild started at full speed. At night nobody notices.
* 13:50 (06:50 local): a newsletter goes out and traffic triples. The rebuild and the traffic
  saturate db1's disks: iowait ~55-60 %, disk busy ~95 %, load ~14 on 8 cores, memory available
  drops, a little swap. The web hosts pile up requests waiting for the database: load about 3x.
  The load balancer gives web4 half the weight of web1-web3 (weight 1 against 2), so web4 carries
  about half their load all day. db2, the replica, stays fine.
* 14:04 (07:04 local): the first notifications: DBHighIOWait (db1) and HostHighLoad (db1), then
  HTTPLatencyHigh (web1-web3) and HostHighLoad joined by web1-web3. Never web4, never db2.
* 15:57-16:15 (09:00 local): the first wave ebbs, alerts resolve. The rebuild is still running.
* 17:25 (10:25 local): the second wave (a partner's campaign) lasts into the afternoon; the same
  alerts fire again from 17:36 and are repeated unchanged at 20:36-20:46 (repeat_interval).
* 21:50 (14:50 local): the vendor throttles the rebuild to a tenth until the night; 22:00 (15:00
  local) it sets web4's weight to 2. Traffic stays high until about 22:00 and then calms down.
  The last alerts resolve 21:56-22:06.

Metrics: ``metrics.csv.gz``, columns ``time,host,metric,value``; ``time`` is Unix seconds (UTC) at
the start of each minute, one sample per minute per host and metric for 24 hours from
2026-03-10T00:00:00Z (1440 rows per host and metric); ``metric`` is a canonical name from
``pagerbot.metrics.series``. ``cpu_busy`` is user+system+other non-idle time *excluding* iowait, so
``cpu_busy + iowait <= 100``. Bytes are integers, loads have 2 decimals, percentages 1 decimal.
Rows are sorted by host, metric, time.

Notifications: ``notifications/NNN-HHMM-<kind>-<alertname>.json`` (HHMM: when sent, UTC; kind:
firing when the group is new or changed, repeat when re-sent unchanged, resolved when every alert
in it is resolved), the Alertmanager webhook
(version 4) bodies, as Alertmanager would have sent them with this routing::

    route:
      receiver: pagerbot
      group_by: [alertname, cluster]
      group_wait: 30s
      group_interval: 5m
      repeat_interval: 3h
    receivers:
      - name: pagerbot
        webhook_configs: [{url: http://pagerbot.prod.example/alerts/alertmanager, send_resolved: true}]

and these Prometheus rules (evaluation_interval 30s), evaluated here over the simulated metrics
(the p99 latency is simulated alongside, it is not in the CSV)::

    DBHighIOWait    avg by (cluster, instance, job) (rate(node_cpu_seconds_total{mode="iowait",
                    job="node", instance=~"db.*"}[5m])) * 100 > 40            for 5m, severity critical
    HostHighLoad    node_load5 / count by (cluster, instance, job)
                    (node_cpu_seconds_total{mode="idle"}) > 0.8               for 5m, severity warning
    HTTPLatencyHigh histogram_quantile(0.99, sum by (le, cluster, instance, job)
                    (rate(http_request_duration_seconds_bucket{job="web"}[5m]))) > 2
                                                                              for 5m, severity critical

Faithful details: alert ``fingerprint`` is Prometheus' label-set fingerprint (FNV-1a over the
sorted label names and values), ``startsAt`` is when the alert became pending (nanoseconds, as Go
prints them), firing alerts have ``endsAt`` ``0001-01-01T00:00:00Z``, a group is re-sent whole when
it changes (so already-notified alerts come again), unchanged groups are re-sent after
``repeat_interval``, resolved alerts are sent once and then dropped from the group, alerts in a
group are sorted by job then instance, and ``&``, ``<``, ``>`` in strings are escaped as Go's
encoder does (``\\u0026``). The files are indented for reading (Alertmanager sends them compact).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote_plus

import numpy as np

START = datetime(2026, 3, 10, tzinfo=UTC)
MINUTES = 24 * 60
SEED = 20260310
UTC_OFFSET_HOURS = -7  # America/Los_Angeles on 2026-03-10 (PDT)

GIB = 1024**3
MIB = 1024**2

WEB_HOSTS = ("web1", "web2", "web3", "web4")
DB_HOSTS = ("db1", "db2")
HOSTS = DB_HOSTS + WEB_HOSTS
CORES = {"db1": 8, "db2": 8, "web1": 4, "web2": 4, "web3": 4, "web4": 4}
MEM_TOTAL = {"db1": 32 * GIB, "db2": 32 * GIB, "web1": 8 * GIB, "web2": 8 * GIB, "web3": 8 * GIB,
             "web4": 8 * GIB}

METRICS = ("load1", "load5", "load15", "cpus", "cpu_busy", "iowait", "mem_available", "mem_total",
           "swap_used", "disk_busy", "net_in", "net_out")

# Story times, in hours UTC.
REBUILD_START = 12 + 40 / 60
REBUILD_THROTTLED = 21 + 50 / 60
LB_FIXED = 22.0

CLUSTER = "prod"
RECEIVER = "pagerbot"
EXTERNAL_URL = "http://alertmanager.prod.example:9093"
PROMETHEUS_URL = "http://prometheus.prod.example:9090"
ZERO_TIME = "0001-01-01T00:00:00Z"
GROUP_WAIT = timedelta(seconds=30)
GROUP_INTERVAL = timedelta(minutes=5)
REPEAT_INTERVAL = timedelta(hours=3)


# ---------------------------------------------------------------------------------------------
# Metrics


def _ramp(h: np.ndarray, a: float, b: float) -> np.ndarray:
    """0 before ``a``, 1 after ``b``, a cosine ramp between (hours)."""
    x = np.clip((h - a) / (b - a), 0.0, 1.0)
    return np.asarray(0.5 - 0.5 * np.cos(np.pi * x))


def _pulse(h: np.ndarray, up0: float, up1: float, down0: float, down1: float) -> np.ndarray:
    return _ramp(h, up0, up1) * (1.0 - _ramp(h, down0, down1))


def _ar1(rng: np.random.Generator, n: int, sigma: float, phi: float = 0.85) -> np.ndarray:
    """Autocorrelated noise with stationary standard deviation ``sigma``."""
    shocks = rng.standard_normal(n) * sigma * math.sqrt(1.0 - phi * phi)
    out = np.empty(n)
    acc = rng.standard_normal() * sigma
    for i in range(n):
        acc = phi * acc + shocks[i]
        out[i] = acc
    return out


def _ema(x: np.ndarray, tau_minutes: float) -> np.ndarray:
    """Linux-style load average over one-minute samples."""
    decay = math.exp(-1.0 / tau_minutes)
    out = np.empty_like(x)
    acc = float(x[0])
    for i, value in enumerate(x):
        acc = acc * decay + float(value) * (1.0 - decay)
        out[i] = acc
    return out


def _disk_busy(u: np.ndarray) -> np.ndarray:
    """Percent busy from I/O demand ``u`` (1.0 = what the disks can do): linear, saturating near 97 %."""
    k = 6.0
    u = np.maximum(u, 1e-6)
    return np.asarray(97.0 * (u**-k + 1.0) ** (-1.0 / k))


def _iowait(busy: np.ndarray) -> np.ndarray:
    """Percent of CPU time in iowait: negligible until the disks saturate, then steep."""
    x = np.clip((busy - 30.0) / 66.0, 0.0, None)
    return np.asarray(1.5 + 60.0 * x**3)


Metrics = dict[tuple[str, str], np.ndarray]


@dataclass(frozen=True)
class Model:
    """The simulated day: the recorded metrics, and what Prometheus saw but the CSV does not hold."""

    metrics: Metrics  # (host, metric) -> 1440 one-minute samples, rounded as written
    latency: dict[str, np.ndarray]  # web host -> p99 request latency, seconds (5-minute window)


def build_metrics() -> Metrics:
    """The 24 hours of one-minute samples, keyed by (host, metric), already rounded."""
    return simulate().metrics


def simulate() -> Model:
    """Run the story's model with the fixed seed."""
    rng = np.random.default_rng(SEED)
    minutes = np.arange(MINUTES, dtype=float)
    h = minutes / 60.0  # hours UTC
    local = (h + UTC_OFFSET_HOURS) % 24.0

    # Demand (1.0 = a normal busy afternoon): diurnal baseline plus the two waves.
    base = 0.25 + 0.55 * (1.0 - np.cos(2 * np.pi * (local - 4.0) / 24.0)) / 2.0
    wave1 = 0.78 * _pulse(h, 13 + 50 / 60, 14 + 2 / 60, 15.75, 16.25)
    wave2 = 0.62 * _pulse(h, 17 + 25 / 60, 17 + 37 / 60, 21.85, 22.35)
    demand = (base + wave1 + wave2) * (1.0 + _ar1(rng, MINUTES, 0.03, 0.9))

    # db1's RAID rebuild: full speed from the maintenance window until the vendor throttles it.
    rebuild = 0.6 * _ramp(h, REBUILD_START, REBUILD_START + 0.05) * (
        1.0 - 0.9 * _ramp(h, REBUILD_THROTTLED, REBUILD_THROTTLED + 0.1))
    db1_busy = np.clip(_disk_busy(rebuild + 0.6 * demand) + _ar1(rng, MINUTES, 1.2, 0.6), 0.5, 99.6)
    db1_iowait = np.clip(_iowait(db1_busy) * (1.0 + _ar1(rng, MINUTES, 0.05, 0.6)), 0.2, 66.0)
    stress = np.clip((db1_iowait - 12.0) / 45.0, 0.0, 1.0)  # how much requests pile up waiting

    # Load balancer: web4 has weight 1 against 2 for the others until the vendor's fix.
    fixed = _ramp(h, LB_FIXED, LB_FIXED + 0.05)
    web4_share = (1.0 / 7.0) * (1.0 - fixed) + 0.25 * fixed
    shares = {name: (1.0 - web4_share) / 3.0 for name in WEB_HOSTS[:3]}
    shares["web4"] = web4_share

    out: Metrics = {}
    latency: dict[str, np.ndarray] = {}

    def put(host: str, runnable: np.ndarray, cpu_busy: np.ndarray, iowait: np.ndarray,
            mem_available: np.ndarray, swap_used: np.ndarray, disk_busy: np.ndarray,
            net_in: np.ndarray, net_out: np.ndarray) -> None:
        runnable = np.maximum(runnable + _ar1(rng, MINUTES, 0.08 * float(np.mean(runnable)), 0.3), 0.0)
        out[host, "load1"] = np.round(_ema(runnable, 1.0), 2)
        out[host, "load5"] = np.round(_ema(runnable, 5.0), 2)
        out[host, "load15"] = np.round(_ema(runnable, 15.0), 2)
        out[host, "cpus"] = np.full(MINUTES, float(CORES[host]))
        iowait = np.clip(iowait, 0.0, 100.0)
        out[host, "cpu_busy"] = np.round(np.clip(cpu_busy, 0.5, 100.0 - iowait), 1)
        out[host, "iowait"] = np.round(iowait, 1)
        out[host, "mem_available"] = np.round(np.clip(mem_available, 0, MEM_TOTAL[host]) / MIB) * MIB
        out[host, "mem_total"] = np.full(MINUTES, float(MEM_TOTAL[host]))
        out[host, "swap_used"] = np.round(np.maximum(swap_used, 0.0) / MIB) * MIB
        out[host, "disk_busy"] = np.round(np.clip(disk_busy, 0.0, 100.0), 1)
        out[host, "net_in"] = np.round(np.maximum(net_in, 0.0))
        out[host, "net_out"] = np.round(np.maximum(net_out, 0.0))

    # db1: the primary.
    db1_cpu = 6.0 + 26.0 * demand + _ar1(rng, MINUTES, 1.5, 0.5)
    db1_mem = (7.6 * GIB - 2.3 * GIB * stress * np.minimum(demand, 1.3)
               + _ar1(rng, MINUTES, 0.12 * GIB, 0.95))
    pressure = np.maximum(5.6 * GIB - db1_mem, 0.0)
    swap = np.empty(MINUTES)
    acc = 21.0 * MIB
    for i in range(MINUTES):
        acc = acc * 0.9995 + 0.0012 * float(pressure[i])
        swap[i] = max(acc, 21.0 * MIB)
    put("db1",
        runnable=0.3 + 8.0 * db1_cpu / 100.0 + 0.003 * db1_iowait**2,  # D-state queries pile up
        cpu_busy=db1_cpu, iowait=db1_iowait, mem_available=db1_mem, swap_used=swap,
        disk_busy=db1_busy,
        net_in=(0.3 + 1.8 * demand) * MIB * (1.0 + _ar1(rng, MINUTES, 0.05, 0.5)),
        net_out=(0.5 + 8.5 * demand) * MIB * (1.0 + _ar1(rng, MINUTES, 0.05, 0.5)))

    # db2: the replica, replaying db1's writes and serving some reads; it stays fine.
    db2_busy = 9.0 + 22.0 * demand + _ar1(rng, MINUTES, 1.5, 0.6)
    db2_iowait = 0.4 + 0.08 * np.maximum(db2_busy - 10.0, 0.0) + _ar1(rng, MINUTES, 0.2, 0.5)
    db2_cpu = 4.0 + 13.0 * demand + _ar1(rng, MINUTES, 1.0, 0.5)
    put("db2",
        runnable=0.2 + 8.0 * db2_cpu / 100.0 + 0.1 * db2_iowait,
        cpu_busy=db2_cpu, iowait=np.maximum(db2_iowait, 0.1),
        mem_available=11.2 * GIB - 0.4 * GIB * demand + _ar1(rng, MINUTES, 0.08 * GIB, 0.95),
        swap_used=np.full(MINUTES, 0.0), disk_busy=db2_busy,
        net_in=(0.2 + 1.0 * demand) * MIB * (1.0 + _ar1(rng, MINUTES, 0.05, 0.5)),
        net_out=(0.1 + 1.6 * demand) * MIB * (1.0 + _ar1(rng, MINUTES, 0.05, 0.5)))

    # The web tier: load follows each host's share of the traffic, amplified while db1 stalls;
    # requests queue behind db1's disks, the more so the busier the host.
    db1_iowait_5m = _mean5(out["db1", "iowait"])
    for name in WEB_HOSTS:
        traffic = demand * shares[name] * 4.0  # 1.0 = an even share of a normal busy afternoon
        pile_up = 1.0 + 0.35 * stress
        utilisation = np.minimum(_mean5(traffic) / 1.5, 0.9)  # of the host's request workers
        latency[name] = 0.25 + 0.25 * (db1_iowait_5m / 40.0) ** 2 / (1.0 - utilisation)
        cpu = 4.0 + 19.0 * traffic * pile_up + _ar1(rng, MINUTES, 1.0, 0.5)
        put(name,
            runnable=0.25 + 1.9 * traffic * pile_up,
            cpu_busy=cpu, iowait=0.3 + 0.4 * traffic + _ar1(rng, MINUTES, 0.1, 0.5),
            mem_available=5.3 * GIB - 0.8 * GIB * traffic * pile_up + _ar1(rng, MINUTES, 0.05 * GIB, 0.95),
            swap_used=np.full(MINUTES, 0.0),
            disk_busy=3.0 + 4.0 * traffic + _ar1(rng, MINUTES, 0.6, 0.5),
            net_in=(0.25 + 1.2 * traffic) * MIB * (1.0 + _ar1(rng, MINUTES, 0.05, 0.5)),
            net_out=(0.4 + 5.5 * traffic) * MIB * (1.0 + _ar1(rng, MINUTES, 0.05, 0.5)))
    return Model(out, latency)


def _mean5(x: np.ndarray) -> np.ndarray:
    """Mean over the last five samples (the first ones over what there is), like a 5m rate."""
    sums = np.cumsum(np.concatenate(([0.0], x)))
    idx = np.arange(1, len(x) + 1)
    lo = np.maximum(idx - 5, 0)
    return np.asarray((sums[idx] - sums[lo]) / (idx - lo))


_DECIMALS = {"load1": 2, "load5": 2, "load15": 2, "cpu_busy": 1, "iowait": 1, "disk_busy": 1}


def _fmt(metric: str, value: float) -> str:
    decimals = _DECIMALS.get(metric)
    if decimals is None:
        return str(round(value))
    return f"{value:.{decimals}f}"


def metrics_csv(data: Metrics) -> str:
    """The CSV text: header, then rows sorted by host, metric, time."""
    t0 = int(START.timestamp())
    lines = ["time,host,metric,value"]
    for host in sorted(HOSTS):
        for metric in sorted(METRICS):
            values = data[host, metric]
            lines.extend(f"{t0 + 60 * i},{host},{metric},{_fmt(metric, float(v))}"
                         for i, v in enumerate(values))
    return "\n".join(lines) + "\n"


def write_gzip(path: Path, text: str) -> None:
    """Gzip without a file name or time in the header, so the bytes only depend on ``text``."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buffer, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    path.write_bytes(buffer.getvalue())


# ---------------------------------------------------------------------------------------------
# Notifications


def fingerprint(labels: dict[str, str]) -> str:
    """Prometheus' ``model.LabelSet.Fingerprint``: FNV-1a 64 over sorted names and values, 0xff separated."""
    h = 14695981039346656037
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode("utf-8"):
                h ^= byte
                h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
            h ^= 0xFF
            h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def go_time(t: datetime, nanos: int = 0) -> str:
    """Go's ``time.Time`` in JSON (RFC 3339, nanoseconds, trailing zeros trimmed), in UTC.

    ``nanos`` (0-999) are the nanoseconds below ``t``'s microseconds, which datetime cannot hold.
    """
    t = t.astimezone(UTC)
    fraction = f"{t.microsecond:06d}{nanos:03d}".rstrip("0")
    return f"{t:%Y-%m-%dT%H:%M:%S}" + (f".{fraction}" if fraction else "") + "Z"


@dataclass(frozen=True)
class Rule:
    name: str
    severity: str
    job: str
    port: int
    hosts: tuple[str, ...]
    threshold: float
    expr: str
    summary: str  # may contain {host}, {instance}
    description: str  # {host}, {instance}, {value}
    offset: float  # seconds past each minute at which the rule group is evaluated (also +30 s)
    nanos: int  # the nanoseconds of those evaluation times, for realism


RULES = {
    "DBHighIOWait": Rule(
        "DBHighIOWait", "critical", "node", 9100, DB_HOSTS, 40.0,
        'avg by (cluster, instance, job) (rate(node_cpu_seconds_total{mode="iowait",job="node",'
        'instance=~"db.*"}[5m])) * 100 > 40',
        "Database host {host} is waiting on disk I/O",
        "{instance} spent {value:.1f}% of CPU time in iowait over the last 5 minutes (threshold 40%).",
        13.512889, 934),
    "HostHighLoad": Rule(
        "HostHighLoad", "warning", "node", 9100, HOSTS, 0.8,
        'node_load5 / count by (cluster, instance, job) (node_cpu_seconds_total{mode="idle"}) > 0.8',
        "High load on {host}",
        "The 5-minute load average of {instance} is {value:.2f} per core (threshold 0.8).",
        13.512889, 934),
    "HTTPLatencyHigh": Rule(
        "HTTPLatencyHigh", "critical", "web", 8080, WEB_HOSTS, 2.0,
        'histogram_quantile(0.99, sum by (le, cluster, instance, job) '
        '(rate(http_request_duration_seconds_bucket{job="web"}[5m]))) > 2',
        "Web requests are slow",
        "99th percentile request latency on {instance} is {value:.1f}s over the last 5 minutes "
        "(threshold 2s).",
        5.330561, 217),
}
FOR = timedelta(minutes=5)  # every rule's ``for``


def rule_value(model: Model, rule: Rule, host: str) -> np.ndarray:
    """What the rule's expression gives for ``host`` at each minute (the alert fires above threshold)."""
    m = model.metrics
    if rule.name == "DBHighIOWait":
        return _mean5(m[host, "iowait"])
    if rule.name == "HostHighLoad":
        return m[host, "load5"] / m[host, "cpus"]
    return model.latency[host]


@dataclass(frozen=True)
class Alert:
    """One alert occurrence: pending from ``starts_at``, firing ``FOR`` later, resolved at ``ends_at``."""

    rule: Rule
    host: str
    starts_at: datetime
    ends_at: datetime

    @property
    def labels(self) -> dict[str, str]:
        return {"alertname": self.rule.name, "cluster": CLUSTER, "instance": f"{self.host}:{self.rule.port}",
                "job": self.rule.job, "severity": self.rule.severity}

    @property
    def fires_at(self) -> datetime:
        return self.starts_at + FOR


def find_alerts(model: Model) -> list[Alert]:
    """Evaluate the rules over the day: every run above threshold that outlasted ``for``.

    A minute's sample is seen by the first evaluation after it (``offset`` seconds later); the alert is
    pending from the first evaluation above threshold and resolved at the first one below.
    """
    alerts = []
    for rule in RULES.values():
        for host in rule.hosts:
            above = rule_value(model, rule, host) > rule.threshold
            minute = 0
            while minute < MINUTES:
                if not above[minute]:
                    minute += 1
                    continue
                first = minute
                while minute < MINUTES and above[minute]:
                    minute += 1
                if timedelta(minutes=minute - first) > FOR:
                    starts = START + timedelta(minutes=first, seconds=rule.offset)
                    ends = START + timedelta(minutes=minute, seconds=rule.offset)
                    alerts.append(Alert(rule, host, starts, ends))
    return alerts


@dataclass
class Notification:
    at: datetime
    rule: Rule
    alerts: list[tuple[Alert, bool]]  # (alert, resolved?) sorted as Alertmanager sorts them
    kind: str  # firing (new or changed), repeat (unchanged, after repeat_interval), resolved (all)


def simulate_alertmanager(alerts: Sequence[Alert]) -> list[Notification]:
    """Replay Alertmanager's dispatcher over ``alerts``: what it would have sent, in order.

    Prometheus sends an alert when it fires and again when it resolves; one aggregation group per
    rule (group_by alertname, cluster) flushes ``group_wait`` after its first alert and every
    ``group_interval`` after that, sending when its set of firing or resolved alerts changed or
    ``repeat_interval`` passed; notified resolved alerts leave the group, and an empty group is
    deleted (the next alert starts a new one, with ``group_wait`` again).
    """
    sent: list[Notification] = []
    for rule in RULES.values():
        waiting = sorted((a for a in alerts if a.rule is rule), key=lambda a: a.fires_at)
        while waiting:
            flush = waiting[0].fires_at + GROUP_WAIT  # a new group
            notified: dict[Alert, bool] = {}  # alert -> resolved, as last sent
            last_sent: datetime | None = None
            while True:
                group = [a for a in waiting if a.fires_at <= flush]
                state = {a: a.ends_at <= flush for a in group}
                changed = state != notified
                due = last_sent is not None and flush - last_sent >= REPEAT_INTERVAL
                if changed or due:
                    members = sorted(group, key=lambda a: (a.labels["job"], a.labels["instance"]))
                    kind = ("resolved" if all(state.values()) else "firing") if changed else "repeat"
                    sent.append(Notification(flush, rule, [(a, state[a]) for a in members], kind))
                    last_sent = flush
                    waiting = [a for a in waiting if not state.get(a, False)]
                    notified = {a: resolved for a, resolved in state.items() if not resolved}
                if not notified and not any(a.fires_at <= flush for a in waiting):
                    break  # the group is empty: Alertmanager deletes it
                flush += GROUP_INTERVAL
    sent.sort(key=lambda n: n.at)
    return sent


def _go_json(obj: object) -> str:
    """JSON as Go's encoder escapes it (``&``, ``<``, ``>`` as \\u00XX), indented for reading."""
    text = json.dumps(obj, indent=2, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e") + "\n"


def _alert_body(alert: Alert, resolved: bool, at: datetime, model: Model) -> dict[str, object]:
    rule = alert.rule
    labels = alert.labels
    # Annotations are templated at the last evaluation while firing.
    last = min(at, alert.ends_at - timedelta(minutes=1)) if resolved else at
    minute = min(int((last - START).total_seconds() // 60), MINUTES - 1)
    value = float(rule_value(model, rule, alert.host)[minute])
    instance = labels["instance"]
    annotations = {
        "description": rule.description.format(instance=instance, host=alert.host, value=value),
        "summary": rule.summary.format(instance=instance, host=alert.host),
    }
    return {
        "status": "resolved" if resolved else "firing",
        "labels": dict(sorted(labels.items())),
        "annotations": annotations,
        "startsAt": go_time(alert.starts_at, rule.nanos),
        "endsAt": go_time(alert.ends_at, rule.nanos) if resolved else ZERO_TIME,
        "generatorURL": f"{PROMETHEUS_URL}/graph?g0.expr={quote_plus(rule.expr)}&g0.tab=1",
        "fingerprint": fingerprint(labels),
    }


def _common(dicts: Sequence[dict[str, str]]) -> dict[str, str]:
    first = dicts[0]
    return {k: v for k, v in sorted(first.items()) if all(d.get(k) == v for d in dicts[1:])}


def notification_body(n: Notification, model: Model) -> dict[str, object]:
    """The webhook body, its fields in the order of Alertmanager's Go structs."""
    alerts = [_alert_body(a, resolved, n.at, model) for a, resolved in n.alerts]
    group_labels = {"alertname": n.rule.name, "cluster": CLUSTER}
    annotations = [
        {"description": str(a["annotations"]["description"]),  # type: ignore[index]
         "summary": str(a["annotations"]["summary"])}  # type: ignore[index]
        for a in alerts
    ]
    return {
        "receiver": RECEIVER,
        "status": "firing" if any(not resolved for _a, resolved in n.alerts) else "resolved",
        "alerts": alerts,
        "groupLabels": group_labels,
        "commonLabels": _common([a.labels for a, _r in n.alerts]),
        "commonAnnotations": _common(annotations),
        "externalURL": EXTERNAL_URL,
        "version": "4",
        "groupKey": "{}:{" + ", ".join(f'{k}="{v}"' for k, v in sorted(group_labels.items())) + "}",
        "truncatedAlerts": 0,
    }


def notification_files(model: Model) -> list[tuple[str, datetime, str]]:
    """(file name, time Alertmanager sent it, JSON text), in sending order."""
    out = []
    for number, n in enumerate(simulate_alertmanager(find_alerts(model)), start=1):
        name = f"{number:03d}-{n.at:%H%M}-{n.kind}-{n.rule.name}.json"
        out.append((name, n.at, _go_json(notification_body(n, model))))
    return out


# ---------------------------------------------------------------------------------------------


def generate(out: Path) -> list[Path]:
    """Write ``metrics.csv.gz`` and ``notifications/*.json`` under ``out``; return the paths written."""
    model = simulate()
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "metrics.csv.gz"]
    write_gzip(written[0], metrics_csv(model.metrics))
    notes = out / "notifications"
    notes.mkdir(exist_ok=True)
    for old in sorted(notes.glob("*.json")):
        old.unlink()
    for name, _sent_at, text in notification_files(model):
        path = notes / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pagerbot.demo.scenario.generate",
                                     description="Write the demo scenario's metrics and notifications.")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="directory to write into (default: the scenario package)")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
