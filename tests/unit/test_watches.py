"""Metric watches (pagerbot.core.watches), on constructed series: the duration, resolving, no data, gaps,
per-core division and which hosts a watch looks at. The rules are the config's own WatchConfig objects."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from pagerbot.core.watches import WatchResult, evaluate
from pagerbot.metrics import series as m
from pagerbot.metrics.series import Series
from pagerbot.settings import ConfigError, WatchConfig, parse_config

NOW = 1_773_151_200.0  # 2026-03-10 14:00 UTC
NAN = float("nan")
POOLS = {"db": ["db1", "db2"], "web": ["web1"]}


def minutes(n: int, value: float | Callable[[int], float], *, step: float = 60.0, end: float = NOW,
            host: str = "db1", metric: str = m.LOAD1) -> Series:
    """``n`` samples ``step`` seconds apart ending at ``end``; ``value(i)`` for i = 0 (oldest) .. n-1."""
    fn = value if callable(value) else (lambda i: value)
    times = [end - (n - 1 - i) * step for i in range(n)]
    return Series(host, metric, times, [float(fn(i)) for i in range(n)])


def cores(host: str = "db1", n: float = 8, count: int = 20) -> Series:
    return minutes(count, n, host=host, metric=m.CPUS)


def db_load(**extra: Any) -> WatchConfig:
    """The documented example: load_one per core above 2 for 5 minutes on pool db."""
    return WatchConfig(**{"name": "db_load", "metric": "load1", "above": 2, "per_core": True, "for_minutes": 5,
                          "pool": "db", **extra})


def run(series: Sequence[Series], *watches: WatchConfig, now: float = NOW) -> dict[str, WatchResult]:
    return {r.host: r for r in evaluate(watches or (db_load(),), series, POOLS, now=now)}


def test_fires_only_after_the_duration() -> None:
    # 8 cores, load 20 (2.5 per core) for the last k minutes, 4 (0.5 per core) before.
    for above_minutes, fires in ((1, False), (4, False), (5, False), (6, True), (15, True)):
        load = minutes(20, lambda i, k=above_minutes: 20.0 if i >= 20 - k else 4.0)
        result = run([load, cores()])
        # k samples above span (k - 1) minutes: the run must span the whole 5 minutes
        if fires:
            r = result["db1"]
            assert r.firing and r.value == pytest.approx(2.5)
            assert r.since == NOW - (above_minutes - 1) * 60
            assert r.text == "db1: load1 per core above 2 for 5 min (pool db)"
            assert r.severity == "sev3"
        else:
            assert "db1" not in result, (above_minutes, result)  # pending: not reported


def test_a_host_that_just_started_reporting_is_pending() -> None:
    assert run([minutes(3, 30.0), cores()]) == {}
    assert run([minutes(6, 30.0), cores()])["db1"].firing


def test_resolves_as_soon_as_it_drops() -> None:
    load = minutes(20, lambda i: 1.0 if i == 19 else 30.0)
    r = run([load, cores()])["db1"]
    assert not r.firing and r.value == pytest.approx(1 / 8)
    assert r.text == "db1: load1 per core above 2 for 5 min (pool db)"  # the same title as when it fired
    # exactly at the threshold is not above it
    assert not run([minutes(20, 16.0), cores()])["db1"].firing


def test_a_dip_restarts_the_count() -> None:
    load = minutes(20, lambda i: 1.0 if i == 16 else 30.0)  # below three minutes ago, above since
    assert run([load, cores()]) == {}


def test_no_data_is_not_judged() -> None:
    assert run([]) == {}
    assert run([cores()]) == {}  # cores but no load
    assert run([minutes(20, NAN), cores()]) == {}  # only gaps
    assert run([Series("db1", m.LOAD1, [], []), cores()]) == {}
    # the host stopped reporting ten minutes ago: neither firing nor resolved, whatever its last value
    stale = minutes(20, 30.0, end=NOW - 600)
    assert run([stale, cores()]) == {}
    assert run([minutes(20, 1.0, end=NOW - 600), cores()]) == {}


def test_samples_after_now_are_ignored() -> None:
    future = minutes(20, lambda i: 30.0 if i >= 15 else 1.0, end=NOW + 10 * 60)  # all above only later
    assert run([future, cores()])["db1"].firing is False  # at NOW the load was still 1


def test_per_core_needs_a_core_count() -> None:
    assert run([minutes(20, 30.0)]) == {}
    assert run([minutes(20, 30.0), Series("db1", m.CPUS, [NOW], [0.0])]) == {}
    plain = WatchConfig(name="load", metric="load1", above=2, for_minutes=5, pool="db")
    assert run([minutes(20, 3.0)], plain)["db1"].firing  # absolute: no cores needed


def test_short_gaps_are_bridged_long_gaps_restart() -> None:
    # one-minute samples: a gap of two missing samples (3 minutes between values) is bridged
    bridged = minutes(20, lambda i: NAN if i in (15, 16) else 30.0)
    assert run([bridged, cores()])["db1"].firing
    # four missing samples (5 minutes between values) break the run; what follows is 4 minutes long
    broken = minutes(20, lambda i: NAN if 12 <= i <= 15 else 30.0)
    assert run([broken, cores()]) == {}


def test_the_allowed_gap_follows_the_sample_interval() -> None:
    # a source sampled every 5 minutes (e.g. a slow gmetad poll): one sample per interval is no gap
    sparse = minutes(6, 30.0, step=300)
    assert run([sparse, cores()])["db1"].firing
    # and its last sample 7 minutes ago is still recent enough for it
    assert run([minutes(6, 30.0, step=300, end=NOW - 420), cores()])["db1"].firing


def test_each_host_on_its_own() -> None:
    series = [minutes(20, 30.0, host="db1"), cores("db1"),
              minutes(20, 4.0, host="db2"), cores("db2", 4),
              minutes(20, 99.0, host="web1"), cores("web1")]
    result = run(series)
    assert set(result) == {"db1", "db2"}  # web1 is not in pool db
    assert result["db1"].firing and not result["db2"].firing
    assert result["db2"].value == pytest.approx(1.0)


def test_hosts_named_or_every_host() -> None:
    series = [minutes(20, 30.0, host="db1"), minutes(20, 30.0, host="cache1"),
              minutes(20, 1.0, host="web1"), minutes(20, 5.0, host="web1", metric=m.IOWAIT)]
    named = WatchConfig(name="cache", metric="load1", above=2, for_minutes=5, hosts=["cache1", "cache2"])
    assert set(run(series, named)) == {"cache1"}
    everyone = WatchConfig(name="any", metric="load1", above=2, for_minutes=5)
    result = run(series, everyone)
    assert {h: r.firing for h, r in result.items()} == {"cache1": True, "db1": True, "web1": False}


def test_several_watches_and_zero_duration() -> None:
    series = [minutes(2, 30.0), cores(), minutes(2, 70.0, metric=m.IOWAIT)]
    now_watch = WatchConfig(name="io", metric="iowait", above=50, for_minutes=0, hosts=["db1"], severity="critical")
    results = evaluate([db_load(), now_watch], series, POOLS, now=NOW)
    assert [(r.watch, r.host, r.firing, r.severity) for r in results] == [("io", "db1", True, "sev1")]
    assert results[0].text == "db1: iowait above 50 for 0 min"


def test_now_defaults_to_the_newest_sample() -> None:
    hour_ago = [minutes(20, 30.0, end=NOW - 3600), minutes(1, 8.0, end=NOW - 3600, metric=m.CPUS)]
    assert evaluate([db_load()], hour_ago, POOLS)[0].firing
    assert evaluate([db_load()], hour_ago, POOLS, now=NOW) == []  # an hour old: not judged


def test_two_hundred_hosts() -> None:
    pools = {"db": [f"db{i:03d}" for i in range(200)]}
    series: list[Series] = []
    for i, host in enumerate(pools["db"]):
        series += [minutes(10, 20.0 if i % 10 == 0 else 2.0, host=host), cores(host)]
    results = evaluate([db_load()], series, pools, now=NOW)
    assert len(results) == 200
    assert sorted(r.host for r in results if r.firing) == [f"db{i:03d}" for i in range(0, 200, 10)]


@pytest.mark.parametrize(("watch", "problem"), [
    ({"name": "x", "metric": "load_one", "above": 2}, "metrics.watches.0.metric: expected one of load1"),
    ({"name": "x", "metric": "load1", "above": 2, "pool": "dbs"}, "watches.0.pool: 'dbs' is not one of the pools"),
    ({"name": "x", "metric": "load1", "above": 2, "for_minutes": -1}, "metrics.watches.0.for_minutes"),
    ({"name": "x", "metric": "load1", "above": 2, "severity": "loud"}, "unknown severity 'loud'"),
    ({"name": "x", "metric": "load1"}, "metrics.watches.0.above"),
])
def test_config_mistakes_are_named(watch: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError, match=r"^pagerbot\.yaml: ") as raised:
        parse_config({"metrics": {"pools": POOLS, "watches": [watch]}}, "pagerbot.yaml")
    assert problem in str(raised.value)


def test_config_accepts_the_documented_example() -> None:
    config = parse_config({"metrics": {"source": "ganglia", "url": "tcp://127.0.0.1:8651", "pools": POOLS,
                                       "watches": [{"name": "db_load", "metric": "load1", "per_core": True,
                                                    "above": 2, "for_minutes": 5, "pool": "db",
                                                    "severity": "sev2"}]}}, "pagerbot.yaml")
    watch = config.metrics.watches[0]
    assert (watch.for_minutes, watch.severity, watch.per_core) == (5, "sev2", True)
    with pytest.raises(ConfigError, match="is the name of another watch"):
        parse_config({"metrics": {"watches": [{"name": "a", "metric": "load1", "above": 1}] * 2}}, "pagerbot.yaml")


def test_metrics_queries_name_canonical_metrics() -> None:
    config = parse_config({"metrics": {"source": "graphite", "url": "http://graphite:8080",
                                       "queries": {"load1": "collectd.$host.load.load.shortterm"}}}, "pagerbot.yaml")
    assert config.metrics.queries == {"load1": "collectd.$host.load.load.shortterm"}
    with pytest.raises(ConfigError, match=r"metrics\.queries: 'load_one' is not a metric: expected some of load1"):
        parse_config({"metrics": {"queries": {"load_one": "node_load1"}}}, "pagerbot.yaml")
