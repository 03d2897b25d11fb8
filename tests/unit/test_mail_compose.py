"""Escalation email drafting and MIME building: pure, no network."""

from __future__ import annotations

import email
import email.policy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import pytest

from pagerbot.core.findings import Finding, FindingKind
from pagerbot.core.onset import Onset
from pagerbot.core.records import EscalationRecord, IncidentRecord, TimelineEntry
from pagerbot.mail.compose import (
    EscalationContext,
    HostSummary,
    VendorInfo,
    draft_all_clear,
    draft_escalation,
    draft_followup,
    format_when,
    story,
    suggest_asks,
)
from pagerbot.mail.mime import Attachment, Draft, build_message, check_address, edited, new_message_id, thread_headers
from pagerbot.mail.templates import TemplateProblem, TemplateSet

T0 = datetime(2024, 3, 5, 14, 12, tzinfo=UTC)  # 06:12 in Los Angeles
PNG = b"\x89PNG\r\n\x1a\n\x00\x01\x02fake"
HOSTILE = "<script>alert(1)</script> {{ 7*7 }} {% raw %}"

FINDINGS = [
    Finding(FindingKind.IO_BOUND, "db1", "db1 is waiting on disk: iowait 62%.", 5.0, pool="db"),
    Finding(FindingKind.IMBALANCED_LOW, "web4", "web4 gets a tenth of the web pool's load.", 3.0, pool="web"),
]


def incident(**changes: Any) -> IncidentRecord:
    inc = IncidentRecord(
        id=42,
        title="Site slow",
        severity=1,
        status="investigating",
        lead="alice",
        channel_id="C1",
        channel_name="inc-20240305-site-slow",
        opened_at=T0,
    )
    return replace(inc, **changes)


def context(**changes: Any) -> EscalationContext:
    ctx = EscalationContext(
        incident=incident(),
        vendor=VendorInfo(
            name="Contegix",
            to=("support@contegix.example",),
            cc=("ops@acme.example",),
            account="ACME-1234",
            phone="+1 800 555 0199",
            key="contegix",
        ),
        now=T0 + timedelta(minutes=83),
        tz="America/Los_Angeles",
        title="db1 disk-bound, web tier overloaded",
        hosts=[
            HostSummary("db1", 14.2, 8, 62.0, 97.0, 12.0, pool="db"),
            HostSummary("web4", 0.3, 4, 1.0, 8.0, 70.0, pool="web"),
        ],
        findings=FINDINGS,
        stands_out=["db1 spends most of its time waiting on disk."],
        asks=suggest_asks(FINDINGS),
        timeline=[
            TimelineEntry(T0 + timedelta(minutes=i), "note", "slack", "alice", f"note number {i}")
            for i in range(20)
        ],
        graph_png=PNG,
        reply_to="Alice <alice@acme.example>",
        contact_name="Alice Example",
        contact_phone="+1 555 0100",
    )
    return replace(ctx, **changes)


def parse(msg: EmailMessage) -> EmailMessage:
    return cast(EmailMessage, email.message_from_bytes(bytes(msg), policy=email.policy.default))


def build(draft: Draft, **kwargs: Any) -> EmailMessage:
    values: dict[str, Any] = {
        "sender": "pagerbot@acme.example",
        "message_id": "<1.pagerbot@acme.example>",
        "in_reply_to": None,
        "references": (),
        "date": T0,
    }
    values.update(kwargs)
    return build_message(draft, **values)


@pytest.fixture
def templates() -> TemplateSet:
    return TemplateSet()


# --- the escalation -------------------------------------------------------------------------------


def test_escalation_subject_and_body(templates: TemplateSet) -> None:
    draft = draft_escalation(context(), templates)

    assert draft.subject == "[ACME-1234] SEV1: db1 disk-bound, web tier overloaded"
    assert draft.to == ["support@contegix.example"]
    assert draft.cc == ["ops@acme.example"]
    assert draft.reply_to == ["Alice <alice@acme.example>"]
    text = draft.text
    # what and since when, in the configured zone and UTC
    assert "since 2024-03-05 06:12 PST (14:12 UTC), 1 h 23 min so far" in text
    # hosts with numbers and findings
    assert "db1 (db pool): load 14.2 on 8 CPUs (1.8 per CPU), iowait 62 %, CPU busy 97 %" in text
    assert "db1 is waiting on disk: iowait 62%." in text
    assert "The attached graph (load.png)" in text
    # asks, numbered
    assert "1. Please check the disks and storage behind db1" in text
    assert "2. Please check the load balancer's weights and health checks: web4 is under-used" in text
    # 15 timeline entries: how it began (the first five) and the latest ten
    assert "note number 0\n" in text and "note number 4\n" in text
    assert "note number 5\n" not in text and "note number 9\n" not in text
    assert "note number 10\n" in text and "note number 19\n" in text
    assert text.index("note number 4\n") < text.index("(5 entries in between not shown)") < text.index("number 10\n")
    # who to reply to, and a phone number
    assert "Please reply to Alice <alice@acme.example>" in text
    assert "or call +1 555 0100" in text
    assert draft.attachments == [Attachment("load.png", "image/png", PNG)]

    assert "<td>db1 is waiting on disk: iowait 62%.</td>" in draft.html
    assert 'href="mailto:alice@acme.example"' in draft.html
    assert 'href="tel:+15550100"' in draft.html


def test_no_graph_no_attachment_and_no_mention(templates: TemplateSet) -> None:
    draft = draft_escalation(context(graph_png=None, hosts=[], asks=[], contact_phone=None), templates)
    assert draft.attachments == []
    assert "attached graph" not in draft.text
    assert "attached graph" not in draft.html
    assert "(no current host numbers)" in draft.text
    assert "call" not in draft.text


def test_subject_without_account_and_title_falls_back_to_incident(templates: TemplateSet) -> None:
    ctx = context(title=None, vendor=VendorInfo(name="X", to=("a@x.example",)))
    assert draft_escalation(ctx, templates).subject == "SEV1: Site slow"


def test_vendor_without_address_is_an_error(templates: TemplateSet) -> None:
    with pytest.raises(ValueError, match="has no email address"):
        draft_escalation(context(vendor=VendorInfo(name="Nowhere", to=(), key="nowhere")), templates)


# --- hostile text stays data ----------------------------------------------------------------------


def test_hostile_alert_text_is_literal_in_text_and_escaped_in_html(templates: TemplateSet) -> None:
    ctx = context(
        incident=incident(title=HOSTILE, description=HOSTILE),
        title=HOSTILE,
        hosts=[HostSummary(HOSTILE, 1.0, 1, findings=(HOSTILE,))],
        stands_out=[HOSTILE],
        asks=[HOSTILE],
        timeline=[TimelineEntry(T0, "alert", "alertmanager", HOSTILE, HOSTILE)],
        contact_name=HOSTILE,
    )
    draft = draft_escalation(ctx, templates)

    assert "49" not in draft.text and "49" not in draft.html
    assert draft.text.count(HOSTILE) >= 6
    assert "<script>" not in draft.html
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; {{ 7*7 }} {% raw %}"
    assert draft.html.count(escaped) >= 6
    assert HOSTILE in draft.subject

    msg = parse(build(draft))
    html = msg.get_body(preferencelist=("html",))
    text = msg.get_body(preferencelist=("plain",))
    assert html is not None and text is not None
    assert "<script>" not in html.get_content()
    assert HOSTILE in text.get_content()


def test_attribute_access_in_data_cannot_reach_python(tmp_path: Path) -> None:
    (tmp_path / "subject.txt.j2").write_text("{{ incident.__class__.__mro__ }}")
    with pytest.raises(TemplateProblem):
        draft_escalation(context(), TemplateSet(tmp_path))


# --- headers --------------------------------------------------------------------------------------


def test_message_structure_and_attachment(templates: TemplateSet) -> None:
    draft = draft_escalation(context(), templates)
    raw = bytes(build(draft))
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    msg = parse(build(draft))

    assert msg.get_content_type() == "multipart/mixed"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["multipart/alternative", "image/png"]
    alternative = cast(EmailMessage, parts[0])
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    assert parts[1].get_filename() == "load.png"
    assert cast(EmailMessage, parts[1]).get_content() == PNG

    assert msg["From"] == "pagerbot@acme.example"
    assert msg["To"] == "support@contegix.example"
    assert msg["Cc"] == "ops@acme.example"
    assert msg["Reply-To"] == "Alice <alice@acme.example>"
    assert msg["Subject"] == "[ACME-1234] SEV1: db1 disk-bound, web tier overloaded"
    assert msg["Message-ID"] == "<1.pagerbot@acme.example>"
    assert msg["Date"] == "Tue, 05 Mar 2024 14:12:00 +0000"
    assert msg["In-Reply-To"] is None and msg["References"] is None


def test_draft_json_round_trip(templates: TemplateSet) -> None:
    draft = draft_escalation(context(), templates)
    data = json.loads(json.dumps(draft.to_json()))
    assert Draft.from_json(data) == draft


def test_without_attachments_the_message_is_multipart_alternative(templates: TemplateSet) -> None:
    msg = parse(build(draft_escalation(context(graph_png=None), templates)))
    assert msg.get_content_type() == "multipart/alternative"


def test_thread_headers_on_a_followup(templates: TemplateSet) -> None:
    first = EscalationRecord("contegix", "[ACME-1234] SEV1: x", "sent", T0, T0, "alice", "<1@acme.example>")
    second = EscalationRecord("contegix", "Re: x", "sent", T0, T0, "alice", "<2@acme.example>")
    failed = EscalationRecord("contegix", "Re: x", "failed", T0, None, None, None)
    in_reply_to, references = thread_headers([first, second, failed])
    assert (in_reply_to, references) == ("<2@acme.example>", ["<1@acme.example>", "<2@acme.example>"])

    draft = draft_followup(context(previous=second), templates)
    msg = parse(build(draft, in_reply_to=in_reply_to, references=["<1@acme.example>"]))
    assert msg["In-Reply-To"] == "<2@acme.example>"
    assert msg["References"] == "<1@acme.example> <2@acme.example>"  # the parent is added last


def test_new_message_id() -> None:
    a, b = new_message_id("acme.example"), new_message_id("acme.example")
    assert a != b
    assert a.startswith("<") and a.endswith("@acme.example>")
    with pytest.raises(ValueError):
        new_message_id("acme.example>\r\nBcc: evil@x.example")


@pytest.mark.parametrize(
    "field, value",
    [
        ("to", ["support@contegix.example\r\nBcc: evil@x.example"]),
        ("cc", ["ops@acme.example\nBcc: evil@x.example"]),
        ("reply_to", ["a@acme.example\r"]),
        ("to", ["not an address"]),
        ("to", ["a@x.example, b@x.example"]),
        ("to", []),
    ],
)
def test_bad_addresses_are_rejected(templates: TemplateSet, field: str, value: list[str]) -> None:
    draft = draft_escalation(context(), templates)
    setattr(draft, field, value)
    with pytest.raises(ValueError) as info:
        build(draft)
    assert "\n" not in str(info.value).replace("\\n", "")


def test_crlf_in_sender_message_id_and_vendor_config_is_rejected(templates: TemplateSet) -> None:
    draft = draft_escalation(context(), templates)
    with pytest.raises(ValueError, match="line break"):
        build(draft, sender="pagerbot@acme.example\r\nBcc: evil@x.example")
    with pytest.raises(ValueError, match="line break"):
        build(draft, message_id="<1@acme.example>\r\nBcc: evil@x.example")
    with pytest.raises(ValueError, match="line break"):
        build(draft, in_reply_to="<1@acme.example>\nX: y")
    with pytest.raises(ValueError, match="line break"):
        vendor = VendorInfo(name="C", to=("support@contegix.example\r\nBcc: evil@x.example",))
        draft_escalation(context(vendor=vendor), templates)


def test_subject_with_line_breaks_is_one_line(templates: TemplateSet) -> None:
    ctx = context(title="db1 down\r\nBcc: evil@x.example\r\n\r\nbody")
    draft = draft_escalation(ctx, templates)
    assert draft.subject == "[ACME-1234] SEV1: db1 down Bcc: evil@x.example body"
    msg = parse(build(replace(draft, subject="a\r\nBcc: evil@x.example")))
    assert msg["Bcc"] is None
    assert msg["Subject"] == "a Bcc: evil@x.example"


def test_check_address() -> None:
    assert check_address("Bob <bob@acme.example>") == "Bob <bob@acme.example>"
    assert check_address(" bob@acme.example ") == "bob@acme.example"
    for bad in ["", "bob", "@acme.example", "bob@", "bob@acme.example\n", "<bob@acme.example"]:
        with pytest.raises(ValueError):
            check_address(bad)


# --- follow-ups and the all clear -----------------------------------------------------------------


def test_followup_summarises_changes_since_the_last_email(templates: TemplateSet) -> None:
    previous = EscalationRecord(
        "contegix",
        "[ACME-1234] SEV1: db1 disk-bound, web tier overloaded",
        "sent",
        T0,
        T0 + timedelta(minutes=20),
        "alice",
        "<1@acme.example>",
    )
    changes = [
        TimelineEntry(T0 + timedelta(minutes=30), "alert", "alertmanager", None, "HighLoad on web2"),
        TimelineEntry(T0 + timedelta(minutes=25), "status", "slack", "bob", "Status: identified"),
        TimelineEntry(T0 + timedelta(minutes=35), "note", "slack", "carol", "Restarted nginx on web2"),
    ]
    draft = draft_followup(context(previous=previous, changes_since_previous=changes), templates)

    assert draft.subject == "Re: [ACME-1234] SEV1: db1 disk-bound, web tier overloaded"
    text = draft.text
    assert "WHAT CHANGED SINCE OUR LAST EMAIL (2024-03-05 06:32 PST (14:32 UTC))" in text
    assert "New alerts:\n  2024-03-05 06:42 PST (14:42 UTC)  HighLoad on web2" in text
    assert "Status changes:\n  2024-03-05 06:37 PST (14:37 UTC)  bob: Status: identified" in text
    assert "Notes:\n  2024-03-05 06:47 PST (14:47 UTC)  carol: Restarted nginx on web2" in text
    assert "<b>New alerts</b>" in draft.html
    assert draft.attachments[0].data == PNG

    # a previous subject that is already a reply does not become "Re: Re:"
    again = draft_followup(context(previous=replace(previous, subject="Re: " + previous.subject)), templates)
    assert again.subject == draft.subject
    assert "Nothing new has been recorded since then." in again.text


def test_all_clear(templates: TemplateSet) -> None:
    resolved = incident(status="resolved", resolved_at=T0 + timedelta(hours=2), summary="LB weights fixed.")
    draft = draft_all_clear(context(incident=resolved, graph_png=None), templates)
    assert draft.subject == "[ACME-1234] RESOLVED SEV1: db1 disk-bound, web tier overloaded"
    assert "is resolved as of 2024-03-05 08:12 PST (16:12 UTC)" in draft.text
    assert "lasted 2 h 0 min" in draft.text
    assert "LB weights fixed." in draft.text and "LB weights fixed." in draft.html

    previous = EscalationRecord("contegix", "[ACME-1234] SEV1: x", "sent", T0, T0, "alice", "<1@a.example>")
    threaded = draft_all_clear(context(incident=resolved, previous=previous), templates)
    assert threaded.subject == "Re: [ACME-1234] SEV1: x (resolved)"


# --- edits ----------------------------------------------------------------------------------------


def test_edited_draft_rebuilds_html_from_the_text(templates: TemplateSet) -> None:
    draft = draft_escalation(context(), templates)
    same = edited(draft, subject="New\nsubject")
    assert same.subject == "New subject" and same.html == draft.html
    changed = edited(draft, text="Please help <now>", to=["x@contegix.example", " "], cc=[])
    assert changed.to == ["x@contegix.example"] and changed.cc == []
    assert "Please help &lt;now&gt;" in changed.html
    with pytest.raises(ValueError):
        edited(draft, to=["x@contegix.example\r\nBcc: y@z.example"])
    with pytest.raises(ValueError, match="no recipient"):
        edited(draft, to=[])


# --- templates ------------------------------------------------------------------------------------


def test_override_dir_replaces_a_template_by_name(tmp_path: Path) -> None:
    (tmp_path / "escalation.txt.j2").write_text("Custom for {{ vendor.name }}: {{ title }}\n")
    draft = draft_escalation(context(title=HOSTILE), TemplateSet(tmp_path))
    assert draft.text == f"Custom for Contegix: {HOSTILE}\n"
    assert "Hello Contegix support" in draft.html  # the others are still the defaults


def test_vendor_template_is_preferred_when_present(tmp_path: Path) -> None:
    (tmp_path / "acme.escalation.txt.j2").write_text("ACME style {{ account }}\n")
    vendor = VendorInfo(name="Acme", to=("a@acme.example",), account="A-9", template="acme")
    draft = draft_escalation(context(vendor=vendor), TemplateSet(tmp_path))
    assert draft.text == "ACME style A-9\n"
    assert "[A-9]" in draft.subject  # no acme.subject.txt.j2: the default subject
    followup = draft_followup(context(vendor=vendor), TemplateSet(tmp_path))
    assert "Hello Acme support" in followup.text  # no acme.followup.txt.j2: the default


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "escalation.txt.j2").write_text("line one\nline two\n{% if %}\n")
    with pytest.raises(TemplateProblem) as info:
        draft_escalation(context(), TemplateSet(tmp_path))
    problem = info.value
    assert problem.lineno == 3
    assert problem.filename == str(tmp_path / "escalation.txt.j2")
    assert f"{tmp_path / 'escalation.txt.j2'}, line 3" in str(problem)


def test_undefined_variable_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "escalation.html.j2").write_text("<p>ok</p>\n\n<p>{{ no_such_thing }}</p>\n")
    with pytest.raises(TemplateProblem) as info:
        draft_escalation(context(), TemplateSet(tmp_path))
    assert info.value.lineno == 3
    assert "escalation.html.j2, line 3" in str(info.value)
    assert "no_such_thing" in str(info.value)


def test_error_in_an_included_template_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "_timeline.txt.j2").write_text("{{ timeline[0].nope }}\n")
    with pytest.raises(TemplateProblem) as info:
        draft_escalation(context(), TemplateSet(tmp_path))
    assert f"{tmp_path / '_timeline.txt.j2'}, line 1 (rendering escalation.txt.j2)" in str(info.value)


def test_override_dir_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        TemplateSet(tmp_path / "missing")


def test_template_set_is_general(tmp_path: Path) -> None:
    """The postmortem exporter reuses the class with its own package or directory."""
    (tmp_path / "postmortem.md.j2").write_text("# {{ title }}\n{{ when | localtime('UTC') }}\n")
    (tmp_path / "page.html.j2").write_text("<h1>{{ title }}</h1>")
    ts = TemplateSet(None, packages=(), extra_dirs=[tmp_path])
    assert ts.render("postmortem.md.j2", {"title": "<b>x</b>", "when": T0}) == (
        "# <b>x</b>\n2024-03-05 14:12 UTC\n"
    )
    assert ts.render("page.html.j2", {"title": "<b>x</b>"}) == "<h1>&lt;b&gt;x&lt;/b&gt;</h1>"
    ts.check(["postmortem.md.j2", "page.html.j2"])
    with pytest.raises(TemplateProblem, match="not found"):
        ts.render("nope.md.j2", {})
    defaults = TemplateSet()
    defaults.check(
        [f"{kind}.{part}.j2" for kind in ("escalation", "followup", "allclear") for part in ("txt", "html")]
    )


def test_format_when() -> None:
    assert format_when(T0, "America/Los_Angeles") == "2024-03-05 06:12 PST (14:12 UTC)"
    assert format_when(T0, "UTC") == "2024-03-05 14:12 UTC"
    assert format_when(T0, "Asia/Tokyo") == "2024-03-05 23:12 JST (14:12 UTC)"
    late = datetime(2024, 3, 6, 2, 0, tzinfo=UTC)
    assert format_when(late, "America/Los_Angeles") == "2024-03-05 18:00 PST (2024-03-06 02:00 UTC)"


def test_suggest_asks_from_findings() -> None:
    findings = [
        *FINDINGS,
        Finding(FindingKind.IO_BOUND, "db1", "again", 1.0),
        Finding(FindingKind.DOWN, "web9", "no data", 4.0),
    ]
    asks = suggest_asks(findings)
    assert asks == [
        "Please check the disks and storage behind db1: it is waiting on I/O.",
        "Please check whether web9 is up and reachable: we get no data from it.",
        "Please check the load balancer's weights and health checks: web4 is under-used compared with "
        "the rest of the web pool.",
    ]


# --- signed by a person, since when, the humans' findings first, the story told -------------------


def test_signed_by_a_person_with_phone_email_and_both_reply_to_addresses(templates: TemplateSet) -> None:
    ctx = context(reply_to=["Alice Example <alice@acme.example>", "ops@acme.example"],
                  contact_email="alice@acme.example")
    draft = draft_escalation(ctx, templates)
    assert draft.reply_to == ["Alice Example <alice@acme.example>", "ops@acme.example"]
    msg = parse(build(draft))
    assert [a.addr_spec for a in msg["Reply-To"].addresses] == ["alice@acme.example", "ops@acme.example"]
    signature = draft.text[draft.text.index("Thank you,"):]
    assert signature.splitlines()[1:4] == ["Alice Example", "Phone: +1 555 0100", "Email: alice@acme.example"]
    assert "Alice Example<br>Phone: +1 555 0100<br>Email:" in draft.html


def test_since_is_the_metrics_onset_then_the_first_alert(templates: TemplateSet) -> None:
    opened = T0  # 06:12 PST
    ctx = context(incident=incident(opened_at=opened), alerts_since=opened - timedelta(minutes=5),
                  onsets=[Onset("db1", "iowait", opened - timedelta(minutes=32)),
                          Onset("web1", "load1", opened - timedelta(minutes=1))])  # after the alerts: not earlier
    text = draft_escalation(ctx, templates).text
    assert ("since 2024-03-05 05:40 PST (13:40 UTC), 1 h 55 min so far: iowait on db1 rising since 05:40 PST; "
            "alerts since 06:07 PST; incident opened at 06:12 PST.") in text
    assert "web1" not in text.split("WHAT IS HAPPENING")[1].split("\n")[1]


def test_an_alert_start_long_before_the_incident_is_a_placeholder_not_the_start(templates: TemplateSet) -> None:
    ctx = context(alerts_since=datetime(1970, 1, 1, tzinfo=UTC))
    text = draft_escalation(ctx, templates).text
    assert "since 2024-03-05 06:12 PST (14:12 UTC), 1 h 23 min so far." in text


def test_cause_notes_and_pins_lead_and_ask_notes_come_before_the_generated_asks(templates: TemplateSet) -> None:
    entries = [
        TimelineEntry(T0, "command", "slack", "U0ALICE", "/incident note cause: md2 rebuilding since 05:30"),
        TimelineEntry(T0, "note", "slack", "U0ALICE", "cause: md2 rebuilding since 05:30"),
        TimelineEntry(T0 + timedelta(minutes=1), "pin", "slack", "U0BOB", "web4 carries half the load"),
        TimelineEntry(T0 + timedelta(minutes=2), "note", "slack", "U0BOB", "Ask: please throttle the rebuild on db1"),
        TimelineEntry(T0 + timedelta(minutes=3), "note", "slack", "U0BOB", "just a note"),
    ]
    ctx = context(timeline=entries, names={"U0ALICE": "Alice Nguyen", "U0BOB": "Bob Martinez"})
    text = draft_escalation(ctx, templates).text
    happening = text[text.index("WHAT IS HAPPENING"):text.index("AFFECTED HOSTS")]
    assert "- md2 rebuilding since 05:30 (Alice Nguyen, 06:12 PST)" in happening
    assert "- web4 carries half the load (Bob Martinez, 06:13 PST)" in happening
    assert "just a note" not in happening
    asks = text[text.index("WHAT WE ASK"):text.index("TIMELINE")]
    assert asks.splitlines()[1] == "1. please throttle the rebuild on db1"
    assert asks.splitlines()[2].startswith("2. Please check the disks and storage behind db1")
    html = draft_escalation(ctx, templates).html
    assert "<li>md2 rebuilding since 05:30 <span" in html


def test_the_timeline_leaves_out_echoes_mechanics_and_repeats() -> None:
    entries = [
        TimelineEntry(T0, "alert", "alertmanager", None, "DBHighIOWait on db1 fired"),
        TimelineEntry(T0, "slack", "slack", "pagerbot", "Channel #inc-1 created"),
        TimelineEntry(T0, "slack", "slack", "pagerbot", "Header pinned"),
        TimelineEntry(T0 + timedelta(minutes=1), "command", "slack", "U1", "/incident hosts"),
        TimelineEntry(T0 + timedelta(minutes=2), "graph", "pagerbot", None, "Graph posted: Load, cluster"),
        TimelineEntry(T0 + timedelta(minutes=3), "note", "slack", "U1", "db1 rebuilding"),
        TimelineEntry(T0 + timedelta(minutes=4), "note", "slack", "U1", "db1  rebuilding"),
        TimelineEntry(T0 + timedelta(minutes=5), "escalation", "slack", "U1", "Escalation email drafted"),
        TimelineEntry(T0 + timedelta(hours=3), "alert", "alertmanager", None, "DBHighIOWait on db1 fired"),
    ]
    told = story(entries)
    assert [(e.kind, e.text) for e in told] == [("alert", "DBHighIOWait on db1 fired"), ("note", "db1 rebuilding"),
                                                ("alert", "DBHighIOWait on db1 fired")]  # the second wave stays


def test_host_graphs_are_attached_beside_the_cluster_graph(templates: TemplateSet) -> None:
    db1 = Attachment("db1.png", "image/png", b"\x89PNGdb1")
    draft = draft_escalation(context(host_graphs=[db1]), templates)
    assert [a.filename for a in draft.attachments] == ["load.png", "db1.png"]
    assert "Attached: db1.png, that host's load, CPU and iowait" in draft.text
    msg = parse(build(draft))
    assert [p.get_filename() for p in msg.iter_attachments()] == ["load.png", "db1.png"]
