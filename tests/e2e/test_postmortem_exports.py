"""The postmortem's three ways out: the HTTP route, the CLI, and /incident postmortem (upload)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_requests import slash_command
from tests.harness import SIGNING_SECRET, ServerThread, make_settings, wait_for
from tests.payloads import am_alert, am_notification


def test_route_cli_and_slack_upload(sqlite_url: str, fake_slack: FakeSlack, tmp_path: Path) -> None:
    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url,
                             config={"slack": {"announce_channel": "incidents"}})
    hostile = "# heading <script>alert(1)</script> | pipe [x](http://evil.example)"
    with ServerThread(settings) as server:
        server.post_alerts("alertmanager", am_notification([am_alert("DiskFull", summary=hostile)]))
        server.drain()
        import httpx

        response = httpx.get(f"{server.url}/incidents/1/postmortem.md",
                             headers={"Authorization": "Bearer test-token-123"})
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/markdown")
        assert response.text.startswith("# INC-1")
        assert "<script>" not in response.text and "\n# heading" not in response.text
        missing = httpx.get(f"{server.url}/incidents/99/postmortem.md",
                            headers={"Authorization": "Bearer test-token-123"})
        assert missing.status_code == 404

        channel = next(c for c in fake_slack.channels.values() if c.name.startswith("inc-"))
        body, headers = slash_command(SIGNING_SECRET, "postmortem", channel_id=channel.id, user_id="U0ALICE",
                                      trigger_id=fake_slack.new_trigger_id(),
                                      response_url=fake_slack.new_response_url())
        assert server.slack(body, headers).status_code == 200
        wait_for(lambda: server.drain() and [f for f in fake_slack.files.values()
                                             if f.name == "INC-1-postmortem.md"], what="postmortem upload")

    out = tmp_path / "pm"
    env = {**os.environ, "PAGERBOT_DATABASE_URL": sqlite_url}
    result = subprocess.run([sys.executable, "-m", "pagerbot", "postmortem", "INC-1", "--out", str(out)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (out / "postmortem.md").read_text().startswith("# INC-1")
    bad = subprocess.run([sys.executable, "-m", "pagerbot", "postmortem", "INC-7", "--out", "-"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip() == f"pagerbot: INC-7 does not exist in {sqlite_url}"
