"""Real Prometheus with a real node_exporter: history written as OpenMetrics and loaded with promtool,
plus a live scrape; summaries and graphs must come from that data."""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pagerbot.core.asks import suggest_asks
from pagerbot.core.diagnosis import summarize_hosts
from pagerbot.core.findings import FindingKind
from pagerbot.graphs.render import Marker, stacked_load
from pagerbot.graphs.worker import GraphRenderer
from pagerbot.metrics import series as m
from pagerbot.metrics.prometheus import PrometheusSource
from pagerbot.metrics.series import MetricsUnavailable
from tests.peers.ports import free_port
from tests.peers.prometheus import OpenMetrics, Prometheus, start_node_exporter, start_prometheus

pytestmark = pytest.mark.peers

GiB = float(2**30)
POOLS = {"web": ["web1", "web2", "web3", "web4"], "db": ["db1"]}
STEP = 60
HISTORY_MINUTES = 90
INCIDENT_MINUTES = 30  # the incident started this long before the end of the history


def _write_host(om: OpenMetrics, host: str, cpus: int, t: float, minute: int, *, load: float, idle: float,
                iowait: float, disk: float, counters: dict[str, float]) -> None:
    inst = {"instance": host}
    om.add("node_load1", "gauge", inst, t, load)
    om.add("node_load5", "gauge", inst, t, load * 0.9)
    om.add("node_load15", "gauge", inst, t, load * 0.7)
    om.add("node_memory_MemTotal_bytes", "gauge", inst, t, 16 * GiB)
    om.add("node_memory_MemAvailable_bytes", "gauge", inst, t, 8 * GiB)
    om.add("node_memory_SwapTotal_bytes", "gauge", inst, t, 4 * GiB)
    om.add("node_memory_SwapFree_bytes", "gauge", inst, t, 4 * GiB)
    # Counters grow by rate x step each minute.
    for cpu in range(cpus):
        for mode, frac in (("idle", idle), ("iowait", iowait), ("user", 1 - idle - iowait)):
            key = f"{host}/{cpu}/{mode}"
            counters[key] = counters.get(key, 1000.0) + frac * STEP
            om.add("node_cpu_seconds_total", "counter", {**inst, "cpu": str(cpu), "mode": mode}, t, counters[key])
    for name, rate, device in (("node_disk_io_time_seconds_total", disk, "sda"),
                               ("node_network_receive_bytes_total", 2.5e6, "eth0"),
                               ("node_network_transmit_bytes_total", 4e6, "eth0"),
                               ("node_network_receive_bytes_total", 9e9, "lo")):
        key = f"{host}/{name}/{device}"
        counters[key] = counters.get(key, 0.0) + rate * STEP
        om.add(name, "counter", {**inst, "device": device}, t, counters[key])


def incident_history(end: float) -> str:
    """db1 goes disk-bound; web load triples; web4 gets half the load of its peers."""
    om = OpenMetrics()
    counters: dict[str, float] = {}
    start = end - HISTORY_MINUTES * 60
    for minute in range(HISTORY_MINUTES + 1):
        t = start + minute * STEP
        hot = minute >= HISTORY_MINUTES - INCIDENT_MINUTES
        _write_host(om, "db1", 8, t, minute, load=14.1 if hot else 2.0, idle=0.12 if hot else 0.8,
                    iowait=0.58 if hot else 0.03, disk=0.97 if hot else 0.2, counters=counters)
        for w in ("web1", "web2", "web3", "web4"):
            base = 0.8 if w == "web4" else 1.6
            _write_host(om, w, 4, t, minute, load=base * (3 if hot else 1), idle=0.3 if hot else 0.7,
                        iowait=0.02, disk=0.1, counters=counters)
    return om.text()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prometheus, float]]:
    tmp = Path(tmp_path_factory.mktemp("prometheus"))
    end = math.floor(time.time() / 60) * 60 - 60
    with start_node_exporter(tmp) as exporter, start_prometheus(
        tmp, history=incident_history(end), targets=[(exporter.address, "live1:9100")],
        wait_for=['node_load1{instance="live1:9100"}', 'node_load1{instance="db1"}'],
    ) as prom:
        yield prom, end


async def test_history_summary_and_graph(prometheus: tuple[Prometheus, float]) -> None:
    prom, end = prometheus
    src = PrometheusSource(prom.url)
    now = datetime.fromtimestamp(end + 30, UTC)
    start = now - timedelta(minutes=HISTORY_MINUTES - 5)
    series = await src.fetch(list(m.ALL_METRICS), start, now, STEP, hosts=["db1", "web1", "web2", "web3", "web4"])
    await src.close()
    got = {(s.host, s.metric) for s in series}
    assert got == {(h, x) for h in ("db1", "web1", "web2", "web3", "web4") for x in m.ALL_METRICS}
    summary = summarize_hosts(series, now=now, pools=POOLS)
    db1 = summary.host("db1")
    assert db1 is not None
    assert db1.cpus == 8 and db1.load1 == pytest.approx(14.1)
    assert db1.iowait == pytest.approx(58, abs=1)
    assert db1.cpu_busy == pytest.approx(88, abs=1)
    assert db1.disk_busy == pytest.approx(97, abs=1)
    assert db1.mem_available_pct == pytest.approx(50) and db1.swap_used_bytes == 0
    assert db1.net_in == pytest.approx(2.5e6, rel=0.01)  # lo is left out
    assert db1.last_report_age is not None and db1.last_report_age <= 120
    kinds = {(f.host, f.kind) for f in summary.findings}
    assert ("db1", FindingKind.IO_BOUND) in kinds and ("db1", FindingKind.OVERLOADED) in kinds
    assert ("web4", FindingKind.IMBALANCED_LOW) in kinds
    assert summary.stands_out == [
        "db1 is disk-bound (iowait 58 %, disk busy 97 %, load 14.1 on 8 cores)",
        "web load rose threefold in step with it",
        "web4 carries half the load of the other web hosts",
    ]
    asks = suggest_asks(summary.findings)
    assert asks[0] == "Please check the disks and storage behind db1: it is waiting on I/O."
    assert ("Please check the load balancer's weights and health checks: web4 is under-used compared with the rest "
            "of the web pool.") in asks

    load = {s.host: s for s in series if s.metric == m.LOAD1 and s.host.startswith("web")}
    markers = [Marker(datetime.fromtimestamp(end - INCIDENT_MINUTES * 60, UTC), "incident start")]
    png = stacked_load(load, title="web: stacked load", tz=ZoneInfo("America/Los_Angeles"), markers=markers)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    renderer = GraphRenderer()
    try:
        via_worker = await renderer.render("stacked_load", series_by_host=load, title="web: stacked load",
                                           tz=ZoneInfo("America/Los_Angeles"), markers=markers)
    finally:
        await renderer.close()
    assert via_worker.startswith(b"\x89PNG") and abs(len(via_worker) - len(png)) < len(png) * 0.05


async def test_live_node_exporter(prometheus: tuple[Prometheus, float]) -> None:
    prom, _ = prometheus
    src = PrometheusSource(prom.url)
    deadline = time.monotonic() + 30
    while True:  # rates need two scrapes
        now = datetime.now(UTC)
        series = await src.fetch([m.LOAD1, m.CPUS, m.CPU_BUSY, m.MEM_TOTAL, m.NET_IN], now - timedelta(minutes=2),
                                 now, 5, hosts=["live1"])
        if {s.metric for s in series} == {m.LOAD1, m.CPUS, m.CPU_BUSY, m.MEM_TOTAL, m.NET_IN} and all(
                any(not math.isnan(v) for v in s.values) for s in series):
            break
        assert time.monotonic() < deadline, f"no complete live data from node_exporter: {series}"
        await asyncio.sleep(1)
    by = {s.metric: [v for v in s.values if not math.isnan(v)] for s in series}
    assert {s.host for s in series} == {"live1"}  # instance "live1:9100" without its port
    assert by[m.CPUS][-1] == os.cpu_count()
    assert 0 <= by[m.CPU_BUSY][-1] <= 100
    meminfo = Path("/proc/meminfo").read_text()
    total_kb = int(next(line for line in meminfo.splitlines() if line.startswith("MemTotal:")).split()[1])
    assert by[m.MEM_TOTAL][-1] == total_kb * 1024
    snap = await src.latest([m.LOAD1, m.CPUS], hosts=["live1"])
    assert {(s.host, s.metric) for s in snap} == {("live1", m.LOAD1), ("live1", m.CPUS)}
    assert all(len(s.times) == 1 for s in snap)
    await src.close()


async def test_points_limit_widens_the_step(prometheus: tuple[Prometheus, float]) -> None:
    prom, end = prometheus
    src = PrometheusSource(prom.url)
    now = datetime.fromtimestamp(end, UTC)
    series = await src.fetch([m.LOAD1], now - timedelta(days=3), now, 1, hosts=["db1"])  # 259,201 points at 1 s
    await src.close()
    assert len(series) == 1 and len(series[0].times) <= 11_000
    assert series[0].times[1] - series[0].times[0] == math.ceil(3 * 86400 / 10_999)


async def test_errors_are_clear(prometheus: tuple[Prometheus, float]) -> None:
    prom, _ = prometheus
    bad = PrometheusSource(prom.url, queries={m.LOAD1: "node_load1{"})
    now = datetime.now(UTC)
    with pytest.raises(MetricsUnavailable, match=r"rejected the load1 query \(bad_data: "):
        await bad.fetch([m.LOAD1], now - timedelta(minutes=5), now, 60)
    await bad.close()
    down = PrometheusSource(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(MetricsUnavailable, match="refused the connection"):
        await down.fetch([m.LOAD1], now - timedelta(minutes=5), now, 60)
    await down.close()
