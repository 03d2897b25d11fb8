"""The postmortem's three ways out: the HTTP route, the CLI, and /incident postmortem (upload)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
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


def test_the_postmortem_names_people(sqlite_url: str, fake_slack: FakeSlack) -> None:
    """Lead, participants, the timeline's actor and text columns and the action items show the names from
    Slack's profiles (escaped like any text); the bot asks Slack once per person; an unknown user stays an ID."""
    import httpx

    fake_slack.add_user("U0EVE", "eve", "eve@example.com", real_name="Eve Adams", display_name="Eve | *ops*")
    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url,
                             config={"slack": {"announce_channel": "incidents", "responders": ["U0ALICE", "U0BOB"]}})
    with ServerThread(settings) as server:
        server.post_alerts("alertmanager", am_notification([am_alert("DiskFull", summary="disk full on db1")]))
        server.drain()
        channel = next(c for c in fake_slack.channels.values() if c.name.startswith("inc-"))

        def command(text: str, user: str) -> None:
            """A command whose effect the channel shows (and which answers nothing privately)."""
            url = fake_slack.new_response_url(channel_id=channel.id, user_id=user)
            body, headers = slash_command(SIGNING_SECRET, text, channel_id=channel.id, user_id=user,
                                          trigger_id=fake_slack.new_trigger_id(), response_url=url)
            before = len(fake_slack.messages(channel.id))
            assert server.slack(body, headers).status_code == 200
            wait_for(lambda: fake_slack.messages(channel.id)[before:], what=f"what /incident {text} posts")

        command("ack", "U0ALICE")
        command("lead <@U0BOB|bob>", "U0ALICE")
        command("note action: ask <@U0EVE> to move the reindex | off peak", "U0EVE")
        command("note went-well: U0GHOST helped", "U0GHOST")  # not in the workspace: users.info says user_not_found
        server.drain()

        def postmortem() -> str:
            response = httpx.get(f"{server.url}/incidents/1/postmortem.md",
                                 headers={"Authorization": "Bearer test-token-123"})
            assert response.status_code == 200
            return response.text

        markdown = postmortem()
        assert "- **Lead:** Bob Martinez\n" in markdown
        assert "- **Participants:** Bob Martinez, Alice, Eve \\| \\*ops\\*, U0GHOST\n" in markdown
        assert "| slack | Alice | Alice moved the incident to acknowledged; Alice is the lead |" in markdown
        assert "| slack | Alice | Alice made Bob Martinez the incident lead |" in markdown
        assert "Responders invited: \\@Alice, \\@Bob Martinez" in markdown
        # the action item's table row: the mention inside the action is a name; no owner, priority or link given
        assert ("| ask \\@Eve \\| \\*ops\\* to move the reindex \\| off peak | unassigned | — | — "
                "| Eve \\| \\*ops\\*, ") in markdown
        assert "- U0GHOST helped (U0GHOST, " in markdown
        for raw in ("U0ALICE", "U0BOB", "U0EVE", "&lt;\\@"):
            assert raw not in markdown, raw
        asked = sorted(str(c.args.get("user")) for c in fake_slack.calls_to("users.info"))
        assert asked == ["U0ALICE", "U0BOB", "U0EVE", "U0GHOST"]
        assert "- **Lead:** Bob Martinez\n" in postmortem()
        assert len(fake_slack.calls_to("users.info")) == len(asked)  # the names were kept

        # inside Slack, mentions stay mentions
        assert any("<@U0BOB>" in m.text for m in fake_slack.messages(channel.id))

    # another process, and Slack failing or hanging on users.info: the postmortem comes, with the IDs
    fake_slack.fail_next("users.info", count=2, status=503)
    fake_slack.hang_next("users.info", 5, count=2)
    before = len(fake_slack.calls_to("users.info"))
    with ServerThread(settings) as server:
        started = time.monotonic()
        response = httpx.get(f"{server.url}/incidents/1/postmortem.md",
                             headers={"Authorization": "Bearer test-token-123"}, timeout=30)
        assert response.status_code == 200 and time.monotonic() - started < 10
        assert "- **Lead:** U0BOB\n" in response.text
        # the hung calls end (unanswered) before the fake Slack stops
        wait_for(lambda: len(fake_slack.calls_to("users.info")) >= before + 4, what="the hung users.info calls")
