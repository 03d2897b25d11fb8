"""SIGKILL of `pagerbot serve` in the middle of a stream of alerts, then a restart on the same database:
every alert answered 2xx is stored, and reaches Slack exactly once (the outbox resumes where it was)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.e2e.intake_support import SlackView, scalar, stored_fingerprints, storm_alerts, waiting_deliveries
from tests.fakes.slack_api import FakeSlack
from tests.harness import API_TOKEN, SIGNING_SECRET, ServerProcess, ServerThread, make_settings, wait_for
from tests.payloads import am_notification

NOTIFICATIONS = 40
PER_NOTIFICATION = 5
KILL_AFTER = 12  # 2xx answers before the kill


CONFIG: dict[str, Any] = {
    "slack": {"announce_channel": "incidents", "responders": ["U0ALICE"]},
    # every alert gets its own line in the channel (no digest), so "exactly once" can be read off Slack
    "intake": {"storm_threshold": 10_000},
    # a row claimed by the killed process is taken again after this long
    "server": {"outbox_lease_seconds": 2},
}


def _env(database_url: str, slack: FakeSlack, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "pagerbot.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return {"PAGERBOT_DATABASE_URL": database_url, "PAGERBOT_API_TOKEN": API_TOKEN, "PAGERBOT_CONFIG": str(path),
            "SLACK_BOT_TOKEN": slack.token, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.api_url}


def _post(url: str, body: dict[str, Any]) -> bool:
    """True when the server answered 2xx (the sender may forget the alert); False when it must retry."""
    try:
        response = httpx.post(f"{url}/alerts/alertmanager", json=body, timeout=10,
                              headers={"Authorization": f"Bearer {API_TOKEN}"})
    except httpx.HTTPError:
        return False
    return response.is_success


def _fingerprints(body: dict[str, Any]) -> set[str]:
    return {a["fingerprint"] for a in body["alerts"]}


def test_sigkill_then_restart_loses_and_repeats_nothing(database_url: str, fake_slack: FakeSlack,
                                                        tmp_path: Path) -> None:
    alerts = storm_alerts(NOTIFICATIONS * PER_NOTIFICATION)
    bodies = [am_notification(alerts[i:i + PER_NOTIFICATION]) for i in range(0, len(alerts), PER_NOTIFICATION)]
    env = _env(database_url, fake_slack, tmp_path)
    log = tmp_path / "serve.log"
    first = ServerProcess(env, log_path=log).start()
    answered: list[int] = []
    lock = threading.Lock()
    try:
        # The header's post is slow: the kill comes while it is in flight. Slack carries it out anyway, so
        # the restarted server finds a header it has no record of posting.
        fake_slack.hang_next("chat.postMessage", 4.0)
        for index in range(8):
            assert _post(first.url, bodies[index])
            answered.append(index)
        wait_for(lambda: fake_slack.calls_to("conversations.invite"), 10, what="the channel's set-up")

        def send(index: int) -> None:
            if _post(first.url, bodies[index]):
                with lock:
                    answered.append(index)

        with ThreadPoolExecutor(4) as pool:
            for index in range(8, NOTIFICATIONS):
                pool.submit(send, index)
            wait_for(lambda: len(answered) >= KILL_AFTER, 20, interval=0.005, what=f"{KILL_AFTER} answers")
            # on a loaded machine the answers can come before the worker reaches the header: kill only once
            # the header's post is in flight
            wait_for(lambda: fake_slack.faults_pending() == 0, 20, interval=0.005, what="the header post")
            first.kill()
    finally:
        first.stop()
    assert KILL_AFTER <= len(answered) < NOTIFICATIONS
    stored = stored_fingerprints(database_url)  # applied, or waiting in the inbox for the next start
    for index in answered:
        assert _fingerprints(bodies[index]) <= stored, f"notification {index} was answered 2xx but not stored"
    assert scalar(database_url, "SELECT count(*) FROM outbox WHERE status = 'pending'") > 0
    wait_for(lambda: len(fake_slack.pinned(SlackView.of(fake_slack).channel_id)) == 0 and any(
        m.text.startswith("INC-") for m in SlackView.of(fake_slack).messages), 10, what="the hung header post")

    # The restart: the same app on the same database (in this process, which starts faster than another).
    settings = make_settings(database_url, slack_api_url=fake_slack.api_url, config=CONFIG)
    with ServerThread(settings) as second:
        for index in sorted(set(range(NOTIFICATIONS)) - set(answered)):  # the sender retries the rest
            assert _post(second.url, bodies[index])
        wait_for(lambda: not waiting_deliveries(database_url) and scalar(
            database_url, "SELECT count(*) FROM outbox WHERE status <> 'done'") == 0, 20,
                 interval=0.1, what="the inbox and the outbox to drain after the restart")

    assert scalar(database_url, "SELECT count(*) FROM incidents") == 1
    assert scalar(database_url, "SELECT count(*) FROM alerts") == len(alerts)
    view = SlackView.of(fake_slack)
    view.assert_opened_once()
    # the restarted server looked for the header the killed one had sent, and found it
    assert fake_slack.calls_to("conversations.history")
    lines = [line for line in view.lines() if line.startswith(":red_circle:")]
    opening = {a["labels"]["instance"].split(":")[0] + a["labels"]["alertname"] for a in bodies[0]["alerts"]}
    for alert in alerts:
        host, name = alert["labels"]["instance"].split(":")[0], alert["labels"]["alertname"]
        posted = [line for line in lines if line.startswith(f":red_circle: *{name}* on {host}:")]
        # the alerts that opened the incident are shown in its header; every later one in one line
        assert len(posted) == (0 if host + name in opening else 1), (name, host, posted)
