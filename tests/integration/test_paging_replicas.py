"""Two replicas on one PostgreSQL database taking the same page chain at the same moment page once: the chain's
row is locked while a step is taken, and a page is unique per incident, step and person. (In production only
the scheduler's leader takes steps at all; this is the guarantee beneath it.)"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from pagerbot.clock import ManualClock
from pagerbot.services.paging import escalate_due
from tests.e2e.paging_support import Paging
from tests.fakes.slack_api import FakeSlack
from tests.harness import ServerThread, make_settings

pytestmark = pytest.mark.postgres
MORNING = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


def test_two_replicas_ticking_at_once_page_once(postgres_url: str, fake_slack: FakeSlack) -> None:
    config = {"slack": {"announce_channel": "incidents", "responders": []}, "server": {"tick_seconds": 3600},
              "oncall": {"rotations": {"primary": {"members": ["U0ALICE"]}, "secondary": {"members": ["U0BOB"]}},
                         "policies": {"sev1": [{"page": "primary"}, {"page": "secondary", "after_minutes": 5}]}}}
    settings = make_settings(postgres_url, slack_api_url=fake_slack.api_url, config=config)
    clock = ManualClock(MORNING)
    with ServerThread(settings, overrides={"clock": clock}) as one, \
            ServerThread(settings, overrides={"clock": clock}, migrate=False) as two:
        paging = Paging(one, fake_slack, clock)
        paging.alert()
        for advance in (timedelta(seconds=1), timedelta(minutes=5)):
            clock.advance(advance)
            with ThreadPoolExecutor(2) as pool:
                moved = [f.result() for f in [pool.submit(s.call, escalate_due(s.runtime.ctx))  # type: ignore[union-attr]
                                              for s in (one, two)]]
            assert sorted(moved) == [0, 1]  # one replica took the step; the other found it taken
            assert one.drain() and two.drain()
        assert len(paging.pages("U0ALICE")) == 1 and len(paging.pages("U0BOB")) == 1
