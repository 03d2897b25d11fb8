"""Two real `pagerbot serve` processes on one PostgreSQL database and one fake Slack behave as one.

- A storm of one alert group, posted in parallel to both, opens one incident and one channel; every alert
  is stored once and every outbox row is delivered once, even the one whose Slack call outlasts the lease
  (the claimer renews it).
- A SIGKILL of one replica mid-storm: the other carries on, nothing answered 2xx is lost, and the rows the
  dead one had claimed are claimed again once their lease (server.outbox_lease_seconds) runs out, as
  "maybe sent", so nothing is posted twice.
- The scheduler's tick runs on one replica at a time (the advisory lock); when that one dies, the other
  takes over within one tick (server.tick_seconds).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from pagerbot.outbox.worker import RECLAIMED
from tests.fakes.slack_api import FakeSlack
from tests.harness import ServerProcess, postgres_database, wait_for
from tests.integration.production import FAST, post_alerts, query, scrape, server_env, serving, value, write_config
from tests.payloads import am_alert, am_notification

pytestmark = pytest.mark.postgres

STORM = 40


def _replicas(tmp_path: Path, database_url: str, slack: FakeSlack, **server: float) -> list[ServerProcess]:
    config = write_config(tmp_path, {"slack": {"announce_channel": "incidents", "responders": ["U0ALICE"]},
                                     "intake": {"digest_seconds": 0.5}, "server": FAST | server})
    return [ServerProcess(server_env(database_url, slack, config), log_path=tmp_path / f"replica-{name}.log")
            for name in "ab"]


def _alert(n: int) -> dict[str, Any]:
    return am_notification([am_alert(f"Alert{n:03d}", instance=f"web{n}:9100", summary=f"web{n} is unwell")])


def _send(urls: Callable[[int], list[str]], n: int) -> tuple[int, str | None]:
    """Deliver alert ``n`` as a sender behind a load balancer would: the next replica when one fails."""
    for url in urls(n):
        try:
            response = post_alerts(url, "alertmanager", _alert(n), timeout=10)
        except httpx.HTTPError:
            continue
        if response.status_code == 202:
            return n, url
    return n, None


def _incident_channels(slack: FakeSlack) -> list[str]:
    return [c.id for c in slack.channels.values() if c.name.startswith("inc-")]


def _settled(database_url: str) -> bool:
    return query(database_url, "SELECT count(*) AS n FROM outbox WHERE status <> 'done'")[0]["n"] == 0


def _assert_one_incident_delivered_once(database_url: str, slack: FakeSlack, sent: int) -> None:
    incidents = query(database_url, "SELECT id, channel_id FROM incidents")
    assert len(incidents) == 1, incidents
    alerts = query(database_url, "SELECT fingerprint, count(*) AS n FROM alerts GROUP BY fingerprint")
    assert len(alerts) == sent and all(a["n"] == 1 for a in alerts)
    assert len([c for c in slack.calls_to("conversations.create") if c.ok]) == 1
    channels = _incident_channels(slack)
    assert channels == [incidents[0]["channel_id"]]
    assert query(database_url, "SELECT count(*) AS n FROM outbox WHERE status = 'dead'")[0]["n"] == 0
    # every message pagerbot posted carries its outbox row's id: none may appear twice
    announce = slack.channel_by_name("incidents")
    assert announce is not None
    posted = Counter(((m.metadata or {}).get("event_payload") or {}).get("outbox_id")
                     for channel in (channels[0], announce.id) for m in slack.messages(channel) if m.metadata)
    assert posted and max(posted.values()) == 1, posted
    assert len(slack.pinned(channels[0])) == 1


def test_storm_split_across_two_replicas_then_leader_dies(tmp_path: Path, fake_slack: FakeSlack) -> None:
    tick = 1.0
    with postgres_database() as database_url:
        a, b = _replicas(tmp_path, database_url, fake_slack, tick_seconds=tick)
        with serving(a, b):
            def both(n: int) -> list[str]:
                return [a.url, b.url] if n % 2 else [b.url, a.url]

            # creating the channel takes longer than the lease: its claimer renews the lease, nobody steals it
            fake_slack.hang_next("conversations.create", FAST["outbox_lease_seconds"] + 1.5)
            with ThreadPoolExecutor(16) as pool:
                results = list(pool.map(lambda n: _send(both, n), range(STORM)))
            assert all(url is not None for _, url in results), results
            assert {url for _, url in results} == {a.url, b.url}
            wait_for(lambda: _settled(database_url), 30, interval=0.2, what="every outbox row delivered")
            _assert_one_incident_delivered_once(database_url, fake_slack, STORM)
            # each row was handled once, whichever replica claimed it (FOR UPDATE SKIP LOCKED)
            done = query(database_url, "SELECT count(*) AS n FROM outbox WHERE status = 'done'")[0]["n"]
            delivered = sum(value(scrape(s.url), "pagerbot_outbox_delivered_total", outcome="done") for s in (a, b))
            assert delivered == done
            assert all(value(scrape(s.url), "pagerbot_outbox_reclaimed_total") == 0 for s in (a, b))

            # the scheduler's tick runs on one replica at a time ...
            def leaders() -> list[ServerProcess]:
                return [s for s in (a, b) if value(scrape(s.url), "pagerbot_scheduler_leader") == 1]

            leader = wait_for(leaders, 10, what="a scheduler leader")[0]
            follower = b if leader is a else a
            before = {s.url: value(scrape(s.url), "pagerbot_scheduler_ticks_total") for s in (a, b)}
            time.sleep(3 * tick)
            after = {s.url: value(scrape(s.url), "pagerbot_scheduler_ticks_total") for s in (a, b)}
            assert leaders() == [leader]
            assert after[leader.url] - before[leader.url] >= 2
            assert after[follower.url] == 0  # it tried at every tick, and never got to run one

            # ... and when the leader dies, the other runs the next one
            leader.kill()
            killed = time.monotonic()
            wait_for(lambda: value(scrape(follower.url), "pagerbot_scheduler_ticks_total") > 0, 10 * tick,
                     interval=0.05, what="the other replica to take over")
            assert time.monotonic() - killed < 2 * tick
            assert value(scrape(follower.url), "pagerbot_scheduler_leader") == 1


def test_sigkill_mid_storm_loses_nothing(tmp_path: Path, fake_slack: FakeSlack) -> None:
    fake_slack.latency = 0.05
    with postgres_database() as database_url:
        replicas = _replicas(tmp_path, database_url, fake_slack)
        a, b = replicas
        with serving(a, b):
            answered: dict[int, float] = {}

            def paced(n: int) -> tuple[int, str | None]:
                time.sleep(n * 0.05)  # the storm lasts two seconds
                result = _send(both, n)
                answered[n] = time.time()
                return result

            def both(n: int) -> list[str]:
                return [a.url, b.url] if n % 2 else [b.url, a.url]

            def claims() -> list[dict[str, Any]]:
                return query(database_url, "SELECT id, claimed_by FROM outbox WHERE status = 'pending' AND "
                                           "claimed_by IS NOT NULL")

            with ThreadPoolExecutor(8) as pool:
                futures = [pool.submit(paced, n) for n in range(STORM)]
                # The victim is the replica delivering right now; Slack turns slow so that it is caught in the
                # middle of a call (which Slack still carries out after the caller died).
                wait_for(claims, 20, interval=0.02, what="a claimed outbox row")
                fake_slack.latency = 2.0

                def stuck() -> str | None:
                    first = {r["id"]: r["claimed_by"] for r in claims()}
                    time.sleep(0.3)
                    still = [c for i, c in first.items() if any(r["id"] == i for r in claims())]
                    return str(still[0]) if still else None

                claimer = wait_for(stuck, 15, interval=0, what="a row claimed through a slow Slack call")
                victim = next(s for s in replicas if s.process is not None and f":{s.process.pid}:" in claimer)
                survivor = b if victim is a else a
                victim.kill()
                killed_at = time.time()
                held = query(database_url, "SELECT id, claimed_until FROM outbox WHERE claimed_by = $1", claimer)
                fake_slack.latency = 0.05
                results = [f.result() for f in futures]
            assert min(answered.values()) < killed_at < max(answered.values())  # mid-storm
            assert all(url is not None for _, url in results), results  # what the victim dropped went to the other
            assert held, "the victim held no claim when it was killed"

            wait_for(lambda: _settled(database_url), 30, interval=0.2, what="every outbox row delivered")
            _assert_one_incident_delivered_once(database_url, fake_slack, STORM)
            rows = query(database_url, "SELECT id, done_at, last_error, maybe_sent FROM outbox WHERE id = ANY($1)",
                         [r["id"] for r in held])
            for row, claim in zip(sorted(rows, key=lambda r: r["id"]), sorted(held, key=lambda r: r["id"]),
                                  strict=True):
                # claimed again by the survivor only once the victim's lease ran out, and treated as maybe sent
                assert row["done_at"] >= claim["claimed_until"], (row, claim)
                assert row["last_error"].startswith(RECLAIMED) and row["maybe_sent"] == 1
            assert value(scrape(survivor.url), "pagerbot_outbox_reclaimed_total") >= len(held)
