"""Capture what the documented Nagios commands send, for the corpus: ``python -m tests.corpus.capture_nagios DIR``
runs the two command lines of docs/intake.md as Nagios runs them (macros substituted as text, ``/bin/sh -c``)
against a recording server: a service WARNING → CRITICAL → RECOVERY → CRITICAL and a host DOWN → RECOVERY,
with names that hold spaces, double quotes, ``$``, backquotes and non-ASCII letters."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.corpus.recorder import recording_server
from tests.e2e.test_intake_nagios import HOST, WEB, command_lines, notify, service


def capture(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    commands = command_lines()
    host = {"HOSTNAME": WEB, "HOSTOUTPUT": "PING CRITICAL - Packet loss = 100%"}
    with recording_server() as (base, received):
        for command, macros in (
                ("notify-service-by-pagerbot", service("WARNING")),
                ("notify-host-by-pagerbot", {**host, "HOSTSTATE": "DOWN", "NOTIFICATIONTYPE": "PROBLEM"}),
                ("notify-service-by-pagerbot", service("CRITICAL")),
                ("notify-service-by-pagerbot", service("OK", "RECOVERY")),
                ("notify-host-by-pagerbot", {**host, "HOSTSTATE": "UP", "NOTIFICATIONTYPE": "RECOVERY"}),
                ("notify-service-by-pagerbot", service("CRITICAL"))):
            notify(commands[command], base, macros)
    for number, (_, body) in enumerate(received, 1):
        (out / f"{number:02d}-generic.json").write_bytes(body)
    print(f"{len(received)} requests captured in {out} (host {HOST!r})")


if __name__ == "__main__":
    capture(Path(sys.argv[1]))
