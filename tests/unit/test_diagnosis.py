from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import pytest

from pagerbot.core.asks import suggest_asks
from pagerbot.core.diagnosis import ClusterSummary, Thresholds, summarize_hosts, summary_json
from pagerbot.core.findings import FindingKind
from pagerbot.metrics import series as m
from pagerbot.metrics.series import Series

NOW = datetime(2024, 3, 5, 9, 30, tzinfo=UTC)
T_END = NOW.timestamp()
STEP = 60.0
N = 60  # one hour at one-minute steps
TIMES = [T_END - (N - 1 - i) * STEP for i in range(N)]
NAN = float("nan")
GiB = float(2**30)


def flat(v: float) -> Callable[[int], float]:
    return lambda i: v


def step_up(before: float, after: float, at: int = N - 15) -> Callable[[int], float]:
    return lambda i: before if i < at else after


def host(name: str, **metrics: float | Callable[[int], float]) -> list[Series]:
    out = []
    for metric, v in metrics.items():
        fn = v if callable(v) else flat(v)
        out.append(Series(name, metric, TIMES, [fn(i) for i in range(N)]))
    return out


def healthy(name: str, load: float | Callable[[int], float] = 1.0, cpus: float = 4, **extra: float
            | Callable[[int], float]) -> list[Series]:
    base: dict[str, float | Callable[[int], float]] = {
        m.LOAD1: load, m.LOAD5: load, m.CPUS: cpus, m.CPU_BUSY: 30.0, m.IOWAIT: 2.0,
        m.MEM_AVAILABLE: 6 * GiB, m.MEM_TOTAL: 8 * GiB, m.SWAP_USED: 0.0, m.DISK_BUSY: 10.0,
        m.NET_IN: 1e6, m.NET_OUT: 2e6,
    }
    base.update(extra)
    return host(name, **base)


def kinds(summary: ClusterSummary, name: str) -> set[FindingKind]:
    return {f.kind for f in summary.findings if f.host == name}


POOLS: Mapping[str, list[str]] = {"web": ["web1", "web2", "web3", "web4"], "db": ["db1"]}


def incident_series() -> list[Series]:
    """The demo's morning: db1 disk-bound, web load up threefold, web4 left idle by the balancer."""
    out = healthy("db1", load=step_up(2.0, 14.1), cpus=8, iowait=step_up(3.0, 58.0), disk_busy=step_up(20, 97))
    for w in ("web1", "web2", "web3"):
        out += healthy(w, load=step_up(1.6, 4.8))
    out += healthy("web4", load=step_up(0.8, 2.4))
    return out


def test_incident_morning() -> None:
    s = summarize_hosts(incident_series(), now=NOW, pools=POOLS)
    db1 = s.host("db1")
    assert db1 is not None
    assert math.isclose(db1.load1, 14.1) and db1.cpus == 8 and math.isclose(db1.iowait, 58)
    assert math.isclose(db1.load_per_core, 14.1 / 8)
    assert db1.last_report_age == 0
    assert math.isclose(db1.mem_available_pct, 75.0)
    assert kinds(s, "db1") == {FindingKind.IO_BOUND, FindingKind.OVERLOADED}
    assert kinds(s, "web4") == {FindingKind.IMBALANCED_LOW}
    assert not kinds(s, "web1")
    assert s.findings[0].host == "db1" and s.findings[0].kind is FindingKind.IO_BOUND
    assert s.stands_out == [
        "db1 is disk-bound (iowait 58 %, disk busy 97 %, load 14.1 on 8 cores)",
        "web load rose threefold in step with it",
        "web4 carries half the load of the other web hosts",
    ]
    web = s.pool("web")
    assert web is not None and web.busy and web.reporting == 4
    assert math.isclose(web.rise, 3.0)
    assert suggest_asks(s.findings) == [
        "Please check the disks and storage behind db1: it is waiting on I/O.",
        "Please tell us whether anything changed recently on or in front of db1: it is overloaded.",
        "Please check the load balancer's weights and health checks: web4 is under-used compared with the rest "
        "of the web pool.",
    ]


def test_overloaded_only() -> None:
    s = summarize_hosts(healthy("app1", load=9.0, cpus=4, cpu_busy=97.0), now=NOW, pools={})
    assert kinds(s, "app1") == {FindingKind.OVERLOADED}
    assert s.stands_out == ["app1 is overloaded (load 9.0 on 4 cores, CPU 97 % busy)"]
    assert suggest_asks(s.findings) == [
        "Please tell us whether anything changed recently on or in front of app1: it is overloaded."]


def test_io_bound_by_disk_busy_alone() -> None:
    s = summarize_hosts(healthy("db2", disk_busy=99.0), now=NOW, pools={})
    assert kinds(s, "db2") == {FindingKind.IO_BOUND}
    assert s.findings[0].sentence == "db2 is disk-bound (disk busy 99 %, load 1.0 on 4 cores)"


def test_imbalance_high_and_only_while_busy() -> None:
    busy = healthy("web1", load=3.0) + healthy("web2", load=3.0) + healthy("web3", load=9.0)
    s = summarize_hosts(busy, now=NOW, pools={"web": ["web1", "web2", "web3"]})
    assert kinds(s, "web3") == {FindingKind.IMBALANCED_HIGH, FindingKind.OVERLOADED}
    assert any(f.sentence == "web3 carries three times the load of the other web hosts" for f in s.findings)
    assert suggest_asks(s.findings)[0] == (
        "Please check the load balancer's weights: web3 is taking far more than its share of the web pool.")
    quiet = healthy("web1", load=0.3) + healthy("web2", load=0.3) + healthy("web3", load=0.05)
    s = summarize_hosts(quiet, now=NOW, pools={"web": ["web1", "web2", "web3"]})
    pool = s.pool("web")
    assert pool is not None and not pool.busy
    assert s.findings == []


def test_imbalance_compares_per_core() -> None:
    # A big host carrying twice the load of a half-size one is balanced.
    series = healthy("web1", load=4.0, cpus=4) + healthy("web2", load=8.0, cpus=8)
    s = summarize_hosts(series, now=NOW, pools={"web": ["web1", "web2"]})
    assert s.findings == []


def test_swapping() -> None:
    grow = lambda i: 0.1 * GiB + i * 0.02 * GiB  # noqa: E731
    s = summarize_hosts(healthy("db3", swap_used=grow, mem_available=0.3 * GiB), now=NOW, pools={})
    assert kinds(s, "db3") == {FindingKind.SWAPPING}
    f = s.findings[0]
    assert f.sentence.startswith("db3 is swapping (1.2 GiB swap used, up 1.2 GiB in the window, 4 % memory")
    assert suggest_asks(s.findings) == ["Please check memory on db3: it is swapping."]
    # A little old swap on a host with plenty of memory is not swapping.
    s = summarize_hosts(healthy("db4", swap_used=20 * 2**20), now=NOW, pools={})
    assert s.findings == []


def test_stale_and_down() -> None:
    gap_end = lambda i: 1.0 if i < N - 10 else NAN  # noqa: E731
    series = healthy("web1") + host("web2", load1=gap_end, cpus=gap_end)
    s = summarize_hosts(series, now=NOW, pools={"web": ["web1", "web2", "web3"]})
    web2 = s.host("web2")
    assert web2 is not None and web2.last_report_age == 600
    assert math.isclose(web2.load1, 1.0)  # the last value known
    assert kinds(s, "web2") == {FindingKind.STALE}
    assert kinds(s, "web3") == {FindingKind.DOWN}
    web3 = s.host("web3")
    assert web3 is not None and not web3.has_data and math.isnan(web3.load1)
    assert s.stands_out[0] == "web3 sent no metrics in the window"
    assert "web2 last reported 10 minutes ago" in s.stands_out
    assert suggest_asks(s.findings) == [
        "Please check whether web3 is up and reachable: we get no data from it.",
        "Please check web2's network connectivity: its monitoring reports have stopped."]


def test_no_data() -> None:
    s = summarize_hosts([], now=NOW, pools={})
    assert s.hosts == [] and s.findings == [] and s.stands_out == [] and suggest_asks(s.findings) == []
    s = summarize_hosts([], now=NOW, pools={"db": ["db1"]})
    assert kinds(s, "db1") == {FindingKind.DOWN}
    pool = s.pool("db")
    assert pool is not None and pool.reporting == 0 and not pool.busy
    all_nan = [Series("db1", m.LOAD1, TIMES, [NAN] * N), Series("db1", m.CPUS, [], [])]
    s = summarize_hosts(all_nan, now=NOW, pools={})
    assert kinds(s, "db1") == {FindingKind.DOWN}


def test_gaps_are_skipped() -> None:
    holes = lambda i: NAN if i % 3 else 12.0  # noqa: E731
    s = summarize_hosts(healthy("db1", load=holes, cpus=4), now=NOW, pools={})
    db1 = s.host("db1")
    assert db1 is not None and db1.load1 == 12.0
    assert kinds(s, "db1") == {FindingKind.OVERLOADED}


def test_unknown_metrics_do_not_invent_findings() -> None:
    s = summarize_hosts(host("db1", load1=30.0), now=NOW, pools={"db": ["db1"]})  # no core count
    assert s.findings == []
    db1 = s.host("db1")
    assert db1 is not None and math.isnan(db1.load_per_core) and math.isnan(db1.iowait)


def test_single_host_pool_has_no_imbalance() -> None:
    s = summarize_hosts(healthy("web1", load=7.0), now=NOW, pools={"web": ["web1"]})
    assert kinds(s, "web1") == {FindingKind.OVERLOADED}


def test_rise_on_its_own() -> None:
    series = [x for w in ("web1", "web2") for x in healthy(w, load=step_up(0.5, 2.0))]
    s = summarize_hosts(series, now=NOW, pools={"web": ["web1", "web2"]})
    assert s.findings == []
    assert s.stands_out == ["web load rose fourfold (0.5 to 2.0 per host)"]


def test_two_hundred_hosts() -> None:
    series: list[Series] = []
    pools: dict[str, list[str]] = {"web": [], "db": []}
    for i in range(190):
        name = f"web{i:03d}"
        pools["web"].append(name)
        load = 9.0 if i < 12 else 0.5 if i == 100 else 3.0
        series += healthy(name, load=load, cpus=4)
    for i in range(10):
        name = f"db{i}"
        pools["db"].append(name)
        series += healthy(name, load=2.0, cpus=16, iowait=70.0 if i == 7 else 2.0)
    s = summarize_hosts(series, now=NOW, pools=pools)
    assert len(s.hosts) == 200
    overloaded = [f for f in s.findings if f.kind is FindingKind.OVERLOADED]
    assert len(overloaded) == 12
    assert kinds(s, "db7") == {FindingKind.IO_BOUND}
    assert FindingKind.IMBALANCED_LOW in kinds(s, "web100")
    assert len(s.stands_out) == 3
    assert any(x.startswith("12 of 190 web hosts are overloaded (worst: web") for x in s.stands_out)
    assert any(x.startswith("db7 is disk-bound (iowait 70 %") for x in s.stands_out)


def test_thresholds_are_configurable() -> None:
    series = healthy("app1", load=5.0, cpus=4)
    assert summarize_hosts(series, now=NOW, pools={}).findings == []
    s = summarize_hosts(series, now=NOW, pools={}, thresholds=Thresholds(load_per_core=1.0))
    assert kinds(s, "app1") == {FindingKind.OVERLOADED}


def test_samples_after_now_are_ignored() -> None:
    later = [Series("db1", m.LOAD1, [T_END + 60], [50.0]), Series("db1", m.CPUS, [T_END], [4.0])]
    s = summarize_hosts(later + host("db1", load1=1.0), now=NOW, pools={})
    db1 = s.host("db1")
    assert db1 is not None and db1.load1 == 1.0


def test_two_hosts_are_not_an_imbalance() -> None:
    """db1 (the primary, disk-bound) and db2 (its replica): which one is "off" cannot be told from two."""
    series = healthy("db1", load=14.0, cpus=8) + healthy("db2", load=2.0, cpus=8)
    s = summarize_hosts(series, now=NOW, pools={"db": ["db1", "db2"]})
    assert not {FindingKind.IMBALANCED_LOW, FindingKind.IMBALANCED_HIGH} & (kinds(s, "db1") | kinds(s, "db2"))


# --- every finding, alone, with gaps, and among 200 hosts ------------------------------------------------------

def holes(series: list[Series]) -> list[Series]:
    """Every third sample missing (NaN), the last one kept: a source that drops samples."""
    return [Series(s.host, s.metric, s.times, [NAN if i % 3 == 1 else v for i, v in enumerate(s.values)])
            for s in series]


def _peers(n: int, load: float, prefix: str = "peer") -> list[Series]:
    return [x for i in range(n) for x in healthy(f"{prefix}{i:03d}", load=load, cpus=4)]


# kind -> (the host's series, its pool's other members and their load, the sentence it must produce)
FINDINGS: dict[FindingKind, tuple[Callable[[], list[Series]], float | None, str]] = {
    FindingKind.OVERLOADED: (lambda: healthy("x", load=9.0, cpus=4, cpu_busy=97.0), None,
                             "x is overloaded (load 9.0 on 4 cores, CPU 97 % busy)"),
    FindingKind.IO_BOUND: (lambda: healthy("x", iowait=60.0), None,
                           "x is disk-bound (iowait 60 %, load 1.0 on 4 cores)"),
    FindingKind.SWAPPING: (lambda: healthy("x", swap_used=1.0 * GiB, mem_available=0.2 * GiB), None,
                           "x is swapping (1.0 GiB swap used, 2 % memory available)"),
    FindingKind.STALE: (lambda: host("x", load1=lambda i: 1.0 if i < N - 15 else NAN,
                                     cpus=lambda i: 4.0 if i < N - 15 else NAN), None,
                        "x last reported 15 minutes ago"),
    FindingKind.DOWN: (lambda: [], None, "x sent no metrics in the window"),
    FindingKind.IMBALANCED_LOW: (lambda: healthy("x", load=0.5, cpus=4), 3.0,
                                 "x carries 17 % of the load of the other pool hosts"),
    FindingKind.IMBALANCED_HIGH: (lambda: healthy("x", load=5.0, cpus=4), 2.0,
                                  "x carries 2.5 times the load of the other pool hosts"),
}


def _scenario(kind: FindingKind, peers: int) -> tuple[list[Series], dict[str, list[str]]]:
    make, peer_load, _ = FINDINGS[kind]
    series = make()
    others = _peers(peers, peer_load if peer_load is not None else 1.0)
    names = sorted({s.host for s in others})
    return series + others, {"pool": ["x", *names]}


@pytest.mark.parametrize("kind", list(FINDINGS))
def test_each_finding_alone(kind: FindingKind) -> None:
    """One host (with the fewest peers the finding needs: imbalance needs a pool)."""
    _, peer_load, sentence = FINDINGS[kind]
    peers = 3 if peer_load is not None else 0
    series, pools = _scenario(kind, peers)
    s = summarize_hosts(series, now=NOW, pools=pools)
    assert kind in kinds(s, "x")
    finding = next(f for f in s.findings if f.host == "x" and f.kind is kind)
    assert finding.sentence == sentence
    assert len(s.hosts) == 1 + peers
    assert s.stands_out[0].startswith("x ")
    assert suggest_asks(s.findings)  # every finding asks the vendor something
    assert all(not kinds(s, h.host) for h in s.hosts if h.host != "x")


@pytest.mark.parametrize("kind", list(FINDINGS))
def test_each_finding_with_gaps(kind: FindingKind) -> None:
    _, peer_load, _ = FINDINGS[kind]
    series, pools = _scenario(kind, 3 if peer_load is not None else 0)
    s = summarize_hosts(holes(series), now=NOW, pools=pools)
    assert kind in kinds(s, "x")
    assert all(not kinds(s, h.host) for h in s.hosts if h.host != "x")


@pytest.mark.parametrize("kind", list(FINDINGS))
def test_each_finding_among_two_hundred_hosts(kind: FindingKind) -> None:
    series, pools = _scenario(kind, 199)
    s = summarize_hosts(series, now=NOW, pools=pools)
    assert len(s.hosts) == 200
    assert kind in kinds(s, "x")
    assert [h.host for h in s.hosts if kinds(s, h.host)] == ["x"]  # nobody else
    assert s.stands_out[0].startswith("x ")
    pool = s.pool("pool")
    assert pool is not None and pool.reporting == (199 if kind is FindingKind.DOWN else 200)


def test_single_host_without_pools_has_every_number() -> None:
    s = summarize_hosts(healthy("solo", load=2.0, cpus=2), now=NOW, pools={})
    solo = s.host("solo")
    assert solo is not None and s.pools == [] and s.findings == [] and s.stands_out == []
    assert (solo.load1, solo.cpus, solo.load_per_core, solo.cpu_busy, solo.iowait) == (2.0, 2.0, 1.0, 30.0, 2.0)
    assert (solo.mem_available_pct, solo.swap_used_bytes, solo.disk_busy) == (75.0, 0.0, 10.0)
    assert (solo.net_in, solo.net_out, solo.last_report_age) == (1e6, 2e6, 0.0)


def test_summary_json_is_the_one_stored_shape() -> None:
    """What the graphs table keeps: valid JSON (no NaN), hosts with the numbers the escalation email and the
    header read, findings with their numbers."""
    series = incident_series() + host("web9", load1=NAN)  # web9: no data at all
    s = summarize_hosts(series, now=NOW, pools={**POOLS, "web": [*POOLS["web"], "web9"]})
    stored = json.loads(json.dumps(summary_json(s), allow_nan=False))
    assert stored["stands_out"] == s.stands_out
    db1 = next(h for h in stored["hosts"] if h["host"] == "db1")
    assert db1["pool"] == "db" and db1["pools"] == ["db"]
    assert db1["load"] == pytest.approx(14.1) and db1["cpus"] == 8 and db1["iowait"] == pytest.approx(58)
    assert db1["cpu_busy"] == 30 and db1["mem_available_pct"] == 75 and db1["last_report_age"] == 0
    assert db1["findings"] == [f.sentence for f in s.findings if f.host == "db1"]
    web9 = next(h for h in stored["hosts"] if h["host"] == "web9")
    assert web9["load"] is None and web9["cpus"] is None and web9["last_report_age"] is None
    io = next(f for f in stored["findings"] if f["kind"] == "io_bound")
    assert io["host"] == "db1" and io["pool"] == "db" and io["numbers"]["iowait"] == pytest.approx(58)
    assert set(db1) >= {"host", "pool", "load", "cpus", "iowait", "cpu_busy", "mem_available_pct", "findings"}
