"""Action items from notes: ``action: @bob P1 move the reindex to Sunday https://tracker/OPS-12`` (pure).

The owner is a mention (Slack's ``<@U123>`` or ``<@U123|bob>``, or a plain ``@bob``) at the start, before
or after the priority; a mention further on is part of the action ("ask @eve to …"). The priority is a
``P0``-``P4`` word anywhere, the link the first web address (Slack's ``<https://…|label>`` or a bare one).
Each is optional. What remains is the action itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MENTION = re.compile(r"<@(?P<user>[UW][A-Z0-9]+)(?:\|[^>]*)?>|(?<![\w@])@(?P<name>[\w.-]+\w)")
_PRIORITY = re.compile(r"(?<![\w-])\[?(?P<p>[Pp][0-4])\]?(?![\w-])")
_LINK = re.compile(r"<(?P<slack>https?://[^|>\s]+)(?:\|[^>]*)?>|(?P<bare>https?://[^\s<>]+[^\s<>.,;:!?)\]])")


@dataclass(frozen=True, slots=True)
class ActionItem:
    text: str
    owner: str | None = None  # a Slack user ID, or the name written after @
    priority: str | None = None  # "P0" .. "P4"
    link: str | None = None


def parse_action(text: str) -> ActionItem:
    owner = priority = link = None
    text = text.strip()
    leading = _PRIORITY.match(text)
    if leading is not None:  # "P1 @bob …": the priority first, then the owner
        priority, text = leading["p"].upper(), text[leading.end() :].lstrip()
    mention = _MENTION.match(text)
    if mention is not None:
        owner = mention["user"] or mention["name"]
        text = text[mention.end() :]
    found = _PRIORITY.search(text) if priority is None else None
    if found is not None:
        priority = found["p"].upper()
        text = text[: found.start()] + text[found.end() :]
    address = _LINK.search(text)
    if address is not None:
        link = address["slack"] or address["bare"]
        text = text[: address.start()] + text[address.end() :]
    text = " ".join(text.split()).strip(" -–—:,;")
    return ActionItem(text=text, owner=owner, priority=priority, link=link)
