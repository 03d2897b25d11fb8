"""A rotation read from an iCalendar feed over HTTP (httpx against a local server): GET /oncall and the page
follow the calendar; when the feed cannot be read, the rotation's members stand in."""

from __future__ import annotations

from datetime import UTC, datetime

from pagerbot.clock import ManualClock
from tests.e2e.paging_support import Paging
from tests.fakes.slack_api import FakeSlack
from tests.harness import ServerThread, make_settings
from tests.peers.http_receiver import HttpReceiver

MORNING = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)  # 05:30 in Los Angeles
FEED = "\r\n".join([
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Grafana Labs//Grafana OnCall//EN",
    "BEGIN:VEVENT", "UID:a", "SUMMARY:On call: carol@example.com",
    "DTSTART;TZID=America/Los_Angeles:20260309T090000", "DTEND;TZID=America/Los_Angeles:20260312T090000",
    "END:VEVENT",
    "BEGIN:VEVENT", "UID:b", "SUMMARY:U0BOB", "DTSTART:20260312T160000Z", "DTEND:20260316T160000Z", "END:VEVENT",
    "END:VCALENDAR", ""])


def _server(url: str, fake: FakeSlack, feed: str) -> tuple[ServerThread, ManualClock]:
    clock = ManualClock(MORNING)
    config = {
        "timezone": "America/Los_Angeles", "slack": {"announce_channel": "incidents", "responders": []},
        "server": {"tick_seconds": 3600},
        "oncall": {"rotations": {"dba": {"ical_url": feed, "members": ["U0ALICE"]}},
                   "policies": {"sev1": [{"page": "dba"}]}, "ical_timeout_seconds": 5},
    }
    settings = make_settings(url, slack_api_url=fake.api_url, config=config)
    return ServerThread(settings, overrides={"clock": clock}), clock


def test_the_calendar_says_who_is_paged(sqlite_url: str, fake_slack: FakeSlack) -> None:
    with HttpReceiver(documents={"/dba.ics": ("text/calendar; charset=utf-8", FEED)}) as calendar:
        server, clock = _server(sqlite_url, fake_slack, f"{calendar.url}/dba.ics")
        with server:
            [dba] = server.get("/oncall")["rotations"]
            assert dba["now"] == {"who": "carol@example.com", "from": "2026-03-09T16:00:00+00:00",
                                  "until": "2026-03-12T16:00:00+00:00", "why": "calendar"}
            assert dba["next"]["who"] == "U0BOB" and dba["next"]["why"] == "calendar"
            assert calendar.gets == ["/dba.ics"]
            paging = Paging(server, fake_slack, clock)
            paging.alert()
            paging.tick(seconds=1)
            assert len(paging.pages("U0CAROL")) == 1 and paging.pages("U0ALICE") == []


def test_an_unreadable_feed_falls_back_to_the_members(sqlite_url: str, fake_slack: FakeSlack) -> None:
    with HttpReceiver() as calendar:  # every GET is a 404
        server, clock = _server(sqlite_url, fake_slack, f"{calendar.url}/gone.ics")
        with server:
            [dba] = server.get("/oncall")["rotations"]
            assert dba["now"]["who"] == "U0ALICE" and dba["now"]["why"] == "rotation"
            paging = Paging(server, fake_slack, clock)
            paging.alert()
            paging.tick(seconds=1)
            assert len(paging.pages("U0ALICE")) == 1
