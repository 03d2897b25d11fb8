"""The main use cases against in-memory fakes of the Store and the ports: no database, no HTTP.

What each use case decides (the rows it changes, the timeline it writes, the side effects it queues in the
outbox, what it refuses) is checked here in milliseconds; the integration and end-to-end suites check the
same paths against PostgreSQL, SQLite and the fake Slack server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any, TypeVar

import pytest

from pagerbot.chat import blocks
from pagerbot.core.alerts import AlertEvent, AlertState, Severity
from pagerbot.core.lifecycle import Status
from pagerbot.mail.smtp import MailError
from pagerbot.services import email_delivery, escalation, incidents
from pagerbot.services.actor import ActionRefused, Actor
from pagerbot.services.alerts import apply_alerts
from pagerbot.services.context import Services
from pagerbot.services.delivery import Job
from pagerbot.services.opening import OPENING_OPS
from pagerbot.services.ports import UserProfile
from pagerbot.settings import Settings, parse_config
from pagerbot.store.repository import Email, Graph
from tests.fakes.store import FakeStore

T = TypeVar("T")
START = datetime(2026, 3, 5, 14, 0, tzinfo=UTC)
ALICE = Actor("U0ALICE", "slack")
BOB = Actor("U0BOB", "slack")


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


class NoChat:
    """The use cases queue their Slack calls in the outbox; calling the chat directly is a bug here, but for
    looking people up (an email names and signs with the people on the incident)."""

    PEOPLE = {"U0BOB": UserProfile("Bob Ops", "bob@example.com", "+1 555 0100")}

    async def user_profile(self, user_id: str) -> UserProfile | None:
        return self.PEOPLE.get(user_id)

    async def user_name(self, user_id: str) -> str | None:
        profile = self.PEOPLE.get(user_id)
        return profile.name if profile is not None else None

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a use case called chat.{name} instead of queueing it")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def services(config: dict[str, Any] | None = None) -> tuple[Services, FakeStore, FixedClock]:
    store = FakeStore()
    clock = FixedClock(START)
    ctx = Services(settings=Settings(config=parse_config(config or {}, "test config")), store=store,  # type: ignore[arg-type]
                   clock=clock, chat=NoChat())  # type: ignore[arg-type]
    return ctx, store, clock


def firing(name: str = "HighLoad", host: str = "web-1", *, starts_at: datetime = START,
           state: AlertState = AlertState.FIRING, severity: Severity = Severity.SEV2) -> AlertEvent:
    return AlertEvent(source="alertmanager", fingerprint=f"{name}:{host}", state=state, name=name,
                      title=f"{name} on {host}", severity=severity,
                      labels={"alertname": name, "host": host, "cluster": "prod"}, starts_at=starts_at, host=host)


async def _apply(ctx: Services, store: FakeStore, *deliveries: list[AlertEvent]) -> Any:
    async with store.transaction() as session:
        return await apply_alerts(ctx, session, list(deliveries))  # type: ignore[arg-type]


async def _keep_email(store: FakeStore, email: Email) -> None:
    async with store.transaction() as session:
        await store.add_email(session, email)


# --- declare ----------------------------------------------------------------------------------------------

def test_declare_opens_an_incident_and_queues_its_channel() -> None:
    ctx, store, _ = services()
    incident_id = run(incidents.declare(ctx, ALICE, "  Checkout is   slow ", severity=Severity.SEV2))
    incident = store.incidents[0]
    assert (incident.id, incident.title, incident.severity, incident.status) == (incident_id, "Checkout is slow", 2,
                                                                                 "investigating")
    assert incident.opened_at == START and incident.created_by == ALICE.user_id
    assert incident.open_group_key == incident.group_key  # open: a second declare gets a group of its own
    assert store.ops(incident_id) == [*OPENING_OPS, "invite"]  # no metrics source: no graph
    assert store.outbox[-1].payload == {"users": [ALICE.user_id]}
    assert [e.text for e in store.entries(incident_id)] == ["Incident declared by <@U0ALICE>: Checkout is slow"]
    assert store.commits == 1


def test_declare_without_a_title_is_refused_and_writes_nothing() -> None:
    ctx, store, _ = services()
    with pytest.raises(ActionRefused, match="needs a title"):
        run(incidents.declare(ctx, ALICE, "   "))
    assert store.incidents == [] and store.outbox == [] and store.commits == 0


# --- acknowledge ------------------------------------------------------------------------------------------

def test_acknowledge_moves_the_incident_and_makes_the_first_responder_lead() -> None:
    ctx, store, clock = services()
    incident_id = run(incidents.declare(ctx, ALICE, "Disk full"))
    store.outbox.clear()
    clock.at = START + timedelta(minutes=3)
    text = run(incidents.acknowledge(ctx, incident_id, BOB))
    incident = store.incidents[0]
    assert incident.status == Status.ACKNOWLEDGED.value
    assert (incident.acknowledged_at, incident.acknowledged_by, incident.lead) == (clock.at, BOB.user_id,
                                                                                   BOB.user_id)
    assert text == "<@U0BOB> moved the incident to acknowledged; <@U0BOB> is the lead"
    posts = [row.payload["text"] for row in store.outbox if row.op == "post"]
    assert posts == [":eyes: <@U0BOB> moved the incident to acknowledged; <@U0BOB> is the lead"]
    assert {"update_header", "set_topic", "update_announcement"} <= set(store.ops(incident_id))
    assert store.entries(incident_id)[-1].data["to"] == "acknowledged"


def test_acknowledge_twice_says_who_did_and_changes_nothing() -> None:
    ctx, store, _ = services()
    incident_id = run(incidents.declare(ctx, ALICE, "Disk full"))
    run(incidents.acknowledge(ctx, incident_id, BOB))
    queued = len(store.outbox)
    with pytest.raises(ActionRefused, match=r"acknowledged already \(.*U0BOB.*\): nothing changed"):
        run(incidents.acknowledge(ctx, incident_id, ALICE))
    assert store.incidents[0].acknowledged_by == BOB.user_id and len(store.outbox) == queued


def test_acknowledge_of_an_unknown_incident_is_refused() -> None:
    ctx, _, _ = services()
    with pytest.raises(ActionRefused, match="INC-9 does not exist"):
        run(incidents.acknowledge(ctx, 9, ALICE))


# --- resolve ----------------------------------------------------------------------------------------------

def test_resolve_closes_the_group_records_the_summary_and_offers_the_postmortem() -> None:
    ctx, store, clock = services()
    incident_id = run(incidents.declare(ctx, ALICE, "Disk full"))
    store.outbox.clear()
    clock.at = START + timedelta(minutes=40)
    run(incidents.resolve(ctx, incident_id, BOB, "Rotated the logs"))
    incident = store.incidents[0]
    assert incident.status == "resolved" and incident.resolved_at == clock.at
    assert incident.summary == "Rotated the logs" and incident.open_group_key is None
    posts = [row.payload for row in store.outbox if row.op == "post"]
    assert posts[0]["text"].endswith("<@U0BOB> moved the incident to resolved: Rotated the logs")
    assert any("postmortem" in str(post["blocks"]) for post in posts[1:])
    assert not any("All-clear" in str(post) for post in posts)  # no vendor was emailed


def test_resolve_offers_an_all_clear_to_each_vendor_that_was_emailed() -> None:
    ctx, store, _ = services({"vendors": {"acme": {"name": "Acme Hosting", "to": ["noc@acme.example"]}}})
    incident_id = run(incidents.declare(ctx, ALICE, "Disk full"))
    run(_keep_email(store, Email(incident_id=incident_id, vendor="acme", kind="escalation", status="sent",
                                 to=["noc@acme.example"], cc=[], subject="INC-1", text="help")))
    run(incidents.resolve(ctx, incident_id, BOB, "fixed"))
    offer = [row.payload for row in store.outbox if row.op == "post" and "all is clear" in row.payload["text"]]
    assert len(offer) == 1 and "All-clear email to Acme Hosting" in str(offer[0]["blocks"])


def test_resolve_twice_and_resolve_by_someone_not_allowed_are_refused() -> None:
    ctx, store, _ = services({"slack": {"resolvers": [ALICE.user_id]}})
    incident_id = run(incidents.declare(ctx, ALICE, "Disk full"))
    with pytest.raises(ActionRefused, match="not allowed to resolve"):
        run(incidents.resolve(ctx, incident_id, BOB, "fixed"))
    assert store.incidents[0].resolved_at is None
    run(incidents.resolve(ctx, incident_id, ALICE, "fixed"))
    with pytest.raises(ActionRefused, match="already resolved"):
        run(incidents.resolve(ctx, incident_id, ALICE, "again"))


# --- applying alerts --------------------------------------------------------------------------------------

def test_a_firing_alert_opens_an_incident_and_a_resend_is_a_duplicate() -> None:
    ctx, store, _ = services()
    result = run(_apply(ctx, store, [firing()]))
    assert (result.new, len(result.opened)) == (1, 1)
    incident = store.incidents[0]
    assert (incident.title, incident.severity, incident.created_by) == ("HighLoad on web-1", 2, "alertmanager")
    assert store.ops(incident.id)[:len(OPENING_OPS)] == list(OPENING_OPS)
    assert [(a.name, a.state, a.incident_id) for a in store.alerts] == [("HighLoad", "firing", incident.id)]

    again = run(_apply(ctx, store, [firing()]))
    assert (again.new, again.duplicates, again.opened) == (0, 1, [])
    assert len(store.alerts) == 1


def test_alerts_of_one_group_join_its_open_incident() -> None:
    ctx, store, _ = services({"grouping": {"labels": ["cluster"]}})
    run(_apply(ctx, store, [firing("HighLoad", "web-1")]))
    result = run(_apply(ctx, store, [firing("DiskFull", "db-1")]))
    assert result.opened == [] and result.new == 1
    assert len(store.incidents) == 1 and {a.incident_id for a in store.alerts} == {1}
    posts = [row.payload["text"] for row in store.outbox if row.op == "post"]
    assert posts == [":red_circle: *DiskFull* on db-1: DiskFull on db-1"]


def test_a_worse_alert_raises_the_severity_of_its_open_incident() -> None:
    ctx, store, _ = services({"grouping": {"labels": ["cluster"]}})
    run(_apply(ctx, store, [firing("HighLoad", "web-1", severity=Severity.SEV3)]))
    run(_apply(ctx, store, [firing("DiskFull", "db-1", severity=Severity.SEV1)]))
    incident = store.incidents[0]
    assert incident.severity == 1
    assert store.entries(incident.id)[-1].text.startswith("Severity raised from SEV3 to SEV1: DiskFull is ")
    assert any(row.payload.get("text", "").startswith(":arrow_up: Severity raised") for row in store.outbox)


def test_when_every_alert_resolved_the_incident_offers_to_resolve() -> None:
    ctx, store, clock = services()
    run(_apply(ctx, store, [firing()]))
    clock.at = START + timedelta(minutes=5)
    result = run(_apply(ctx, store, [firing(state=AlertState.RESOLVED)]))
    assert result.resolved == 1 and store.alerts[0].state == "resolved"
    incident = store.incidents[0]
    assert incident.all_resolved_offered_at == clock.at and incident.resolved_at is None  # offered, not done
    assert "offer_resolve" in store.ops(incident.id)
    assert store.entries(incident.id)[-1].text == "Every alert has resolved; offered to resolve the incident"


def test_a_resolve_for_an_alert_never_seen_is_ignored() -> None:
    ctx, store, _ = services()
    result = run(_apply(ctx, store, [firing(state=AlertState.RESOLVED)]))
    assert (result.ignored, result.new) == (1, 0)
    assert store.incidents == [] and store.outbox == []


# --- escalation: draft and send ---------------------------------------------------------------------------

VENDOR = {"vendors": {"acme": {"name": "Acme Hosting", "to": ["noc@acme.example"]}},
          "smtp": {"sender": "pagerbot@example.com"}}
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


class RecordingMailSender:
    """The mail server: keeps what it was handed, or refuses it with ``error``."""

    def __init__(self, error: MailError | None = None) -> None:
        self.sent: list[EmailMessage] = []
        self.error = error

    async def __call__(self, message: EmailMessage) -> dict[str, str]:
        if self.error is not None:
            raise self.error
        self.sent.append(message)
        return {}


def _incident_with_evidence(ctx: Services, store: FakeStore) -> int:
    run(_apply(ctx, store, [firing("HighLoad", "web-1")]))
    incident = store.incidents[0]
    incident.channel_id = "C0INC1"  # the outbox opened the channel
    store.keep_graph(Graph(incident_id=incident.id, kind="live", title="Load on prod", png=PNG, created_at=START,
                           slack_file_id="F0LIVE", summary={"hosts": [{"host": "web-1", "load": 31.5, "cpus": 4}]}))
    return incident.id


def _job(email_id: int, op: str = "send_email") -> Job:
    return Job(id=1, incident_id=1, op=op, payload={"email_id": email_id, "by": BOB.user_id}, attempts=0,
               maybe_sent=False, created_at=START)


async def _commit(store: FakeStore, persist: Any) -> None:
    """What the outbox worker does with a handler's result: run it in a transaction of its own."""
    async with store.transaction() as session:
        await persist(session)


def test_escalate_drafts_the_email_with_the_evidence_and_queues_it_for_review() -> None:
    ctx, store, _ = services(VENDOR)
    incident_id = _incident_with_evidence(ctx, store)
    text = run(escalation.draft(ctx, incident_id, None, BOB))
    assert text.startswith(":email: An escalation email to Acme Hosting is drafted in the channel")
    email = store.emails[0]
    assert (email.status, email.kind, email.vendor, list(email.to)) == ("draft", "escalation", "acme",
                                                                        ["noc@acme.example"])
    assert "HighLoad" in email.subject and "web-1" in email.text and "31.5" in email.text
    assert email.graph_id == 1  # the live graph goes with it
    assert store.ops(incident_id)[-1] == "post_email_draft"
    assert store.entries(incident_id)[-1].text == "Escalation email to Acme Hosting drafted by U0BOB"


def test_escalate_before_the_channel_exists_is_refused() -> None:
    ctx, store, _ = services(VENDOR)
    run(_apply(ctx, store, [firing()]))
    with pytest.raises(ActionRefused, match="has no channel yet"):
        run(escalation.draft(ctx, 1, None, BOB))
    assert store.emails == []


def test_send_hands_the_email_to_the_mail_server_once_and_records_it() -> None:
    ctx, store, _ = services(VENDOR)
    ctx.mail_sender = mail = RecordingMailSender()
    run(escalation.draft(ctx, _incident_with_evidence(ctx, store), None, BOB))
    email = store.emails[0]
    reply = run(escalation.email_button(ctx, blocks.EMAIL_SEND, email.id, BOB))
    assert reply is not None and reply.text == ":outbox_tray: Sending the email to Acme Hosting…"
    assert email.status == "sending" and store.ops(1)[-2:] == ["update_email_message", "send_email"]
    with pytest.raises(ActionRefused, match="already sending"):  # a second click starts no second send
        run(escalation.email_button(ctx, blocks.EMAIL_SEND, email.id, ALICE))

    run(_commit(store, run(email_delivery.send_email(ctx, _job(email.id)))))
    [message] = mail.sent
    assert message["To"] == "noc@acme.example" and message["Subject"] == email.subject
    assert message["Message-ID"] == email.message_id and message["From"] == "pagerbot@example.com"
    assert [part.get_content() for part in message.iter_attachments()] == [PNG]
    assert (email.status, email.sent_by) == ("sent", BOB.user_id)
    assert store.entries(1)[-1].text.startswith("Email to Acme Hosting sent by U0BOB: ")

    assert run(email_delivery.send_email(ctx, _job(email.id))) is None  # the job run again: settled, not resent
    assert len(mail.sent) == 1


def test_a_send_interrupted_after_the_mail_server_was_reached_is_never_repeated() -> None:
    ctx, store, _ = services(VENDOR)
    ctx.mail_sender = mail = RecordingMailSender()
    run(escalation.draft(ctx, _incident_with_evidence(ctx, store), None, BOB))
    email = store.emails[0]
    email.status, email.message_id = "sending", "<earlier@example.com>"  # the marker of an earlier attempt
    run(_commit(store, run(email_delivery.send_email(ctx, _job(email.id)))))
    assert mail.sent == []
    assert email.status == "failed" and email.error == email_delivery.MAYBE_SENT


def test_a_refused_send_keeps_the_draft_and_says_why() -> None:
    ctx, store, _ = services(VENDOR)
    ctx.mail_sender = RecordingMailSender(MailError("550 relay denied", kind="rejected", retryable=False))
    run(escalation.draft(ctx, _incident_with_evidence(ctx, store), None, BOB))
    email = store.emails[0]
    run(escalation.email_button(ctx, blocks.EMAIL_SEND, email.id, BOB))
    run(_commit(store, run(email_delivery.send_email(ctx, _job(email.id)))))
    assert (email.status, email.error, email.message_id) == ("failed", "550 relay denied", None)
    assert "HighLoad" in email.subject  # the draft is kept for Retry
    assert store.entries(1)[-1].text == "Email to Acme Hosting not sent: 550 relay denied"
