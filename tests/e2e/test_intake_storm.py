"""An alert storm, end to end over HTTP against the fake Slack, on SQLite and on PostgreSQL: 2,000 alerts
in 200 Alertmanager notifications (10 % delivered twice) make one incident and a handful of Slack calls;
a Slack outage in the middle of it loses and repeats nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pagerbot.clock import ShiftedClock
from tests.e2e.intake_support import Sender, SlackView, scalar, storm_alerts, storm_notifications
from tests.fakes.slack_api import FakeSlack
from tests.harness import ServerThread, make_settings, wait_for

CONFIG: dict[str, Any] = {"slack": {"announce_channel": "incidents", "responders": ["U0ALICE"]}}


def _assert_stored_once(database_url: str, alerts: list[dict[str, Any]]) -> None:
    assert scalar(database_url, "SELECT count(*) FROM incidents") == 1
    assert scalar(database_url, "SELECT count(*) FROM alerts") == len(alerts)
    assert scalar(database_url, "SELECT count(DISTINCT fingerprint) FROM alerts") == len(alerts)
    assert scalar(database_url, "SELECT max(received_count) FROM alerts") == 1  # a repeat changes nothing
    assert scalar(database_url, "SELECT count(*) FROM outbox WHERE status <> 'done'") == 0


def test_storm_makes_one_incident_and_few_slack_calls(database_url: str, fake_slack: FakeSlack) -> None:
    alerts = storm_alerts(2000)
    bodies = storm_notifications(alerts)
    assert len(bodies) == 220
    settings = make_settings(database_url, slack_api_url=fake_slack.api_url, config=CONFIG)
    with ServerThread(settings) as server, Sender(server.url) as sender:
        # applied by the server's own inbox worker as they come (the counts are checked in the database)
        assert sender.post_all("alertmanager", bodies)["accepted"] == 2200
        assert server.drain(30)
        incidents = server.get("/incidents")
        assert [i["id"] for i in incidents] == [1]

    _assert_stored_once(database_url, alerts)
    calls = fake_slack.calls
    assert len(calls) < 30, [c.method for c in calls]
    assert all(c.ok for c in calls), [(c.method, c.error) for c in calls if not c.ok]

    view = SlackView.of(fake_slack)
    view.assert_opened_once()
    [digest] = view.digests()
    assert digest.text == "Alert digest, wave 1: 2000 firing, 0 resolved"
    updates = [c for c in fake_slack.calls_to("chat.update") if c.args["ts"] == digest.ts]
    assert updates, "the digest is updated in place"
    posted = [c for c in fake_slack.calls_to("chat.postMessage") if c.args["channel"] == view.channel_id]
    assert len(posted) == 2  # the header and the digest: never one post per alert
    assert "HostDown* × 400" in str(digest.blocks)


def test_slack_outage_in_the_middle_of_the_storm(database_url: str) -> None:
    """Slack answers 503 for 60 seconds in the middle of the storm, then 429 with Retry-After, then recovers.

    Time is compressed twentyfold, honestly: the server (its outbox worker's backoff, Retry-After, digest
    interval) and the fake Slack (its message timestamps) share one clock that runs twenty times faster than
    the wall, so the outage is 60 s of that clock and 3 s of the test's time; the worker's idle poll (1 s) is
    divided by the same factor. What the worker sees is what it would see in a real minute: its backoff grows
    1, 2, 4, 8, 16, 30 s and the rows waiting on Slack are retried several times before it comes back; only
    the wall-clock pauses between attempts are shorter.
    """
    speed = 20.0
    clock = ShiftedClock(datetime.now(UTC), speed=speed)
    slack = FakeSlack(clock=lambda: clock.now().timestamp()).start()
    slack.add_channel("incidents", members=["U0ALICE"])
    alerts = storm_alerts(2000)
    bodies = storm_notifications(alerts)
    first, middle, last = bodies[:30], bodies[30:150], bodies[150:]
    settings = make_settings(database_url, slack_api_url=slack.api_url, config=CONFIG)
    try:
        with ServerThread(settings, overrides={"clock": clock}) as server, Sender(server.url) as sender:
            assert server.runtime is not None
            server.runtime.worker.poll_seconds /= speed  # its idle wait runs on the same compressed time
            # Slack goes down while the incident's channel is being created: the channel is made, but the
            # (slow) answer is lost; everything after it meets the outage.
            slack.hang_next("conversations.create", 2.0)
            slack.lose_answer_next("conversations.create")
            sender.post_all("alertmanager", first)
            slack.outage(503)
            down_since = clock.now()
            sender.post_all("alertmanager", middle)
            wait_for(lambda: (clock.now() - down_since).total_seconds() >= 60, 30, what="60 s of outage")
            assert not slack.messages(slack.channel_by_name("incidents").id)  # type: ignore[union-attr]
            slack.end_outage()
            retry_after = 10
            slack.rate_limit_next(None, count=3, retry_after=retry_after)
            # ... and as it recovers, the first two posts (the header, the announcement) lose their answers.
            slack.lose_answer_next("chat.postMessage", count=2)
            sender.post_all("alertmanager", last)
            assert server.drain(60)
    finally:
        slack.stop()

    _assert_stored_once(database_url, alerts)
    failed = [c for c in slack.calls if c.http_status == 503]
    assert len(failed) - 3 >= 4, "the worker retried several times during the outage (3 are lost answers)"
    limited = [i for i, c in enumerate(slack.calls) if c.http_status == 429]
    assert len(limited) == 3
    calls = slack.calls
    for index in limited:
        # Retry-After is honoured: nothing is sent to Slack before it has passed (in wall seconds: / speed).
        if index + 1 < len(calls):
            assert calls[index + 1].at - calls[index].at >= retry_after / speed * 0.9

    view = SlackView.of(slack)
    view.assert_opened_once()
    [digest] = view.digests()
    assert digest.text == "Alert digest, wave 1: 2000 firing, 0 resolved"
    assert len(view.messages) == 2, [m.text for m in view.messages]
    # The channel whose creation answer was lost is adopted, not made twice.
    creates = [c.error for c in slack.calls_to("conversations.create")]
    assert creates[0] == "service_unavailable" and creates[-1] == "name_taken", creates
    assert len([c for c in slack.calls_to("chat.postMessage") if c.http_status == 503]) == 2
