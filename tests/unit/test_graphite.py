"""GraphiteSource against recorded render API answers (graphite-web 1.1, format=json)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from pagerbot.metrics import series as m
from pagerbot.metrics.graphite import DEFAULT_HOST_PATTERN, GraphiteSource, host_from_name
from pagerbot.metrics.series import MetricsUnavailable

START = datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
END = START + timedelta(minutes=3)
T0 = int(START.timestamp())

# Recorded: /render?target=servers.*.loadavg.01&from=...&until=...&format=json (graphite-web 1.1.10),
# trimmed to two hosts; a null is a missing datapoint.
LOAD = [
    {"target": "servers.db1.loadavg.01", "tags": {"name": "servers.db1.loadavg.01"},
     "datapoints": [[2.0, T0], [9.5, T0 + 60], [None, T0 + 120], [14.1, T0 + 180]]},
    {"target": "servers.web4.loadavg.01", "tags": {"name": "servers.web4.loadavg.01"},
     "datapoints": [[0.8, T0], [0.8, T0 + 60], [2.4, T0 + 120], [2.4, T0 + 180]]},
]
# Recorded: groupByNode(servers.*.cpu.cpu*.idle, 1, "countSeries"): the series are named by the host.
CPUS = [
    {"target": "db1", "tags": {"name": "db1", "aggregatedBy": "count"}, "datapoints": [[8.0, T0 + 180]]},
    {"target": "web4", "tags": {"name": "web4", "aggregatedBy": "count"}, "datapoints": [[4.0, T0 + 180]]},
]


def source(handler: Callable[[httpx.Request], httpx.Response], **kw: object) -> GraphiteSource:
    return GraphiteSource("http://graphite.example/", transport=httpx.MockTransport(handler), **kw)  # type: ignore[arg-type]


async def test_render_json_with_nulls() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        body = CPUS if "countSeries" in req.url.params["target"] else LOAD
        return httpx.Response(200, json=body)

    src = source(handler)
    series = await src.fetch([m.LOAD1, m.CPUS], START, END, 60)
    await src.close()
    p = {r.url.params["target"]: r.url.params for r in seen}
    load = p["servers.*.loadavg.01"]
    assert load["format"] == "json" and load["from"] == str(T0) and load["until"] == str(T0 + 180)
    assert load["maxDataPoints"] == "4"
    assert 'groupByNode(servers.*.cpu.cpu*.idle, 1, "countSeries")' in p
    by = {(s.host, s.metric): s for s in series}
    assert set(by) == {("db1", m.LOAD1), ("web4", m.LOAD1), ("db1", m.CPUS), ("web4", m.CPUS)}
    db1 = by[("db1", m.LOAD1)]
    assert list(db1.times) == [T0, T0 + 60, T0 + 120, T0 + 180]
    assert db1.values[:2] == [2.0, 9.5] and math.isnan(db1.values[2]) and db1.values[3] == 14.1
    assert by[("web4", m.CPUS)].values == [4.0]


async def test_hosts_narrow_the_glob_and_the_result() -> None:
    targets: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        targets.append(req.url.params["target"])
        return httpx.Response(200, json=LOAD)

    series = await source(handler).fetch([m.LOAD1], START, END, 60, hosts=["db1", "db2"])
    assert targets == ["servers.{db1,db2}.loadavg.01"]
    assert [s.host for s in series] == ["db1"]
    await source(handler).fetch([m.LOAD1], START, END, 60, hosts=["web4"])
    assert targets[-1] == "servers.web4.loadavg.01"


async def test_custom_targets_and_host_pattern() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        assert req.url.params["target"] == "collectd.$host.load.load.shortterm".replace("$host", "*")
        return httpx.Response(200, json=[
            {"target": "collectd.db1_example_com.load.load.shortterm", "datapoints": [[3.0, T0]]}])

    src = source(handler, targets={m.LOAD1: "collectd.$host.load.load.shortterm"},
                 host_pattern=r"^collectd\.(?P<host>[^.]+)\.")
    series = await src.fetch([m.LOAD1], START, END, 60)
    assert [(s.host, list(s.values)) for s in series] == [("db1_example_com", [3.0])]
    with pytest.raises(ValueError, match="needs a group named 'host'"):
        GraphiteSource("http://g", host_pattern=r"collectd\.([^.]+)")


def test_host_from_name() -> None:
    pat = re.compile(DEFAULT_HOST_PATTERN)
    assert host_from_name("servers.db1.loadavg.01", pat) == "db1"
    assert host_from_name("offset(scale(servers.web4.cpu.total.idle,-1),100)", pat) == "web4"
    assert host_from_name("absolute(db1)", pat) == "db1"
    assert host_from_name("web4", pat) == "web4"
    assert host_from_name("sumSeries(servers.*.loadavg.01)", pat) is None


@pytest.mark.parametrize(("make", "message"), [
    (lambda req: httpx.Response(400, text="Invalid target: unknown function foo"),
     r"answered HTTP 400 to the load1 target servers.\*.loadavg.01: Invalid target"),
    (lambda req: httpx.Response(200, json={"error": "nope"}), r"not a render API JSON list"),
    (lambda req: httpx.Response(200, text="<html>"), r"not a render API JSON list"),
])
async def test_bad_answers(make: Callable[[httpx.Request], httpx.Response], message: str) -> None:
    with pytest.raises(MetricsUnavailable, match=message):
        await source(make).fetch([m.LOAD1], START, END, 60)


async def test_unreachable() -> None:
    def refused(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=req)

    def slow(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=req)

    with pytest.raises(MetricsUnavailable, match=r"Graphite at http://graphite\.example refused the connection"):
        await source(refused).fetch([m.LOAD1], START, END, 60)
    with pytest.raises(MetricsUnavailable, match="did not answer within 5 s"):
        await source(slow).fetch([m.LOAD1], START, END, 60)
    with pytest.raises(MetricsUnavailable, match="No Graphite target is configured for the metric 'gpu'"):
        await source(slow).fetch(["gpu"], START, END, 60)
