"""Same-titled incidents opened at the same moment each get a channel of their own.

Their channel names clash (`inc-<day>-<slug>`, `-2`, `-3` …), so the outbox meets `name_taken` while another
incident's channel is created and not yet stored. Such a channel is never adopted: only one this incident's
own earlier attempt created is. Checked on SQLite, PostgreSQL, two replicas on PostgreSQL, and the local
workspace: as many channels as incidents, one pinned header in each.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.slack_api import FakeSlack
from tests.harness import API_TOKEN, ServerProcess, ServerThread, make_settings, postgres_database, wait_for
from tests.integration.production import FAST, server_env, serving, write_config
from tests.payloads import am_alert, am_notification

ROUNDS, CLUSTERS = 3, 8  # eight same-titled alerts in eight clusters, posted three times at once


def _storm() -> list[dict[str, Any]]:
    """One notification per round, each alert in its own cluster (so its own incident), all titled alike."""
    return [am_notification([am_alert("DiskFull", instance=f"db{n}:9100", cluster=f"c{r}-{n}",
                                      summary="Disk full on the database")
                             for n in range(CLUSTERS)], cluster=f"round{r}")
            for r in range(ROUNDS)]


def _post_all(urls: list[str]) -> None:
    def post(i: int, body: dict[str, Any]) -> int:
        return httpx.post(f"{urls[i % len(urls)]}/alerts/alertmanager", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {API_TOKEN}"}).status_code
    with ThreadPoolExecutor(ROUNDS) as pool:
        assert list(pool.map(post, range(ROUNDS), _storm())) == [202] * ROUNDS


def _incidents(url: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/incidents", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30)
    response.raise_for_status()
    return list(response.json())


def _all_have_channels(url: str) -> list[dict[str, Any]] | None:
    found = _incidents(url)
    return found if len(found) == ROUNDS * CLUSTERS and all(i["channel_id"] for i in found) else None


def _check_slack(fake: FakeSlack, incidents: list[dict[str, Any]]) -> None:
    channels = [i["channel_id"] for i in incidents]
    assert len(set(channels)) == len(incidents), Counter(channels).most_common(3)
    for channel in channels:
        assert len(fake.pinned(channel)) == 1, (channel, fake.pinned(channel))


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_same_titled_storm_gets_a_channel_per_incident(kind: str, tmp_path: Path, fake_slack: FakeSlack) -> None:
    from tests.harness import database

    with database(kind, tmp_path) as url:
        settings = make_settings(url, slack_api_url=fake_slack.api_url,
                                 config={"slack": {"announce_channel": "incidents"}})
        with ServerThread(settings) as server:
            _post_all([server.url])
            server.apply_inbox()
            incidents = wait_for(lambda: _all_have_channels(server.url), timeout=90, what="every channel")
            server.drain(60)
            _check_slack(fake_slack, incidents)


@pytest.mark.postgres
def test_two_replicas_give_each_incident_its_own_channel(tmp_path: Path, fake_slack: FakeSlack) -> None:
    config = write_config(tmp_path, {"slack": {"announce_channel": "incidents"}, "server": FAST})
    with postgres_database() as url:
        replicas = [ServerProcess(server_env(url, fake_slack, config), log_path=tmp_path / f"replica-{n}.log")
                    for n in "ab"]
        with serving(*replicas):
            _post_all([r.url for r in replicas])
            incidents = wait_for(lambda: _all_have_channels(replicas[0].url), timeout=120, what="every channel")
            wait_for(lambda: all(len(fake_slack.pinned(i["channel_id"])) == 1 for i in incidents), timeout=60,
                     what="every header pinned")
            _check_slack(fake_slack, incidents)


def test_the_local_workspace_gives_each_incident_its_own_channel(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, slack=False, config={"slack": {"announce_channel": "incidents"}})
    with ServerThread(settings) as server:
        _post_all([server.url])
        server.apply_inbox()
        incidents = wait_for(lambda: _all_have_channels(server.url), timeout=90, what="every channel")
        channels = [i["channel_id"] for i in incidents]
        assert len(set(channels)) == len(incidents), Counter(channels).most_common(3)
        assert server.runtime is not None and server.runtime.local is not None
        names = {c.name for c in server.call(server.runtime.local.channels())}
        assert len({i["channel_id"] for i in incidents} & {c.id for c in server.call(
            server.runtime.local.channels())}) == len(incidents)
        assert len([n for n in names if n != "incidents"]) == len(incidents)
