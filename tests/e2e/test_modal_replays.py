"""A modal submission delivered again (Slack's retry, or a replay of a captured request) acts once, like a
repeated slash command or click; a corrected resubmission of the same modal after an error still counts."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_requests import view_submission
from tests.harness import SIGNING_SECRET, ServerThread, make_settings, wait_for


def _declare_values(title: str) -> dict[str, dict[str, Any]]:
    return {"title": {"title": title},
            "severity": {"severity": {"type": "static_select", "selected_option": {"value": "2"}}},
            "description": {"description": "orders are stuck"}}


def test_a_replayed_declare_modal_declares_once(sqlite_url: str, fake_slack: FakeSlack) -> None:
    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url, config={})
    with ServerThread(settings) as server:
        body, headers = view_submission(SIGNING_SECRET, "declare_incident", _declare_values("Checkout down"),
                                        private_metadata=json.dumps({"channel": "C0GENERAL"}))
        for _ in range(3):
            assert server.slack(body, headers).status_code == 200
        # an empty title is refused; the same modal, corrected, declares
        empty, empty_headers = view_submission(SIGNING_SECRET, "declare_incident", _declare_values(" "),
                                               view_id="V0SECOND")
        assert "errors" in server.slack(empty, empty_headers).json()
        fixed, fixed_headers = view_submission(SIGNING_SECRET, "declare_incident", _declare_values("Search down"),
                                               view_id="V0SECOND")
        assert server.slack(fixed, fixed_headers).status_code == 200
        wait_for(lambda: len(server.get("/incidents")) >= 2, what="the two incidents")
        time.sleep(1)  # the listener runs after the ack: give a replay the time to (wrongly) declare again
        titles = sorted(i["title"] for i in server.get("/incidents"))
        assert titles == ["Checkout down", "Search down"]
        # the same view submitted by someone else is someone else's submission
        other, other_headers = view_submission(SIGNING_SECRET, "declare_incident", _declare_values("Checkout down"),
                                               user_id="U0BOB")
        assert server.slack(other, other_headers).status_code == 200
        wait_for(lambda: len(server.get("/incidents")) == 3, what="the third incident")
