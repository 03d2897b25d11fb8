"""Ganglia as a metrics source: gmetad's XML dump (xml and interactive ports) and its RRD files.

The XML port gives the current value of every metric of every host, with ``TN`` (seconds since the
value was reported). History comes from gmetad's RRD files (``<rrd_root>/<cluster>/<host>/<metric>.rrd``)
read with ``rrdtool xport`` when they are readable; otherwise from a bounded ring buffer per host and
metric that ``poll()`` fills: the scheduler calls it at every tick, and ``fetch()`` too when the last poll
is older than ``poll_max_age`` (so a graph ends with the latest report, and a gmetad that went away is
reported unreachable rather than drawn from old samples). The buffer lives in this process: with several
replicas, only the one running the ticks has a long history, so give replicas ``rrd_root``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from pagerbot.metrics import series as m
from pagerbot.metrics.series import MetricsUnavailable, MetricsUnreachable, Series

KB = 1024.0
CLOCK_JITTER_SECONDS = 60.0  # a report time this much older than the last one is not a clock going back

# Ganglia's metrics a canonical metric is made of, and how (values as gmond reports them).
SOURCES: Mapping[str, tuple[str, ...]] = {
    m.LOAD1: ("load_one",),
    m.LOAD5: ("load_five",),
    m.LOAD15: ("load_fifteen",),
    m.CPUS: ("cpu_num",),
    m.CPU_BUSY: ("cpu_idle",),
    m.IOWAIT: ("cpu_wio",),
    m.MEM_AVAILABLE: ("mem_free", "mem_cached", "mem_buffers"),
    m.MEM_TOTAL: ("mem_total",),
    m.SWAP_USED: ("swap_total", "swap_free"),
    m.NET_IN: ("bytes_in",),
    m.NET_OUT: ("bytes_out",),
}

# The same combinations in rrdtool's RPN (names are the DEF variables of SOURCES' metrics, in order).
_RPN: Mapping[str, str] = {
    m.CPU_BUSY: "100,{0},-",
    m.MEM_AVAILABLE: "{0},{1},+,{2},+,1024,*",
    m.MEM_TOTAL: "{0},1024,*",
    m.SWAP_USED: "{0},{1},-,1024,*",
}


def combine(metric: str, raw: Mapping[str, float]) -> float | None:
    """The canonical value of ``metric`` from Ganglia's raw values, or None when one is missing."""
    names = SOURCES.get(metric)
    if not names or any(n not in raw for n in names):
        return None
    v = [raw[n] for n in names]
    if metric == m.CPU_BUSY:
        return 100.0 - v[0]
    if metric == m.MEM_AVAILABLE:
        return (v[0] + v[1] + v[2]) * KB
    if metric == m.MEM_TOTAL:
        return v[0] * KB
    if metric == m.SWAP_USED:
        return (v[0] - v[1]) * KB
    return v[0]


@dataclass(frozen=True, slots=True)
class GangliaHost:
    cluster: str
    name: str
    ip: str
    reported: float  # Unix seconds of the host's last heartbeat
    tn: float  # seconds since then, as gmetad saw it
    localtime: float  # gmetad's clock when it wrote the dump
    metrics: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # name -> (value, TN)

    def sample_time(self, metric: str) -> float:
        return self.localtime - self.metrics[metric][1]


_DOCTYPE = re.compile(rb"<!DOCTYPE\s+[A-Za-z_:][^\[>]*(\[.*?\]\s*)?>", re.S)


def parse_xml(data: bytes) -> list[GangliaHost]:
    """Parse gmetad's (or gmond's) XML dump. The DTD header is dropped; entities are refused."""
    body = _DOCTYPE.sub(b"", data, count=1)
    if b"<!ENTITY" in body or b"<!DOCTYPE" in body:
        raise MetricsUnavailable("Ganglia's XML dump declares entities; refusing to parse it.")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise MetricsUnavailable(f"Ganglia's XML dump is not well-formed ({e}).") from e
    hosts: list[GangliaHost] = []
    for cluster in root.iter("CLUSTER"):
        cname = cluster.get("NAME", "")
        localtime = _num(cluster.get("LOCALTIME"))
        for h in cluster.iter("HOST"):
            metrics: dict[str, tuple[float, float]] = {}
            for mt in h.iter("METRIC"):
                if mt.get("TYPE") == "string":
                    continue
                val = _num(mt.get("VAL"))
                if val == val:  # not NaN
                    metrics[mt.get("NAME", "")] = (val, _num(mt.get("TN"), 0.0))
            reported = _num(h.get("REPORTED"))
            tn = _num(h.get("TN"), 0.0)
            local = localtime if localtime == localtime else reported + tn
            hosts.append(GangliaHost(cname, h.get("NAME", ""), h.get("IP", ""), reported, tn, local, metrics))
    return hosts


def _num(text: str | None, default: float = float("nan")) -> float:
    try:
        return float(text) if text is not None else default
    except ValueError:
        return default


def snapshot_series(hosts: Iterable[GangliaHost], metrics: Sequence[str]) -> list[Series]:
    """One-sample series of the current values; the sample time is when the host reported it (TN)."""
    out: list[Series] = []
    for h in hosts:
        raw = {k: v for k, (v, _tn) in h.metrics.items()}
        for metric in metrics:
            value = combine(metric, raw)
            if value is None:
                continue
            t = max(h.sample_time(n) for n in SOURCES[metric])
            out.append(Series(h.name, metric, [t], [value]))
    return out


def _address(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    return parts.hostname or "127.0.0.1", parts.port or default_port


class GangliaSource:
    """``MetricsSource`` over gmetad. No connection is made until a method is awaited."""

    name = "ganglia"

    def __init__(
        self,
        url: str = "tcp://127.0.0.1:8651",
        *,
        interactive_url: str | None = None,
        rrd_root: str | os.PathLike[str] | None = None,
        timeout: float = 5.0,
        cluster: str | None = None,
        history_size: int = 1440,
        rrdtool: str = "rrdtool",
        max_xml_bytes: int = 256 * 2**20,
        poll_max_age: float = 10.0,
    ) -> None:
        self.url = url
        self.interactive_url = interactive_url
        self.rrd_root = Path(rrd_root) if rrd_root is not None else None
        self.timeout = timeout
        self.cluster = cluster
        self.history_size = history_size
        self.rrdtool = rrdtool
        self.max_xml_bytes = max_xml_bytes
        self.poll_max_age = poll_max_age  # fetch() polls first when the last poll is older than this
        self._history: dict[tuple[str, str], deque[tuple[float, float]]] = {}
        self._polled_at: float | None = None  # time.monotonic() of the last successful poll

    async def close(self) -> None:
        self._history.clear()
        self._polled_at = None

    # ------------------------------------------------------------------------------------------ XML

    async def _read(self, url: str, default_port: int, request: bytes | None) -> bytes:
        host, port = _address(url, default_port)
        where = f"gmetad at {host}:{port}"
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(host, port)
                try:
                    if request is not None:
                        writer.write(request)
                        await writer.drain()
                    chunks: list[bytes] = []
                    size = 0
                    while chunk := await reader.read(65536):
                        chunks.append(chunk)
                        size += len(chunk)
                        if size > self.max_xml_bytes:
                            raise MetricsUnavailable(f"{where} sent more than {self.max_xml_bytes} bytes.")
                finally:
                    writer.close()
                    try:
                        await writer.wait_closed()
                    except OSError:
                        pass
        except TimeoutError as e:
            raise MetricsUnreachable(f"{where} did not answer within {self.timeout:g} s.") from e
        except ConnectionRefusedError as e:
            raise MetricsUnreachable(f"{where} refused the connection (is gmetad running?).") from e
        except OSError as e:
            raise MetricsUnreachable(f"{where} could not be reached ({e}).") from e
        data = b"".join(chunks)
        if not data.strip():
            raise MetricsUnavailable(f"{where} closed the connection without sending its XML dump.")
        return data

    async def dump(self, hosts: Sequence[str] | None = None) -> list[GangliaHost]:
        """The current state: the whole dump from the xml port, or per host from the interactive port
        (``/<cluster>/<host>``) when one is configured together with the cluster name."""
        if hosts is not None and self.interactive_url and self.cluster and len(hosts) <= 8:
            answers = await asyncio.gather(
                *(self._read(self.interactive_url, 8652, f"/{self.cluster}/{h}\n".encode()) for h in hosts)
            )
            found = [x for data in answers for x in parse_xml(data)]
        else:
            found = parse_xml(await self._read(self.url, 8651, None))
        wanted = set(hosts) if hosts is not None else None
        return [
            h
            for h in found
            if (self.cluster is None or h.cluster == self.cluster) and (wanted is None or h.name in wanted)
        ]

    async def latest(
        self, metrics: Sequence[str] = m.ALL_METRICS, hosts: Sequence[str] | None = None
    ) -> list[Series]:
        return snapshot_series(await self.dump(hosts), metrics)

    async def poll(self) -> list[Series]:
        """Read the dump once and remember it (bounded history per host and metric); returns the snapshot."""
        snap = snapshot_series(await self.dump(), m.ALL_METRICS)
        self._polled_at = time.monotonic()
        for s in snap:
            ring = self._history.get((s.host, s.metric))
            if ring is None:
                ring = self._history[(s.host, s.metric)] = deque(maxlen=self.history_size)
            t, v = s.times[0], s.values[0]
            if ring and t <= ring[-1][0]:
                if ring[-1][0] - t <= CLOCK_JITTER_SECONDS:
                    # The same report seen twice, or the next one looking older: TN is in whole seconds and
                    # gmetad's LOCALTIME is taken at another moment, so a report's time wobbles by a second.
                    continue
                ring.clear()  # the clock went back: start over rather than keep an unordered history
            ring.append((t, v))
        return snap

    def _from_history(
        self, metrics: Sequence[str], t0: float, t1: float, hosts: Sequence[str] | None
    ) -> list[Series]:
        wanted = set(hosts) if hosts is not None else None
        out: list[Series] = []
        for (host, metric), ring in sorted(self._history.items()):
            if metric not in metrics or (wanted is not None and host not in wanted):
                continue
            pts = [(t, v) for t, v in ring if t0 <= t <= t1]
            if pts:
                out.append(Series(host, metric, [p[0] for p in pts], [p[1] for p in pts]))
        return out

    # ------------------------------------------------------------------------------------------ history

    async def fetch(
        self,
        metrics: Sequence[str],
        start: datetime,
        end: datetime,
        step_seconds: int,
        hosts: Sequence[str] | None = None,
    ) -> list[Series]:
        t0, t1 = start.timestamp(), end.timestamp()
        if self.rrd_root is not None and self._rrds_readable():
            found = await self._from_rrds(metrics, t0, t1, step_seconds, hosts)
            if found:
                return found
        if self._polled_at is None or time.monotonic() - self._polled_at > self.poll_max_age:
            await self.poll()  # so a graph shows the latest report, and an unreachable gmetad says so
        return self._from_history(metrics, t0, t1, hosts)

    def _rrds_readable(self) -> bool:
        root = self.rrd_root
        return (
            root is not None
            and root.is_dir()
            and os.access(root, os.R_OK | os.X_OK)
            and shutil.which(self.rrdtool) is not None
        )

    def _host_dirs(self, hosts: Sequence[str] | None) -> list[tuple[str, Path]]:
        assert self.rrd_root is not None
        out: list[tuple[str, Path]] = []
        clusters = (
            [self.rrd_root / self.cluster]
            if self.cluster
            else sorted(p for p in self.rrd_root.iterdir() if p.is_dir() and not p.name.startswith("__"))
        )
        wanted = set(hosts) if hosts is not None else None
        seen: set[str] = set()
        for c in clusters:
            if not c.is_dir():
                continue
            for d in sorted(c.iterdir()):
                if (
                    d.is_dir()
                    and not d.name.startswith("__")
                    and d.name not in seen
                    and (wanted is None or d.name in wanted)
                ):
                    seen.add(d.name)
                    out.append((d.name, d))
        return out

    async def _from_rrds(
        self, metrics: Sequence[str], t0: float, t1: float, step: int, hosts: Sequence[str] | None
    ) -> list[Series]:
        dirs = await asyncio.to_thread(self._host_dirs, hosts)
        gate = asyncio.Semaphore(8)

        async def one(host: str, d: Path) -> list[Series]:
            async with gate:
                return await self._xport(host, d, metrics, t0, t1, step)

        parts = await asyncio.gather(*(one(h, d) for h, d in dirs))
        return [s for part in parts for s in part]

    async def _xport(
        self, host: str, d: Path, metrics: Sequence[str], t0: float, t1: float, step: int
    ) -> list[Series]:
        args = ["xport", "--start", str(int(t0)), "--end", str(int(t1)), "--step", str(max(1, step))]
        legends: list[str] = []
        for i, metric in enumerate(metrics):
            names = SOURCES.get(metric)
            if not names or not all((d / f"{n}.rrd").is_file() for n in names):
                continue
            var = []
            for j, n in enumerate(names):
                path = str(d / f"{n}.rrd").replace("\\", "\\\\").replace(":", "\\:")
                args.append(f"DEF:v{i}_{j}={path}:sum:AVERAGE")
                var.append(f"v{i}_{j}")
            if metric in _RPN:
                args.append(f"CDEF:c{i}={_RPN[metric].format(*var)}")
                args.append(f"XPORT:c{i}:{metric}")
            else:
                args.append(f"XPORT:{var[0]}:{metric}")
            legends.append(metric)
        if not legends:
            return []
        try:
            proc = await asyncio.create_subprocess_exec(
                self.rrdtool, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
        except OSError as e:
            raise MetricsUnavailable(f"rrdtool could not be started to read {d} ({e}).") from e
        try:
            async with asyncio.timeout(self.timeout):
                out, err = await proc.communicate()
        except TimeoutError as e:
            proc.kill()
            await proc.wait()
            raise MetricsUnavailable(f"rrdtool xport of {d} took longer than {self.timeout:g} s.") from e
        if proc.returncode != 0:
            raise MetricsUnavailable(f"rrdtool xport of {d} failed: {err.decode(errors='replace').strip()}")
        return parse_xport(out, host)


def parse_xport(data: bytes, host: str) -> list[Series]:
    """Series from ``rrdtool xport``'s XML output (legend entries are the canonical metric names)."""
    body = _DOCTYPE.sub(b"", data, count=1)
    if b"<!ENTITY" in body:
        raise MetricsUnavailable("rrdtool xport output declares entities; refusing to parse it.")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise MetricsUnavailable(f"rrdtool xport answered something that is not XML ({e}).") from e
    legend = [(e.text or "").strip() for e in root.iterfind("./meta/legend/entry")]
    start = _num(root.findtext("./meta/start"))
    step = _num(root.findtext("./meta/step"))
    times: list[float] = []
    cols: list[list[float]] = [[] for _ in legend]
    for i, row in enumerate(root.iterfind("./data/row")):
        t = _num(row.findtext("t"))  # only with --showtime (or rrdtool before 1.6); else start + i x step
        if t != t:
            t = start + i * step
        if t != t:
            continue
        vs = row.findall("v")
        times.append(t)
        for k in range(len(legend)):
            cols[k].append(_num(vs[k].text if k < len(vs) else None))
    return [Series(host, name, times, cols[k]) for k, name in enumerate(legend)]
