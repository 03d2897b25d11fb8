"""On-call paging end to end, on a test clock over the fake Slack: a sev1 at 05:30 pages the primary by DM, the
secondary five minutes later, the vendor draft at the end of the chain; acknowledging from the DM stops it and
makes the lead; a sev4 at 03:00 waits for working hours; an override changes who is paged; the rotation hands
off at local time across a daylight-saving change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from pagerbot.clock import ManualClock
from tests.e2e.paging_support import Paging, has_ack_button
from tests.fakes.slack_api import FakeSlack
from tests.harness import API_TOKEN, ServerThread, make_settings, wait_for
from tests.payloads import am_alert, am_notification

# Tuesday 10 March 2026, 05:30 in Los Angeles (PDT since the 8th) is 12:30 UTC.
MORNING = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


def _config() -> dict[str, Any]:
    return {
        "timezone": "America/Los_Angeles",
        "slack": {"announce_channel": "incidents", "responders": []},
        "vendors": {"contegix": {"name": "Contegix", "to": ["support@contegix.example"], "account": "ACME-1234"}},
        "server": {"tick_seconds": 3600},  # the test ticks by hand
        "oncall": {
            "rotations": {
                "primary": {"members": ["U0BOB", "U0ALICE"], "every": "week", "handoff": "mon 09:00",
                            "start": "2026-03-02"},
                "secondary": {"members": ["bob@example.com", "U0CAROL"], "every": "week", "handoff": "mon 09:00",
                              "start": "2026-03-09"},
            },
            "working_hours": "mon-fri 09:00-18:00",
            "policies": {
                "sev1": [{"page": "primary"}, {"page": "secondary", "after_minutes": 5},
                         {"vendor": "contegix", "after_minutes": 15}],
                "sev2": [{"page": "primary", "repeat_minutes": 2, "repeats": 1}],
                "sev4": [{"page": "primary", "when": "working_hours"}],
            },
        },
    }


def _server(database_url: str, fake: FakeSlack, start: datetime) -> tuple[ServerThread, ManualClock]:
    clock = ManualClock(start)
    settings = make_settings(database_url, slack_api_url=fake.api_url, config=_config())
    return ServerThread(settings, overrides={"clock": clock}), clock


def _mentions(fake: FakeSlack, channel: str) -> list[str]:
    return [m.text for m in fake.messages(channel) if m.text.startswith(":pager:")]


def test_sev1_pages_primary_then_secondary_and_the_dm_acknowledges(database_url: str, fake_slack: FakeSlack) -> None:
    server, clock = _server(database_url, fake_slack, MORNING)
    with server:
        paging = Paging(server, fake_slack, clock)
        channel = paging.alert()
        paging.tick(seconds=1)

        # 05:30: Alice (primary this week) gets a DM with the facts and an Acknowledge button
        [page] = paging.pages("U0ALICE")
        assert "INC-1" in page.text and "SEV1" in page.text
        facts = str(page.blocks)
        assert "primary on call" in facts and f"<#{channel}>" in facts
        assert "&lt;b&gt;" in facts  # the alert's text is escaped for mrkdwn
        assert fake_slack.calls_to("conversations.open")
        assert paging.pages("U0BOB") == []
        assert _mentions(fake_slack, channel) == [":pager: Paging <@U0ALICE> (primary on call). "
                                                  "Acknowledge to stop the paging."]
        assert any(t.startswith("Paged U0ALICE (primary on call), step 1") for t in paging.timeline())

        # nobody acknowledges: nothing more at 4 minutes, the secondary (an email in the config) at 5
        paging.tick(minutes=4)
        assert paging.pages("U0BOB") == [] and len(paging.pages("U0ALICE")) == 1
        paging.tick(minutes=1)
        [bob_page] = paging.pages("U0BOB")
        assert "secondary on call" in str(bob_page.blocks)
        assert len(paging.pages("U0ALICE")) == 1

        # Bob acknowledges from the DM: the chain stops, he is the lead, the timeline says so
        said = paging.click_ack("U0BOB", bob_page)
        assert "acknowledged" in said
        incident = server.get("/incidents/1")
        assert incident["status"] == "acknowledged" and incident["lead"] == "U0BOB"
        # both pages now say who acknowledged, instead of the button (05:35 in Los Angeles)
        assert server.drain()
        for page in paging.pages("U0ALICE") + paging.pages("U0BOB"):
            assert not has_ack_button(page), page.blocks
            assert "Acknowledged by <@U0BOB> at 05:35; the paging stopped." in str(page.blocks)
            assert page.edited is not None
        paging.tick(minutes=30)
        assert len(paging.pages("U0ALICE")) == 1 and len(paging.pages("U0BOB")) == 1
        assert not [m for m in fake_slack.messages(channel) if "Contegix" in m.text]
        timeline = paging.timeline()
        assert any("U0BOB moved the incident to acknowledged; U0BOB is the lead" in t for t in timeline)
        assert any(t.startswith("Paging stopped: acknowledged by U0BOB, 5 min") for t in timeline)

        # the postmortem's key times: who was paged when, and how long each page took to be acknowledged
        response = httpx.get(f"{server.url}/incidents/1/postmortem.md", timeout=30,
                             headers={"Authorization": f"Bearer {API_TOKEN}"})
        assert response.status_code == 200
        pages = [line for line in response.text.splitlines() if "paged" in line.lower() and "primary" in line]
        assert pages and "acknowledged by Bob" in pages[0] and "after 5 min" in pages[0], response.text


def test_with_nobody_acknowledging_the_last_step_drafts_the_vendor_email(sqlite_url: str,
                                                                         fake_slack: FakeSlack) -> None:
    server, clock = _server(sqlite_url, fake_slack, MORNING)
    with server:
        paging = Paging(server, fake_slack, clock)
        channel = paging.alert()
        paging.tick(seconds=1)
        paging.tick(minutes=5)
        assert not [m for m in fake_slack.messages(channel) if "email to contegix" in m.text.lower()]
        paging.tick(minutes=10)
        drafts = [m for m in fake_slack.messages(channel) if "email to contegix" in m.text.lower()]
        assert len(drafts) == 1
        assert any("drafting the escalation email to contegix" in t for t in paging.timeline())
        paging.tick(minutes=30)  # the chain is done: nothing is repeated
        assert len([m for m in fake_slack.messages(channel) if "email to contegix" in m.text.lower()]) == 1
        assert len(paging.pages("U0ALICE")) == 1 and len(paging.pages("U0BOB")) == 1


def test_sev4_at_three_waits_for_working_hours(sqlite_url: str, fake_slack: FakeSlack) -> None:
    three = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)  # 03:00 PDT
    server, clock = _server(sqlite_url, fake_slack, three)
    with server:
        paging = Paging(server, fake_slack, clock)
        paging.alert(severity="info")
        paging.tick(seconds=1)
        paging.tick(hours=5, minutes=58)  # 08:58
        assert paging.pages("U0ALICE") == []
        paging.tick(minutes=2)  # 09:00
        assert len(paging.pages("U0ALICE")) == 1


def test_an_override_changes_who_is_paged(database_url: str, fake_slack: FakeSlack) -> None:
    server, clock = _server(database_url, fake_slack, MORNING - timedelta(minutes=10))
    with server:
        paging = Paging(server, fake_slack, clock)
        general = fake_slack.channel_by_name("incidents")
        assert general is not None
        said = paging.command("oncall take primary 2h", general.id, user="U0CAROL")
        assert "<@U0CAROL> is on call for *primary*" in said
        shown = paging.command("oncall", general.id)
        assert "*primary*: <@U0CAROL> (override)" in shown
        api = server.get("/oncall")
        primary = next(r for r in api["rotations"] if r["name"] == "primary")
        assert primary["now"]["who"] == "U0CAROL" and primary["now"]["why"] == "override"
        assert primary["next"]["who"] == "U0ALICE" and primary["next"]["from"] == primary["now"]["until"]

        clock.advance(timedelta(minutes=10))
        paging.alert()
        paging.tick(seconds=1)
        assert len(paging.pages("U0CAROL")) == 1 and paging.pages("U0ALICE") == []


def test_the_rotation_hands_off_at_local_time_across_a_dst_change(sqlite_url: str, fake_slack: FakeSlack) -> None:
    # Monday 9 March 2026, the first Monday of PDT: 09:00 local is 16:00 UTC (the Monday before it was 17:00)
    server, clock = _server(sqlite_url, fake_slack, datetime(2026, 3, 9, 15, 59, tzinfo=UTC))
    with server:
        primary = next(r for r in server.get("/oncall")["rotations"] if r["name"] == "primary")
        assert primary["now"]["who"] == "U0BOB"
        assert primary["now"]["from"] == "2026-03-02T17:00:00+00:00"  # 09:00 PST
        assert primary["next"] == {"who": "U0ALICE", "from": "2026-03-09T16:00:00+00:00",
                                   "until": "2026-03-16T16:00:00+00:00", "why": "rotation"}
        clock.set(datetime(2026, 3, 9, 16, 0, 30, tzinfo=UTC))
        paging = Paging(server, fake_slack, clock)
        paging.alert()
        paging.tick(seconds=1)
        assert len(paging.pages("U0ALICE")) == 1 and paging.pages("U0BOB") == []


def test_a_page_repeats_until_acknowledged_and_resolving_stops_it(sqlite_url: str, fake_slack: FakeSlack) -> None:
    server, clock = _server(sqlite_url, fake_slack, MORNING)
    with server:
        paging = Paging(server, fake_slack, clock)
        channel = paging.alert(severity="error")  # SEV2
        paging.tick(seconds=1)
        paging.tick(minutes=2)
        first, again = paging.pages("U0ALICE")
        assert "(again)" not in first.text and "(again)" in again.text
        assert _mentions(fake_slack, channel)[-1].startswith(":pager: Paging <@U0ALICE> again")
        assert any(t.startswith("Page repeated (1 of 1) to U0ALICE") for t in paging.timeline())
        paging.act("resolve false alarm", channel, lambda incident: incident["status"] == "resolved")
        paging.tick(seconds=5)
        assert any(t.startswith("Paging stopped: resolved") for t in paging.timeline())
        paging.tick(minutes=30)
        assert len(paging.pages("U0ALICE")) == 2


def test_raising_the_severity_starts_paging(sqlite_url: str, fake_slack: FakeSlack) -> None:
    server, clock = _server(sqlite_url, fake_slack, MORNING)
    with server:
        paging = Paging(server, fake_slack, clock)
        channel = paging.alert(severity="warning")  # SEV3: no policy, nobody is paged
        paging.tick(seconds=1)
        assert paging.pages("U0ALICE") == []
        paging.act("sev 1", channel, lambda incident: incident["severity"] == 1, user="U0CAROL")
        paging.tick(seconds=1)
        assert len(paging.pages("U0ALICE")) == 1
        paging.tick(minutes=5)
        assert len(paging.pages("U0BOB")) == 1


def test_a_slack_outage_delays_the_page_and_a_lost_answer_does_not_repeat_it(database_url: str,
                                                                            fake_slack: FakeSlack) -> None:
    server, clock = _server(database_url, fake_slack, MORNING)
    with server:
        paging = Paging(server, fake_slack, clock)
        paging.alert()
        fake_slack.outage()
        clock.advance(timedelta(seconds=1))
        assert server.runtime is not None and server.runtime.scheduler is not None
        assert server.call(server.runtime.scheduler.tick())
        server.call(server.runtime.worker.run_once())
        assert fake_slack.dms("U0ALICE") == []  # delayed, not lost: the page waits in the outbox
        fake_slack.end_outage()
        # Slack takes the DM but its answer is lost: the retry finds it (metadata, DM history), posts nothing
        fake_slack.lose_answer_next("chat.postMessage")
        for _ in range(5):  # the retries' back-off runs on the test clock
            clock.advance(timedelta(seconds=40))
            server.call(server.runtime.worker.drain(10))
        assert server.drain()
        assert len(paging.pages("U0ALICE")) == 1
        assert len(fake_slack.calls_to("chat.postMessage")) >= 2


def test_a_page_sent_before_the_channel_exists_gains_its_link(database_url: str, fake_slack: FakeSlack) -> None:
    """Slack refuses to create channels for a while: the page goes out at once without a link (it must not wait
    for the channel), and is edited to link the channel once it exists."""
    server, clock = _server(database_url, fake_slack, MORNING)
    with server:
        paging = Paging(server, fake_slack, clock)
        fake_slack.fail_next("conversations.create", count=1000)
        alert = am_alert("DBHighIOWait", severity="critical", summary="db1 is waiting on its disks",
                         starts_at=clock.now())
        assert server.post_alerts("alertmanager", am_notification([alert])).status_code == 202
        clock.advance(timedelta(seconds=1))
        assert server.runtime is not None and server.runtime.scheduler is not None
        assert server.call(server.runtime.scheduler.tick())
        [page] = wait_for(lambda: paging.pages("U0ALICE"), what="the page")
        assert "<#" not in str(page.blocks) and has_ack_button(page)
        assert server.get("/incidents/1")["channel_id"] is None

        fake_slack.clear_faults()
        clock.advance(timedelta(minutes=1))  # past the retry's backoff
        assert server.drain()
        channel = server.get("/incidents/1")["channel_id"]
        assert channel
        [page] = paging.pages("U0ALICE")
        assert f"<#{channel}>" in str(page.blocks) and has_ack_button(page)
        assert page.edited is not None


def test_only_the_schedulers_may_record_an_override_when_they_are_set(sqlite_url: str, fake_slack: FakeSlack) -> None:
    config = _config()
    config["oncall"]["schedulers"] = ["U0ALICE"]
    clock = ManualClock(MORNING)
    server = ServerThread(make_settings(sqlite_url, slack_api_url=fake_slack.api_url, config=config),
                          overrides={"clock": clock})
    with server:
        paging = Paging(server, fake_slack, clock)
        general = fake_slack.channel_by_name("incidents")
        assert general is not None
        refused = paging.command("oncall override <@U0CAROL> primary 2h", general.id, user="U0CAROL")
        assert refused == ":warning: you are not allowed to record on-call overrides (ask one of: U0ALICE)"
        assert server.get("/oncall")["rotations"][0]["now"]["who"] == "U0ALICE"
        said = paging.command("oncall override <@U0CAROL> primary 2h", general.id, user="U0ALICE")
        assert "<@U0CAROL> is on call for *primary*" in said
        assert server.get("/oncall")["rotations"][0]["now"]["who"] == "U0CAROL"
