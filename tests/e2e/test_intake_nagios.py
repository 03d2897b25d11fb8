"""The Nagios command definitions of docs/intake.md, run as Nagios runs them (macros substituted into the
command line, then /bin/sh -c), against a running pagerbot: a PROBLEM fires the alert, the RECOVERY
resolves the same alert although its title changed with the state."""

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


def command_lines() -> dict[str, str]:
    text = DOCS.read_text(encoding="utf-8")
    found = dict(re.findall(r"command_name\s+(\S+)\s*\n\s*command_line\s+(.+)\n", text))
    assert set(found) == {"notify-service-by-pagerbot", "notify-host-by-pagerbot"}, found
    return found


def notify(command_line: str, server_url: str, macros: dict[str, str]) -> None:
    """What Nagios does: substitute the macros as text, run the result with /bin/sh."""
    line = command_line.replace("/usr/local/bin/pagerbot", str(PAGERBOT))
    line = line.replace("https://pagerbot.example.com", server_url)
    for name, value in {"USER10": API_TOKEN, **macros}.items():
        line = line.replace(f"${name}$", value)
    assert "$" not in line.replace("$( ", "").replace("$(", ""), line
    done = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (line, done.stderr)


def test_nagios_commands_of_the_docs(sqlite_url: str, fake_slack: FakeSlack) -> None:
    commands = command_lines()
    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url)
    service = {"HOSTNAME": "db1", "SERVICEDESC": "MySQL replication"}
    with ServerThread(settings) as server:
        notify(commands["notify-service-by-pagerbot"], server.url,
               {**service, "SERVICESTATE": "CRITICAL", "NOTIFICATIONTYPE": "PROBLEM"})
        notify(commands["notify-host-by-pagerbot"], server.url,
               {"HOSTNAME": "web2", "HOSTSTATE": "DOWN", "NOTIFICATIONTYPE": "PROBLEM"})
        alerts = incident_alerts(server)
        assert (alerts["db1/MySQL replication"]["title"], alerts["db1/MySQL replication"]["severity"],
                alerts["db1/MySQL replication"]["state"]) == ("db1 MySQL replication is CRITICAL", 1, "firing")
        assert (alerts["web2/host"]["title"], alerts["web2/host"]["state"]) == ("web2 is DOWN", "firing")

        notify(commands["notify-service-by-pagerbot"], server.url,
               {**service, "SERVICESTATE": "OK", "NOTIFICATIONTYPE": "RECOVERY"})
        notify(commands["notify-host-by-pagerbot"], server.url,
               {"HOSTNAME": "web2", "HOSTSTATE": "UP", "NOTIFICATIONTYPE": "RECOVERY"})
        alerts = incident_alerts(server)
        assert {key: a["state"] for key, a in alerts.items()} == {"db1/MySQL replication": "resolved",
                                                                   "web2/host": "resolved"}
        assert alerts["db1/MySQL replication"]["severity"] == 1  # a recovery does not rewrite the alert
    assert scalar(sqlite_url, "SELECT count(*) FROM alerts") == 2
