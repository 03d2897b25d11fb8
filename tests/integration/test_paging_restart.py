"""A SIGKILL of `pagerbot serve` between two steps of a page chain neither skips nor repeats a page: the chain's
timer is in the database, so the restarted server takes the step that fell due while it was down, once."""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.paging_support import is_page
from tests.fakes.slack_api import FakeSlack
from tests.harness import ServerProcess, wait_for
from tests.integration.production import FAST, post_alerts, server_env, write_config
from tests.payloads import am_alert, am_notification

SECONDARY_AFTER = 9.0  # seconds
TERTIARY_AFTER = 18.0


def _config() -> dict[str, object]:
    rotation = {"every": "week", "handoff": "mon 09:00"}
    return {
        "slack": {"announce_channel": "incidents", "responders": []},
        "server": FAST,
        "oncall": {
            "rotations": {"primary": {"members": ["U0ALICE"], **rotation},
                          "secondary": {"members": ["U0BOB"], **rotation},
                          "tertiary": {"members": ["U0CAROL"], **rotation}},
            "policies": {"sev1": [{"page": "primary"},
                                  {"page": "secondary", "after_minutes": SECONDARY_AFTER / 60},
                                  {"page": "tertiary", "after_minutes": TERTIARY_AFTER / 60}]},
        },
    }


def test_a_kill_between_steps_neither_skips_nor_repeats_a_page(database_url: str, fake_slack: FakeSlack,
                                                               tmp_path: Path) -> None:
    env = server_env(database_url, fake_slack, write_config(tmp_path, _config()))

    def pages(user: str) -> int:
        return sum(1 for m in fake_slack.dms(user) if is_page(m))

    first = ServerProcess(env, log_path=tmp_path / "first.log").start()
    try:
        opened = time.monotonic()
        alert = am_alert("DBHighIOWait", severity="critical", summary="db1 is waiting on its disks")
        assert post_alerts(first.url, "alertmanager", am_notification([alert])).status_code == 202
        wait_for(lambda: pages("U0ALICE") == 1, 30, what="the primary's page")
    finally:
        first.kill()
    assert pages("U0BOB") == 0, "the secondary was paged before its time"

    # down while the secondary's step falls due
    time.sleep(max(0.0, SECONDARY_AFTER + 1 - (time.monotonic() - opened)))
    second = ServerProcess(env, port=first.port, log_path=tmp_path / "second.log").start()
    try:
        wait_for(lambda: pages("U0BOB") == 1, 30, what="the secondary's page after the restart")
        wait_for(lambda: pages("U0CAROL") == 1, TERTIARY_AFTER + 30, what="the tertiary's page")
        time.sleep(2)  # a few more ticks: nothing is paged again
        assert (pages("U0ALICE"), pages("U0BOB"), pages("U0CAROL")) == (1, 1, 1)
    finally:
        second.stop()
