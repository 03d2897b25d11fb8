"""Graphite as a metrics source: the render API with ``format=json``."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from pagerbot.metrics import series as m
from pagerbot.metrics.series import MetricsUnavailable, MetricsUnreachable, Series

# Diamond's naming (``servers.<host>.<collector>.…``). ``$host`` is ``*`` for all hosts, or ``{db1,web1}``.
# Targets that aggregate per host (groupByNode) are named by the host alone.
DEFAULT_TARGETS: Mapping[str, str] = {
    m.LOAD1: "servers.$host.loadavg.01",
    m.LOAD5: "servers.$host.loadavg.05",
    m.LOAD15: "servers.$host.loadavg.15",
    m.CPUS: 'groupByNode(servers.$host.cpu.cpu*.idle, 1, "countSeries")',
    m.CPU_BUSY: "offset(scale(servers.$host.cpu.total.idle, -1), 100)",
    m.IOWAIT: "servers.$host.cpu.total.iowait",
    m.MEM_AVAILABLE: "servers.$host.memory.MemAvailable",
    m.MEM_TOTAL: "servers.$host.memory.MemTotal",
    m.SWAP_USED: 'absolute(groupByNode(servers.$host.memory.{SwapFree,SwapTotal}, 1, "diffSeries"))',
    m.DISK_BUSY: 'groupByNode(servers.$host.iostat.*.util_percentage, 1, "maxSeries")',
    m.NET_IN: 'groupByNode(servers.$host.network.*.rx_byte, 1, "sumSeries")',
    m.NET_OUT: 'groupByNode(servers.$host.network.*.tx_byte, 1, "sumSeries")',
}

DEFAULT_HOST_PATTERN = r"(?:^|[(,\s])servers\.(?P<host>[^.,()\s*?{}\[\]]+)\."
_CALL = re.compile(r"^\s*[A-Za-z_][\w]*\((.*)\)\s*$", re.S)


def host_from_name(name: str, pattern: re.Pattern[str]) -> str | None:
    """The host a series name is about: by ``pattern`` (group ``host``), else the innermost plain word.

    ``servers.db1.loadavg.01`` → ``db1``; ``absolute(db1)`` (a groupByNode result) → ``db1``.
    """
    found = pattern.search(name)
    if found:
        return found.group("host")
    inner = name
    while (call := _CALL.match(inner)) is not None:
        inner = call.group(1).split(",", 1)[0]
    inner = inner.strip().strip("'\"")
    if inner and "." not in inner and "*" not in inner and " " not in inner:
        return inner
    return None


class GraphiteSource:
    """``MetricsSource`` over Graphite's ``/render`` API."""

    name = "graphite"

    def __init__(
        self,
        url: str,
        *,
        targets: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 5.0,
        host_pattern: str = DEFAULT_HOST_PATTERN,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.targets: dict[str, str] = dict(DEFAULT_TARGETS)
        if targets:
            self.targets.update(targets)
        self.timeout = timeout
        self.host_pattern = re.compile(host_pattern)
        if "host" not in self.host_pattern.groupindex:
            raise ValueError(f"The Graphite host pattern {host_pattern!r} needs a group named 'host'.")
        self._transport = transport
        self._headers = dict(headers or {})
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.url, timeout=self.timeout, transport=self._transport, headers=self._headers
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def target_for(self, metric: str, hosts: Sequence[str] | None) -> str:
        try:
            t = self.targets[metric]
        except KeyError:
            raise MetricsUnavailable(f"No Graphite target is configured for the metric {metric!r}.") from None
        if hosts is None:
            glob = "*"
        elif len(hosts) == 1:
            glob = hosts[0]
        else:
            glob = "{" + ",".join(hosts) + "}"
        return t.replace("$host", glob)

    async def fetch(
        self,
        metrics: Sequence[str],
        start: datetime,
        end: datetime,
        step_seconds: int,
        hosts: Sequence[str] | None = None,
    ) -> list[Series]:
        t0, t1 = int(start.timestamp()), int(end.timestamp())
        points = max(1, (t1 - t0) // max(1, step_seconds) + 1)
        answers = await asyncio.gather(
            *(
                self._render(
                    metric,
                    {
                        "target": self.target_for(metric, hosts),
                        "from": str(t0),
                        "until": str(t1),
                        "format": "json",
                        "maxDataPoints": str(points),
                    },
                )
                for metric in metrics
            )
        )
        wanted = set(hosts) if hosts is not None else None
        out: list[Series] = []
        for metric, body in zip(metrics, answers, strict=True):
            seen: set[str] = set()
            for item in body:
                name = str(item.get("target", ""))
                host = host_from_name(name, self.host_pattern)
                if host is None or host in seen or (wanted is not None and host not in wanted):
                    continue
                seen.add(host)
                times: list[float] = []
                values: list[float] = []
                for point in item.get("datapoints") or []:
                    try:
                        v, t = point
                        times.append(float(t))
                        values.append(float("nan") if v is None else float(v))
                    except (TypeError, ValueError):
                        continue
                out.append(Series(host, metric, times, values))
        out.sort(key=lambda s: (s.metric, s.host))
        return out

    async def _render(self, metric: str, params: Mapping[str, str]) -> list[Mapping[str, Any]]:
        where = f"Graphite at {self.url}"
        try:
            resp = await self._http().get("/render", params=params)
        except httpx.ConnectError as e:
            raise MetricsUnreachable(f"{where} refused the connection or could not be reached ({e}).") from e
        except httpx.TimeoutException as e:
            raise MetricsUnreachable(f"{where} did not answer within {self.timeout:g} s.") from e
        except httpx.HTTPError as e:
            raise MetricsUnavailable(f"{where} could not be queried: {type(e).__name__}: {e}.") from e
        if resp.status_code != 200:
            text = re.sub(r"\s+", " ", resp.text).strip()[:200]
            raise MetricsUnavailable(
                f"{where} answered HTTP {resp.status_code} to the {metric} target "
                f"{params.get('target')}: {text}"
            )
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, list):
            raise MetricsUnavailable(
                f"{where} answered the {metric} target with something that is not a render API JSON list."
            )
        return [x for x in body if isinstance(x, dict)]
