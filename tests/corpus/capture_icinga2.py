"""Capture what Icinga 2 really sends through the documented configuration, for the corpus:
``python -m tests.corpus.capture_icinga2 DIR`` runs the Icinga 2 block of docs/intake.md (with the scaffold
of tests/e2e/test_intake_icinga2.py: a host and a service with spaces, quotes and non-ASCII letters in their
names) against a recording server, and takes the service WARNING → CRITICAL → OK and the host DOWN → UP.
Each body ``pagerbot send-alert`` posted is written to DIR as it arrived (``NN-generic.json``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.corpus.recorder import recording_server
from tests.e2e.test_intake_icinga2 import SCAFFOLD, documented_config, icinga2


def capture(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    states = out / "work" / "states"
    states.mkdir(parents=True, exist_ok=True)
    for name, code in {"db1": 0, "web2": 2, "mysql": 1}.items():
        (states / name).write_text(str(code))
    with recording_server() as (base, received):
        config = SCAFFOLD.replace("{log}", str(out / "work" / "icinga" / "log" / "icinga2.log")).replace(
            "{states}", str(states)) + documented_config(base)
        with icinga2(config, out / "work" / "icinga"):
            for changes, expected in (({}, 2), ({"mysql": 2}, 3), ({"mysql": 0, "web2": 0}, 5)):
                for name, code in changes.items():
                    (states / name).write_text(str(code))
                deadline = time.monotonic() + 30
                while len(received) < expected and time.monotonic() < deadline:
                    time.sleep(0.2)
                time.sleep(2)
    for number, (_, body) in enumerate(received, 1):
        (out / f"{number:02d}-generic.json").write_bytes(body)
    print(f"{len(received)} requests captured in {out}")


if __name__ == "__main__":
    capture(Path(sys.argv[1]))
