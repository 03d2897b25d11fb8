"""The peak: the moment the cluster's summed load was highest, from series or from recorded summaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pagerbot.core.peak import busiest_summary, cluster_load_peak
from pagerbot.core.series import IOWAIT, LOAD1, Series

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
NAN = float("nan")


def series(host: str, values: list[float], metric: str = LOAD1, offset: float = 0.0) -> Series:
    return Series(host, metric, [T0.timestamp() + 60 * i + offset for i in range(len(values))], values)


def test_the_peak_is_where_the_hosts_loads_sum_highest() -> None:
    found = cluster_load_peak([
        series("db1", [2, 9, 12, 8, 3]),
        series("web1", [1, 2, 3, 6, 1], offset=7),  # reports a few seconds later: still the same minute
        series("web2", [1, NAN, 1, 5, 1]),
        series("db1", [99, 99, 99, 99, 99], metric=IOWAIT),  # not load
    ], T0, T0 + timedelta(minutes=10), 60)
    assert found == (T0 + timedelta(minutes=3), 19.0)


def test_the_peak_stays_inside_the_window_and_needs_load_data() -> None:
    data = [series("db1", [50, 1, 2, 3])]
    assert cluster_load_peak(data, T0 + timedelta(minutes=1), T0 + timedelta(minutes=5), 60) == (
        T0 + timedelta(minutes=3), 3.0)
    assert cluster_load_peak([], T0, T0 + timedelta(hours=1), 60) is None


def test_busiest_recorded_summary_of_the_widest_scope() -> None:
    def summary(*loads: float) -> dict[str, object]:
        return {"hosts": [{"host": f"h{i}", "load": load} for i, load in enumerate(loads)]}

    recorded = [
        (T0, summary(1, 2, 3)),
        (T0 + timedelta(hours=1), summary(4, 5, 6)),
        (T0 + timedelta(hours=2), summary(40)),  # one host's graph: higher, but not the cluster
        (T0 + timedelta(hours=9), summary(9, 9, 9)),  # after the window
    ]
    assert busiest_summary(recorded, T0, T0 + timedelta(hours=3)) == recorded[1]
    assert busiest_summary(recorded, T0 + timedelta(days=1), T0 + timedelta(days=2)) is None
