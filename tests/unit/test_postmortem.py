"""The postmortem export: golden file, structure as a GFM parser sees it, hostile text, overrides, files."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from pagerbot.core.onset import Onset
from pagerbot.core.people import humanize
from pagerbot.core.records import TimelineEntry
from pagerbot.postmortem.render import (
    GraphFile,
    PostmortemInput,
    PostmortemRenderer,
    render_postmortem,
    write_postmortem,
)
from tests.fixtures.postmortem.incident import recorded_incident

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "postmortem" / "golden.md"

SECTIONS = [
    "Summary",
    "Impact",
    "Key times",
    "Trigger",
    "Root cause",
    "Detection",
    "Resolution and recovery",
    "At the peak",
    "Alerts",
    "Escalations",
    "What went well",
    "What went badly",
    "Where we got lucky",
    "Action items",
    "Graphs",
    "Timeline",
    "Appendix: full log",
]
APPENDIX = "Appendix: full log"

HOSTILE = (
    "# heading\n## two\n<script>alert(1)</script> [x](http://evil) ![i](x.png) | pipe | *bold* __b__ `code` "
    "~~gone~~ http://evil.example www.evil.example <http://evil.example> ops@evil.example <!channel> "
    "&lt; $x$ [^1] \\ \n- item\n1. one\n> quote\n```\nfenced\n```\n---\n===\n    indented\n[r]: http://evil\n"
)


def _parsers() -> list[MarkdownIt]:
    parsers = [MarkdownIt("commonmark").enable(["table", "strikethrough"])]
    try:
        import linkify_it  # noqa: F401
    except ImportError:
        return parsers
    parsers.append(MarkdownIt("commonmark", {"linkify": True}).enable(["table", "strikethrough", "linkify"]))
    return parsers


def _walk(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    for token in tokens:
        out.append(token)
        if token.children:
            out.extend(_walk(token.children))
    return out


def _text(inline: Token) -> str:
    """What a reader sees of an inline token (escapes and entities resolved)."""
    return "".join(c.content for c in inline.children or [] if c.type in ("text", "text_special"))


def _headings(tokens: list[Token]) -> list[tuple[str, str]]:
    return [(tok.tag, _text(tokens[i + 1])) for i, tok in enumerate(tokens) if tok.type == "heading_open"]


def _table_after(tokens: list[Token], heading: str) -> list[Token]:
    start = next(i for i, t in enumerate(tokens) if t.type == "inline" and t.content == heading)
    begin = next(i for i in range(start, len(tokens)) if tokens[i].type == "table_open")
    end = next(i for i in range(begin, len(tokens)) if tokens[i].type == "table_close")
    return tokens[begin : end + 1]


def _body_rows(table: list[Token]) -> int:
    begin = next((i for i, t in enumerate(table) if t.type == "tbody_open"), len(table))
    return sum(1 for t in table[begin:] if t.type == "tr_open")


# ---------------------------------------------------------------------------------------------- golden


def test_golden_file() -> None:
    markdown = render_postmortem(recorded_incident())
    if os.environ.get("PAGERBOT_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(markdown, encoding="utf-8")
    assert markdown == GOLDEN.read_text(encoding="utf-8"), "regenerate with PAGERBOT_UPDATE_GOLDEN=1 and review"


@pytest.mark.parametrize("parser", _parsers(), ids=lambda p: "linkify" if p.options.get("linkify") else "gfm")
def test_structure_as_a_gfm_parser_sees_it(parser: MarkdownIt) -> None:
    data = recorded_incident()
    tokens = parser.parse(render_postmortem(data))
    headings = _headings(tokens)
    assert headings[0] == ("h1", "INC-42: Checkout latency on the prod web pool")
    assert [text for tag, text in headings[1:]] == SECTIONS
    assert {tag for tag, _ in headings[1:]} == {"h2"}

    assert _body_rows(_table_after(tokens, APPENDIX)) == len(data.timeline)
    assert _body_rows(_table_after(tokens, "Alerts")) == 2  # grouped by name
    assert _body_rows(_table_after(tokens, "Escalations")) == 2
    assert _body_rows(_table_after(tokens, "Key times")) == 6

    everything = _walk(tokens)
    images = [t for t in everything if t.type == "image"]
    assert [(t.attrs["src"], t.content) for t in images] == [(g.file_name, g.caption) for g in data.graphs]
    assert not [t for t in everything if t.type in ("link_open", "html_block", "code_inline", "fence")]
    assert {t.content for t in everything if t.type == "html_inline"} == {"<br>"}  # the pinned message's line break

    markdown = render_postmortem(data)
    assert ("| move the orders reindex to the Sunday 03:00 window | unassigned | — | — "
            "| Bob Martinez, 2024-03-05 10:47:00 |") in markdown
    assert ("| alert on replication lag above 60 s | unassigned | — | — "
            "| Alice Nguyen, 2024-03-05 10:48:00 |") in markdown
    assert "| Escalated | 2024-03-05 09:16:00 | 2024-03-05 17:16:00 | 18 min |" in markdown
    assert "- **Time to resolve:** 1 h 47 min" in markdown


# ------------------------------------------------------------------------------------------ hostile text


def _hostile(data: PostmortemInput) -> PostmortemInput:
    h = HOSTILE
    return dataclasses.replace(
        data,
        incident=dataclasses.replace(
            data.incident,
            title=h,
            lead=h,
            participants=(h, "bob"),
            channel_name=h,
            summary=h,
            description=h,
        ),
        alerts=[dataclasses.replace(a, name=h + a.name, host=h + (a.host or "")) for a in data.alerts],
        timeline=[
            dataclasses.replace(e, source=h, actor=h, text=(e.text.split(":")[0] + ": " + h) if e.kind == "note" else h)
            for e in data.timeline
        ],
        escalations=[dataclasses.replace(e, vendor=h, subject=h) for e in data.escalations],
        findings=[dataclasses.replace(f, host=h, pool=h, sentence=h) for f in data.findings],
        stands_out=[h for _ in data.stands_out],
        graphs=[GraphFile(g.file_name, h) for g in data.graphs],
    )


@pytest.mark.parametrize("parser", _parsers(), ids=lambda p: "linkify" if p.options.get("linkify") else "gfm")
def test_hostile_text_stays_text(parser: MarkdownIt) -> None:
    clean = recorded_incident()
    hostile = _hostile(clean)
    clean_tokens = parser.parse(render_postmortem(clean))
    tokens = parser.parse(render_postmortem(hostile))

    # Slack's markup in it (<!channel>, <http://…>) reads as Slack shows it (core.people), the rest verbatim
    one_line = " ".join(humanize(HOSTILE, {}).split("\n")).strip()
    headings = _headings(tokens)
    assert headings[0] == ("h1", f"INC-42: {one_line}")
    assert [text for _, text in headings[1:]] == SECTIONS

    # The same block structure as the clean incident, apart from the extra paragraphs of the two
    # multi-line texts (summary, description) that the Impact section shows as paragraphs.
    def blocks(toks: list[Token]) -> list[str]:
        return [t.type for t in toks if t.type not in ("paragraph_open", "paragraph_close", "inline")]

    assert blocks(tokens) == blocks(clean_tokens)

    everything = _walk(tokens)
    forbidden = {"html_block", "code_inline", "code_block", "fence", "blockquote_open", "hr", "s_open"}
    assert not [t for t in everything if t.type in forbidden]
    # The one link: an action item's, in its Link cell (what a person wrote after "action:"), to the web only
    actions = _walk(_table_after(tokens, "Action items"))
    links = [t.attrs["href"] for t in everything if t.type == "link_open"]
    assert links == [t.attrs["href"] for t in actions if t.type == "link_open"] == ["http://evil", "http://evil"]
    assert {t.content for t in everything if t.type == "html_inline"} <= {"<br>"}
    assert [t.attrs["src"] for t in everything if t.type == "image"] == [g.file_name for g in hostile.graphs]

    def emphasis(toks: list[Token]) -> int:
        return sum(1 for t in _walk(toks) if t.type in ("em_open", "strong_open"))

    assert emphasis(tokens) == emphasis(clean_tokens)  # only the template's own labels

    assert _body_rows(_table_after(tokens, APPENDIX)) == len(hostile.timeline)
    timeline = _table_after(tokens, APPENDIX)
    cells = [t for t in timeline if t.type == "inline"]
    assert len(cells) == 5 * (len(hostile.timeline) + 1)
    texts = cells[5 + 4 :: 5]
    rendered = "".join(c.content if c.type != "html_inline" else "\n" for c in texts[0].children or [])
    assert rendered == "\n".join(line.strip() for line in humanize(HOSTILE, {}).strip().split("\n"))


def test_template_injection_is_data() -> None:
    data = recorded_incident()
    sneaky = "{{ 7 * 7 }} {% if true %}yes{% endif %} {# c #}"
    data = dataclasses.replace(data, incident=dataclasses.replace(data.incident, title=sneaky))
    markdown = render_postmortem(data)
    assert "{{ 7 \\* 7 }} {% if true %}yes{% endif %} {\\# c \\#}" in markdown.splitlines()[0]


# ---------------------------------------------------------------------------------------- the content


def test_alerts_grouped_by_name_with_waves() -> None:
    markdown = render_postmortem(recorded_incident())
    assert (
        "| HTTP5xxRate | web1\\.prod\\.example\\.com, web2\\.prod\\.example\\.com, web3\\.prod\\.example\\.com "
        "| 2024-03-05 09:01:00 | 2024-03-05 10:22:00 | 3 | 2 |"
    ) in markdown


def test_empty_incident_renders_placeholders() -> None:
    data = recorded_incident()
    bare = dataclasses.replace(
        data,
        incident=dataclasses.replace(
            data.incident,
            status="open",
            lead=None,
            participants=(),
            channel_name=None,
            acknowledged_at=None,
            mitigated_at=None,
            resolved_at=None,
            summary=None,
        ),
        alerts=[],
        timeline=[],
        escalations=[],
        findings=[],
        stands_out=[],
        graphs=[],
    )
    markdown = render_postmortem(bare)
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    assert [text for _, text in _headings(tokens)[1:]] == SECTIONS
    assert _body_rows(_table_after(tokens, APPENDIX)) == 0
    assert "not yet resolved" in markdown.splitlines()[2]
    assert "- **Time to resolve:** not yet" in markdown
    assert "_No alerts were recorded._" in markdown
    assert markdown.count("_Nothing recorded yet._") == 5  # trigger, root cause, went well, badly, lucky


def test_times_in_the_configured_timezone_and_utc() -> None:
    data = dataclasses.replace(recorded_incident(), tz="Europe/Paris")
    markdown = render_postmortem(data)
    assert "| Europe/Paris | UTC | Source | Actor | What |" in markdown
    assert "| 2024-03-05 17:58:00 | 2024-03-05 16:58:00 | alertmanager |" in markdown


def test_unknown_timezone_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="Unknown timezone 'Mars/Olympus'"):
        render_postmortem(dataclasses.replace(recorded_incident(), tz="Mars/Olympus"))


def test_timeline_is_sorted_and_naive_times_are_utc() -> None:
    data = recorded_incident()
    naive = TimelineEntry(datetime(2024, 3, 5, 16, 0), "note", "slack", "zed", "earliest")
    markdown = render_postmortem(dataclasses.replace(data, timeline=[*data.timeline, naive]))
    rows = [line for line in markdown.splitlines() if line.startswith("| 2024-")]
    timeline_rows = rows[-(len(data.timeline) + 1) :]
    assert timeline_rows[0] == "| 2024-03-05 08:00:00 | 2024-03-05 16:00:00 | slack | zed | earliest |"


# --------------------------------------------------------------------------------- templates and files


def test_override_template_extends_the_package_one_and_unfiltered_text_is_escaped(tmp_path: Path) -> None:
    (tmp_path / "postmortem.md.j2").write_text(
        '{% extends "pagerbot/postmortem.md.j2" %}\n'
        "{% block timeline %}\n## Timeline (short)\n\n"
        "{% for row in timeline_rows[:2] %}\n- {{ row.local }} {{ row.text }}\n{% endfor %}\n"
        "Raw: {{ incident.title }}\n{% endblock %}\n",
        encoding="utf-8",
    )
    data = recorded_incident()
    data = dataclasses.replace(data, incident=dataclasses.replace(data.incident, title="*x* <b>"))
    markdown = render_postmortem(data, template_dir=tmp_path)
    assert "## Timeline (short)" in markdown
    assert "- 2024-03-05 08:58:00 HostHighLoad on db1\\.prod\\.example\\.com: load per core 9.4" in markdown
    assert "Raw: \\*x\\* &lt;b&gt;" in markdown  # printed without a filter, escaped anyway
    assert "## Root cause" in markdown  # the rest comes from the package template


def test_renderer_is_reused_per_template_dir(tmp_path: Path) -> None:
    from pagerbot.postmortem import render

    render_postmortem(recorded_incident())
    render_postmortem(recorded_incident(), template_dir=tmp_path)
    assert render._renderer(None) is render._renderer(None)
    assert render._renderer(tmp_path.resolve()) is not render._renderer(None)
    assert isinstance(render._renderer(None), PostmortemRenderer)


def test_write_postmortem_writes_markdown_and_graphs(tmp_path: Path) -> None:
    data = recorded_incident()
    pngs = {g.file_name: b"\x89PNG\r\n\x1a\n" + g.file_name.encode() for g in data.graphs}
    out = tmp_path / "out" / "inc-42"
    path = write_postmortem(data, pngs, out)
    assert path == out / "postmortem.md"
    assert path.read_text(encoding="utf-8") == render_postmortem(data)
    assert sorted(p.name for p in out.iterdir()) == ["load-db.png", "load-web.png", "postmortem.md"]
    assert (out / "load-db.png").read_bytes() == pngs["load-db.png"]


@pytest.mark.parametrize("name", ["../evil.png", "/etc/x.png", "a/b.png", ".hidden.png", "", "postmortem.md"])
def test_write_postmortem_refuses_unsafe_graph_names(tmp_path: Path, name: str) -> None:
    data = dataclasses.replace(recorded_incident(), graphs=[])
    with pytest.raises(ValueError):
        write_postmortem(data, {name: b"png"}, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_write_postmortem_needs_every_linked_graph(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"No PNG given for graph file 'load-web\.png'"):
        write_postmortem(recorded_incident(), {"load-db.png": b"png"}, tmp_path)


# ---------------------------------------------------------------------------------------------- speed




@pytest.mark.parametrize("parser", _parsers(), ids=lambda p: "linkify" if p.options.get("linkify") else "gfm")
def test_hostile_names_stay_text(parser: MarkdownIt) -> None:
    """Names come from Slack profiles anyone can edit: replaced before escaping, they stay text."""
    name = "Eve | *boss* <script>x</script> [l](http://evil) `c`"
    data = dataclasses.replace(recorded_incident(), names={"U0ALICE": name, "U0BOB": "Bob\n| --- |"})
    clean_tokens = parser.parse(render_postmortem(recorded_incident()))
    markdown = render_postmortem(data)
    tokens = parser.parse(markdown)
    assert "U0ALICE" not in markdown and "U0BOB" not in markdown
    everything = _walk(tokens)
    forbidden = {"link_open", "html_block", "code_inline", "code_block", "fence", "hr"}
    assert not [t for t in everything if t.type in forbidden]
    assert {t.content for t in everything if t.type == "html_inline"} <= {"<br>"}

    def emphasis(toks: list[Token]) -> int:
        return sum(1 for t in _walk(toks) if t.type in ("em_open", "strong_open"))

    assert emphasis(tokens) == emphasis(clean_tokens)
    timeline = _table_after(tokens, APPENDIX)
    assert _body_rows(timeline) == len(data.timeline)
    cells = [_text(t) for t in timeline if t.type == "inline"]
    assert len(cells) == 5 * (len(data.timeline) + 1)
    lead_row = cells.index("/incident lead @" + name)  # the mention, as the name, in the What column
    assert cells[lead_row - 1] == name  # the actor column
    assert "Bob | --- |" in cells  # a line break in a name is a space, and its pipes stay in the cell


def test_slack_text_is_escaped_once() -> None:
    """Slack sends notes and pinned messages with &, < and > escaped: a reader sees the characters, and the
    Markdown escapes them once (never "&amp;lt;"). Alert text is not Slack's: its "&lt;" is what it says."""
    data = recorded_incident()
    pinned = TimelineEntry(datetime(2024, 3, 5, 17, 10, tzinfo=UTC), "pin", "slack", "U0BOB",
                           "p99 &lt; 2 s again &amp; <@U0ALICE> agrees")
    cause = TimelineEntry(datetime(2024, 3, 5, 17, 11, tzinfo=UTC), "note", "slack", "U0BOB",
                          "cause: queue depth &gt; 10k")
    alert = TimelineEntry(datetime(2024, 3, 5, 17, 12, tzinfo=UTC), "alert", "alertmanager", None, "x &lt; y")
    markdown = render_postmortem(dataclasses.replace(data, timeline=[*data.timeline, pinned, cause, alert]))
    assert "&amp;lt;" not in markdown.replace("x &amp;lt; y", "") and "&amp;gt;" not in markdown
    assert "| p99 &lt; 2 s again &amp; \\@Alice Nguyen agrees |" in markdown
    assert "- queue depth &gt; 10k (Bob Martinez, 2024-03-05 09:11:00)" in markdown
    assert "| x &amp;lt; y |" in markdown


def test_detection_sets_the_onset_in_the_metrics_against_the_first_alert() -> None:
    data = recorded_incident()  # the first alert started 08:58 local, the incident opened 09:02
    onsets = [Onset("db1", "iowait", datetime(2024, 3, 5, 16, 10, tzinfo=UTC)),
              Onset("db1", "swap_used", datetime(2024, 3, 5, 17, 30, tzinfo=UTC))]  # after the opening: not shown
    markdown = render_postmortem(dataclasses.replace(data, onsets=onsets))
    detection = markdown.split("## Detection\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert detection == [
        "- Onset in the metrics: iowait on db1 rising since 08:10, 48 min before the first alert.",
        "- First alert: HostHighLoad started at 08:58.",
        "- pagerbot opened the incident at 09:02, 4 min after the start.",
        "- Acknowledged at 09:04, 2 min after the incident opened.",
    ]


def test_vendors_are_named_as_configured_not_by_their_config_key() -> None:
    """The escalation records the vendor's config key ("hostwise"); the reader knows the vendor by its name."""
    data = recorded_incident()
    keyed = [dataclasses.replace(e, vendor="hostwise") for e in data.escalations]
    markdown = render_postmortem(dataclasses.replace(data, escalations=keyed,
                                                     vendor_names={"hostwise": "Hostwise Managed Hosting"}))
    first_line = next(line for line in markdown.splitlines()[1:] if line.strip())
    assert "escalated to Hostwise Managed Hosting." in first_line, first_line
    assert "| Hostwise Managed Hosting |" in markdown
    assert "hostwise" not in markdown.replace("Hostwise Managed Hosting", "")
