"""The Icinga 2 configuration of docs/intake.md in a real Icinga 2 daemon (Debian's icinga2-bin, which
tests/peers/install.sh installs): a service that turns CRITICAL and a host that goes DOWN notify a running
pagerbot through `pagerbot send-alert`, and their RECOVERY notifications resolve the same alerts.

The checks read their exit code from a file the test writes, so the test decides when a state changes. Host
and service names hold spaces, double quotes and non-ASCII letters; the service goes WARNING, then CRITICAL
(one alert, whose severity, and the incident's, rises), then recovers.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.intake_support import incident_alerts
from tests.fakes.slack_api import FakeSlack
from tests.harness import API_TOKEN, ServerThread, make_settings, wait_for

pytestmark = pytest.mark.peers

DOCS = Path(__file__).resolve().parents[2] / "docs" / "intake.md"
PAGERBOT = Path(sys.executable).parent / "pagerbot"
ICINGA2 = shutil.which("icinga2") or "/usr/sbin/icinga2"

# What the documented configuration needs around it: the checker and notification features, the user its
# notifications go to, a check whose state the test sets, and two hosts (a service on db1; web2 goes down).
SCAFFOLD = """
include <itl>
object CheckerComponent "checker" { }
object NotificationComponent "notification" { }
object FileLogger "main" {
  path = "{log}"
  severity = "notice"
}
object User "icingaadmin" { }
object CheckCommand "state-file" {
  command = [ "/bin/sh", "-c", "exit $$(cat \\"$$0\\")", "$state_file$" ]
}
template Host "quick" {
  check_command = "state-file"
  max_check_attempts = 1
  check_interval = 1s
  retry_interval = 1s
}
object Host "db \\"eins\\" Škoda" {
  import "quick"
  vars.state_file = "{states}/db1"
}
object Host "web 2 (Zürich)" {
  import "quick"
  vars.state_file = "{states}/web2"
}
object Service "MySQL replikace \\"primär\\"" {
  host_name = "db \\"eins\\" Škoda"
  check_command = "state-file"
  vars.state_file = "{states}/mysql"
  max_check_attempts = 1
  check_interval = 1s
  retry_interval = 1s
}
"""


def documented_config(server_url: str) -> str:
    """The Icinga 2 block of docs/intake.md, pointed at this pagerbot and its token."""
    section = DOCS.read_text(encoding="utf-8").split("### Icinga 2", 1)[1].split("\n### ", 1)[0]
    [block] = re.findall(r"```\n(.*?)```", section, re.S)
    config = (block.replace("/usr/local/bin/pagerbot", str(PAGERBOT))
              .replace("https://pagerbot.example.com", server_url)
              .replace("<PAGERBOT_API_TOKEN>", API_TOKEN))
    assert str(PAGERBOT) in config and API_TOKEN in config and server_url in config
    return config


@contextmanager
def icinga2(config: str, work: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Icinga 2 in the foreground on ``config``, its state under ``work`` (its log: work/log/icinga2.log)."""
    for name in ("etc", "data", "log", "cache", "spool", "run"):
        (work / name).mkdir(parents=True, exist_ok=True)
    (work / "etc" / "icinga2.conf").write_text(config, encoding="utf-8")
    constants = {"RunAsUser": _name(pwd.getpwuid, os.getuid()), "RunAsGroup": _name(grp.getgrgid, os.getgid()),
                 "DataDir": work / "data", "LogDir": work / "log", "CacheDir": work / "cache",
                 "SpoolDir": work / "spool", "InitRunDir": work / "run"}
    args = [ICINGA2, "daemon", "-c", str(work / "etc" / "icinga2.conf"),
            *(f"-D{name}={value}" for name, value in constants.items())]
    checked = subprocess.run([*args, "-C"], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout[-3000:]
    with open(work / "daemon.out", "wb") as out:
        daemon = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield daemon
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have died: the test says why
            os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait(5)


def _name(lookup: Callable[[int], Any], number: int) -> str:
    """A user's or group's name, for Icinga's RunAsUser/RunAsGroup (a container's uid may have none)."""
    try:
        return str(lookup(number)[0])
    except KeyError:
        return str(number)


DB = 'db "eins" Škoda'
SERVICE = 'MySQL replikace "primär"'
WEB = "web 2 (Zürich)"


def test_icinga2_configuration_of_the_docs(sqlite_url: str, fake_slack: FakeSlack, tmp_path: Path) -> None:
    states = tmp_path / "states"
    states.mkdir()
    for name, code in {"db1": 0, "web2": 2, "mysql": 1}.items():  # web2 DOWN, replication WARNING
        (states / name).write_text(str(code))
    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url)
    with ServerThread(settings) as server:
        config = SCAFFOLD.replace("{log}", str(tmp_path / "icinga" / "log" / "icinga2.log")).replace(
            "{states}", str(states)) + documented_config(server.url)
        log = tmp_path / "icinga" / "log" / "icinga2.log"
        with icinga2(config, tmp_path / "icinga") as daemon:

            def alerts() -> dict[str, tuple[str, int, str]]:
                assert daemon.poll() is None, (tmp_path / "icinga" / "daemon.out").read_text()[-3000:]
                server.apply_inbox()
                return {key: (a["title"], a["severity"], a["state"]) for key, a in incident_alerts(server).items()}

            service_key = f"{DB}/{SERVICE}"
            fired = {service_key: (f"{DB} {SERVICE}", 3, "firing"), f"{WEB}/host": (f"host {WEB}", 1, "firing")}
            wait_for(lambda: alerts() == fired, 30, interval=0.5,
                     what=f"Icinga 2's PROBLEM notifications (its log: {log})")

            (states / "mysql").write_text("2")  # WARNING → CRITICAL: the same alert, raised
            critical = {**fired, service_key: (f"{DB} {SERVICE}", 1, "firing")}
            wait_for(lambda: alerts() == critical, 30, interval=0.5,
                     what=f"Icinga 2's CRITICAL notification (its log: {log})")
            incidents = {i["title"]: i for i in server.get("/incidents")}
            assert incidents[f"{DB} {SERVICE}"]["severity"] == 1 and len(incidents) == 2

            for name in ("web2", "mysql"):
                (states / name).write_text("0")
            resolved = {key: (title, severity, "resolved") for key, (title, severity, _) in critical.items()}
            wait_for(lambda: alerts() == resolved, 30, interval=0.5,
                     what=f"Icinga 2's RECOVERY notifications (its log: {log})")
        notified = [line for line in log.read_text(encoding="utf-8").splitlines()
                    if "Completed sending" in line]
        # a problem and a recovery each, the service's CRITICAL too, nothing for db1 (always UP)
        assert len(notified) == 5, notified
