"""A storm, slash commands during it, the server's memory, and the time from an alert to its channel.

Against ``pagerbot serve`` (a real subprocess) on a fresh PostgreSQL database, with Slack pointed at the
fake Slack Web API of the tests (in this process), which records every call:

- **storm**: 10,000 distinct firing alerts of one cluster in 10 seconds, as 100 Alertmanager
  notifications of 100 sent on a fixed schedule (one every 100 ms, each in its own request, so a slow
  answer does not hold back the next one). Measured: the time from the first post until all 10,000 are
  in the database, the Slack API calls made from the first post until the outbox is empty, and, during
  the storm, the acknowledgement latency of signed ``/incident status INC-1`` slash commands (one every
  100 ms; the time until Slack would have its HTTP 200).
- **memory**: the server process's resident memory when idle after start, and after the storm (10,000
  alerts stored and the outbox delivered). The parent process only: the graph render worker is a
  separate process that pagerbot starts only when a metrics source is configured, and none is here.
- **alert to channel**: with the fake Slack adding 50 ms to every call, the time from posting one
  Alertmanager alert of a new cluster to the incident's header being pinned in its new channel (the
  ``pins.add`` call), for ``--channels`` incidents one after the other; median and max.

    python bench/storm.py [--alerts 10000] [--seconds 10] [--channels 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import API_TOKEN, SIGNING_SECRET, database, rss_mb, start_pagerbot

from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_requests import slash_command

PER_POST = 100


def am_body(cluster: str, start: int, count: int) -> dict[str, Any]:
    alerts = [{
        "status": "firing",
        "labels": {"alertname": "HostHighLoad", "instance": f"web{i:05d}:9100", "cluster": cluster,
                   "severity": "warning", "job": "node"},
        "annotations": {"summary": f"load per core 9.4 on web{i:05d}", "description": "over 4 for 5 minutes"},
        "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph", "fingerprint": f"{cluster}-{i:05d}",
    } for i in range(start, start + count)]
    return {"version": "4", "groupKey": f'{{}}:{{cluster="{cluster}"}}', "status": "firing", "receiver": "pagerbot",
            "groupLabels": {"cluster": cluster}, "commonLabels": {"cluster": cluster}, "commonAnnotations": {},
            "externalURL": "http://alertmanager.example:9093", "truncatedAlerts": 0, "alerts": alerts}


async def pg_scalar(url: str, sql: str) -> int:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        return int(await connection.fetchval(sql))
    finally:
        await connection.close()


class Server:
    def __init__(self, url: str, slack: FakeSlack, tmp: Path) -> None:
        self.database_url = url
        self.proc, self.url = start_pagerbot(url, slack.api_url, tmp, "pagerbot-storm")

    async def wait_outbox_empty(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await pg_scalar(self.database_url, "SELECT count(*) FROM outbox WHERE status = 'pending'") == 0:
                return True
            await asyncio.sleep(0.2)
        return False


async def storm(server: Server, slack: FakeSlack, *, alerts: int, seconds: float) -> dict[str, Any]:
    posts = alerts // PER_POST
    interval = seconds / posts
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    answers: list[tuple[int, float]] = []
    acks: list[float] = []
    ack_status: dict[int, int] = {}
    retries: dict[int, int] = {}
    errors: dict[str, int] = {}
    announce = slack.channel_by_name("incidents")
    assert announce is not None
    calls_before = len(slack.calls)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
        bodies = [json.dumps(am_body("storm", i * PER_POST, PER_POST)).encode() for i in range(posts)]

        async def post(i: int, at: float) -> None:
            # As Alertmanager does: a 5xx, a 429 or no answer is retried (after 0.5 s, doubling up to 8 s).
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            sent = time.monotonic()
            delay = 0.5
            while True:
                try:
                    response = await client.post("/alerts/alertmanager", content=bodies[i],
                                                 headers={**headers, "Content-Type": "application/json"})
                    status = response.status_code
                except httpx.HTTPError as exc:
                    status, response = 0, None
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                if status < 500 and status != 429 and status != 0:
                    break
                retries[status] = retries.get(status, 0) + 1
                await asyncio.sleep(delay)
                delay = min(8.0, delay * 2)
            answers.append((status, time.monotonic() - sent))

        async def command(at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            body, signed = slash_command(SIGNING_SECRET, "status INC-1", channel_id=announce.id,
                                         channel_name="incidents",
                                         response_url=slack.new_response_url(channel_id=announce.id))
            sent = time.monotonic()
            response = await client.post("/slack/events", content=body, headers=signed)
            acks.append(time.monotonic() - sent)
            ack_status[response.status_code] = ack_status.get(response.status_code, 0) + 1

        async def stored_watch(t0: float) -> float:
            """Poll the database (the server's own answers say nothing about rows it stored on retries)."""
            stored = 0
            while stored < alerts:
                await asyncio.sleep(0.05)
                stored = await pg_scalar(server.database_url, "SELECT count(*) FROM alerts")
            return time.monotonic() - t0

        t0 = time.monotonic() + 0.2
        watch = asyncio.create_task(stored_watch(t0))
        await asyncio.gather(*(post(i, t0 + i * interval) for i in range(posts)),
                             # commands start once the first alerts have opened INC-1
                             *(command(t0 + 0.5 + k * 0.1) for k in range(int(seconds * 10) - 5)))
        answered = time.monotonic() - t0
        try:
            all_stored_s = await asyncio.wait_for(watch, 120)
        except TimeoutError:
            raise RuntimeError(f"not all stored 120 s after the last answer: statuses "
                               f"{[s for s, _ in answers]}, retries {retries}, errors {errors}") from None
    drained = await server.wait_outbox_empty(120)
    drained_s = time.monotonic() - t0
    # Web API calls; the slash commands' replies through their response_url are counted apart.
    everything = slack.calls[calls_before:]
    calls = [c for c in everything if c.method != "response_url"]
    by_method: dict[str, int] = {}
    for c in calls:
        by_method[c.method] = by_method.get(c.method, 0) + 1
    stored = await pg_scalar(server.database_url, "SELECT count(*) FROM alerts")
    incidents = await pg_scalar(server.database_url, "SELECT count(*) FROM incidents")
    latencies = sorted(a for _, a in answers)
    acks.sort()
    return {
        "alerts": alerts, "posts": posts, "seconds": seconds,
        "accepted_posts": sum(1 for s, _ in answers if 200 <= s < 300),
        "post_statuses": {str(s): sum(1 for x, _ in answers if x == s) for s in {s for s, _ in answers}},
        "post_retries": {str(k): v for k, v in retries.items()}, "post_errors": errors,
        "post_p50_ms": round(1000 * statistics.median(latencies), 1),
        "post_p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1),
        "all_answered_s": round(answered, 2), "all_stored_s": round(all_stored_s, 2),
        "stored": stored, "incidents": incidents,
        "outbox_drained": drained, "outbox_drained_s": round(drained_s, 1),
        "slack_calls": len(calls), "slack_calls_by_method": by_method,
        "slash_replies_via_response_url": len(everything) - len(calls),
        "slash_commands": len(acks), "slash_ack_statuses": {str(k): v for k, v in ack_status.items()},
        "slash_ack_p50_ms": round(1000 * statistics.median(acks), 1),
        "slash_ack_p99_ms": round(1000 * acks[int(0.99 * (len(acks) - 1))], 1),
        "slash_ack_max_ms": round(1000 * acks[-1], 1),
    }


def alert_to_channel(server: Server, slack: FakeSlack, runs: int) -> dict[str, Any]:
    slack.latency = 0.05
    times = []
    try:
        for k in range(runs):
            cluster = f"a2c{k}"
            slack.reset_calls()
            sent = time.time()
            response = httpx.post(f"{server.url}/alerts/alertmanager", json=am_body(cluster, 0, 1),
                                  headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30)
            response.raise_for_status()
            deadline = time.monotonic() + 60
            pinned = None
            while pinned is None and time.monotonic() < deadline:
                pinned = next((c for c in slack.calls_to("pins.add") if c.ok), None)
                time.sleep(0.005)
            if pinned is None:
                raise RuntimeError(f"no header pinned within 60 s for {cluster}")
            times.append(pinned.at - sent)
            asyncio.run(server.wait_outbox_empty(60))
    finally:
        slack.latency = 0.0
    return {"runs": runs, "slack_latency_ms": 50, "median_s": round(statistics.median(times), 3),
            "max_s": round(max(times), 3), "all_s": [round(t, 3) for t in times]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--channels", type=int, default=5, help="alert-to-channel runs (default 5)")
    parser.add_argument("--json", dest="json_path", type=Path)
    args = parser.parse_args(argv)

    slack = FakeSlack().start()
    slack.add_channel("incidents", members=["U0ALICE"])
    result: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="pagerbot-bench-storm-") as tmp, \
                database("postgresql", Path(tmp)) as url:
            server = Server(url, slack, Path(tmp))
            try:
                time.sleep(2)
                idle = rss_mb(server.proc.pid)
                result["storm"] = asyncio.run(storm(server, slack, alerts=args.alerts, seconds=args.seconds))
                result["memory"] = {"idle_mb": round(idle, 1), "after_storm_mb": round(rss_mb(server.proc.pid), 1),
                                    "alerts_stored": result["storm"]["stored"],
                                    "counted": "the server process only (no graph render worker runs: it starts "
                                               "only with a metrics source)"}
                result["alert_to_channel"] = alert_to_channel(server, slack, args.channels)
            finally:
                server.proc.stop()
    finally:
        slack.stop()

    s, m, a = result["storm"], result["memory"], result["alert_to_channel"]
    print(f"storm: {s['stored']}/{s['alerts']} alerts stored {s['all_stored_s']:.2f} s after the first of "
          f"{s['posts']} posts ({s['seconds']:.0f} s schedule; post p50 {s['post_p50_ms']} ms, p99 "
          f"{s['post_p99_ms']} ms; {s['incidents']} incident)")
    print(f"  Slack API calls until the outbox was empty ({s['outbox_drained_s']} s): {s['slack_calls']} "
          f"{s['slack_calls_by_method']}")
    print(f"  slash commands during the storm: {s['slash_commands']}, ack p50 {s['slash_ack_p50_ms']} ms, "
          f"p99 {s['slash_ack_p99_ms']} ms, max {s['slash_ack_max_ms']} ms {s['slash_ack_statuses']}")
    print(f"memory (server RSS): idle {m['idle_mb']} MB, after {m['alerts_stored']} alerts {m['after_storm_mb']} MB "
          f"({m['counted']})")
    print(f"alert to pinned header, Slack +50 ms a call: median {a['median_s']:.3f} s, max {a['max_s']:.3f} s "
          f"({a['runs']} incidents)")
    if args.json_path:
        args.json_path.write_text(json.dumps(result, indent=2) + "\n")
    ok = s["stored"] == s["alerts"] and s["accepted_posts"] == s["posts"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
