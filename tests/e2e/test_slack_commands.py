"""End to end: /incident subcommands, header buttons and modals, sent signed to /slack/events as Slack
sends them (form-encoded commands, ``payload=`` interactivity); checked on the fake Slack and the stored timeline."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.fakes.slack_api import FakeSlack, Message
from tests.fakes.slack_requests import block_action, sign, slash_command, view_submission
from tests.harness import API_TOKEN, SIGNING_SECRET, ServerThread, make_settings, wait_for
from tests.payloads import am_alert, am_notification

CONFIG = {
    "timezone": "America/Los_Angeles",
    "slack": {"announce_channel": "incidents", "responders": ["U0ALICE"]},
}


class TestClock:
    """Wall time plus an offset the test moves forward."""

    __test__ = False

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


class Bot:
    """Slack's side of the conversation with one running pagerbot."""

    def __init__(self, server: ServerThread, slack: FakeSlack) -> None:
        self.server = server
        self.slack = slack

    def command(self, text: str, *, channel_id: str, user: str = "U0ALICE", trigger_id: str | None = None,
                wait: bool = True, timestamp: int | None = None) -> list[dict[str, Any]]:
        """`/incident text`: the HTTP answer is an empty 200 (the ack); what pagerbot says comes by response_url."""
        url = self.slack.new_response_url(channel_id=channel_id, user_id=user)
        body, headers = slash_command(SIGNING_SECRET, text, user_id=user, channel_id=channel_id, response_url=url,
                                      trigger_id=trigger_id or self.slack.new_trigger_id(), timestamp=timestamp)
        response = self.server.slack(body, headers)
        assert response.status_code == 200, response.text
        assert response.text == ""
        if not wait:
            return []
        return wait_for(lambda: self.slack.responses(url), what=f"an answer to /incident {text}")

    def say(self, text: str, **kwargs: Any) -> str:
        """The one answer to a command, checked to be ephemeral; returns its text."""
        responses = self.command(text, **kwargs)
        assert len(responses) == 1, responses
        assert responses[0]["response_type"] == "ephemeral", responses[0]
        assert "Something went wrong" not in responses[0]["text"], responses[0]
        return str(responses[0]["text"])

    def do(self, text: str, *, channel_id: str, user: str = "U0ALICE", trigger_id: str | None = None) -> str:
        """A command whose effect the channel shows: the first new message there, and no private echo of it."""
        before = len(self.slack.messages(channel_id))
        url = self.slack.new_response_url(channel_id=channel_id, user_id=user)
        body, headers = slash_command(SIGNING_SECRET, text, user_id=user, channel_id=channel_id, response_url=url,
                                      trigger_id=trigger_id or self.slack.new_trigger_id())
        assert self.server.slack(body, headers).status_code == 200
        posted = wait_for(lambda: self.slack.messages(channel_id)[before:], what=f"what /incident {text} posts")
        self.server.drain()
        assert self.slack.responses(url) == [], self.slack.responses(url)
        return posted[0].text

    def click(self, action_id: str, value: str, *, channel_id: str, message_ts: str, user: str = "U0ALICE",
              trigger_id: str | None = None) -> str:
        """A button click; returns the response_url pagerbot may answer on."""
        url = self.slack.new_response_url(channel_id=channel_id, message_ts=message_ts, user_id=user)
        body, headers = block_action(SIGNING_SECRET, action_id, value, user_id=user, channel_id=channel_id,
                                     message_ts=message_ts, response_url=url,
                                     trigger_id=trigger_id or self.slack.new_trigger_id())
        response = self.server.slack(body, headers)
        assert response.status_code == 200, response.text
        return url

    def submit(self, callback_id: str, values: dict[str, dict[str, Any]], *, private_metadata: str,
               user: str = "U0ALICE") -> httpx.Response:
        body, headers = view_submission(SIGNING_SECRET, callback_id, values, user_id=user,
                                        private_metadata=private_metadata)
        return self.server.slack(body, headers)

    def incident(self, number: int = 1) -> dict[str, Any]:
        return dict(self.server.get(f"/incidents/{number}"))

    def timeline(self, number: int = 1) -> list[dict[str, Any]]:
        return list(self.incident(number)["timeline"])

    def channel(self, number: int = 1) -> str:
        self.server.drain()
        return str(wait_for(lambda: self.incident(number)["channel_id"], what="the incident channel"))

    def header(self, channel_id: str) -> Message:
        pinned = self.slack.pinned(channel_id)
        assert len(pinned) == 1, pinned
        return pinned[0]

    def views_since(self, before: set[str]) -> list[dict[str, Any]]:
        return [v.view for k, v in self.slack.views.items() if k not in before]


@pytest.fixture
def general(fake_slack: FakeSlack) -> str:
    return fake_slack.add_channel("general", members=["U0ALICE", "U0BOB"])


def _server(url: str, fake_slack: FakeSlack, clock: TestClock | None = None,
            config: dict[str, Any] | None = None) -> ServerThread:
    settings = make_settings(url, slack_api_url=fake_slack.api_url, config=config or CONFIG)
    return ServerThread(settings, overrides={"clock": clock or TestClock()})


def _field(header: Message, name: str) -> str:
    for block in header.blocks or []:
        for item in block.get("fields") or []:
            if item["text"].startswith(f"*{name}*"):
                return str(item["text"])
    raise AssertionError(f"no {name} field in {header.blocks}")


def _buttons(header: Message) -> list[str]:
    actions = [b for b in header.blocks or [] if b["type"] == "actions"]
    return [e["text"]["text"] for e in actions[0]["elements"]]


def _answer(slack: FakeSlack, url: str, what: str) -> list[dict[str, Any]]:
    return wait_for(lambda: slack.responses(url), timeout=30, what=what)


def _posts(slack: FakeSlack, channel_id: str) -> list[str]:
    return [m.text for m in slack.messages(channel_id)]


# --- the main flow, on SQLite and PostgreSQL -----------------------------------------------------------------

def test_declare_and_run_the_incident_by_commands(database_url: str, fake_slack: FakeSlack, general: str) -> None:
    with _server(database_url, fake_slack) as server:
        bot = Bot(server, fake_slack)

        assert "`declare [title]`" in bot.say("help", channel_id=general)
        assert "`declare [title]`" in bot.say("", channel_id=general)
        unknown = bot.say("frobnicate now", channel_id=general)
        assert unknown.startswith("Unknown subcommand `frobnicate`") and "*Usage:*" in unknown
        outside = bot.say("status", channel_id=general)
        assert "not an incident channel" in outside and "INC-42" in outside

        # declare with a title, from any channel: a channel opens exactly as for an alert
        declared = bot.say("declare Checkout returns 502 for *everyone*", channel_id=general)
        assert declared.startswith(":rotating_light: Declared INC-1")
        channel = bot.channel()
        info = fake_slack.channel(channel)
        assert info is not None and info.name.startswith("inc-")
        assert info.name.endswith("checkout-returns-502-for-everyone")
        assert info.topic.startswith("SEV3 · investigating · no lead yet")
        assert "INC-1" in info.purpose
        assert {"U0ALICE"} <= set(info.members)
        header = bot.header(channel)
        assert _buttons(header) == ["Acknowledge", "Escalate", "Graphs", "Resolve"]
        announce = fake_slack.channel_by_name("incidents")
        assert announce is not None and any(f"<#{channel}>" in t for t in _posts(fake_slack, announce.id))
        texts = [e["text"] for e in bot.timeline()]
        assert any(t.startswith("Incident declared by U0ALICE") or "declared" in t for t in texts), texts
        for step in ("Channel #", "Topic set", "Header posted", "Header pinned", "Announced in #incidents"):
            assert any(t.startswith(step) for t in texts), (step, texts)

        # in the channel the incident is implied
        status = bot.say("status", channel_id=channel)
        assert status.startswith("*INC-1*") and "SEV3 · investigating · lead nobody" in status

        # ack: the first to acknowledge becomes the lead; the topic and the pinned header say so
        assert "acknowledged" in bot.do("ack", channel_id=channel, user="U0BOB")
        server.drain()
        assert "lead <@U0BOB>" in (fake_slack.channel(channel) or info).topic
        assert "<@U0BOB>" in _field(bot.header(channel), "Lead")
        assert bot.incident()["lead"] == "U0BOB" and bot.incident()["acknowledged_at"]
        assert any(":eyes:" in t and "acknowledged" in t for t in _posts(fake_slack, channel))

        moved = bot.do("status identified", channel_id=channel)
        assert ":bulb: <@U0ALICE> moved the incident to identified" == moved
        server.drain()
        assert (fake_slack.channel(channel) or info).topic.startswith("SEV3 · identified · lead <@U0BOB>")
        assert "identified" in _field(bot.header(channel), "Status")
        assert any(":bulb:" in t and "identified" in t for t in _posts(fake_slack, channel))

        # illegal moves are refused with a clear message, and change nothing
        posts_before = len(fake_slack.messages(channel))
        refused = bot.say("status acknowledged", channel_id=channel)
        assert refused.startswith(":warning: cannot go from identified to acknowledged")
        assert "investigating, monitoring, resolved" in refused
        assert bot.say("status identified", channel_id=channel) == ":warning: the incident is already identified"
        assert "unknown status 'fixed'" in bot.say("status fixed", channel_id=channel)
        assert bot.incident()["status"] == "identified"

        sev = bot.do("sev 2", channel_id=channel)
        assert "from SEV3 to SEV2" in sev
        assert "1 (worst) to 4" in bot.say("sev 9", channel_id=channel)
        lead = bot.do("lead <@U0CAROL|carol>", channel_id=channel)
        assert lead == ":crown: <@U0ALICE> made <@U0CAROL> the incident lead"
        assert "is not a user" in bot.say("lead nobody-at-all", channel_id=channel)
        server.drain()
        topic = (fake_slack.channel(channel) or info).topic
        assert topic.startswith("SEV2 · identified · lead <@U0CAROL>")
        assert "U0CAROL" in (fake_slack.channel(channel) or info).members  # the new lead is invited
        assert "<@U0CAROL>" in _field(bot.header(channel), "Lead")
        assert "SEV2" in _field(bot.header(channel), "Severity")
        assert len(fake_slack.messages(channel)) == posts_before + 2  # one short line per change, none refused

        assert bot.do("note cause: the pool of DB connections was exhausted", channel_id=channel) == \
            ":memo: <@U0ALICE> noted: cause: the pool of DB connections was exhausted"
        assert "needs text" in bot.say("note", channel_id=channel)
        timeline = bot.timeline()
        notes = [e for e in timeline if e["kind"] == "note"]
        assert [n["text"] for n in notes] == ["cause: the pool of DB connections was exhausted"]
        assert notes[0]["actor"] == "U0ALICE" and notes[0]["source"] == "slack"
        commands = [e["text"] for e in timeline if e["kind"] == "command"]
        assert "/incident sev 2" in commands and "/incident ack" in commands

        shown = bot.say("timeline", channel_id=channel)
        assert shown.startswith("*Timeline of INC-1* (latest 15 of")
        assert "slack · U0ALICE: cause: the pool of DB connections was exhausted" in shown

        # resolve with a summary; the postmortem is offered; a second resolve is refused
        resolved = bot.do("resolve Raised the pool size and restarted the app servers", channel_id=channel)
        assert resolved.startswith(":white_check_mark: <@U0ALICE> moved the incident to resolved: Raised the pool")
        server.drain()
        incident = bot.incident()
        assert incident["status"] == "resolved" and incident["resolved_at"]
        assert incident["summary"] == "Raised the pool size and restarted the app servers"
        offer = [m for m in fake_slack.messages(channel) if "Export the postmortem?" in m.text]
        assert len(offer) == 1
        assert _buttons(offer[0]) == ["Postmortem"]
        assert _buttons(bot.header(channel)) == ["Postmortem", "Graphs"]
        assert "resolved" in (fake_slack.channel(channel) or info).topic
        assert "already resolved" in bot.say("resolve again", channel_id=channel)

        # reopen, and INC-1 named from outside the channel
        assert "reopened" in bot.do("reopen", channel_id=channel)
        assert bot.say("INC-1 status", channel_id=general).startswith("*INC-1*")
        assert "SEV2 · investigating" in bot.say("status INC-1", channel_id=general)
        assert "does not exist" in bot.say("status INC-99", channel_id=general)
        server.drain()
        assert bot.incident()["status"] == "investigating" and bot.incident()["resolved_at"] is None
        assert _buttons(bot.header(channel)) == ["Acknowledge", "Escalate", "Graphs", "Resolve"]
        statuses = [e["text"] for e in bot.timeline() if e["kind"] == "status" and "U0" in e["text"]]
        assert any("reopened" in t for t in statuses)

        # no Slack error on any call pagerbot made
        failed = [c for c in fake_slack.calls if not c.ok and c.error != "already_in_channel"]
        assert not failed, [(c.method, c.error) for c in failed]


# --- modals and buttons -------------------------------------------------------------------------------------

def test_declare_without_a_title_opens_the_modal_and_its_submission_declares(sqlite_url: str,
                                                                              fake_slack: FakeSlack,
                                                                              general: str) -> None:
    with _server(sqlite_url, fake_slack) as server:
        bot = Bot(server, fake_slack)
        trigger = fake_slack.new_trigger_id()
        bot.command("declare", channel_id=general, trigger_id=trigger, wait=False)
        opened = wait_for(lambda: [c for c in fake_slack.calls_to("views.open") if c.ok], what="views.open")
        assert opened[0].args["trigger_id"] == trigger
        view = next(iter(fake_slack.views.values())).view
        assert view["callback_id"] == "declare_incident"
        assert [b["block_id"] for b in view["blocks"]] == ["title", "severity", "description"]

        # an empty title is refused in the modal itself
        empty = bot.submit("declare_incident", {"title": {"title": "  "}}, private_metadata=view["private_metadata"])
        assert empty.status_code == 200
        assert empty.json() == {"response_action": "errors", "errors": {"title": "Give the incident a title"}}
        assert server.get("/incidents") == []

        values: dict[str, dict[str, Any]] = {
            "title": {"title": "Payments API is slow"},
            "severity": {"severity": {"type": "static_select", "selected_option": {"value": "2"}}},
            "description": {"description": "p99 above 4 s since 14:05"}}
        answer = bot.submit("declare_incident", values, private_metadata=view["private_metadata"], user="U0BOB")
        assert answer.status_code == 200 and answer.text == ""
        wait_for(lambda: server.get("/incidents"), what="the declared incident")
        channel = bot.channel()
        incident = bot.incident()
        assert incident["title"] == "Payments API is slow" and incident["severity"] == 2
        info = fake_slack.channel(channel)
        assert info is not None and info.name.endswith("payments-api-is-slow")
        assert info.topic.startswith("SEV2 · investigating · no lead yet")
        assert "U0BOB" in info.members
        assert "p99 above 4 s since 14:05" in json.dumps(bot.header(channel).blocks)


def test_header_buttons_and_the_resolve_modal(sqlite_url: str, fake_slack: FakeSlack, general: str) -> None:
    with _server(sqlite_url, fake_slack) as server:
        bot = Bot(server, fake_slack)
        assert server.post_alerts("alertmanager", am_notification([am_alert("HostDown")])).status_code == 202
        channel = bot.channel()
        header = bot.header(channel)

        url = bot.click("incident_ack", "1", channel_id=channel, message_ts=header.ts, user="U0BOB")
        wait_for(lambda: bot.incident()["status"] == "acknowledged", what="the acknowledgement")
        server.drain()
        assert fake_slack.responses(url) == []  # the channel says it; no private echo
        assert bot.incident()["lead"] == "U0BOB" and bot.incident()["status"] == "acknowledged"
        info = fake_slack.channel(channel)
        assert info is not None and info.topic.startswith("SEV1 · acknowledged · lead <@U0BOB>")
        assert "<@U0BOB>" in _field(bot.header(channel), "Lead")
        # a second click is refused, not an error
        url = bot.click("incident_ack", "1", channel_id=channel, message_ts=header.ts)
        again = wait_for(lambda: fake_slack.responses(url), what="the second Acknowledge answer")
        assert again[0]["text"].startswith(":warning: INC-1 is acknowledged already (Acknowledged by <@U0BOB> at ")
        assert again[0]["text"].endswith("): nothing changed")

        # Escalate and Graphs answer with one sentence even with no vendor or metrics source configured
        for action in ("incident_escalate", "incident_graphs"):
            url = bot.click(action, "1", channel_id=channel, message_ts=header.ts)
            said = _answer(fake_slack, url, action)
            assert said[0]["response_type"] == "ephemeral" and said[0]["text"], said

        # Resolve opens a modal; its submission resolves and offers the postmortem
        before = set(fake_slack.views)
        trigger = fake_slack.new_trigger_id()
        bot.click("incident_resolve", "1", channel_id=channel, message_ts=header.ts, trigger_id=trigger)
        wait_for(lambda: bot.views_since(before), what="the resolve modal")
        view = bot.views_since(before)[0]
        assert view["callback_id"] == "resolve_incident" and json.loads(view["private_metadata"]) == {"incident": 1}
        assert bot.incident()["status"] == "acknowledged"  # nothing happens before the submission
        # it asks when the impact ended: no move to monitoring and an alert still firing, so "now" is offered
        picker = next(b["element"] for b in view["blocks"] if b["block_id"] == "mitigated")
        assert picker["type"] == "datetimepicker" and abs(picker["initial_date_time"] - time.time()) < 120
        assert {b["block_id"] for b in view["blocks"]} == {"summary", "impact", "mitigated"}

        empty = bot.submit("resolve_incident", {"summary": {"summary": ""}}, private_metadata=view["private_metadata"])
        assert empty.json()["response_action"] == "errors"
        future = int(time.time()) + 3600
        later = bot.submit("resolve_incident", {"summary": {"summary": "Rebooted the host"},
                                                "mitigated": {"mitigated": {"type": "datetimepicker",
                                                                            "selected_date_time": future}}},
                           private_metadata=view["private_metadata"])
        assert list(later.json()["errors"]) == ["mitigated"] and bot.incident()["status"] == "acknowledged"
        mitigated = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
        done = bot.submit("resolve_incident", {
            "summary": {"summary": "Rebooted the host"},
            "impact": {"impact": "Checkout was down for everyone"},
            "mitigated": {"mitigated": {"type": "datetimepicker", "selected_date_time": int(mitigated.timestamp())}},
        }, private_metadata=view["private_metadata"], user="U0BOB")
        assert done.status_code == 200 and done.text == ""
        incident = bot.incident()
        assert incident["status"] == "resolved" and incident["summary"] == "Rebooted the host"
        server.drain()
        assert any("Export the postmortem?" in t for t in _posts(fake_slack, channel))
        assert _buttons(bot.header(channel)) == ["Postmortem", "Graphs"]
        entry = [e for e in bot.timeline() if e["kind"] == "status" and "resolved" in e["text"]]
        assert entry and entry[-1]["actor"] == "U0BOB" and "Rebooted the host" in entry[-1]["text"]
        # the postmortem takes the summary, the impact and the mitigation time from the dialog
        markdown = httpx.get(f"{server.url}/incidents/1/postmortem.md", timeout=30,
                             headers={"Authorization": f"Bearer {API_TOKEN}"}).text
        assert "## Summary\n\nRebooted the host\n" in markdown
        assert "## Impact\n\n- Checkout was down for everyone (" in markdown
        local = mitigated.astimezone(ZoneInfo("America/Los_Angeles"))
        assert f"| Mitigated | {local:%Y-%m-%d %H:%M:%S} | {mitigated:%Y-%m-%d %H:%M:%S} |" in markdown

        # a second submission of the same modal is refused inside the modal
        twice = bot.submit("resolve_incident", {"summary": {"summary": "again"}},
                           private_metadata=view["private_metadata"])
        assert twice.json()["response_action"] == "errors"
        assert twice.json()["errors"]["summary"].startswith("INC-1 is already resolved (since ")

        # the Postmortem button answers sensibly
        offer = next(m for m in fake_slack.messages(channel) if "Export the postmortem?" in m.text)
        posts = len(fake_slack.messages(channel))
        url = bot.click("incident_postmortem", "1", channel_id=channel, message_ts=offer.ts)
        wait_for(lambda: len(fake_slack.messages(channel)) > posts, what="the postmortem in the channel")
        server.drain()
        assert fake_slack.responses(url) == []


def test_resolve_without_summary_by_command_opens_the_modal(sqlite_url: str, fake_slack: FakeSlack,
                                                            general: str) -> None:
    with _server(sqlite_url, fake_slack) as server:
        bot = Bot(server, fake_slack)
        bot.say("declare Search is down", channel_id=general)
        channel = bot.channel()
        before = set(fake_slack.views)
        bot.command("resolve", channel_id=channel, wait=False)
        wait_for(lambda: bot.views_since(before), what="the resolve modal")
        assert bot.views_since(before)[0]["callback_id"] == "resolve_incident"
        assert bot.incident()["status"] == "investigating"


def test_commands_that_need_metrics_or_vendors_answer_sensibly(sqlite_url: str, fake_slack: FakeSlack,
                                                               general: str) -> None:
    with _server(sqlite_url, fake_slack) as server:
        bot = Bot(server, fake_slack)
        bot.say("declare Disk full on db1", channel_id=general)
        channel = bot.channel()
        for text in ("graph", "graph db 6h", "hosts", "escalate", "escalate contegix"):
            said = bot.command(text, channel_id=channel)
            assert len(said) == 1 and said[0]["text"].strip(), (text, said)
            assert "Something went wrong" not in said[0]["text"], (text, said)
        assert "Postmortem of INC-1" in bot.do("postmortem", channel_id=channel)  # needs neither
        server.drain()
        assert not [c for c in fake_slack.calls if not c.ok and c.error != "already_in_channel"]


def test_who_may_resolve_or_escalate_is_configurable(sqlite_url: str, fake_slack: FakeSlack, general: str) -> None:
    config = {**CONFIG, "slack": {"announce_channel": "incidents", "responders": ["U0ALICE"],
                                  "resolvers": ["U0BOB"], "escalators": ["U0BOB"]}}
    with _server(sqlite_url, fake_slack, config=config) as server:
        bot = Bot(server, fake_slack)
        bot.say("declare Mail queue grows", channel_id=general)
        channel = bot.channel()
        said = bot.say("resolve it went away", channel_id=channel)
        assert said == ":warning: you are not allowed to resolve or reopen incidents (ask one of: U0BOB)"
        assert "not allowed to escalate" in bot.say("escalate", channel_id=channel)
        refused = bot.submit("resolve_incident", {"summary": {"summary": "went away"}},
                             private_metadata=json.dumps({"incident": 1}))
        assert refused.json()["errors"]["summary"].startswith("you are not allowed to resolve")
        assert bot.incident()["status"] == "investigating"
        assert "moved the incident to resolved" in bot.do("resolve it went away", channel_id=channel, user="U0BOB")
        assert bot.incident()["status"] == "resolved"


# --- retries and security ----------------------------------------------------------------------------------

def test_a_retried_command_changes_nothing(sqlite_url: str, fake_slack: FakeSlack, general: str) -> None:
    with _server(sqlite_url, fake_slack) as server:
        bot = Bot(server, fake_slack)
        bot.say("declare Queue backlog", channel_id=general)
        channel = bot.channel()
        trigger = fake_slack.new_trigger_id()
        assert bot.do("note restarted the consumers", channel_id=channel, trigger_id=trigger) == \
            ":memo: <@U0ALICE> noted: restarted the consumers"
        entries = bot.timeline()
        # Slack delivers the same command again (same trigger_id): no second note, no second answer
        url = fake_slack.new_response_url(channel_id=channel, user_id="U0ALICE")
        body, headers = slash_command(SIGNING_SECRET, "note restarted the consumers", channel_id=channel,
                                      response_url=url, trigger_id=trigger)
        assert server.slack(body, headers).status_code == 200
        time.sleep(0.5)
        assert fake_slack.responses(url) == []
        assert bot.timeline() == entries

        # the same for a command that would open a channel
        trigger = fake_slack.new_trigger_id()
        bot.say("declare Second thing", channel_id=general, trigger_id=trigger)
        bot.command("declare Second thing", channel_id=general, trigger_id=trigger, wait=False)
        time.sleep(0.5)
        server.drain()
        assert len(server.get("/incidents")) == 2


@pytest.mark.parametrize("tamper", ["bad signature", "six minutes old", "no signature"])
def test_forged_or_stale_requests_get_401_and_change_nothing(sqlite_url: str, fake_slack: FakeSlack,
                                                             general: str, tamper: str) -> None:
    with _server(sqlite_url, fake_slack) as server:
        bot = Bot(server, fake_slack)
        bot.say("declare Login fails", channel_id=general)
        channel = bot.channel()
        entries = bot.timeline()
        calls = len(fake_slack.calls)
        url = fake_slack.new_response_url(channel_id=channel, user_id="U0ALICE")
        stale = int(time.time()) - 6 * 60 if tamper == "six minutes old" else None
        for text in ("ack", "note forged", "resolve forged"):
            body, headers = slash_command(SIGNING_SECRET, text, channel_id=channel, response_url=url,
                                          timestamp=stale)
            if tamper == "bad signature":
                headers.update(sign("not-the-secret", body))
            elif tamper == "no signature":
                headers.pop("X-Slack-Signature")
            assert server.slack(body, headers).status_code == 401
        header = bot.header(channel)
        body, headers = block_action(SIGNING_SECRET, "incident_ack", "1", channel_id=channel, message_ts=header.ts,
                                     response_url=url, timestamp=int(time.time()) - 360)
        assert server.slack(body, headers).status_code == 401
        time.sleep(0.3)
        server.drain()
        assert fake_slack.responses(url) == []
        assert bot.timeline() == entries
        assert bot.incident()["status"] == "investigating" and bot.incident()["lead"] is None
        assert len(fake_slack.calls) == calls


def test_database_down_answers_with_one_clear_sentence(sqlite_url: str, fake_slack: FakeSlack,
                                                       general: str, tmp_path: Any) -> None:
    with _server(sqlite_url, fake_slack) as server:
        bot = Bot(server, fake_slack)
        bot.say("declare Cache misses", channel_id=general)
        channel = bot.channel()
        assert server.runtime is not None
        server.call(server.runtime.engine.dispose())
        db = tmp_path / "pagerbot.db"
        moved = db.rename(tmp_path / "elsewhere.db")
        db.mkdir()  # a directory where the database file was: SQLite cannot open it
        try:
            said = bot.say("ack", channel_id=channel)
            assert said == ":warning: pagerbot cannot reach its database right now; try again in a minute."
        finally:
            db.rmdir()
            moved.rename(db)
        assert bot.incident()["status"] == "investigating"


# --- commands stay fast while alerts pour in ------------------------------------------------------------

def test_commands_are_acknowledged_fast_while_1000_alerts_arrive(sqlite_url: str, fake_slack: FakeSlack,
                                                                 general: str) -> None:
    with _server(sqlite_url, fake_slack) as server:
        bot = Bot(server, fake_slack)
        bot.say("declare Storm watch", channel_id=general)
        channel = bot.channel()
        failures: list[str] = []
        sent = threading.Event()
        # The storm goes on (resending its groups, as Alertmanager does every group_interval) until ten
        # commands have been acknowledged while it ran: a faster intake must not end it before they overlap.
        overlapped = threading.Event()

        def storm() -> None:
            batch = 0
            with httpx.Client(timeout=60) as client:
                while batch < 100 or (not overlapped.is_set() and batch < 2000):
                    alerts = [am_alert(f"Storm{batch % 100}", instance=f"web{n}:9100", cluster="storm")
                              for n in range(10)]
                    response = client.post(f"{server.url}/alerts/alertmanager",
                                           json=am_notification(alerts, cluster="storm"),
                                           headers={"Authorization": "Bearer test-token-123"})
                    if response.status_code != 202:
                        failures.append(response.text)
                    batch += 1
            sent.set()

        thread = threading.Thread(target=storm, name="alert-storm")
        thread.start()
        latencies: list[tuple[str, float]] = []
        commands = ["status", "note still watching", "timeline", "help", "sev 2", "sev 3", "status INC-1"]
        urls: list[tuple[str, str]] = []
        index = during = 0
        while not sent.is_set() or index < 10:
            text = commands[index % len(commands)]
            url = fake_slack.new_response_url(channel_id=channel, user_id="U0ALICE")
            body, headers = slash_command(SIGNING_SECRET, text, channel_id=channel, response_url=url,
                                          trigger_id=fake_slack.new_trigger_id())
            started = time.monotonic()
            response = server.slack(body, headers)
            latencies.append((text, time.monotonic() - started))
            during += not sent.is_set()
            if during >= 10:
                overlapped.set()
            assert response.status_code == 200
            urls.append((text, url))
            index += 1
            time.sleep(0.02)
        thread.join(120)
        assert not failures, failures[:3]
        slow = [(t, round(s, 3)) for t, s in latencies if s >= 1.0]
        assert not slow, slow
        assert len(latencies) >= 10 and during >= 10, (len(latencies), during)
        print(f"{len(latencies)} commands, {during} during the storm, slowest ack "
              f"{max(s for _, s in latencies) * 1000:.0f} ms")
        # every read-only command was answered, too (the others' effects are posted in the channel)
        for text, url in urls:
            if text in {"status", "timeline", "help", "status INC-1"}:
                _answer(fake_slack, url, "an answer")
        server.apply_inbox()  # what the running worker had not reached yet
        alerts = sum(len(i["alerts"]) for i in (server.get(f"/incidents/{n['id']}") for n in server.get("/incidents")))
        assert alerts == 1000


# --- reminders -------------------------------------------------------------------------------------------

def test_reminders_nudge_once_per_quiet_period(sqlite_url: str, fake_slack: FakeSlack, general: str) -> None:
    clock = TestClock()
    with _server(sqlite_url, fake_slack, clock) as server:
        bot = Bot(server, fake_slack)
        bot.say("declare Reports are late", channel_id=general)
        channel = bot.channel()
        assert server.runtime is not None
        scheduler = server.runtime.scheduler

        def nudges() -> list[str]:
            return [t for t in _posts(fake_slack, channel) if t.startswith((":alarm_clock:", ":bust_in_silhouette:"))]

        server.call(scheduler.tick())
        server.drain()
        assert nudges() == []

        clock.advance(minutes=11)  # no lead after 10 minutes
        server.call(scheduler.tick())
        server.drain()
        assert [t.split(" ")[0] for t in nudges()] == [":bust_in_silhouette:"]

        clock.advance(minutes=50)  # SEV3: 60 quiet minutes
        server.call(scheduler.tick())
        server.call(scheduler.tick())
        server.drain()
        assert [t.split(" ")[0] for t in nudges()] == [":bust_in_silhouette:", ":alarm_clock:"]
        assert "No status update for 61 minutes" in nudges()[1]

        # a status update starts a new quiet period
        bot.do("status identified", channel_id=channel)
        clock.advance(minutes=30)
        server.call(scheduler.tick())
        server.drain()
        assert len(nudges()) == 2
        clock.advance(minutes=31)
        server.call(scheduler.tick())
        server.drain()
        assert len(nudges()) == 3 and "No status update for 61 minutes" in nudges()[2]
