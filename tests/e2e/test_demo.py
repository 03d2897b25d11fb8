"""The README's main job: `pagerbot demo` writes the transcript, graphs, email and postmortem."""

from __future__ import annotations

import base64
import csv
import email
import email.policy
import gzip
import re
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

PNG = b"\x89PNG\r\n\x1a\n"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Page(HTMLParser):
    """A strict reading: every element closed in order, the images and buttons collected, the text kept."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []
        self.images: list[str] = []
        self.buttons: list[str] = []
        self.text: list[str] = []
        self.scripts = 0
        self._button: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")
        if tag == "script":
            self.scripts += 1
        if tag == "button":
            self._button = []
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.open[-1] if self.open else '-'}> at {self.getpos()}")
            return
        self.open.pop()
        if tag == "button" and self._button is not None:
            self.buttons.append("".join(self._button))
            self._button = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._button is not None:
            self._button.append(data)


def test_demo_writes_what_a_user_would_see(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    out.mkdir()
    (out / "graph-9.png").write_bytes(PNG)  # an earlier run's postmortem graph: nothing of it may stay
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pagerbot", "demo", "--out", str(out)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert time.monotonic() - started < 60, "the demo should take under a minute"
    assert result.stdout.count("\n[") >= 30  # one progress line a step

    # transcript.html: well-formed, no script, graphs inline as PNGs, buttons, the story of the morning
    page = _Page()
    page.feed((out / "transcript.html").read_text(encoding="utf-8"))
    page.close()
    assert not page.problems, page.problems[:5]
    assert page.open == [], page.open
    assert page.scripts == 0
    assert {"Postmortem", "Graphs"} <= set(page.buttons), page.buttons
    assert "Resolve" not in page.buttons  # resolved: the header and the answered offers keep no Resolve button
    assert len(page.images) >= 4
    for src in page.images:
        assert src.startswith("data:image/png;base64,"), src[:60]
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    text = " ".join(" ".join(page.text).split())
    for seen in (
        "#incidents", "SEV1 INC-1 · resolved", "Pinned",                          # channel, announcement, header
        "moved the incident to acknowledged", "moved the incident to identified",  # status changes
        "moved the incident to resolved",
        "Hosts (last hour)", "db1 is disk-bound", "web4 carries half the load",    # host summary, findings
        "Load, pool db, 01:11–07:11 PDT, 2026-03-10", "Load, pool web, 05:16–07:16 PDT",  # graphs asked for
        "Escalation email to Hostwise Managed Hosting", "Subject: [ACME-1234]",     # the draft ...
        "Sent by",                                                                 # ... and its sending
        "noted: cause: db1 RAID rebuild",                                         # a note, for everyone
        "Postmortem of INC-2",                                                    # the export
        "#dm-u0alice", "You are paged as primary on call",                        # the 05:30 page (INC-1), a DM ...
        "Paging @Alice Nguyen (primary on call)",                                 # ... and its mention;
        "You acknowledged INC-1: the paging stopped, and you are the lead",       # acknowledged from the DM
    ):
        assert seen in text, seen
    # Slack markup is rendered, never shown raw; alert text is never taken for markup
    for raw in ("```", "<@U", "<#C", "&amp;lt;", "&lt;", ":memo:", ":rotating_light:", "sent no metrics"):
        assert raw not in text, raw
    assert not re.search(r":[a-z_]+:(?!\d)", text.replace("https://", "")), re.findall(r":[a-z_]+:", text)[:5]

    _assert_the_channel_tells_the_morning(text, out / "pagerbot.db")

    graphs = list((out / "graphs").glob("*.png"))
    assert len(graphs) >= 4 and all(g.read_bytes().startswith(PNG) for g in graphs)

    # escalation.eml: a well-formed message, to the vendor, about db1's disks and web4's weight, graph attached
    message = email.message_from_bytes((out / "escalation.eml").read_bytes(), policy=email.policy.default)
    assert "ACME-1234" in message["Subject"] and "db1" in message["Subject"]
    assert message["To"] == "support@hostwise.example" and message["From"] == "pagerbot@example.com"
    assert message["Message-ID"] and message["Date"]
    assert not message.defects, message.defects
    body = message.get_body(("plain",))
    assert body is not None
    plain = body.get_content()
    assert "db1 is disk-bound" in plain and "web4" in plain and "sent no metrics" not in plain
    assert "Please check the disks and storage behind db1" in plain
    # people by the names the workspace knows them by, never by Slack user ID
    html_part = message.get_body(("html",))
    assert html_part is not None
    assert "Incident lead: Alice Nguyen" in plain and "Alice Nguyen moved the incident to acknowledged" in plain
    for part in (plain, html_part.get_content()):
        assert "U0ALICE" not in part and "U0BOB" not in part and "<@" not in part
    images = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert images and all(part.get_content().startswith(PNG) for part in images)
    # signed by the person who sent it, who can be called and answered; the team hears the answer too
    assert [a.addr_spec for a in message["Reply-To"].addresses] == ["alice@example.com", "ops@example.com"]
    signature = plain[plain.index("Thank you,"):].splitlines()
    assert signature[1:4] == ["Alice Nguyen", "Phone: +1-555-0101", "Email: alice@example.com"], signature
    # since when: the iowait step in the metrics (05:42 PDT), before the first alert (06:59 PDT)
    happening = plain[plain.index("WHAT IS HAPPENING"):plain.index("AFFECTED HOSTS")]
    assert re.search(r"since 2026-03-10 05:4\d PDT .*: iowait on db1 rising since 05:4\d PDT; alerts since 06:59 PDT",
                     happening), happening
    # the humans' findings lead: the cause note and the pinned mdstat message
    assert "- db1 RAID rebuild (disk swapped by Hostwise at 05:30)" in happening
    assert "/proc/mdstat shows md2 recovering" in happening
    # the timeline starts with the first alert and leaves out command echoes and bot mechanics
    timeline = plain[plain.index("TIMELINE"):plain.index("Please reply")].splitlines()[1:]
    assert "DBHighIOWait on db1 fired" in timeline[0] and "06:59 PDT" in timeline[0], timeline[:2]
    assert not any("/incident" in line or "Header pinned" in line or "Graph posted" in line for line in timeline)
    # the graph of the host the finding names, beside the cluster's
    assert [part.get_filename() for part in images][:2] == ["load.png", "db1.png"]
    assert "AFFECTED HOSTS (measured 2026-03-10 07:" in plain

    # the vendor's reply, read from the mailbox, in the channel with its ticket; the postmortem records both
    assert "Reply from Hostwise Managed Hosting" in text and "We opened ticket HW-88213" in text
    assert "wrote:" not in text[text.index("We opened ticket HW-88213"):][:600]

    # postmortem.md: its sections, the cause, and graphs beside it
    markdown = (out / "postmortem.md").read_text()
    headings = [t.content for t in MarkdownIt("commonmark").enable("table").parse(markdown) if t.type == "inline"
                and t.map and markdown.splitlines()[t.map[0]].startswith("## ")]
    for section in ("Key times", "Alerts", "Timeline", "Root cause", "Action items"):
        assert section in headings, headings
    assert "db1 RAID rebuild" in markdown
    assert "| sent | 2026-03-10 07:46:12 | HW-88213 |" in markdown
    # the 07:04 page of INC-2 and Alice's `/incident ack`, in the key times
    assert "- 2026-03-10 07:04:43: paged Alice Nguyen (primary on call), acknowledged by Alice Nguyen after 1 min\n" \
        in markdown
    assert "- **Lead:** Alice Nguyen\n" in markdown and "- **Participants:** Alice Nguyen, Bob Martinez\n" in markdown
    assert "Responders invited: \\@Alice Nguyen, \\@Bob Martinez" in markdown
    assert "U0ALICE" not in markdown and "U0BOB" not in markdown
    links = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", markdown)
    for link in links:
        assert (out / link).read_bytes().startswith(PNG), link
    assert sorted(p.name for p in out.glob("*.png")) == sorted(links)  # no stale graph beside them
    # its graphs span the incident, from an hour before the first alert (06:59 PDT) to the export
    assert "![Load, cluster, 05:59–15:16 PDT, 2026-03-10](graph-1.png)" in markdown
    assert "![Load, CPU and iowait, 4 alerting hosts, 05:59–15:16 PDT, 2026-03-10](graph-2.png)" in markdown
    for png in [out / "graph-1.png", *graphs]:  # drawn at twice the 480-pixel layout
        assert int.from_bytes(png.read_bytes()[16:20], "big") == 960, png
    _check_postmortem(markdown)


HOST_AND_PORT = re.compile(r"\b[a-z][a-z0-9.-]*:\d{2,5}\b")


def _assert_the_channel_tells_the_morning(text: str, database: Path) -> None:
    """The second wave is news at its time, the live graph leaves no tombstones, nobody is told privately what
    the channel says, and hosts go by their names."""
    # by the alerts' own clocks, as the postmortem counts waves: the second wave's first alerts started at 10:31
    # (delivered at 10:36, after Alertmanager's group_wait); the first wave's last one ended at 09:10
    assert "Wave 2 began at 10:31" in text and "alerts fired again after a lull of 1 h 21 min" in text
    assert "every alert had resolved at 09:10; the incident is still open" in text
    assert "alerts fired again at 10:31 (wave 2): the incident stays open" in text  # the stale offer
    assert "Wave 1, last updated 09:14 · closed" in text  # the first wave's storm digest, closed
    assert "This file was deleted." not in text
    shown = text[text.index("#incidents"):]  # after the page's style sheet
    assert not HOST_AND_PORT.findall(shown), HOST_AND_PORT.findall(shown)[:5]
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT text, ephemeral_to FROM local_messages").fetchall()
    public = [" ".join(t.split()) for t, to in rows if to is None and t]
    echoes = [t for t, to in rows if to is not None and any(" ".join(t.split()) in p for p in public)]
    assert not echoes, echoes
    # the hosts summary names memory and CPU as the findings and the escalation email do: the same number, the same
    # words (MemAvailable is not "free" memory)
    assert "memory free" not in text and re.search(r"db1 ?: load [\d.]+ on 8 cores, CPU busy \d+ %, iowait \d+ %, "
                                                   r"memory available \d+ %", text), text[:3000]
    # every scripted step does something: none is only refused ("the incident is already SEV1")
    refused = [t for t, to in rows if to is not None and t.startswith(":warning:")]
    assert not refused, refused


# ------------------------------------------------------------------------------------- the postmortem

SECTIONS = ["Summary", "Impact", "Key times", "Trigger", "Root cause", "Detection", "Resolution and recovery",
            "At the peak", "Alerts", "Escalations", "What went well", "What went badly", "Where we got lucky",
            "Action items", "Graphs", "Timeline", "Appendix: full log"]
PDT = timezone(timedelta(hours=-7))  # Los Angeles on the demo's day


def _text(inline: Token) -> str:
    return "".join(c.content for c in inline.children or [] if c.type in ("text", "text_special", "softbreak"))


def _sections(tokens: list[Token]) -> dict[str, list[Token]]:
    """Each h2's tokens, up to the next h2."""
    out: dict[str, list[Token]] = {}
    current: list[Token] | None = None
    heading = False
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h2":
            current, heading = out.setdefault(_text(tokens[i + 1]), []), True
        elif heading:
            heading = token.type != "heading_close"
        elif current is not None:
            current.append(token)
    return out


def _rows(section: list[Token]) -> list[list[str]]:
    """The body rows of the section's first table, each cell as a reader sees it."""
    rows: list[list[str]] = []
    in_body = False
    for token in section:
        if token.type == "tbody_open":
            in_body = True
        elif token.type == "table_close":
            break
        elif in_body and token.type == "tr_open":
            rows.append([])
        elif in_body and token.type == "inline":
            rows[-1].append(_text(token))
    return rows


def _recorded(metric: str) -> dict[tuple[str, int], float]:
    path = Path(__file__).parents[2] / "pagerbot" / "demo" / "scenario" / "metrics.csv.gz"
    with gzip.open(path, "rt") as f:
        return {(row["host"], int(float(row["time"]))): float(row["value"]) for row in csv.DictReader(f)
                if row["metric"] == metric}


def _check_postmortem(markdown: str) -> None:
    """Read the demo's postmortem as the manager the day after: each fact checked against what happened."""
    assert "&amp;lt;" not in markdown and "&amp;gt;" not in markdown and "&amp;amp;" not in markdown
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    sections = _sections(tokens)
    assert list(sections) == SECTIONS

    # key times in the order they happened; mitigated is the move to monitoring (14:52), before the resolve
    times = _rows(sections["Key times"])
    labels = [row[0] for row in times]
    assert labels == ["Started", "Detected", "Acknowledged", "Escalated", "Identified", "Mitigated", "Resolved"]
    moments = [datetime.fromisoformat(row[2]) for row in times]
    assert moments == sorted(moments)
    assert dict((row[0], row[1]) for row in times)["Mitigated"] == "2026-03-10 14:52:00"
    assert dict((row[0], row[1]) for row in times)["Started"] == "2026-03-10 06:59:13"  # the first alert's start
    assert "- **Time to detect:** 5 min\n" in markdown and "- **Time to mitigate:** 7 h 52 min\n" in markdown

    # two waves: 06:59-09:10 and 10:31-15:04, for the incident and for each alert name
    assert "on 4 hosts in 2 waves;" in markdown.splitlines()[2]
    assert markdown.splitlines()[2].endswith("; escalated to Hostwise Managed Hosting.")  # its name, not its key
    assert [row[0] for row in _rows(sections["Escalations"])] == ["Hostwise Managed Hosting"]
    assert {row[0]: row[5] for row in _rows(sections["Alerts"])} == {
        "DBHighIOWait": "2", "HostHighLoad": "2", "HTTPLatencyHigh": "2"}

    # the peak: the minute the hosts' loads summed highest in the incident's window, per the recorded metrics
    load = _recorded("load1")
    start, end = datetime(2026, 3, 10, 13, 59, 13, tzinfo=UTC), datetime(2026, 3, 10, 22, 15, tzinfo=UTC)
    summed: dict[int, float] = {}
    for (_, t), value in load.items():
        if start.timestamp() <= t <= end.timestamp():
            summed[t] = summed.get(t, 0.0) + value
    peak = min(t for t, v in summed.items() if v == max(summed.values()))
    peak_local = datetime.fromtimestamp(peak, UTC).astimezone(PDT)
    peak_paragraph = next(_text(t) for t in sections["At the peak"] if t.type == "inline")
    assert peak_paragraph.startswith(f"{peak_local:%Y-%m-%d %H:%M:%S} (America/Los_Angeles)"), peak_paragraph
    # ... and its figures are those the channel's host summary would have shown then (5-minute means)
    iowait = _recorded("iowait")
    shown = [v for (host, t), v in iowait.items() if host == "db1" and peak - 300 <= t <= peak]
    db1 = next(row for row in _rows(sections["At the peak"]) if row[0] == "db1" and row[2] == "I/O bound")
    assert f"iowait {sum(shown) / len(shown):.0f} %" in db1[3], db1

    # sections filled from the notes and the resolve
    assert "Load balancer weights fixed by vendor" in markdown.split("## Summary")[1].split("##")[0]
    impact = markdown.split("## Impact")[1].split("## ")[0]
    assert "the shop's pages answered slowly" in impact
    felt, signs = impact.split("What users felt, from the alerts:")[1].split("Other alerts, signs of the cause:")
    assert "- **HTTPLatencyHigh** on web1, web2, web3: firing for 6 h 18 min in 2 waves (07:02–08:57, 10:35–14:58)" \
        in felt
    assert "**DBHighIOWait** on db1: firing for 6 h 32 min in 2 waves" in signs
    assert "newsletter" in markdown.split("## Trigger")[1].split("## ")[0]
    assert "db1 RAID rebuild" in markdown.split("## Root cause")[1].split("## ")[0]
    detection = markdown.split("## Detection")[1].split("## ")[0]
    assert "First alert: DBHighIOWait started at 06:59." in detection and "Acknowledged at 07:06" in detection
    # db1's iowait stepped up when the rebuild began after the 05:30 disk swap, long before the first alert
    onset = re.search(r"Onset in the metrics: iowait on db1 rising since (\d\d:\d\d), 1 h \d+ min before", detection)
    assert onset is not None and "05:30" < onset[1] < "05:50", detection
    assert "second failure" in markdown.split("## Where we got lucky")[1].split("## ")[0]
    actions = _rows(sections["Action items"])
    assert [(row[1], row[2]) for row in actions] == [
        ("Bob Martinez", "P1"), ("Alice Nguyen", "P2"), ("unassigned", "P3")]
    assert actions[0][3] == "https://tracker.example.com/OPS-101"
    assert "- **Postmortem status:** draft\n" in markdown and "- **Authors:** Alice Nguyen, Bob Martinez\n" in markdown

    # the main timeline: key events from the first alert on, no command echoes or bot mechanics; those are in
    # the appendix with everything else
    events = _rows(sections["Timeline"])
    assert events[0] == ["2026-03-10 06:59", "DBHighIOWait fired on db1 (wave 1 of 2)", "alerts"]
    whats = [row[1] for row in events]
    assert any(w.startswith("HostHighLoad fired on db1 (wave 2 of 2)") for w in whats)
    # the wave's line stands at the time its alerts fired, as the channel said it
    assert ["2026-03-10 10:31", "Wave 2 began: DBHighIOWait fired again after a lull of 1 h 21 min", "—"] in events
    assert "Alice Nguyen moved the incident to monitoring" in whats
    assert not [w for w in whats if w.startswith("/incident") or w.startswith(("Header", "Topic set", "Channel #"))]
    assert len(whats) == len(set(whats))  # no line twice
    appendix = [row[4] for row in _rows(sections["Appendix: full log"])]
    assert "Header pinned" in appendix and "/incident ack" in appendix and len(appendix) > len(events)
