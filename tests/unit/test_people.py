"""core.people: Slack user IDs and mentions become names in text that leaves Slack (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pagerbot.core.people import (
    actor_name,
    humanize,
    humanize_entry,
    humanize_incident,
    is_user_id,
    mentioned,
    name_of,
    user_ids,
)
from pagerbot.core.records import IncidentRecord, TimelineEntry
from pagerbot.mail.mime import html_from_text
from pagerbot.postmortem.markdown import cell

NAMES = {"U0ALICE": "Alice Nguyen", "U0BOB": "Bob", "W0GRID": "Grace"}
AT = datetime(2026, 3, 10, 14, 6, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("<@U0ALICE>", "@Alice Nguyen"),
    ("invited: <@U0ALICE>, <@U0BOB>", "invited: @Alice Nguyen, @Bob"),
    ("<@U0ALICE|alice> is the lead", "@Alice Nguyen is the lead"),  # the profile's name wins over the label
    ("<@W0GRID>", "@Grace"),  # Enterprise Grid IDs
    ("<@U0NOBODY|dave>", "@dave"),  # unknown: the label Slack sent
    ("<@U0NOBODY>", "@U0NOBODY"),  # unknown, no label: the ID
    ("<@U0NOBODY|>", "@U0NOBODY"),
    ("U0ALICE moved the incident to acknowledged; U0ALICE is the lead",
     "Alice Nguyen moved the incident to acknowledged; Alice Nguyen is the lead"),
    ("sent by U0BOB: [ACME] SEV1", "sent by Bob: [ACME] SEV1"),
    ("U0NOBODY moved it", "U0NOBODY moved it"),  # a bare ID nobody named stays
    ("UTC WARNING XU0ALICE U0ALICEX u0alice U0ALICE_2", "UTC WARNING XU0ALICE U0ALICEX u0alice U0ALICE_2"),
    *[(t, t) for t in ("mail U0ALICE@example.com", "see /home/U0ALICE", "U0ALICE.example", "x-U0ALICE")],
    ("thanks U0BOB. (U0ALICE), U0ALICE: ok", "thanks Bob. (Alice Nguyen), Alice Nguyen: ok"),
    # Slack's other markup, as Slack shows it
    ("<!channel> see <#C0OPS|ops-db> and <#C0BARE>", "@channel see #ops-db and #C0BARE"),
    ("<!here|here> <!everyone> <!subteam^S0DBA|@dba> <!subteam^S0DBA>", "@here @everyone @dba @S0DBA"),
    ("since <!date^1773151200^{date_short} at {time}|Mar 10 at 14:00> ok", "since Mar 10 at 14:00 ok"),
    ("graph: <https://grafana.example/d/x?from=now-6h|the dashboard>",
     "graph: the dashboard (https://grafana.example/d/x?from=now-6h)"),
    ("<https://example.com/runbook> <https://example.com|https://example.com>",
     "https://example.com/runbook https://example.com"),
    ("write <mailto:noc@vendor.example|noc@vendor.example>", "write noc@vendor.example"),
    ("not markup: <b>, <#lower>, <!-- x -->, a < b > c", "not markup: <b>, <#lower>, <!-- x -->, a < b > c"),
    # Slack escapes &, < and > inside its markup; a bare address links to itself
    ("<https://grafana.example/d/x?a=1&amp;b=2|CPU &amp; disk>", "CPU & disk (https://grafana.example/d/x?a=1&b=2)"),
    ("see <http://runbook.example|runbook.example>", "see http://runbook.example"),
    ("<#C0OPS|>", "#C0OPS"),
    ("<!date^1773151200^{date_short}>", "<!date^1773151200^{date_short}>"),
    # an unclosed form stops at the next one: it cannot swallow a mention after it
    ("<!here|x <@U0ALICE> <#C0OPS|ops", "<!here|x @Alice Nguyen <#C0OPS|ops"),
    ("", ""),
])
def test_humanize(text: str, expected: str) -> None:
    assert humanize(text, NAMES) == expected


def test_without_names_mentions_still_read_as_people() -> None:
    assert humanize("ping <@U0ALICE> and U0ALICE", {}) == "ping @U0ALICE and U0ALICE"
    assert humanize("no people here", {}) == "no people here"


def test_a_name_that_looks_like_an_id_or_a_mention_is_not_replaced_again() -> None:
    names = {"U0ALICE": "U0BOB", "U0BOB": "<@U0ALICE>"}
    assert humanize("<@U0ALICE> U0BOB", names) == "@U0BOB <@U0ALICE>"


def test_hostile_names_are_plain_text_escaped_where_they_land() -> None:
    names = {"U0EVE": "Eve | *admin* <b>x</b>\n| --- |"}
    text = humanize("lead: <@U0EVE>", names)
    assert text == "lead: @Eve | *admin* <b>x</b> | --- |"  # one line; escaping is the caller's
    assert cell(text) == "lead: \\@Eve \\| \\*admin\\* &lt;b&gt;x&lt;/b&gt; \\| --- \\|"
    assert "&lt;b&gt;x&lt;/b&gt;" in html_from_text(text)


def test_a_pipe_in_a_label_ends_nothing_early() -> None:
    assert humanize("<@U0NOBODY|a|b> said", {}) == "@a|b said"
    assert humanize("<@U0NOBODY|a\nb>", {}) == "<@U0NOBODY|a\nb>"  # not a mention: left as text


def test_long_names_are_cut() -> None:
    assert name_of("U0LONG", {"U0LONG": "x" * 200}) == "x" * 79 + "…"
    assert name_of("U0NOBODY", NAMES) == "U0NOBODY"
    assert name_of("U0EMPTY", {"U0EMPTY": "  "}) == "U0EMPTY"


def test_actors() -> None:
    assert actor_name("U0ALICE", NAMES) == "Alice Nguyen"
    assert actor_name("pagerbot", NAMES) == "pagerbot"
    assert actor_name("support@vendor.example", NAMES) == "support@vendor.example"
    assert actor_name(None, NAMES) is None
    assert is_user_id("U0ALICE") and is_user_id("W012ABC")
    assert not is_user_id("pagerbot") and not is_user_id(None) and not is_user_id("u0alice")


def test_ids_to_look_up() -> None:
    incident = IncidentRecord(id=1, title="db down, <@U0TITLE> on it", severity=1, status="open", lead="U0LEAD",
                              channel_id=None, channel_name=None, opened_at=AT, summary="fixed by <@U0SUM|s>",
                              participants=("U0ALICE", "pagerbot"))
    entries = [
        TimelineEntry(AT, "command", "slack", "U0BOB", "/incident lead <@U0LEAD|lee>"),
        TimelineEntry(AT, "slack", "slack", "pagerbot", "Responders invited: <@U0ALICE>, <@U0CAROL>"),
        TimelineEntry(AT, "email", "email", "support@vendor.example", "Reply from U0NOTANID"),
    ]
    assert mentioned("<@U1> <@U2|two> <@U1>") == ["U1", "U2"]
    assert user_ids(entries, incident) == ["U0LEAD", "U0ALICE", "U0TITLE", "U0SUM", "U0BOB", "U0CAROL"]


def test_records() -> None:
    entry = TimelineEntry(AT, "status", "slack", "U0ALICE", "U0ALICE moved the incident to acknowledged")
    assert humanize_entry(entry, NAMES) == TimelineEntry(AT, "status", "slack", "Alice Nguyen",
                                                         "Alice Nguyen moved the incident to acknowledged")
    plain = TimelineEntry(AT, "alert", "alertmanager", None, "HostHighLoad on web1")
    assert humanize_entry(plain, NAMES) is plain
    incident = IncidentRecord(id=1, title="t <@U0BOB>", severity=1, status="open", lead="U0ALICE", channel_id=None,
                              channel_name=None, opened_at=AT, participants=("U0ALICE", "U0CAROL"))
    shown = humanize_incident(incident, NAMES)
    assert (shown.title, shown.lead, shown.participants) == ("t @Bob", "Alice Nguyen", ("Alice Nguyen", "U0CAROL"))
