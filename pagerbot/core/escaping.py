"""Text from alerts and people is data: escape it for the markup it lands in."""

from __future__ import annotations

import re

_MRKDWN = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# Characters that start mrkdwn formatting; a zero-width joiner keeps them literal without changing the text.
_MRKDWN_FORMAT = re.compile(r"([*_~`])")


def slack_entities(text: str) -> str:
    """Escape only ``&``, ``<`` and ``>``: for Slack text that shows no formatting but does read ``<…>`` as a
    mention or a link (a message's fallback ``text``, a channel's purpose and topic)."""
    return text.translate(_MRKDWN)


def mrkdwn(text: str) -> str:
    """Escape ``text`` for Slack mrkdwn: no mentions (<!channel>), links or formatting survive."""
    return _MRKDWN_FORMAT.sub("\u200b\\1\u200b", text.translate(_MRKDWN))


def unescape_slack(text: str) -> str:
    """Slack markup's text as its reader sees it: Slack's three escapes (&amp; &lt; &gt;) undone, &amp; last."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def plain(text: str, limit: int) -> str:
    """Slack plain_text: no escaping needed, but lengths are capped; cut with an ellipsis."""
    text = " ".join(text.split()) if "\n" in text else text
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def one_line(text: str, limit: int = 200) -> str:
    """Collapse whitespace (including CR/LF) to single spaces and cap the length."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: max(0, limit - 1)] + "…"
