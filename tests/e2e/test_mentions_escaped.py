"""Alert text is data: an alert whose every field says `<!channel>` never makes Slack notify the channel.

The alert and its storm are posted, the incident runs (status, escalation draft and its preview, resolve),
and then every recorded call to the fake Slack is searched: no text pagerbot sent (fallback `text`, blocks,
purpose, topic, announcement, digest, email preview) carries a mention, a special mention or a link that
came from the sender. Slack shows `plain_text` objects literally, so those may say it as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_requests import slash_command
from tests.harness import SIGNING_SECRET, ServerThread, make_settings, wait_for
from tests.payloads import am_alert, am_notification

EVIL = "<!channel> <!everyone> <!here> <@U0EVIL> <#C0EVIL> <https://evil.example|click>"
# A person's note may mention a colleague (Slack sends the mention as <@U…>): only the rest is checked there.
SAID = EVIL.replace("<@U0EVIL> ", "")
MARKERS = ("<!channel>", "<!everyone>", "<!here>", "<@U0EVIL>", "<#C0EVIL>", "<https://evil.example")
CONFIG = {
    "slack": {"announce_channel": "incidents", "responders": ["U0ALICE"]},
    "intake": {"storm_threshold": 2, "digest_seconds": 0},
    "vendors": {"contegix": {"name": "Contegix", "to": ["support@contegix.example"]}},
}


def _evil_alert(n: int) -> dict[str, Any]:
    alert = am_alert(f"{EVIL} {n}", instance=f"{EVIL}-{n}:9100", cluster=EVIL, severity=EVIL, summary=EVIL,
                     extra={"job": EVIL, "service": EVIL})
    alert["annotations"] = {"summary": f"{EVIL} summary", "description": f"{EVIL} description",
                            "runbook_url": EVIL}
    return alert


def _strings(value: Any) -> Iterator[str]:
    """Every string in a call's arguments but the text of plain_text objects (shown literally by Slack)."""
    if isinstance(value, str):
        if value.startswith(("[", "{")):  # blocks arrive JSON-encoded in form posts
            try:
                yield from _strings(json.loads(value))
                return
            except ValueError:
                pass
        yield value
    elif isinstance(value, dict):
        if value.get("type") == "plain_text":
            return
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_no_sender_mention_reaches_slack(sqlite_url: str, fake_slack: FakeSlack) -> None:
    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url, config=CONFIG)
    with ServerThread(settings) as server:
        body = am_notification([_evil_alert(n) for n in range(6)], cluster=EVIL)
        assert server.post_alerts("alertmanager", body).status_code == 202
        server.drain()
        channel = str(wait_for(lambda: server.get("/incidents/1")["channel_id"], what="the channel"))
        urls: list[str] = []
        for text in ("status", "timeline", "hosts", "escalate", "ack", f"note {SAID}", f"resolve {SAID}"):
            url = fake_slack.new_response_url(channel_id=channel, user_id="U0ALICE")
            urls.append(url)
            request, headers = slash_command(SIGNING_SECRET, text, channel_id=channel, response_url=url)
            assert server.slack(request, headers).status_code == 200
            wait_for(lambda: any(e["kind"] == "command" and e["text"] == f"/incident {text}"  # noqa: B023
                                 for e in server.get("/incidents/1")["timeline"]), what=f"/incident {text}")
            server.drain()
        assert [e for e in server.get("/incidents/1")["timeline"] if "drafted" in e["text"]]
        calls = list(fake_slack.calls)
        assert {"conversations.setPurpose", "conversations.setTopic", "chat.postMessage", "chat.update"} <= {
            c.method for c in calls}
        leaks = [(c.method, s) for c in calls for s in _strings(c.args) if any(m in s for m in MARKERS)]
        answers = [(url, s) for url in urls for said in fake_slack.responses(url) for s in _strings(said)
                   if any(m in s for m in MARKERS)]
        assert leaks == [] and answers == [], "\n".join(map(str, leaks + answers))
