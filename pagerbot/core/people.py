"""People in text that leaves Slack: Slack user IDs become the names people know (pure).

Inside Slack a ``<@U123>`` mention renders as the person's name; in an email or an exported postmortem it
is noise. :func:`humanize` rewrites recorded text for readers outside Slack:

- a mention ``<@U123>`` or ``<@U123|label>`` becomes ``@Name`` (the label when the name is unknown, the ID
  when there is neither);
- a bare user ID that is a known person (in ``names``, e.g. "U123 moved the incident to acknowledged")
  becomes ``Name``; other words that merely look like IDs stay as they are;
- Slack's other markup as its readers see it: a channel ``<#C123|ops>`` becomes ``#ops``, ``<!here>``
  ``@here``, a user group ``<!subteam^S123|@dba>`` ``@dba``, a date ``<!date^…|fallback>`` its fallback,
  and a link ``<https://x|the graph>`` ``the graph (https://x)``.

The result is plain text: escaping for where it lands (Markdown, HTML) happens afterwards, so a name with
``|``, ``*`` or ``<`` in it is escaped like any other text.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

from pagerbot.core.escaping import one_line, unescape_slack
from pagerbot.core.records import IncidentRecord, TimelineEntry

NAME_LIMIT = 80

# A Slack user ID: U or W (Enterprise Grid) then capitals and digits.
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
# One pass for every form, so a name that looks like an ID or a mention is never replaced again. Inside a
# form nothing may be "<" (Slack escapes it as &lt;): an unclosed form then stops at the next one instead of
# scanning on to the end of the line from every "<" (quadratic) or swallowing a mention after it.
_PEOPLE = re.compile(
    r"<@(?P<mention>[A-Z0-9]+)(?:\|(?P<label>[^<>\n]*))?>"
    r"|<#(?P<channel>[A-Z0-9]+)(?:\|(?P<channel_name>[^<>\n]*))?>"
    r"|<!(?P<special>[a-z]+)(?:\^(?P<argument>[^<|>\n]*))?(?:\|(?P<fallback>[^<>\n]*))?>"
    r"|<(?P<link>(?:https?|mailto):[^<|>\s]+)(?:\|(?P<link_label>[^<>\n]*))?>"
    r"|(?<![\w@<|./:-])(?P<bare>[UW][A-Z0-9]{2,})(?![\w@]|[.:/-]\w)"
)
_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^<>\n]*)?>")
# A part of Slack's markup as its reader sees it (Slack escapes &, < and > inside it).
_unescaped = unescape_slack


def is_user_id(value: str | None) -> bool:
    """Whether ``value`` looks like a Slack user ID (``U0ALICE``, ``W012ABC``), not "pagerbot" or an email."""
    return bool(value) and _USER_ID.fullmatch(value or "") is not None


def mentioned(text: str) -> list[str]:
    """The user IDs mentioned (``<@U123>``, ``<@U123|label>``) in ``text``, in order, each once."""
    if "<@" not in text:
        return []
    return list(dict.fromkeys(_MENTION.findall(text)))


def user_ids(entries: Iterable[TimelineEntry], incident: IncidentRecord | None = None) -> list[str]:
    """The people a record names: the lead, the participants, the timeline's actors and mentions."""
    found: dict[str, None] = {}
    if incident is not None:
        for value in (incident.lead, *incident.participants):
            if value and is_user_id(value):
                found[value] = None
        for text in (incident.title, incident.summary or "", incident.description or ""):
            found.update(dict.fromkeys(mentioned(text)))
    for entry in entries:
        if entry.actor and is_user_id(entry.actor):
            found[entry.actor] = None
        found.update(dict.fromkeys(mentioned(entry.text)))
    return list(found)


def name_of(user_id: str, names: Mapping[str, str]) -> str:
    """The name of ``user_id`` (one line, at most NAME_LIMIT characters), or the ID when it is unknown."""
    name = names.get(user_id)
    if name:
        name = one_line(name, NAME_LIMIT)
    return name or user_id


def actor_name(actor: str | None, names: Mapping[str, str]) -> str | None:
    """An actor as readers outside Slack know it: a user ID becomes the name; "pagerbot" stays."""
    if not actor:
        return actor
    return name_of(actor, names)


def humanize(text: str, names: Mapping[str, str]) -> str:
    """``text`` with mentions written ``@Name``, known bare user IDs written ``Name``, and Slack's other
    markup (channels, special mentions, dates, links) as Slack shows it."""
    if not text or ("<" not in text and not (names and _USER_ID.search(text))):
        return text

    def replace(m: re.Match[str]) -> str:
        user = m["mention"]
        if user is not None:
            if names.get(user):
                return "@" + name_of(user, names)
            label = one_line(_unescaped(m["label"] or ""), NAME_LIMIT)
            return "@" + (label or user)
        if m["channel"] is not None:
            return "#" + (one_line(_unescaped(m["channel_name"] or ""), NAME_LIMIT) or m["channel"])
        if m["special"] is not None:
            fallback = one_line(_unescaped(m["fallback"] or ""), NAME_LIMIT)
            if fallback:
                return fallback if fallback.startswith("@") or m["special"] == "date" else "@" + fallback
            if m["special"] == "date":
                return m[0]  # a date without a fallback: nothing better to show than what Slack sent
            return "@" + (m["argument"] or m["special"])
        link = m["link"]
        if link is not None:
            url = _unescaped(link)
            shown = url.removeprefix("mailto:")
            label = _unescaped(m["link_label"] or "").strip()
            # Slack's own links of a bare address carry it as their label, without the scheme
            return f"{label} ({shown})" if label and label not in (shown, shown.split("://", 1)[-1]) else shown
        bare = m["bare"]
        return name_of(bare, names) if names.get(bare) else bare

    return _PEOPLE.sub(replace, text)


# Timeline entries whose text is a message as Slack sent it (Slack's markup, with &, < and > escaped).
_SLACK_WRITTEN = frozenset({"note", "pin", "edit"})


def entry_text(entry: TimelineEntry, names: Mapping[str, str]) -> str:
    """What a reader should see of a timeline entry's text. A message people wrote in Slack (a note, a
    pinned message) reads as it did there: its markup humanized and Slack's escapes outside it undone, so
    an export escapes "<" once, not "&lt;" again. Alert text and pagerbot's own text are not Slack's."""
    text = entry.text
    if entry.source != "slack" or entry.kind not in _SLACK_WRITTEN or "&" not in text:
        return humanize(text, names)
    out: list[str] = []
    position = 0
    for m in _PEOPLE.finditer(text):
        out += [unescape_slack(text[position:m.start()]), humanize(m[0], names)]
        position = m.end()
    out.append(unescape_slack(text[position:]))
    return "".join(out)


def humanize_entry(entry: TimelineEntry, names: Mapping[str, str]) -> TimelineEntry:
    """A timeline entry with its actor and text as readers outside Slack know them."""
    actor = actor_name(entry.actor, names)
    text = humanize(entry.text, names)
    if actor == entry.actor and text == entry.text:
        return entry
    return dataclasses.replace(entry, actor=actor, text=text)


def humanize_incident(incident: IncidentRecord, names: Mapping[str, str]) -> IncidentRecord:
    """The incident with its lead and participants as names, and mentions in its texts rewritten."""
    return dataclasses.replace(
        incident,
        title=humanize(incident.title, names),
        summary=humanize(incident.summary, names) if incident.summary else incident.summary,
        description=humanize(incident.description, names) if incident.description else incident.description,
        lead=name_of(incident.lead, names) if incident.lead else incident.lead,
        participants=tuple(name_of(p, names) for p in incident.participants),
    )
