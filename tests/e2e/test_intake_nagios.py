"""The Nagios command definitions of docs/intake.md, run as Nagios runs them (macros substituted into the
command line as text, then /bin/sh -c), against a running pagerbot, with host and service names that hold
spaces, double quotes, `$`, backquotes and non-ASCII letters: WARNING → CRITICAL → RECOVERY → CRITICAL of a
service is one alert in one incident, whose severity rises with the alert's; a host goes DOWN and recovers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.intake_support import incident_alerts, scalar
from tests.fakes.slack_api import FakeSlack
from tests.harness import API_TOKEN, ServerThread, make_settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "intake.md"
PAGERBOT = Path(sys.executable).parent / "pagerbot"
HOST = 'db "eins" $HOME `id` Škoda'
SERVICE = 'MySQL replikace "primär" ñ'
WEB = "web 2 (Zürich)"


def command_lines() -> dict[str, str]:
    text = DOCS.read_text(encoding="utf-8")
    found = dict(re.findall(r"command_name\s+(\S+)\s*\n\s*command_line\s+(.+)\n", text))
    assert set(found) == {"notify-service-by-pagerbot", "notify-host-by-pagerbot"}, found
    return found


def notify(command_line: str, server_url: str, macros: dict[str, str]) -> None:
    """What Nagios does: substitute the macros as text, run the result with /bin/sh."""
    line = command_line.replace("/usr/local/bin/pagerbot", str(PAGERBOT))
    line = line.replace("https://pagerbot.example.com", server_url)
    used = set(re.findall(r"\$([A-Z0-9]+)\$", line))
    values = {"USER10": API_TOKEN, **macros}
    assert used <= set(values), used - set(values)
    for name, value in values.items():
        line = line.replace(f"${name}$", value)
    done = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (line, done.stderr)


def service(state: str, kind: str = "PROBLEM") -> dict[str, str]:
    return {"HOSTNAME": HOST, "SERVICEDESC": SERVICE, "SERVICESTATE": state, "NOTIFICATIONTYPE": kind,
            "SERVICEOUTPUT": f"{state} - Seconds_Behind_Master: 412"}


def test_nagios_commands_of_the_docs(sqlite_url: str, fake_slack: FakeSlack) -> None:
    commands = command_lines()
    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url)
    key = f"{HOST}/{SERVICE}"
    with ServerThread(settings) as server:
        notify(commands["notify-service-by-pagerbot"], server.url, service("WARNING"))
        notify(commands["notify-host-by-pagerbot"], server.url,
               {"HOSTNAME": WEB, "HOSTSTATE": "DOWN", "NOTIFICATIONTYPE": "PROBLEM", "HOSTOUTPUT": "PING CRITICAL"})
        alerts = incident_alerts(server)
        assert (alerts[key]["title"], alerts[key]["severity"], alerts[key]["state"], alerts[key]["host"]) == (
            f"{HOST} {SERVICE}", 3, "firing", HOST)
        assert (alerts[f"{WEB}/host"]["title"], alerts[f"{WEB}/host"]["state"]) == (f"host {WEB}", "firing")
        service_incident = next(i for i in server.get("/incidents") if i["title"] == f"{HOST} {SERVICE}")
        assert service_incident["severity"] == 3

        notify(commands["notify-service-by-pagerbot"], server.url, service("CRITICAL"))
        assert incident_alerts(server)[key]["severity"] == 1
        detail = server.get(f"/incidents/{service_incident['id']}")
        assert detail["severity"] == 1  # the incident follows its alert up
        assert any(e["text"].startswith("Severity raised from SEV3 to SEV1") for e in detail["timeline"])
        server.drain()  # what the channel shows: the rise posted, the topic and the pinned header at SEV1
        channel = next(c for c in fake_slack.channels.values() if c.id == detail["channel_id"])
        assert channel.topic.startswith("SEV1 · ")
        texts = [m.text for m in fake_slack.messages(channel.id)]
        assert any(t.startswith(":arrow_up: Severity raised from SEV3 to SEV1") for t in texts), texts
        [pinned] = fake_slack.pinned(channel.id)
        assert "SEV1" in str(pinned.blocks) and "SEV3" not in str(pinned.blocks)

        notify(commands["notify-service-by-pagerbot"], server.url, service("OK", "RECOVERY"))
        notify(commands["notify-host-by-pagerbot"], server.url,
               {"HOSTNAME": WEB, "HOSTSTATE": "UP", "NOTIFICATIONTYPE": "RECOVERY", "HOSTOUTPUT": "PING OK"})
        alerts = incident_alerts(server)
        assert {k: a["state"] for k, a in alerts.items()} == {key: "resolved", f"{WEB}/host": "resolved"}
        assert alerts[key]["severity"] == 1  # a recovery does not rewrite the alert

        notify(commands["notify-service-by-pagerbot"], server.url, service("CRITICAL"))
        assert incident_alerts(server)[key]["state"] == "firing"
        # one incident per problem: the state change after the recovery fired the same alert in the same incident
        assert sorted(i["title"] for i in server.get("/incidents")) == [f"{HOST} {SERVICE}", f"host {WEB}"]
    assert scalar(sqlite_url, "SELECT count(DISTINCT fingerprint) FROM alerts") == 2
