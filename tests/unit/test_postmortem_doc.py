"""docs/postmortem.md stays true: every tag pagerbot reads, every section it writes and every block an
override can replace is documented."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from markdown_it import MarkdownIt

from pagerbot.core.records import TimelineEntry
from pagerbot.postmortem.render import PostmortemRenderer, render_postmortem
from tests.fixtures.postmortem.incident import recorded_incident

ROOT = Path(__file__).parents[2]
DOC = (ROOT / "docs" / "postmortem.md").read_text(encoding="utf-8")


def test_every_section_is_documented() -> None:
    tokens = MarkdownIt("commonmark").enable("table").parse(render_postmortem(recorded_incident()))
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h2"]
    assert len(headings) == 17
    for heading in headings:
        assert f"**{heading}**" in DOC, heading


def test_every_tag_is_documented_and_read() -> None:
    documented = re.findall(r"^\| `([a-z ]+):` \| ([A-Za-z ]+) \|", DOC, re.M)
    assert len(documented) == 8
    for tag, section in documented:
        data = recorded_incident()
        note = TimelineEntry(data.timeline[-1].at, "note", "slack", "U0ALICE", f"{tag}: something the team wrote")
        markdown = render_postmortem(dataclasses.replace(data, timeline=[note]))
        part = markdown.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
        assert "something the team wrote" in part, (tag, section)


def test_every_block_an_override_can_replace_is_documented() -> None:
    env = PostmortemRenderer().env
    source = env.loader.get_source(env, "postmortem.md.j2")[0]  # type: ignore[union-attr]
    blocks = re.findall(r"{% block (\w+) %}", source)
    listed = DOC.split("replace only some blocks:", 1)[1].split(". ", 1)[0]
    assert sorted(re.findall(r"`(\w+)`", listed)) == sorted(blocks)
