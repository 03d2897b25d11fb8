"""The local workspace's HTML: Slack mrkdwn read as Slack reads it, and text from alerts kept as text."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from pagerbot.core.escaping import mrkdwn
from pagerbot.web.render import mrkdwn_to_html, mrkdwn_to_text, page

NAMES = {"U0ALICE": "Alice"}
CHANNELS = {"C1": "inc-1"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(markup: str) -> tuple[list[str], str]:
    parser = _Tags()
    parser.feed(markup)
    parser.close()
    return parser.tags, "".join(parser.text)


@pytest.mark.parametrize("data", [
    "<script>alert(1)</script>",
    "*bold* _italic_ ~strike~ `code` ```block```",
    "&amp; &lt;b&gt; & < >",
    "<@U0ALICE> <!channel> <#C1> <https://evil.example|click>",
    "<img src=x onerror=alert(2)>",
    "\u200b*\u200bx\u200b*\u200b",
    "a\x00b\x000\x00",
])
def test_escaped_data_shows_as_the_same_text_and_makes_no_markup(data: str) -> None:
    tags, text = _parse(mrkdwn_to_html(mrkdwn(data), NAMES, CHANNELS))
    assert tags == []
    assert text == data.replace("\u200b", "").replace("\x00", "")


def test_slack_markup_becomes_html() -> None:
    html = mrkdwn_to_html("*Lead*\n<@U0ALICE> in <#C1|old-name> · <!here> · `/incident help`", NAMES, CHANNELS)
    assert html == ('<b>Lead</b><br><span class="mention">@Alice</span> in <span class="mention">#inc-1</span>'
                    ' · <span class="mention">@here</span> · <code>/incident help</code>')
    assert mrkdwn_to_html("<https://grafana.example/d?a=1&amp;b=2|the dashboard>") == (
        '<a href="https://grafana.example/d?a=1&amp;b=2" rel="noopener noreferrer">the dashboard</a>')
    assert mrkdwn_to_html("```To: vendor\n*not bold* <@U0ALICE>```", NAMES) == (
        '<pre>To: vendor\n*not bold* <span class="mention">@Alice</span></pre>')
    assert mrkdwn_to_html(":red_circle: _x_ ~y~ :no_such_emoji:") == "🔴 <i>x</i> <s>y</s> :no_such_emoji:"
    assert mrkdwn_to_html("x_y_z 2*3*4 * a *") == "x_y_z 2*3*4 * a *"


def test_only_web_links_become_links() -> None:
    for target in ("javascript:alert(1)", "data:text/html,x", "/etc/passwd"):
        tags, text = _parse(mrkdwn_to_html(f"<{target}|x>"))
        assert tags == [] and text == f"<{target}|x>"


def test_topics_read_as_slack_shows_them() -> None:
    topic = f"SEV1 · acknowledged · lead <@U0ALICE> · {mrkdwn('<b>db1</b> & *disk*')}"
    assert mrkdwn_to_text(topic, NAMES) == "SEV1 · acknowledged · lead @Alice · <b>db1</b> & *disk*"
    tags, text = _parse(page("#inc-1", mrkdwn_to_text(topic, NAMES), "<p>x</p>"))
    assert "<b>db1</b> & *disk*" in text and tags.count("b") == 0
