"""The README's main job: `pagerbot demo` writes the transcript, graphs, email and postmortem."""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from markdown_it import MarkdownIt

PNG = b"\x89PNG\r\n\x1a\n"


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.buttons = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")
        if tag == "button":
            self.buttons += 1


def test_demo_writes_what_a_user_would_see(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    result = subprocess.run([sys.executable, "-m", "pagerbot", "demo", "--out", str(out)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("\n[") >= 30  # one progress line a step

    page = _Collect()
    page.feed((out / "transcript.html").read_text())
    assert page.buttons >= 4
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images if src)

    graphs = list((out / "graphs").glob("*.png"))
    assert graphs and all(g.read_bytes().startswith(PNG) for g in graphs)

    message = email.message_from_bytes((out / "escalation.eml").read_bytes(), policy=email.policy.default)
    assert "ACME-1234" in message["Subject"]
    assert message["To"] == "support@hostwise.example"
    assert any(part.get_content_type() == "image/png" for part in message.walk())

    markdown = (out / "postmortem.md").read_text()
    headings = [t.content for t in MarkdownIt("commonmark").enable("table").parse(markdown) if t.type == "inline"
                and t.map and markdown.splitlines()[t.map[0]].startswith("## ")]
    for section in ("Key times", "Alerts", "Timeline", "Contributing factors", "Action items"):
        assert section in headings, headings
    assert "db1 RAID rebuild" in markdown
