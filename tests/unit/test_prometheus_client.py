"""PrometheusSource against recorded Prometheus 2.42 API answers, through httpx.MockTransport."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from pagerbot.metrics import series as m
from pagerbot.metrics.prometheus import DEFAULT_QUERIES, PrometheusSource, host_of, widen_step
from pagerbot.metrics.series import MetricsUnavailable

START = datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
END = START + timedelta(minutes=4)
T0 = START.timestamp()

# Recorded from Prometheus 2.42 (query_range of node_load1, start..end step 60), trimmed to two hosts;
# db1 missed one scrape (no point at T0+120).
LOAD1_RANGE = {
    "status": "success",
    "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "node_load1", "instance": "db1:9100", "job": "node"},
         "values": [[T0, "2"], [T0 + 60, "9.5"], [T0 + 180, "14.1"], [T0 + 240, "14.1"]]},
        {"metric": {"__name__": "node_load1", "instance": "web4", "job": "node"},
         "values": [[T0, "0.8"], [T0 + 60, "0.8"], [T0 + 120, "NaN"], [T0 + 180, "2.4"], [T0 + 240, "2.4"]]},
    ]},
}
CPUS_VECTOR = {
    "status": "success",
    "data": {"resultType": "vector", "result": [
        {"metric": {"instance": "db1:9100"}, "value": [T0 + 240, "8"]},
        {"metric": {"instance": "[2001:db8::7]:9100"}, "value": [T0 + 240, "4"]},
    ]},
}
BAD_DATA = {"status": "error", "errorType": "bad_data",
            "error": 'invalid parameter "query": 1:11: parse error: unexpected end of input inside braces'}
TOO_MANY = {"status": "error", "errorType": "bad_data",
            "error": "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query "
                     "resolution (?step=XX)"}


def source(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> PrometheusSource:
    return PrometheusSource("http://prom.example:9090/", transport=httpx.MockTransport(handler), **kw)


def answer(body: object, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


async def test_range_query_grid_and_hosts() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return answer(LOAD1_RANGE)

    src = source(handler)
    series = await src.fetch([m.LOAD1], START, END, 60)
    await src.close()
    req = seen[0]
    assert req.url.path == "/api/v1/query_range"
    assert req.url.params["query"] == "node_load1" and req.url.params["step"] == "60"
    assert float(req.url.params["start"]) == T0 and float(req.url.params["end"]) == END.timestamp()
    assert [s.host for s in series] == ["db1", "web4"]
    db1 = series[0]
    assert db1.metric == m.LOAD1 and list(db1.times) == [T0 + 60 * i for i in range(5)]
    assert db1.values[:2] == [2.0, 9.5] and math.isnan(db1.values[2]) and db1.values[3:] == [14.1, 14.1]
    assert math.isnan(series[1].values[2])


async def test_all_default_queries_are_sent_with_the_rate_window() -> None:
    queries: dict[str, str] = {}

    def handler(req: httpx.Request) -> httpx.Response:
        queries[req.url.params["query"]] = req.url.params["step"]
        return answer({"status": "success", "data": {"resultType": "matrix", "result": []}})

    src = source(handler)
    assert await src.fetch(list(m.ALL_METRICS), START, START + timedelta(hours=6), 600) == []
    assert set(queries) == {q.replace("$rate", "1200s") for q in DEFAULT_QUERIES.values()}
    assert '100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1200s])))' in queries
    assert 'sum by (instance) (rate(node_network_receive_bytes_total{device!="lo"}[1200s]))' in queries
    # Short steps keep the 5-minute minimum window.
    assert source(handler).query_for(m.IOWAIT, 15).endswith("[300s]))")


async def test_queries_overridable_and_hosts_filtered() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        assert req.url.params["query"] == "my_load1"
        return answer(LOAD1_RANGE)

    src = source(handler, queries={m.LOAD1: "my_load1"})
    series = await src.fetch([m.LOAD1], START, END, 60, hosts=["web4"])
    assert [s.host for s in series] == ["web4"]
    with pytest.raises(MetricsUnavailable, match="No Prometheus query is configured for the metric 'gpu'"):
        await src.fetch(["gpu"], START, END, 60)


async def test_instant_query() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        assert req.url.path == "/api/v1/query"
        assert float(req.url.params["time"]) == END.timestamp()
        return answer(CPUS_VECTOR)

    src = source(handler)
    series = await src.latest([m.CPUS], at=END)
    assert [(s.host, list(s.times), list(s.values)) for s in series] == [
        ("2001:db8::7", [T0 + 240], [4.0]), ("db1", [T0 + 240], [8.0])]
    # start == end asks for an instant too
    assert len(await src.fetch([m.CPUS], END, END, 60)) == 2


def test_step_widened_to_the_points_limit() -> None:
    assert widen_step(0, 3600, 60) == 60
    assert widen_step(0, 86400 * 30, 60) == math.ceil(86400 * 30 / 10_999)
    assert (86400 * 30) / widen_step(0, 86400 * 30, 1) + 1 <= 11_000
    assert widen_step(0, 10, 0) == 1


async def test_fetch_never_asks_for_more_than_11000_points() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        p = req.url.params
        points = (float(p["end"]) - float(p["start"])) / float(p["step"]) + 1
        return answer(TOO_MANY, 400) if points > 11_000 else answer(
            {"status": "success", "data": {"resultType": "matrix", "result": []}})

    src = source(handler)
    assert await src.fetch([m.LOAD1], START - timedelta(days=7), START, 15) == []


def test_host_of() -> None:
    assert host_of({"instance": "db1:9100"}) == "db1"
    assert host_of({"instance": "db1.example.com"}) == "db1.example.com"
    assert host_of({"instance": "[::1]:9100"}) == "::1"
    assert host_of({"instance": "10.0.0.5:9100"}) == "10.0.0.5"
    assert host_of({"nodename": "db1"}, "nodename") == "db1"
    assert host_of({}) == ""


@pytest.mark.parametrize(("make", "message"), [
    (lambda req: answer(BAD_DATA, 400),
     r"Prometheus at http://prom.example:9090 rejected the load1 query \(bad_data: invalid parameter"),
    (lambda req: httpx.Response(503, text="Service Unavailable"),
     r"answered HTTP 503 to the load1 query: Service Unavailable"),
    (lambda req: httpx.Response(200, text="<html>login</html>"), r"not a Prometheus API response"),
    (lambda req: answer({"status": "success", "data": {"resultType": "matrix", "result": None}}),
     r"without a result list"),
    (lambda req: answer({"status": "success", "data": {"resultType": "scalar", "result": [1, "2"]}}),
     r"with a 'scalar' result"),
    (lambda req: answer({"status": "success", "data": {"resultType": "string", "result": [[1, "x"]]}}),
     r"with a 'string' result"),
])
async def test_bad_answers(make: Callable[[httpx.Request], httpx.Response], message: str) -> None:
    src = source(make)
    with pytest.raises(MetricsUnavailable, match=message):
        await src.fetch([m.LOAD1], START, END, 60)


async def test_connection_refused_and_timeout() -> None:
    def refused(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=req)

    def slow(req: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=req)

    with pytest.raises(MetricsUnavailable, match=r"refused the connection or could not be reached"):
        await source(refused).fetch([m.LOAD1], START, END, 60)
    with pytest.raises(MetricsUnavailable, match=r"did not answer within 2.5 s"):
        await source(slow, timeout=2.5).fetch([m.LOAD1], START, END, 60)


def test_recorded_bodies_are_json() -> None:
    for body in (LOAD1_RANGE, CPUS_VECTOR, BAD_DATA):
        assert json.loads(json.dumps(body)) == body
