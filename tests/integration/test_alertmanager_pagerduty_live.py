"""The installed Alertmanager with a ``pagerduty_configs`` receiver pointed at pagerbot's /alerts/pagerduty, as
docs/intake.md configures it: a 60-alert group (its PagerDuty event carries the whole group in custom_details,
past the 16 KiB a detail is kept whole) opens one incident, its resolve resolves the alert, and Alertmanager's
log holds no error (it drops a notification answered 4xx: "unrecoverable error")."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.intake_support import scalar, sql
from tests.fakes.slack_api import FakeSlack
from tests.harness import API_TOKEN, ServerThread, make_settings, wait_for
from tests.peers.alertmanager import pagerduty_receiver, start_alertmanager

pytestmark = pytest.mark.peers


def _alerts(ended: datetime | None = None) -> list[dict[str, object]]:
    started = datetime.now(UTC) - timedelta(minutes=2)
    alerts: list[dict[str, object]] = []
    for number in range(60):
        alert: dict[str, object] = {
            "labels": {"alertname": "HostHighLoad", "cluster": "prod", "instance": f"web{number:02d}:9100",
                       "severity": "critical"},
            "annotations": {"summary": f"Load on web{number:02d} is high",
                            "description": f"node_load1 on web{number:02d} has been over 8 for 5 minutes; "
                                           "the run queue is long and requests wait for a CPU. " * 3},
            "startsAt": started}
        if ended is not None:
            alert["endsAt"] = ended
        alerts.append(alert)
    return alerts


def test_alertmanager_pagerduty_receiver(database_url: str, fake_slack: FakeSlack, tmp_path: Path) -> None:
    settings = make_settings(database_url, slack_api_url=fake_slack.api_url)
    with ServerThread(settings) as server:
        receiver = pagerduty_receiver(f"{server.url}/alerts/pagerduty", API_TOKEN)
        with start_alertmanager(tmp_path, token=API_TOKEN, receivers={"pagerbot": receiver}) as am:
            am.post_alerts(_alerts())

            def details() -> dict[str, str]:
                server.apply_inbox()
                rows = sql(database_url, "SELECT annotations FROM alerts")
                if not rows:
                    return {}
                stored = rows[0][0]
                return stored if isinstance(stored, dict) else json.loads(stored)  # type: ignore[no-any-return]

            # Alertmanager may flush the group before it has taken all 60 alerts in: wait for the whole group
            group = wait_for(lambda: details().get("num_firing") == "60" and details(), 30, interval=0.3,
                             what=f"the PagerDuty event of 60 alerts (Alertmanager's log: {am.log_tail(800)})")
            assert scalar(database_url, "SELECT count(*) FROM alerts") == 1  # one event per group, one alert
            [incident] = server.get("/incidents")
            assert incident["severity"] == 2  # Alertmanager's PagerDuty severity is "error" unless configured
            assert len(group["firing"]) == 16 * 1024 and "clipped by pagerbot" in group["firing"]

            am.post_alerts(_alerts(ended=datetime.now(UTC) - timedelta(seconds=1)))

            def resolved() -> bool:
                server.apply_inbox()
                return sql(database_url, "SELECT state FROM alerts") == [("resolved",)]

            wait_for(resolved, 30, interval=0.3, what=f"the resolve (Alertmanager's log: {am.log_tail(800)})")
            log = am.log_tail(1_000_000)
        assert len(server.get("/incidents")) == 1
        assert "level=error" not in log and "level=warn" not in log and "unrecoverable" not in log, log[-3000:]
