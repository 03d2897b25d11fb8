"""Storms at scale: how fast pagerbot applies what it answered, and whether an unrelated alert waits behind it.

Against ``pagerbot serve`` (a real subprocess, Slack pointed at the fake Slack Web API of the tests with 50 ms
added to every call) and against the floor (bench/floor.py, which stores every alert before it answers), each
on a fresh database, one after the other, with the same load:

- **the storm**: ``--alerts`` distinct firing alerts of one cluster (they group into one incident, as in
  production), as 100-alert Alertmanager notifications posted by 8 clients as fast as they are answered.
  Measured: answered alerts/s (first post to last answer), applied alerts/s (first post until every answered
  alert is in the alerts table), the backlog (deliveries answered and not yet applied, sampled every 100 ms):
  its peak and the time it took to drain after the last answer, and the server's peak RSS.
- **single posts while the worker applies**: one client posts a one-alert notification of the storm's cluster
  every 20 ms from the first storm post until the backlog is drained; their latency p50/p99 and rate.
- **an unrelated alert during the storm**: every 250 ms while the backlog is not empty (at most ``--unrelated``
  of them), an alert of a cluster of its own; the time from its post until its incident is committed (seen in
  the database, polled every 25 ms) and until its Slack channel is created (``conversations.create``).

The floor applies as it answers: its applied rate is its answered rate, it has no backlog, and its "incident"
is the stored row, committed when it answers (its answer time is shown beside pagerbot's open times). It runs
before pagerbot and again after it, and its figures are the mean of the two runs (the machine's speed drifts).

    python bench/backlog.py [--database postgresql|sqlite] [--alerts 100000] [--unrelated 20] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from common import API_TOKEN, database, rss_mb, start_floor, start_pagerbot
from storm import PER_POST, am_body

from pagerbot.store.inbox_file import pending_in_file
from tests.fakes.slack_api import FakeSlack

CLIENTS = 8
SINGLE_EVERY_S = 0.02
UNRELATED_EVERY_S = 0.25
SLACK_LATENCY_S = 0.05
FLOOR_AFTER_S = 5.0  # the floor's single posts go on this long after its storm, beside pagerbot's drain


@dataclass
class Target:
    name: str
    url: str
    pid: int
    database_url: str
    applies_later: bool  # pagerbot: answered once in the inbox, applied after
    _pool: asyncpg.Pool | None = field(default=None, repr=False)

    async def scalar(self, sql: str) -> int | None:
        if self.database_url.startswith("sqlite"):
            path = self.database_url.removeprefix("sqlite:///")

            def read() -> int | None:
                with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as connection:
                    value = connection.execute(sql).fetchone()[0]
                return None if value is None else int(value)

            return await asyncio.to_thread(read)
        if self._pool is None:  # one small pool: a connection per poll cost PostgreSQL a backend each time
            self._pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=4)
        value = await self._pool.fetchval(sql)
        return None if value is None else int(value)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def backlog(self) -> int:
        if not self.applies_later:
            return 0
        waiting = await self.scalar("SELECT count(*) FROM inbox WHERE failed_at IS NULL") or 0
        if self.database_url.startswith("sqlite"):
            waiting += await asyncio.to_thread(pending_in_file, self.database_url.removeprefix("sqlite:///"))
        return waiting


@dataclass
class Samples:
    backlog_peak: int = 0
    rss_peak_mb: float = 0.0
    drained_at: float | None = None
    seen: dict[str, float] = field(default_factory=dict)  # unrelated cluster -> when its incident was seen


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(1000 * value, 1)


def unrelated_body(k: int) -> bytes:
    body = am_body(f"other{k}", 0, 1)
    alert = body["alerts"][0]
    alert["labels"]["alertname"] = "PostgresDown"
    alert["annotations"]["summary"] = f"postgres down in other{k}"
    alert["fingerprint"] = f"other{k}"
    return json.dumps(body).encode()


async def run_storm(target: Target, slack: FakeSlack | None, *, alerts: int, unrelated: int) -> dict[str, Any]:
    posts = alerts // PER_POST
    bodies = [json.dumps(am_body("storm", i * PER_POST, PER_POST)).encode() for i in range(posts)]
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=CLIENTS + 8, max_keepalive_connections=CLIENTS + 8)
    answered = 0
    refused: dict[int, int] = {}
    next_post = 0
    storm_answered_at: float | None = None
    singles: list[tuple[float, float]] = []  # (sent, seconds to the answer)
    injected: dict[str, tuple[float, float, float]] = {}  # cluster -> (monotonic sent, wall sent, answer s)
    samples = Samples()
    stop_posting = asyncio.Event()  # the backlog is drained: single and unrelated posts stop
    done = asyncio.Event()  # ... and everything they posted is applied too
    calls_before = len(slack.calls) if slack else 0

    async with httpx.AsyncClient(base_url=target.url, timeout=120, limits=limits) as client:
        async def post(body: bytes) -> float:
            while True:
                sent = time.monotonic()
                response = await client.post("/alerts/alertmanager", content=body, headers=headers)
                if response.status_code < 300:
                    return time.monotonic() - sent
                refused[response.status_code] = refused.get(response.status_code, 0) + 1
                await asyncio.sleep(0.5)  # as Alertmanager retries a 5xx

        async def storm_client() -> None:
            nonlocal answered, next_post
            while next_post < posts:
                i, next_post = next_post, next_post + 1
                await post(bodies[i])
                answered += PER_POST

        async def single_client() -> None:
            k = 0
            while not stop_posting.is_set():
                k += 1
                sent = time.monotonic()
                singles.append((sent, await post(json.dumps(am_body("storm", 10_000_000 + k, 1)).encode())))
                await asyncio.sleep(SINGLE_EVERY_S)

        async def unrelated_client() -> None:
            await asyncio.sleep(UNRELATED_EVERY_S)
            for k in range(unrelated):
                if stop_posting.is_set():
                    break
                sent, wall = time.monotonic(), time.time()
                answer = await post(unrelated_body(k))
                injected[f"other{k}"] = (sent, wall, answer)
                await asyncio.sleep(UNRELATED_EVERY_S)

        async def sampler() -> None:
            while not done.is_set():
                samples.backlog_peak = max(samples.backlog_peak, await target.backlog())
                samples.rss_peak_mb = max(samples.rss_peak_mb, rss_mb(target.pid))
                await asyncio.sleep(0.1)

        async def incident_watch() -> None:
            while not done.is_set() or len(samples.seen) < len(injected):
                for cluster in set(injected) - set(samples.seen):
                    if await target.scalar(f"SELECT count(*) FROM incidents WHERE group_key = 'cluster={cluster}'"):
                        samples.seen[cluster] = time.monotonic()
                await asyncio.sleep(0.025)

        async def until_applied() -> None:
            waiting = 1
            while storm_answered_at is None or waiting:
                await asyncio.sleep(0.05)
                waiting = await target.backlog()
            samples.drained_at = time.monotonic()
            if not target.applies_later:  # the floor's single posts once its storm is answered, for comparison
                await asyncio.sleep(FLOOR_AFTER_S)
            stop_posting.set()
            await asyncio.gather(*posting)
            stored = 0
            while stored < answered + len(singles) + len(injected):
                stored = await target.scalar("SELECT count(*) FROM alerts") or 0
                await asyncio.sleep(0.05)
            done.set()

        started = time.monotonic()
        posting = [asyncio.create_task(single_client())]
        if target.applies_later:
            posting.append(asyncio.create_task(unrelated_client()))
        watching = [asyncio.create_task(sampler()), asyncio.create_task(until_applied())]
        if target.applies_later:
            watching.append(asyncio.create_task(incident_watch()))
        await asyncio.gather(*(storm_client() for _ in range(CLIENTS)))
        storm_answered_at = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*watching), 900)
        applied_at = samples.drained_at or time.monotonic()

        if slack is not None:  # the channels of the last unrelated alerts may still be on their way
            for _ in range(600):
                if len(_created(slack, calls_before, injected)) == len(injected):
                    break
                await asyncio.sleep(0.1)

    stored = await target.scalar("SELECT count(*) FROM alerts") or 0
    await target.close()
    during = [answer for sent, answer in singles if sent < storm_answered_at]
    after = [answer for sent, answer in singles if sent >= storm_answered_at]
    after_s = max(sent for sent, _ in singles) - storm_answered_at if after else 0.0
    opened = [samples.seen[c] - sent for c, (sent, _, _) in injected.items() if c in samples.seen]
    channels = list(_created(slack, calls_before, injected).values()) if slack is not None else []
    storm_s = storm_answered_at - started
    return {
        "target": target.name, "alerts": alerts, "posts": posts, "refused": {str(k): v for k, v in refused.items()},
        "answered_alerts_per_s": round(alerts / storm_s), "answered_s": round(storm_s, 2),
        "applied_alerts_per_s": round(answered / (applied_at - started)), "applied_s": round(applied_at - started, 2),
        "stored": stored, "expected": answered + len(singles) + len(injected), "all_stored": stored >= answered + len(
            singles) + len(injected),
        "backlog_peak_deliveries": samples.backlog_peak,
        "drain_s": round((samples.drained_at or storm_answered_at) - storm_answered_at, 2),
        "rss_peak_mb": round(samples.rss_peak_mb, 1),
        "singles": len(during), "single_p50_ms": _ms(_percentile(during, 0.5)),
        "single_p99_ms": _ms(_percentile(during, 0.99)),
        # after the last storm answer: pagerbot's worker drains the backlog; the floor has none and idles
        "singles_after": len(after), "single_after_p50_ms": _ms(_percentile(after, 0.5)),
        "single_after_p99_ms": _ms(_percentile(after, 0.99)),
        "single_after_per_s": round(len(after) / after_s, 1) if after_s > 0 else None,
        "unrelated": len(injected), "unrelated_answer_p99_ms": _ms(_percentile([a for _, _, a in injected.values()],
                                                                             0.99)),
        "unrelated_opened": len(opened), "unrelated_incident_p99_s": _round(_percentile(opened, 0.99)),
        "unrelated_incident_median_s": _round(_percentile(opened, 0.5)),
        "unrelated_channels": len(channels), "unrelated_channel_p99_s": _round(_percentile(channels, 0.99)),
        "unrelated_channel_median_s": _round(_percentile(channels, 0.5)),
    }


def _created(slack: FakeSlack, calls_before: int, injected: dict[str, tuple[float, float, float]]
             ) -> dict[str, float]:
    """Seconds from each unrelated alert's post until its channel was created (``conversations.create``)."""
    creates = [c for c in slack.calls[calls_before:] if c.method == "conversations.create" and c.ok]
    made: dict[str, float] = {}
    for cluster, (_, wall, _) in injected.items():
        named = re.compile(rf"{cluster}(?!\d)")  # other1, not other10
        at = next((c.at for c in creates if named.search(str(c.args.get("name", "")))), None)
        if at is not None:
            made[cluster] = at - wall
    return made


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@contextmanager
def pagerbot(kind: str, tmp: Path, slack: FakeSlack) -> Iterator[Target]:
    with database(kind, tmp) as url:
        proc, base = start_pagerbot(url, slack.api_url, tmp, f"pagerbot-backlog-{kind}")
        with proc:
            yield Target(f"pagerbot ({kind})", base, proc.pid, url, applies_later=True)


@contextmanager
def floor(kind: str, tmp: Path) -> Iterator[Target]:
    with database(kind, tmp) as url:
        proc, base = start_floor(url, tmp, "floor-backlog")
        with proc:
            yield Target(f"floor ({kind})", base, proc.pid, url, applies_later=False)


def describe(r: dict[str, Any]) -> str:
    line = (f"{r['target']}: {r['alerts']:,} alerts answered at {r['answered_alerts_per_s']:,}/s, applied at "
            f"{r['applied_alerts_per_s']:,}/s; backlog peak {r['backlog_peak_deliveries']} deliveries, drained "
            f"{r['drain_s']} s after the last answer; single posts during the storm p50 {r['single_p50_ms']} / p99 "
            f"{r['single_p99_ms']} ms ({r['singles']}), after it p50 {r['single_after_p50_ms']} / p99 "
            f"{r['single_after_p99_ms']} ms ({r['single_after_per_s']}/s); peak RSS {r['rss_peak_mb']} MB; stored "
            f"{r['stored']}/{r['expected']}")
    if r["unrelated"] and "unrelated_opened" in r:
        line += (f"\n  unrelated alerts during the storm: {r['unrelated_opened']}/{r['unrelated']} incidents, p99 "
                 f"{r['unrelated_incident_p99_s']} s (median {r['unrelated_incident_median_s']}); channels "
                 f"{r['unrelated_channels']}, p99 {r['unrelated_channel_p99_s']} s (median "
                 f"{r['unrelated_channel_median_s']})")
    return line


def bracketed(floors: list[dict[str, Any]]) -> dict[str, Any]:
    """The floor's runs before and after pagerbot's as one: rates and latencies their mean, the rest the first
    run's, every alert stored in both; each run's rates kept beside (``runs``)."""
    first = floors[0]
    merged = dict(first)
    for key, value in first.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and key.endswith(("_per_s", "_ms")):
            values = [f[key] for f in floors if f.get(key) is not None]
            merged[key] = round(sum(values) / len(values), 1) if values else None
    merged["all_stored"] = all(f["all_stored"] for f in floors)
    merged["runs"] = [{k: f[k] for k in ("answered_alerts_per_s", "applied_alerts_per_s", "single_after_p99_ms")}
                      for f in floors]
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], action="append")
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--unrelated", type=int, default=20)
    parser.add_argument("--json", dest="json_path", type=Path)
    args = parser.parse_args(argv)

    slack = FakeSlack().start()
    slack.add_channel("incidents", members=["U0ALICE"])
    slack.latency = SLACK_LATENCY_S
    runs: list[dict[str, Any]] = []
    try:
        for kind in args.database or ["postgresql", "sqlite"]:
            # The floor runs before pagerbot and after it, and counts as the mean of the two: this shared
            # machine's speed drifts by a third within minutes, and one floor run beside one pagerbot run
            # measured the drift as much as the ratio.
            starts: list[Callable[[Path], Any]] = [lambda tmp, kind=kind: floor(kind, tmp),
                                                   lambda tmp, kind=kind: pagerbot(kind, tmp, slack),
                                                   lambda tmp, kind=kind: floor(kind, tmp)]
            floors: list[dict[str, Any]] = []
            for start in starts:
                with tempfile.TemporaryDirectory(prefix="pagerbot-bench-backlog-") as tmp, start(Path(tmp)) as target:
                    result = asyncio.run(run_storm(target, slack if target.applies_later else None,
                                                   alerts=args.alerts, unrelated=args.unrelated))
                    result["database"] = kind
                    print(describe(result), flush=True)
                    (runs if target.applies_later else floors).append(result)
            runs.append(bracketed(floors))
    finally:
        slack.stop()
    if args.json_path:
        args.json_path.write_text(json.dumps({"runs": runs, "slack_latency_ms": 1000 * SLACK_LATENCY_S}, indent=2)
                                  + "\n")
    return 0 if all(r["all_stored"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
