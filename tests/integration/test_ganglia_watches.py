"""Metric watches for shops with Ganglia and no Alertmanager, against real gmond and gmetad.

The whole server runs (HTTP, the strict fake Slack); the test runs the scheduler's ticks. gmetad's RRD files
are not configured (``rrd_root`` unset), so history comes from pagerbot's own polling at each tick. A watch
"load1 per core above 2 on pool db" fires only once the load has stayed up for its duration; its alert goes
through the same intake as a webhook's and opens an incident (channel, header, a graph drawn from the polled
history); when the load drops the alert resolves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pagerbot.clock import ShiftedClock
from pagerbot.metrics import series as m
from pagerbot.metrics.ganglia import GangliaSource
from tests.e2e.test_live_graphs import PNG, Live, live
from tests.fakes.slack_api import FakeSlack
from tests.harness import wait_for
from tests.peers.ganglia import Ganglia, start_ganglia

pytestmark = pytest.mark.peers

HOLD_SECONDS = 3  # the watch's duration (for_minutes: 0.05)


class Feeder:
    """Reports db1 and web1 every half second, as their gmonds would; the test sets db1's load."""

    def __init__(self, ganglia: Ganglia) -> None:
        self.ganglia = ganglia
        self.db1_load = 4.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.ganglia.gmetric("db1", "load_one", self.db1_load)
            self.ganglia.gmetric("db1", "cpu_num", 8)
            self.ganglia.gmetric("web1", "load_one", 9.0)  # busy, but no watch looks at pool web
            self.ganglia.gmetric("web1", "cpu_num", 4)
            self._stop.wait(0.5)

    def __enter__(self) -> Feeder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def ganglia(tmp_path: Path) -> Iterator[Ganglia]:
    with start_ganglia(tmp_path, poll_seconds=1) as g:
        yield g


def _incidents(lv: Live) -> list[dict[str, Any]]:
    return list(lv.server.get("/incidents"))


def _tick_until(lv: Live, what: str, done: Any, timeout: float = 20) -> Any:
    def step() -> Any:
        lv.tick()
        return done()
    return wait_for(step, timeout=timeout, interval=0.5, what=what)


def test_a_watch_on_ganglia_opens_and_resolves_an_incident(sqlite_url: str, fake_slack: FakeSlack,
                                                           ganglia: Ganglia) -> None:
    metrics = {"source": "ganglia", "url": ganglia.xml_url, "timeout_seconds": 3, "window_hours": 1,
               "pools": {"db": ["db1"], "web": ["web1"]},
               "watches": [{"name": "db_load", "metric": "load1", "per_core": True, "above": 2,
                            "for_minutes": HOLD_SECONDS / 60, "pool": "db", "severity": "sev2"}]}
    with Feeder(ganglia) as feeder, live(fake_slack, sqlite_url, metrics, ShiftedClock(datetime.now(UTC))) as lv:
        assert lv.server.runtime is not None
        source = lv.server.runtime.ctx.metrics
        assert isinstance(source, GangliaSource) and source.rrd_root is None

        # quiet (0.5 per core): ticks poll gmetad and keep the samples, and nothing fires
        _tick_until(lv, "db1's first reports", lambda: _history(lv, "db1"))
        for _ in range(3):
            time.sleep(0.5)
            lv.tick()
        assert _incidents(lv) == []

        # 2.5 per core: pending until it has stayed above for the whole duration, then an incident opens
        feeder.db1_load = 20.0
        high = _tick_until(lv, "gmetad to report db1's new load", lambda: 20.0 in _history(lv, "db1"))
        assert high and _incidents(lv) == []  # seen once: pending, not firing
        went_up = time.monotonic()
        [incident] = _tick_until(lv, "the watch to fire", lambda: _incidents(lv))
        assert time.monotonic() - went_up >= HOLD_SECONDS - 1.5  # (the first high report may predate the tick)
        assert incident["title"] == "db1: load1 per core above 2 for 0.05 min (pool db)"
        assert incident["severity"] == 2 and incident["status"] == "investigating"
        [alert] = lv.bot.incident()["alerts"]
        assert alert["source"] == "watch" and alert["host"] == "db1" and alert["state"] == "firing"

        # the same opening as for a webhook: channel, pinned header, and a graph from the polled history
        channel = lv.bot.channel()
        assert lv.server.drain()
        [graph] = lv.live_files()
        assert (lv.slack.files[graph].bytes or b"").startswith(PNG) and lv.header_image(channel) == graph
        stored = lv.graphs()[-1]
        db1 = next(h for h in stored.summary["hosts"] if h["host"] == "db1")
        assert db1["cpus"] == 8 and 4 <= db1["load"] <= 20  # the mean of the recent polled samples
        assert len(set(_history(lv, "db1"))) >= 2 and len(_times(lv, "db1")) >= 5  # a history, not a snapshot

        # repeats change nothing; when the load drops the alert resolves (and the incident offers to resolve)
        lv.tick()
        assert len(lv.bot.incident()["alerts"]) == 1
        feeder.db1_load = 4.0
        _tick_until(lv, "the watch alert to resolve",
                    lambda: lv.bot.incident()["alerts"][0]["state"] == "resolved")
        assert lv.server.drain()
        assert any(t.startswith(":large_green_circle: Resolved: *db") and t.endswith("* on db1")
                   for t in lv.posts(channel)), lv.posts(channel)
        assert any("Every alert has resolved" in e["text"] for e in lv.bot.timeline())
        assert len(_incidents(lv)) == 1 and len(lv.bot.incident()["alerts"]) == 1  # no alert rows for web1


def _fetch(lv: Live, host: str) -> list[m.Series]:
    assert lv.server.runtime is not None
    source = lv.server.runtime.ctx.metrics
    now = lv.clock.now()
    return list(lv.server.call(source.fetch([m.LOAD1], now - timedelta(minutes=10), now, 60, [host])))


def _history(lv: Live, host: str) -> list[float]:
    return [v for s in _fetch(lv, host) for v in s.values]


def _times(lv: Live, host: str) -> list[float]:
    return [t for s in _fetch(lv, host) for t in s.times]
