"""The README's main job: `pagerbot demo` writes the transcript, graphs, email and postmortem."""

from __future__ import annotations

import base64
import email
import email.policy
import re
import sqlite3
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

from markdown_it import MarkdownIt

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
        "Postmortem of INC-1",                                                    # the export
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
    assert "Incident lead: Alice Nguyen" in plain and "Alice Nguyen: /incident ack" in plain
    for part in (plain, html_part.get_content()):
        assert "U0ALICE" not in part and "U0BOB" not in part and "<@" not in part
    images = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert images and all(part.get_content().startswith(PNG) for part in images)

    # postmortem.md: its sections, the cause, and graphs beside it
    markdown = (out / "postmortem.md").read_text()
    headings = [t.content for t in MarkdownIt("commonmark").enable("table").parse(markdown) if t.type == "inline"
                and t.map and markdown.splitlines()[t.map[0]].startswith("## ")]
    for section in ("Key times", "Alerts", "Timeline", "Contributing factors", "Action items"):
        assert section in headings, headings
    assert "db1 RAID rebuild" in markdown
    assert "- **Lead:** Alice Nguyen\n" in markdown and "- **Participants:** Alice Nguyen, Bob Martinez\n" in markdown
    assert "Responders invited: \\@Alice Nguyen, \\@Bob Martinez" in markdown
    assert "U0ALICE" not in markdown and "U0BOB" not in markdown
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", markdown):
        assert (out / link).read_bytes().startswith(PNG), link
    # its graphs span the incident, from an hour before the first alert (06:59 PDT) to the export
    assert "![Load, cluster, 05:59–15:16 PDT, 2026-03-10](graph-1.png)" in markdown
    assert "![Load, CPU and iowait, 4 alerting hosts, 05:59–15:16 PDT, 2026-03-10](graph-2.png)" in markdown
    for png in [out / "graph-1.png", *graphs]:  # drawn at twice the 480-pixel layout
        assert int.from_bytes(png.read_bytes()[16:20], "big") == 960, png


HOST_AND_PORT = re.compile(r"\b[a-z][a-z0-9.-]*:\d{2,5}\b")


def _assert_the_channel_tells_the_morning(text: str, database: Path) -> None:
    """The second wave is news at its time, the live graph leaves no tombstones, nobody is told privately what
    the channel says, and hosts go by their names."""
    assert "Wave 2 began at 10:36" in text and "alerts fired again after a lull of 1 h 22 min" in text
    assert "alerts fired again at 10:36 (wave 2): the incident stays open" in text  # the stale offer
    assert "Wave 1, last updated 09:14 · closed" in text  # the first wave's storm digest, closed
    assert "This file was deleted." not in text
    shown = text[text.index("#incidents"):]  # after the page's style sheet
    assert not HOST_AND_PORT.findall(shown), HOST_AND_PORT.findall(shown)[:5]
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT text, ephemeral_to FROM local_messages").fetchall()
    public = [" ".join(t.split()) for t, to in rows if to is None and t]
    echoes = [t for t, to in rows if to is not None and any(" ".join(t.split()) in p for p in public)]
    assert not echoes, echoes
