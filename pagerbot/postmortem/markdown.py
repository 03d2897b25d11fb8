"""Escaping for GitHub-flavoured Markdown: text from alerts and people stays text (pure).

Three contexts:

- :func:`inline` for text inside a line (a heading, a list item, after a label): line breaks collapse to
  spaces and nothing can start or end a construct (heading, list, quote, fence, thematic break, table,
  emphasis, strikethrough, code, link, image, autolink, HTML, entity, math, hard break).
- :func:`cell` for a GFM table cell: the same, plus pipes kept inside the cell, and line breaks kept as
  ``<br>`` (the only HTML pagerbot itself emits; the text's own ``<`` and ``>`` are entities).
- :func:`block` for paragraphs of several lines: each line escaped as by :func:`inline`, lines of one
  paragraph joined by hard breaks, blank lines separating paragraphs. The result must start at column 0.

Escaping is by backslash (CommonMark escapes any ASCII punctuation) and, for ``<``, ``>`` and ``&``, by
entities. GFM's extended autolinks (``http://``, ``www.``, e-mail addresses) and linkify's bare host names
are defused by escaping the ``:`` of ``scheme://``, the first ``/`` of ``//`` and the dots of host names:
the renderer then sees separate text pieces and makes no link, while the text reads the same.

:class:`Md` marks a string as Markdown that is already safe; the template filters return it and the
renderer's finalizer escapes anything else that reaches the output.
"""

from __future__ import annotations

import re

__all__ = ["Md", "block", "cell", "inline"]


class Md(str):
    """A string that is already Markdown (escaped text or pagerbot's own markup): printed as is."""

    __slots__ = ()


# Always escaped, wherever they are, in this order (backslash first, "&" before the entities that use it).
# "_" and "." are escaped only where they matter (see _escape).
_ALWAYS: tuple[tuple[str, str], ...] = (
    ("\\", "\\\\"),
    ("&", "&amp;"),  # entities
    ("<", "&lt;"),  # HTML, autolinks, <!channel>
    (">", "&gt;"),  # block quotes
    ("`", "\\`"),  # code spans and fences
    ("*", "\\*"),  # emphasis, lists, thematic breaks
    ("~", "\\~"),  # strikethrough, ~~~ fences
    ("[", "\\["),  # links, images, footnotes, task boxes, reference definitions
    ("]", "\\]"),
    ("|", "\\|"),  # tables
    ("#", "\\#"),  # headings (also their closing sequences), GitHub issue references
    ("@", "\\@"),  # e-mail autolinks, GitHub mentions
    ("$", "\\$"),  # GitHub math
    ("\x00", "\ufffd"),  # what CommonMark renderers do anyway
)
_MAILTO = re.compile(r"(mailto|xmpp):", re.IGNORECASE)
_SLASHES = re.compile(r"/(?=/)")

_LINE_BREAK = re.compile(r"\r\n?|\n")
# Line starts: "-", "+", "=" (lists, thematic breaks, setext underlines) and "1." / "1)" (ordered lists).
# "#", ">", "*", "_", "`", "~", "|", "<" and "[" are escaped everywhere already.
_ORDERED = re.compile(r"([0-9]+)([.)])(?=\s|$)")


def _escape(text: str) -> str:
    """``text`` with everything that could become Markdown escaped (no line-start rules). Written for
    speed: plain ``str.replace`` when a character is present, no regular expression in the common case."""
    for char, escaped in _ALWAYS:
        if char in text:
            text = text.replace(char, escaped)
    if "_" in text:
        # "_" between two letters/digits can neither open nor close emphasis; any other can.
        parts = text.split("_")
        out = [parts[0]]
        for i in range(1, len(parts)):
            before, after = out[-1][-1:], parts[i][:1]
            out.append(("_" if before.isalnum() and after.isalnum() else "\\_") + parts[i])
        text = "".join(out)
    if "." in text:
        # The dots of host names (a dot before a letter, and www.): no extended autolink, no linkify.
        parts = text.split(".")
        out = [parts[0]]
        for i in range(1, len(parts)):
            part = parts[i]
            if part[:1].isalpha() or parts[i - 1][-3:].lower() == "www":
                out.append("\\." + part)
            else:
                out.append("." + part)
        text = "".join(out)
    if ":" in text:
        if "://" in text:
            text = text.replace("://", "\\://")  # scheme://
        if "mailto" in text.lower() or "xmpp" in text.lower():
            text = _MAILTO.sub(r"\1\\:", text)
    if "//" in text:
        text = _SLASHES.sub(r"\\/", text)  # //host (protocol-relative)
    return text


def _escape_line_start(text: str) -> str:
    """``text`` (stripped, one line) escaped so that it may start a line or a list item's content."""
    out = _escape(text)
    if not out:
        return out
    first = out[0]
    if first in "-+=":
        return "\\" + out
    if "0" <= first <= "9":
        m = _ORDERED.match(out)
        if m:
            return f"{m[1]}\\{out[m.end(1) :]}"
    return out


def inline(text: str) -> Md:
    """``text`` as inline Markdown that renders as exactly this text (whitespace at the ends trimmed,
    line breaks as spaces), wherever in a line it is put."""
    if "\n" in text or "\r" in text:
        text = _LINE_BREAK.sub(" ", text)
    return Md(_escape_line_start(text.strip()))


def cell(text: str) -> Md:
    """``text`` for one GFM table cell: escaped as :func:`inline`, line breaks as ``<br>``."""
    if "\n" in text or "\r" in text:
        lines = [line.strip() for line in _LINE_BREAK.split(text.strip())]
        return Md("<br>".join(_escape(line) for line in lines))
    return Md(_escape(text.strip()))


def block(text: str) -> Md:
    """``text`` as Markdown paragraphs: one paragraph per run of non-blank lines, its lines kept apart by
    hard line breaks. No line can start a heading, list, quote, fence, table, HTML block or code block."""
    paragraphs: list[str] = []
    current: list[str] = []
    for raw in _LINE_BREAK.split(text):
        line = raw.strip()
        if line:
            current.append(_escape_line_start(line))
        elif current:
            paragraphs.append("\\\n".join(current))
            current = []
    if current:
        paragraphs.append("\\\n".join(current))
    return Md("\n\n".join(paragraphs))
