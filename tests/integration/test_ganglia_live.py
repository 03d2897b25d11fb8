"""Real gmond + gmetad: summaries and graphs come from what gmetric reported, read back through gmetad's
XML port, its interactive port, its RRD files, and pagerbot's own polling."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pagerbot.core.asks import suggest_asks
from pagerbot.core.diagnosis import summarize_hosts
from pagerbot.core.findings import FindingKind
from pagerbot.graphs.render import Marker, host_panels, stacked_load
from pagerbot.metrics import series as m
from pagerbot.metrics.ganglia import GangliaSource
from pagerbot.metrics.series import MetricsUnavailable
from tests.peers.ganglia import Ganglia, start_ganglia
from tests.peers.ports import free_port

pytestmark = pytest.mark.peers

GB_KB = 1024.0 * 1024.0  # gmond reports memory in KB
POOLS = {"web": ["web1", "web2", "web3", "web4"], "db": ["db1"]}


def _host(load: float, cpus: int, wio: float, idle: float) -> dict[str, float]:
    return {"load_one": load, "load_five": load, "cpu_num": cpus, "cpu_wio": wio, "cpu_idle": idle,
            "mem_total": 16 * GB_KB, "mem_free": 2 * GB_KB, "mem_cached": 5 * GB_KB, "mem_buffers": 1 * GB_KB,
            "swap_total": 4 * GB_KB, "swap_free": 4 * GB_KB, "bytes_in": 2.5e6, "bytes_out": 4e6}


REPORT = {
    "db1": _host(14.1, 8, 58.0, 12.0),
    "web1": _host(4.8, 4, 2.0, 30.0),
    "web2": _host(4.8, 4, 2.0, 30.0),
    "web3": _host(4.8, 4, 2.0, 30.0),
    "web4": _host(2.4, 4, 1.0, 60.0),
}


@pytest.fixture(scope="module")
def ganglia(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ganglia]:
    tmp = tmp_path_factory.mktemp("ganglia")
    with start_ganglia(Path(tmp), poll_seconds=2) as g:
        g.report(REPORT)
        stop = threading.Event()

        def feed() -> None:  # keep reporting, as real gmonds do, so TN stays small and the RRDs fill
            while not stop.wait(5):
                g.report(REPORT)

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        try:
            _wait_for_hosts(g, set(REPORT))
            yield g
        finally:
            stop.set()
            feeder.join(timeout=10)


def _wait_for_hosts(g: Ganglia, hosts: set[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        xml = g.xml()
        if all(f'NAME="{h}"'.encode() in xml for h in hosts) and b'NAME="bytes_out"' in xml:
            return
        time.sleep(0.5)
    raise AssertionError(f"gmetad did not show {sorted(hosts)} within {timeout} s")


async def test_xml_dump_summary(ganglia: Ganglia) -> None:
    src = GangliaSource(ganglia.xml_url)
    series = await src.latest()
    now = datetime.now(UTC)
    summary = summarize_hosts(series, now=now, pools=POOLS)
    db1 = summary.host("db1")
    assert db1 is not None
    assert db1.load1 == pytest.approx(14.1) and db1.cpus == 8 and db1.iowait == pytest.approx(58)
    assert db1.cpu_busy == pytest.approx(88)
    assert db1.mem_available_bytes == pytest.approx(8 * 2**30) and db1.mem_available_pct == pytest.approx(50)
    assert db1.swap_used_bytes == 0 and db1.net_in == pytest.approx(2.5e6)
    assert db1.last_report_age is not None and db1.last_report_age < 60  # TN
    kinds = {(f.host, f.kind) for f in summary.findings}
    assert ("db1", FindingKind.IO_BOUND) in kinds and ("db1", FindingKind.OVERLOADED) in kinds
    assert ("web4", FindingKind.IMBALANCED_LOW) in kinds
    assert summary.stands_out[0] == "db1 is disk-bound (iowait 58 %, load 14.1 on 8 cores)"
    assert ("Please check the load balancer's weights and health checks: web4 is under-used compared with the rest "
            "of the web pool.") in suggest_asks(summary.findings)
    await src.close()


async def test_interactive_port_one_host(ganglia: Ganglia) -> None:
    src = GangliaSource(ganglia.xml_url, interactive_url=ganglia.interactive_url, cluster="prod")
    hosts = await src.dump(["db1"])
    assert [h.name for h in hosts] == ["db1"]
    assert hosts[0].metrics["cpu_wio"][0] == pytest.approx(58)
    series = await src.latest([m.LOAD1, m.IOWAIT], hosts=["db1", "web4"])
    assert {(s.host, s.metric) for s in series} == {("db1", m.LOAD1), ("db1", m.IOWAIT), ("web4", m.LOAD1),
                                                     ("web4", m.IOWAIT)}


async def test_history_from_gmetad_rrds(ganglia: Ganglia) -> None:
    src = GangliaSource(ganglia.xml_url, rrd_root=ganglia.rrd_root, cluster="prod")
    deadline = time.monotonic() + 45
    while True:  # gmetad writes a value per poll (every 2 s here); wait for a few
        now = datetime.now(UTC)
        series = await src.fetch([m.LOAD1, m.CPUS, m.IOWAIT, m.CPU_BUSY, m.MEM_AVAILABLE, m.MEM_TOTAL],
                                 now - timedelta(minutes=5), now, 2)
        db1 = [s for s in series if s.host == "db1" and s.metric == m.LOAD1]
        finite = [v for s in db1 for v in s.values if not math.isnan(v)]
        if len(finite) >= 3 and len({s.host for s in series}) >= 5:
            break
        assert time.monotonic() < deadline, f"gmetad's RRDs under {ganglia.rrd_root} did not fill in time"
        await asyncio.sleep(2)
    assert {s.host for s in series} >= set(REPORT)
    assert all(v == pytest.approx(14.1) for v in finite)
    assert len(db1[0].times) > 10  # a history, not a snapshot
    busy = next(s for s in series if s.host == "db1" and s.metric == m.CPU_BUSY)
    assert [v for v in busy.values if not math.isnan(v)][-1] == pytest.approx(88)
    mem = next(s for s in series if s.host == "db1" and s.metric == m.MEM_AVAILABLE)
    assert [v for v in mem.values if not math.isnan(v)][-1] == pytest.approx(8 * 2**30)

    summary = summarize_hosts(series, now=now, pools=POOLS)
    assert {f.kind for f in summary.findings if f.host == "db1"} >= {FindingKind.IO_BOUND, FindingKind.OVERLOADED}

    load = {s.host: s for s in series if s.metric == m.LOAD1}
    png = stacked_load(load, title="prod: stacked load", tz=ZoneInfo("Europe/Paris"),
                       markers=[Marker(now - timedelta(minutes=1), "incident start")])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    panels = host_panels(series, title="prod hosts", tz=ZoneInfo("Europe/Paris"))
    assert panels.startswith(b"\x89PNG")


async def test_own_polling_without_rrds(ganglia: Ganglia) -> None:
    src = GangliaSource(ganglia.xml_url, history_size=5)
    ganglia.gmetric("cache1", "load_one", 1.5)  # a host of its own: the feeder does not touch it
    deadline = time.monotonic() + 20
    seen: list[float] = []
    value = 1.5
    while True:
        await src.poll()
        now = datetime.now(UTC)
        series = await src.fetch([m.LOAD1], now - timedelta(minutes=10), now + timedelta(seconds=1), 60,
                                 hosts=["cache1"])
        seen = [v for s in series for v in s.values]
        if seen and seen[-1] == value == 1.5:
            value = 2.5
            ganglia.gmetric("cache1", "load_one", value)
        elif seen and seen[-1] == 2.5:
            break
        assert time.monotonic() < deadline, f"the polled history of cache1 is {seen}"
        await asyncio.sleep(0.5)
    assert seen[0] == 1.5 and seen[-1] == 2.5 and len(seen) <= 5
    assert [s.host for s in series] == ["cache1"] and list(series[0].times) == sorted(series[0].times)


async def test_unreachable_gmetad() -> None:
    src = GangliaSource(f"tcp://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(MetricsUnavailable, match="refused the connection"):
        await src.latest()
