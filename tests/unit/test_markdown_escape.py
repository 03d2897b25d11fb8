"""Text escaped by pagerbot.postmortem.markdown renders as exactly that text, wherever it is put."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from pagerbot.postmortem.markdown import Md, block, cell, inline

_LINE_BREAK = re.compile(r"\r\n?|\n")

# Pieces that Markdown cares about, so random text hits them often (plain st.text() rarely does).
_PIECES = [
    *"#*_`~[]()!<>&|\\-+=.:/@$^{}\"' \t\n\r0123456789aZé",
    "http://",
    "https://evil.example/x",
    "www.",
    "mailto:",
    "a@b.co",
    "- ",
    "1. ",
    "2) ",
    "```",
    "~~~",
    "<br>",
    "<script>",
    "&amp;",
    "&#35;",
    "<!channel>",
    "![i](x.png)",
    "[x](http://evil)",
    "[x]: http://evil",
    "    ",
    "\u00a0",
    "\u2028",
    "\x00",
    "\x0b",
    "---",
    "===",
    "> ",
    "| a |",
    "[ ] ",
    "$x$",
    "_a_",
    "**b**",
    "\\\n",
]
hostile_text = st.one_of(
    st.text(),
    st.lists(st.sampled_from(_PIECES), max_size=30).map("".join),
    st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=3)), max_size=20).map("".join),
)

_INLINE_OK = {"text", "text_special"}


def _parser(linkify: bool = False) -> MarkdownIt:
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    if linkify:
        md = MarkdownIt("commonmark", {"linkify": True}).enable(["table", "strikethrough", "linkify"])
    return md


PARSERS = [pytest.param(False, id="gfm")]
try:  # linkify-it-py is optional: markdown-it-py[linkify]
    import linkify_it  # noqa: F401

    PARSERS.append(pytest.param(True, id="gfm+linkify"))
except ImportError:  # pragma: no cover - depends on the environment
    PARSERS.append(pytest.param(True, id="gfm+linkify", marks=pytest.mark.skip("linkify-it-py not installed")))


def _normal(text: str) -> str:
    return text.replace("\x00", "\ufffd")


def _expected_inline(text: str) -> str:
    return _normal(_LINE_BREAK.sub(" ", text).strip())


def _content(children: list[Token]) -> str:
    out = []
    for child in children:
        if child.type in ("hardbreak", "softbreak") or (child.type == "html_inline" and child.content == "<br>"):
            out.append("\n")
        else:
            out.append(child.content)
    return "".join(out)


def _assert_plain(children: list[Token], allowed: set[str] = _INLINE_OK) -> None:
    kinds = {c.type for c in children}
    assert kinds <= allowed, kinds


@pytest.mark.parametrize("linkify", PARSERS)
@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=hostile_text)
def test_inline_renders_as_one_paragraph_of_the_same_text(text: str, linkify: bool) -> None:
    md = _parser(linkify)
    escaped = inline(text)
    assert isinstance(escaped, Md)
    assert "\n" not in escaped and "\r" not in escaped
    expected = _expected_inline(text)
    tokens = md.parse(escaped)
    if not expected:
        assert tokens == []
        return
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"]
    _assert_plain(tokens[1].children or [])
    assert _content(tokens[1].children or []) == expected


@pytest.mark.parametrize("linkify", PARSERS)
@settings(max_examples=300)
@given(text=hostile_text)
def test_inline_is_safe_at_the_start_of_a_list_item_a_heading_and_under_a_paragraph(text: str, linkify: bool) -> None:
    md = _parser(linkify)
    expected = _expected_inline(text)
    escaped = inline(text)

    item = md.parse("- " + escaped)
    assert [t.type for t in item][:2] == ["bullet_list_open", "list_item_open"]
    assert item[-1].type == "bullet_list_close" and len([t for t in item if t.type == "list_item_open"]) == 1
    inlines = [t for t in item if t.type == "inline"]
    assert {t.type for t in item} <= {
        "bullet_list_open", "list_item_open", "paragraph_open", "inline", "paragraph_close",
        "list_item_close", "bullet_list_close",
    }  # fmt: skip
    assert "".join(_content(t.children or []) for t in inlines) == expected

    heading = md.parse("## " + escaped)
    assert [t.type for t in heading] == ["heading_open", "inline", "heading_close"]
    _assert_plain(heading[1].children or [])
    assert _content(heading[1].children or []) == expected

    under = md.parse("Lead paragraph\n" + escaped)
    assert [t.type for t in under] == ["paragraph_open", "inline", "paragraph_close"]  # no setext heading
    _assert_plain(under[1].children or [], _INLINE_OK | {"softbreak"})


@pytest.mark.parametrize("linkify", PARSERS)
@settings(max_examples=400)
@given(text=hostile_text)
def test_cell_stays_in_its_cell(text: str, linkify: bool) -> None:
    md = _parser(linkify)
    escaped = cell(text)
    assert "\n" not in escaped and "\r" not in escaped
    tokens = md.parse(f"| a | b |\n|---|---|\n| {escaped} | end |\n")
    assert [t.type for t in tokens].count("tr_open") == 2
    cells = [t for t in tokens if t.type == "inline"]
    assert len(cells) == 4
    assert _content(cells[3].children or []) == "end"
    children = cells[2].children or []
    _assert_plain(children, _INLINE_OK | {"html_inline"})
    assert all(c.content == "<br>" for c in children if c.type == "html_inline")
    expected = "\n".join(line.strip() for line in _LINE_BREAK.split(text.strip()))
    assert _content(children) == _normal(expected)


@pytest.mark.parametrize("linkify", PARSERS)
@settings(max_examples=300)
@given(text=hostile_text)
def test_block_is_paragraphs_of_the_same_lines(text: str, linkify: bool) -> None:
    md = _parser(linkify)
    escaped = block(text)
    paragraphs: list[list[str]] = [[]]
    for line in _LINE_BREAK.split(text):
        if line.strip():
            paragraphs[-1].append(_normal(line.strip()))
        elif paragraphs[-1]:
            paragraphs.append([])
    expected = ["\n".join(p) for p in paragraphs if p]
    tokens = md.parse(escaped + "\n\nAfter.\n")  # the template goes on after a block
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"] * (len(expected) + 1)
    inlines = [t for t in tokens if t.type == "inline"]
    for token in inlines:
        _assert_plain(token.children or [], _INLINE_OK | {"hardbreak"})
    assert [_content(t.children or []) for t in inlines] == [*expected, "After."]


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("# heading", "\\# heading"),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("[x](http://evil)", "\\[x\\](http\\:\\//evil)"),
        ("![i](x.png)", "!\\[i\\](x\\.png)"),
        ("| pipe |", "\\| pipe \\|"),
        ("*bold*", "\\*bold\\*"),
        ("`code`", "\\`code\\`"),
        ("<!channel>", "&lt;!channel&gt;"),
        ("1. first", "1\\. first"),
        ("- item", "\\- item"),
        ("node_load1 and _emph_", "node_load1 and \\_emph\\_"),
        ("load 14.2 on db1.example.com", "load 14.2 on db1\\.example\\.com"),
        ("mail ops@example.com", "mail ops\\@example\\.com"),
        ("www.123.example", "www\\.123\\.example"),
        ("mailto:x", "mailto\\:x"),
        ("$5 and $10", "\\$5 and \\$10"),
        ("ticket #12 by @bob", "ticket \\#12 by \\@bob"),
        ("line one\nline two", "line one line two"),
        ("  padded  ", "padded"),
    ],
)
def test_inline_examples(text: str, escaped: str) -> None:
    assert inline(text) == escaped


def test_cell_keeps_line_breaks_as_br_and_pipes_inside() -> None:
    assert cell("a | b\r\n<c>\n\nd") == "a \\| b<br>&lt;c&gt;<br><br>d"


def test_block_separates_paragraphs_and_keeps_lines() -> None:
    assert block("# one\n---\n\n\n  > two  \n") == "\\# one\\\n\\---\n\n&gt; two"
