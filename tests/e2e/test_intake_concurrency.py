"""Concurrent deliveries of one group, on SQLite and PostgreSQL: one open incident, one channel, no errors.

Twenty senders post different alerts of the same cluster at the same instant (a barrier releases them
together), for several clusters in turn; the database's unique key decides the race and the losers join."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.e2e.intake_support import Sender, scalar, sql
from tests.fakes.slack_api import FakeSlack
from tests.harness import ServerThread, make_settings
from tests.payloads import am_alert, am_notification

SENDERS = 20
CLUSTERS = ("east", "west", "north")


def _body(cluster: str, index: int) -> dict[str, Any]:
    alert = am_alert("HostDown", instance=f"{cluster}-{index:02d}:9100", cluster=cluster,
                     summary=f"{cluster}-{index:02d} is down")
    return am_notification([alert], cluster=cluster)


def test_simultaneous_alerts_of_one_group_open_one_incident(database_url: str, fake_slack: FakeSlack) -> None:
    settings = make_settings(database_url, slack_api_url=fake_slack.api_url,
                             config={"slack": {"announce_channel": "incidents"}})
    with ServerThread(settings) as server:
        senders = [Sender(server.url) for _ in range(SENDERS)]
        try:
            for sender in senders:  # connections open before the race, so the requests really overlap
                assert sender.client.get(f"{server.url}/healthz").status_code == 200
            for cluster in CLUSTERS:
                barrier = threading.Barrier(SENDERS)

                def send(index: int, cluster: str = cluster, barrier: threading.Barrier = barrier) -> int:
                    barrier.wait(10)
                    return senders[index].post("alertmanager", _body(cluster, index)).status_code

                with ThreadPoolExecutor(SENDERS) as pool:
                    statuses = list(pool.map(send, range(SENDERS)))
                assert statuses == [202] * SENDERS, statuses
        finally:
            for sender in senders:
                sender.close()
        assert server.drain(30)

    rows = sql(database_url, "SELECT group_key, count(*) FROM incidents GROUP BY group_key ORDER BY group_key")
    assert rows == [(f"cluster={c}", 1) for c in sorted(CLUSTERS)]
    assert scalar(database_url, "SELECT count(*) FROM incidents WHERE open_group_key IS NOT NULL") == len(CLUSTERS)
    assert scalar(database_url, "SELECT count(*) FROM alerts") == SENDERS * len(CLUSTERS)
    per_incident = sql(database_url, "SELECT incident_id, count(*) FROM alerts GROUP BY incident_id")
    assert sorted(n for _, n in per_incident) == [SENDERS] * len(CLUSTERS)
    channels = [c for c in fake_slack.channels.values() if c.name.startswith("inc-")]
    assert len(channels) == len(CLUSTERS), [c.name for c in channels]
    creates = fake_slack.calls_to("conversations.create")
    assert len(creates) == len(CLUSTERS) and all(c.ok for c in creates)
