"""Prometheus as a metrics source: the HTTP API (``query_range``, ``query``) over node_exporter metrics."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from pagerbot.metrics import series as m
from pagerbot.metrics.series import MetricsUnavailable, MetricsUnreachable, Series

# ``$rate`` is replaced by the rate window (``max(2 x step, min_rate_window)``, as a duration like 300s).
DEFAULT_QUERIES: Mapping[str, str] = {
    m.LOAD1: "node_load1",
    m.LOAD5: "node_load5",
    m.LOAD15: "node_load15",
    m.CPUS: 'count by (instance) (node_cpu_seconds_total{mode="idle"})',
    m.CPU_BUSY: '100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[$rate])))',
    m.IOWAIT: '100 * avg by (instance) (rate(node_cpu_seconds_total{mode="iowait"}[$rate]))',
    m.MEM_AVAILABLE: "node_memory_MemAvailable_bytes",
    m.MEM_TOTAL: "node_memory_MemTotal_bytes",
    m.SWAP_USED: "node_memory_SwapTotal_bytes - node_memory_SwapFree_bytes",
    m.DISK_BUSY: "100 * max by (instance) (rate(node_disk_io_time_seconds_total[$rate]))",
    m.NET_IN: 'sum by (instance) (rate(node_network_receive_bytes_total{device!="lo"}[$rate]))',
    m.NET_OUT: 'sum by (instance) (rate(node_network_transmit_bytes_total{device!="lo"}[$rate]))',
}

MAX_POINTS = 11_000  # Prometheus refuses a range query returning more points per series


def host_of(labels: Mapping[str, str], label: str = "instance") -> str:
    """The host name of a series: its ``instance`` label without ``:port`` (``[::1]:9100`` gives ``::1``)."""
    value = labels.get(label, "")
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def widen_step(start: float, end: float, step: float, max_points: int = MAX_POINTS) -> int:
    """The step (whole seconds, at least 1) that keeps ``start..end`` within ``max_points`` per series."""
    step = max(1, math.ceil(step))
    span = max(0.0, end - start)
    if span / step + 1 > max_points:
        step = math.ceil(span / (max_points - 1))
    return step


class PrometheusSource:
    """``MetricsSource`` over Prometheus's HTTP API. One ``httpx.AsyncClient``, made on first use."""

    name = "prometheus"

    def __init__(
        self,
        url: str,
        *,
        queries: Mapping[str, str] | None = None,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        host_label: str = "instance",
        min_rate_window: int = 300,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.queries: dict[str, str] = dict(DEFAULT_QUERIES)
        if queries:
            self.queries.update(queries)
        self.timeout = timeout
        self.host_label = host_label
        self.min_rate_window = min_rate_window
        self._transport = transport
        self._headers = dict(headers or {})
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.url,
                timeout=self.timeout,
                transport=self._transport,
                headers=self._headers,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def query_for(self, metric: str, step: int) -> str:
        try:
            q = self.queries[metric]
        except KeyError:
            raise MetricsUnavailable(
                f"No Prometheus query is configured for the metric {metric!r}."
            ) from None
        return q.replace("$rate", f"{max(2 * step, self.min_rate_window)}s")

    async def fetch(
        self,
        metrics: Sequence[str],
        start: datetime,
        end: datetime,
        step_seconds: int,
        hosts: Sequence[str] | None = None,
    ) -> list[Series]:
        """Range queries, one per metric, run together; samples aligned on the step grid (NaN where missing).

        ``start >= end`` asks for one instant (``/api/v1/query`` at ``end``) instead.
        """
        t0, t1 = start.timestamp(), end.timestamp()
        if t0 >= t1:
            return await self.latest(metrics, at=end, hosts=hosts)
        step = widen_step(t0, t1, step_seconds)
        t0 = math.floor(t0 / step) * step  # a grid that does not move between refreshes
        results = await asyncio.gather(
            *(
                self._get(
                    "/api/v1/query_range",
                    metric,
                    {
                        "query": self.query_for(metric, step),
                        "start": f"{t0:.3f}",
                        "end": f"{t1:.3f}",
                        "step": str(step),
                    },
                )
                for metric in metrics
            )
        )
        grid = [float(t0 + i * step) for i in range(int((t1 - t0) // step) + 1)]
        out: list[Series] = []
        for metric, data in zip(metrics, results, strict=True):
            out.extend(self._series(metric, data, hosts, grid, step))
        return out

    async def latest(
        self, metrics: Sequence[str], *, at: datetime | None = None, hosts: Sequence[str] | None = None
    ) -> list[Series]:
        """The value of each metric now (or ``at``), as one-sample series."""
        params: dict[str, str] = {}
        if at is not None:
            params["time"] = f"{at.timestamp():.3f}"
        results = await asyncio.gather(
            *(
                self._get("/api/v1/query", metric, {"query": self.query_for(metric, 60), **params})
                for metric in metrics
            )
        )
        out: list[Series] = []
        for metric, data in zip(metrics, results, strict=True):
            out.extend(self._series(metric, data, hosts, None, 0))
        return out

    def _series(
        self,
        metric: str,
        data: Mapping[str, Any],
        hosts: Sequence[str] | None,
        grid: list[float] | None,
        step: int,
    ) -> list[Series]:
        rtype = data.get("resultType")
        result = data.get("result")
        if not isinstance(result, list):
            raise MetricsUnavailable(
                f"Prometheus at {self.url} answered the {metric} query without a result list."
            )
        if rtype not in ("matrix", "vector"):
            raise MetricsUnavailable(
                f"Prometheus at {self.url} answered the {metric} query with a {rtype!r} result; "
                "the query must return one series per instance."
            )
        wanted = set(hosts) if hosts is not None else None
        merged: dict[str, dict[float, float]] = {}
        for item in result:
            if not isinstance(item, dict):
                continue
            labels = item.get("metric") or {}
            host = host_of(labels, self.host_label)
            if not host or (wanted is not None and host not in wanted):
                continue
            if rtype == "matrix":
                pairs = item.get("values") or []
            else:
                pairs = [item.get("value")] if item.get("value") else []
            samples = merged.setdefault(host, {})
            for pair in pairs:
                try:
                    t, v = pair
                    samples.setdefault(float(t), float(v))  # two series for one host: the first wins
                except (TypeError, ValueError):
                    continue
        out: list[Series] = []
        for host in sorted(merged):
            samples = merged[host]
            if grid is not None:
                nan = float("nan")
                # Prometheus answers exactly on the grid; round against float noise.
                by_slot = {round((t - grid[0]) / step): v for t, v in samples.items()}
                values = [by_slot.get(i, nan) for i in range(len(grid))]
                out.append(Series(host, metric, grid, values))
            else:
                times = sorted(samples)
                out.append(Series(host, metric, times, [samples[t] for t in times]))
        return out

    async def _get(self, path: str, metric: str, params: Mapping[str, str]) -> Mapping[str, Any]:
        where = f"Prometheus at {self.url}"
        try:
            resp = await self._http().get(path, params=params)
        except httpx.ConnectError as e:
            raise MetricsUnreachable(f"{where} refused the connection or could not be reached ({e}).") from e
        except httpx.TimeoutException as e:
            raise MetricsUnreachable(f"{where} did not answer within {self.timeout:g} s.") from e
        except httpx.HTTPError as e:
            raise MetricsUnavailable(f"{where} could not be queried: {type(e).__name__}: {e}.") from e
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("status") == "error":
            raise MetricsUnavailable(
                f"{where} rejected the {metric} query ({body.get('errorType', 'error')}: "
                f"{body.get('error', 'no reason given')}); query: {params.get('query')}"
            )
        if resp.status_code != 200:
            raise MetricsUnavailable(
                f"{where} answered HTTP {resp.status_code} to the {metric} query: {_short(resp.text)}"
            )
        if (
            not isinstance(body, dict)
            or body.get("status") != "success"
            or not isinstance(body.get("data"), dict)
        ):
            raise MetricsUnavailable(
                f"{where} answered the {metric} query with something that is not a "
                f"Prometheus API response: {_short(resp.text)}"
            )
        data: Mapping[str, Any] = body["data"]
        return data


def _short(text: str, limit: int = 200) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
