"""What people who run pagerbot watch, on one real `pagerbot serve` process (JSON logs, PostgreSQL, the fake
Slack, a plain SMTP server, a fake Graphite for live graphs):

- idle, the server process stays under 120 MB resident and has not loaded matplotlib or numpy (graphs are
  drawn in a worker process), and it still has not after drawing one;
- /metrics, scraped before and after traffic and read with prometheus-client's parser, moves: alerts by source
  and outcome, incidents opened, outbox depth and oldest age, Slack calls by method and result with latency,
  emails sent, graph render time, the webhook latency histogram;
- every log line is one JSON object, and handling an alert logs one that carries the incident id.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pagerbot.chat import blocks
from tests.fakes.graphite import FakeGraphite
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_requests import block_action
from tests.harness import SIGNING_SECRET, ServerProcess, postgres_database, wait_for
from tests.integration.production import (
    FAST,
    Samples,
    post_alerts,
    query,
    scrape,
    server_env,
    serving,
    slash,
    value,
    write_config,
)
from tests.payloads import am_alert, am_notification
from tests.peers.smtp import SmtpPeer, smtp_server

pytestmark = pytest.mark.postgres

IDLE_RSS_LIMIT_KB = 120 * 1024


@dataclass
class Served:
    server: ServerProcess
    slack: FakeSlack
    smtp: SmtpPeer
    database_url: str
    log: Path
    idle_rss_kb: int
    idle_libraries: set[str]


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _libraries(pid: int) -> set[str]:
    """Which of matplotlib, numpy, PIL the process has mapped (their compiled modules show in its maps)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {name for name in ("matplotlib", "numpy", "PIL") if f"/{name}/" in maps}


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *_descendants(int(child))]
    return found


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("observability")
    with (FakeSlack() as slack, smtp_server(mode="plain") as smtp, FakeGraphite() as graphite,
          postgres_database() as database_url):
        slack.add_channel("incidents", members=["U0ALICE"])
        config = write_config(tmp, {
            "slack": {"announce_channel": "incidents", "responders": ["U0ALICE"]},
            "metrics": {"source": "graphite", "url": graphite.url, "pools": {"web": ["web1", "web2", "web3"]}},
            "vendors": {"contegix": {"name": "Contegix", "to": ["support@contegix.example"]}},
            "smtp": {"host": smtp.host, "port": smtp.port, "starttls": False, "from": "pagerbot@acme.example"},
            "server": FAST,
        })
        log = tmp / "serve.log"
        server = ServerProcess(server_env(database_url, slack, config), log_path=log, log_format="json")
        with serving(server):
            assert server.process is not None
            wait_for(lambda: value(scrape(server.url), "pagerbot_scheduler_ticks_total") >= 2, 10,
                     what="the scheduler to tick (the server is idle but running)")
            yield Served(server, slack, smtp, database_url, log, _rss_kb(server.process.pid),
                         _libraries(server.process.pid))


def test_idle_server_is_small_and_draws_nothing_itself(served: Served) -> None:
    print(f"idle RSS of pagerbot serve: {served.idle_rss_kb / 1024:.1f} MB")
    assert served.idle_rss_kb < IDLE_RSS_LIMIT_KB, f"idle RSS {served.idle_rss_kb / 1024:.1f} MB"
    assert served.idle_libraries == set()


def _settled(served: Served) -> bool:
    return query(served.database_url, "SELECT count(*) AS n FROM outbox WHERE status <> 'done'")[0]["n"] == 0


def _channel_of(served: Served, incident_id: int) -> str:
    def channel() -> str | None:
        rows = query(served.database_url, "SELECT channel_id FROM incidents WHERE id = $1", incident_id)
        return rows[0]["channel_id"] if rows else None
    return str(wait_for(channel, 20, what=f"INC-{incident_id}'s channel"))


def _send_email(served: Served, channel: str) -> None:
    """/incident escalate, then Send on the draft pagerbot posts for review."""
    answer = slash(served.server.url, served.slack, "escalate contegix", channel_id=channel)
    assert "drafted" in answer["text"], answer

    def send_button() -> tuple[str, str] | None:
        for message in served.slack.messages(channel):
            for block in message.blocks or []:
                for element in block.get("elements", []) if block.get("type") == "actions" else []:
                    if element.get("action_id") == blocks.EMAIL_SEND:
                        return message.ts, str(element["value"])
        return None

    ts, email_id = wait_for(send_button, 20, what="the draft with its Send button")
    url = served.slack.new_response_url(channel_id=channel, message_ts=ts, user_id="U0ALICE")
    body, headers = block_action(SIGNING_SECRET, blocks.EMAIL_SEND, email_id, channel_id=channel, message_ts=ts,
                                 response_url=url, trigger_id=served.slack.new_trigger_id())
    assert httpx.post(f"{served.server.url}/slack/events", content=body, headers=headers).status_code == 200
    wait_for(lambda: served.smtp.received, 20, what="the email at the SMTP server")


def _moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_metrics_move_with_traffic(served: Served) -> None:
    url = served.server.url
    before = scrape(url)

    # alerts: accepted, refused as invalid, refused without a token
    assert post_alerts(url, "alertmanager", am_notification([am_alert("Load", cluster="m1")], cluster="m1")
                       ).status_code == 202
    assert post_alerts(url, "alertmanager", {"version": "4", "alerts": "nope"}).status_code == 422
    assert httpx.post(f"{url}/alerts/alertmanager", json={}).status_code == 401
    channel = _channel_of(served, 1)
    wait_for(lambda: _settled(served), 30, interval=0.2, what="the opening and the first graph delivered")
    _send_email(served, channel)

    # Slack is down: the outbox fills and ages, the failed calls are counted; then it drains
    served.slack.outage(503)
    assert post_alerts(url, "alertmanager", am_notification([am_alert("Disk", cluster="m2")], cluster="m2")
                       ).status_code == 202
    during = wait_for(lambda: (s := scrape(url)) and value(s, "pagerbot_outbox_oldest_seconds") > 0.5 and s, 20,
                      what="an aging outbox")
    assert value(during, "pagerbot_outbox_pending") >= 1
    served.slack.end_outage()
    wait_for(lambda: _settled(served), 30, interval=0.2, what="the outbox drained")
    after = scrape(url)

    assert _moved(before, after, "pagerbot_alerts_received_total", source="alertmanager", outcome="accepted") == 2
    assert _moved(before, after, "pagerbot_alerts_received_total", source="alertmanager", outcome="422") == 1
    assert _moved(before, after, "pagerbot_alerts_received_total", source="alertmanager", outcome="401") == 1
    assert _moved(before, after, "pagerbot_incidents_opened_total") == 2
    assert value(after, "pagerbot_outbox_pending") == 0 and value(after, "pagerbot_outbox_oldest_seconds") == 0
    assert _moved(before, after, "pagerbot_slack_api_calls_total", method="conversations.create", result="ok") == 2
    assert _moved(before, after, "pagerbot_slack_api_calls_total", result="service_unavailable") >= 1
    assert _moved(before, after, "pagerbot_slack_api_seconds_count", method="chat.postMessage") >= 2
    assert _moved(before, after, "pagerbot_slack_api_seconds_sum", method="chat.postMessage") > 0
    assert _moved(before, after, "pagerbot_emails_sent_total", outcome="sent") == 1
    assert _moved(before, after, "pagerbot_graph_render_seconds_count") >= 2
    assert _moved(before, after, "pagerbot_graph_render_seconds_sum") > 0
    assert _moved(before, after, "pagerbot_webhook_seconds_count", route="alertmanager") == 4
    assert _moved(before, after, "pagerbot_webhook_seconds_bucket", route="alertmanager", le="+Inf") == 4
    assert _moved(before, after, "pagerbot_outbox_delivered_total", op="open_channel", outcome="done") == 2

    # the graphs were drawn in the worker process, never in the server's
    assert served.server.process is not None
    pid = served.server.process.pid
    assert "matplotlib" not in _libraries(pid)
    assert any("matplotlib" in _libraries(child) for child in _descendants(pid))


def _log_lines(path: Path) -> list[dict[str, Any]]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(p, dict) and {"time", "level", "logger", "message"} <= set(p) for p in parsed)
    return parsed


def test_log_lines_are_json_and_carry_the_incident_id(served: Served) -> None:
    response = post_alerts(served.server.url, "alertmanager",
                           am_notification([am_alert("Swap", cluster="logs")], cluster="logs"))
    assert response.status_code == 202

    def opened() -> list[dict[str, Any]]:
        return [line for line in _log_lines(served.log)
                if line["message"].startswith("INC-") and " opened by alerts of group " in line["message"]
                and line["message"].endswith("logs") and line["logger"] == "pagerbot.alerts"]

    line = wait_for(opened, 10, what="the log line of the opening")[0]
    incident_id = int(line["message"].split()[0].removeprefix("INC-"))
    assert line["incident_id"] == incident_id and line["level"] == "info"
    assert os.path.getsize(served.log) > 0
