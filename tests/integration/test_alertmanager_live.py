"""The real Alertmanager pushing to a real pagerbot server: alerts posted to Alertmanager's API become an
incident and its channel; resolving them (endsAt in the past) brings the "every alert has resolved" offer
with its Resolve button. Alertmanager is configured as docs/intake.md tells users to (bearer token,
send_resolved)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pagerbot.chat.blocks import RESOLVE_OFFER
from tests.e2e.intake_support import scalar, sql
from tests.fakes.slack_api import FakeSlack
from tests.harness import API_TOKEN, ServerThread, make_settings, wait_for
from tests.peers.alertmanager import start_alertmanager

pytestmark = pytest.mark.peers


def _alert(name: str, host: str, severity: str) -> dict[str, object]:
    return {
        "labels": {"alertname": name, "cluster": "prod", "instance": f"{host}:9100", "severity": severity},
        "annotations": {"summary": f"{name} on {host}"},
        "startsAt": datetime.now(UTC) - timedelta(minutes=1),
    }


def test_alertmanager_pushes_to_pagerbot(database_url: str, fake_slack: FakeSlack, tmp_path: Path) -> None:
    settings = make_settings(database_url, slack_api_url=fake_slack.api_url,
                             config={"slack": {"announce_channel": "incidents"}})
    with ServerThread(settings) as server, start_alertmanager(
            tmp_path, webhook_url=f"{server.url}/alerts/alertmanager", token=API_TOKEN) as am:
        firing = [_alert("HostDown", "db1", "critical"), _alert("HighLoad", "db2", "warning")]
        am.post_alerts(firing)
        wait_for(lambda: scalar(database_url, "SELECT count(*) FROM alerts") == 2, 20, interval=0.2,
                 what=f"the alerts from Alertmanager (its log: {am.log_tail(500)})")
        # the worst alert names the incident
        channel = wait_for(lambda: next((c for c in fake_slack.channels.values() if c.name.startswith("inc-")),
                                        None), 20, what="the incident channel")
        assert channel.name.endswith("-hostdown-on-db1")
        [incident] = server.get("/incidents")
        assert incident["severity"] == 1 and incident["status"] == "investigating"
        stored = sql(database_url, "SELECT name, host, state, source FROM alerts ORDER BY name")
        assert stored == [("HighLoad", "db2", "firing", "alertmanager"), ("HostDown", "db1", "firing", "alertmanager")]

        ended = datetime.now(UTC) - timedelta(seconds=5)
        am.post_alerts([{**a, "endsAt": ended} for a in firing])

        def offer() -> object:
            return next((m for m in fake_slack.messages(channel.id)
                         if m.text == "Every alert of INC-1 has resolved. Resolve the incident?"), None)

        message = wait_for(offer, 20, interval=0.2, what="the offer to resolve")
        [actions] = [b for b in message.blocks if b["type"] == "actions"]  # type: ignore[attr-defined]
        assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [(RESOLVE_OFFER, "1:1")]
        assert sql(database_url, "SELECT DISTINCT state FROM alerts") == [("resolved",)]
        assert server.get("/incidents/1")["status"] == "investigating"
        # Alertmanager resends whole groups: whatever it sent again changed nothing
        assert scalar(database_url, "SELECT count(*) FROM alerts") == 2
        assert len([c for c in fake_slack.channels.values() if c.name.startswith("inc-")]) == 1
