"""The local workspace rendered as HTML: the demo's transcript.html and the /local page share this.

Message text is Slack mrkdwn. It is read as Slack reads it: `<…>` tokens are mentions, channel links
and URLs (a literal `<` arrives escaped as `&lt;`); `&lt;`, `&gt;`, `&amp;` are unescaped; a formatting
character next to a zero-width space (how pagerbot keeps alert text literal) formats nothing. Every
piece of text is then escaped with html.escape, and only our own tags are added around it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pagerbot.chat.local import BOT_USER

_ZWSP = "\u200b"
_TOKEN = re.compile(r"<([^<>\n]{1,2000})>")
_PRE = re.compile(r"(?<!\u200b)```\n?(.+?)\n?```(?!\u200b)", re.S)
_CODE = re.compile(r"(?<!\u200b)`(?!\u200b)([^`\n]+?)(?<!\u200b)`(?!\u200b)")


def _format(marker: str) -> re.Pattern[str]:
    """Slack formats *x*, _x_ and ~x~ only when the markers hug the text and stand apart from words; a
    zero-width space beside a marker (pagerbot's escape for text that is data) keeps it literal."""
    edge = rf"[^\s\u200b{marker}]"
    outside = rf"[\w\u200b{marker}]"
    return re.compile(rf"(?<!{outside}){marker}({edge}|{edge}[^\n{marker}]*?{edge}){marker}(?!{outside})")


_FORMATS = [(_format(r"\*"), "b"), (_format("_"), "i"), (_format("~"), "s")]
_SLOT = re.compile("\x00(\\d+)\x00")
_EMOJI = {":rotating_light:": "🚨", ":pager:": "📟", ":red_circle:": "🔴", ":large_green_circle:": "🟢", ":eyes:": "👀",
          ":mag:": "🔍", ":bulb:": "💡", ":white_check_mark:": "✅", ":chart_with_downwards_trend:": "📉",
          ":warning:": "⚠️", ":memo:": "📝", ":crown:": "👑", ":ocean:": "🌊", ":bell:": "🔔",
          ":alarm_clock:": "⏰", ":bust_in_silhouette:": "👤", ":email:": "📧", ":x:": "❌", ":pushpin:": "📌",
          ":paperclip:": "📎", ":telephone_receiver:": "📞", ":outbox_tray:": "📤", ":ticket:": "🎫",
          ":wastebasket:": "🗑️", ":hourglass_flowing_sand:": "⏳", ":chart_with_upwards_trend:": "📈",
          ":incoming_envelope:": "📨"}
_EMOJI_CODE = re.compile(r":([a-z0-9_+-]+):")
_DELETED = '<div class="deleted">This file was deleted.</div>'

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;background:#f8f8f8;color:#1d1c1d}
header{background:#3f0e40;color:#fff;padding:12px 20px}header h1{margin:0;font-size:18px}
header .topic{font-size:13px;opacity:.85;margin-top:4px}
main{max-width:980px;margin:0 auto;padding:10px 20px;background:#fff;min-height:100vh}
.msg{display:flex;gap:10px;padding:8px 0;border-bottom:1px solid #eee}
.avatar{width:36px;height:36px;border-radius:6px;background:#611f69;color:#fff;display:flex;
align-items:center;justify-content:center;font-weight:bold;flex:none}
.who{font-weight:bold}.when{color:#616061;font-size:12px;margin-left:6px}
.pinned{background:#fef9e7}.pin{font-size:12px;color:#b7950b}.ephemeral{background:#f4f9ff}
.ephemeral .note{font-size:12px;color:#1264a3}
.section{margin:4px 0;white-space:pre-wrap}.fields{display:grid;grid-template-columns:1fr 1fr;gap:4px 16px}
.header{font-size:17px;font-weight:bold;margin:4px 0}.context{font-size:12px;color:#616061}
main button{margin:4px 6px 0 0;padding:5px 12px;border:1px solid #bbb;border-radius:4px;background:#fff;
color:#1d1c1d;cursor:pointer;font-weight:600}main button:disabled{cursor:default}
button.primary{background:#007a5a;color:#fff;border-color:#007a5a}button.danger{background:#e01e5a;color:#fff;
border-color:#e01e5a}
img.graph{max-width:100%;border:1px solid #ddd;border-radius:4px;margin-top:6px}
code{background:#f1f1f1;padding:1px 4px;border-radius:3px}
.mention{background:#e8f5fa;color:#1264a3;border-radius:3px;padding:0 2px}
nav{display:flex;flex-wrap:wrap;gap:4px;margin:0 0 6px -8px}nav a{color:#d9c7da;text-decoration:none;
padding:2px 8px;border-radius:4px;font-size:14px}nav a:hover{background:#350d36}
nav a[aria-current]{background:#1164a3;color:#fff}
.badge{font-size:11px;border-radius:3px;padding:0 4px;margin-left:5px;background:#5c3a5e;color:#fff}
.badge.sev1{background:#e01e5a}.badge.sev2{background:#e8912d}.badge.resolved{background:#2eb67d}
.avatar.bot{background:#1264a3}.deleted{font-size:13px;color:#616061;font-style:italic;margin-top:4px}
pre{background:#f8f8f8;border:1px solid #ddd;border-radius:4px;padding:8px;white-space:pre-wrap;
font-size:13px;margin:6px 0}
"""


def mrkdwn_to_html(text: str, names: Mapping[str, str] | None = None, channels: Mapping[str, str] | None = None,
                   channel_href: Callable[[str], str] | None = None) -> str:
    """Slack mrkdwn → HTML: mentions, channel links, links, ```blocks```, `code`, *bold*, _italic_, ~strike~,
    :emoji: and line breaks; everything else is text."""
    names = names or {}
    channels = channels or {}
    slots: list[str] = []

    def slot(markup: str) -> str:
        slots.append(markup)
        return f"\x00{len(slots) - 1}\x00"

    def unescape(raw: str) -> str:
        return raw.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

    def token(match: re.Match[str]) -> str:
        return slot(_token_html(match.group(1), names, channels, channel_href, unescape))

    out = _TOKEN.sub(token, text.replace("\x00", ""))
    out = _PRE.sub(lambda m: slot(f"<pre>{_plain(unescape(m.group(1)))}</pre>"), out)
    out = _CODE.sub(lambda m: slot(f"<code>{_plain(unescape(m.group(1)))}</code>"), out)
    out = html.escape(unescape(out), quote=False)
    for pattern, tag in _FORMATS:
        out = pattern.sub(rf"<{tag}>\1</{tag}>", out)
    out = _EMOJI_CODE.sub(lambda m: _EMOJI.get(m.group(0), m.group(0)), out)
    out = out.replace(_ZWSP, "").replace("\n", "<br>")
    while _SLOT.search(out):
        out = _SLOT.sub(lambda m: slots[int(m.group(1))], out)
    return out


def _plain(text: str) -> str:
    return html.escape(text.replace(_ZWSP, ""), quote=False)


def _token_html(inner: str, names: Mapping[str, str], channels: Mapping[str, str],
                channel_href: Callable[[str], str] | None, unescape: Callable[[str], str]) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        user = target[1:]
        return f'<span class="mention">@{html.escape(names.get(user, label or user))}</span>'
    if target.startswith("#"):
        channel = target[1:]
        name = html.escape(channels.get(channel, label or channel))
        if channel_href is not None and channel in channels:
            return f'<a class="mention" href="{html.escape(channel_href(channel))}">#{name}</a>'
        return f'<span class="mention">#{name}</span>'
    if target.startswith("!"):
        special = target[1:].split("^")[0]
        return f'<span class="mention">@{html.escape(label or special)}</span>'
    url = unescape(target)
    if re.match(r"(?i)(https?://|mailto:|/local/)", url):
        shown = unescape(label) if label else url
        return f'<a href="{html.escape(url)}" rel="noopener noreferrer">{_plain(shown)}</a>'
    return _plain("<" + unescape(inner) + ">")


def mrkdwn_to_text(text: str, names: Mapping[str, str] | None = None,
                   channels: Mapping[str, str] | None = None) -> str:
    """As Slack shows a channel topic: mentions and links resolved, no formatting; plain text, not escaped."""
    names = names or {}
    channels = channels or {}

    def token(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target[:1] == "@":
            return "@" + names.get(target[1:], label or target[1:])
        if target[:1] == "#":
            return "#" + channels.get(target[1:], label or target[1:])
        if target[:1] == "!":
            return "@" + (label or target[1:].split("^")[0])
        return label or target

    out = _TOKEN.sub(token, text)
    return out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace(_ZWSP, "")


def _text(obj: Mapping[str, Any] | None, md: Callable[[str], str]) -> str:
    if not obj:
        return ""
    if obj.get("type") == "mrkdwn":
        return md(str(obj.get("text", "")))
    return html.escape(str(obj.get("text", "")))


def blocks_to_html(blocks: Sequence[Mapping[str, Any]], *, md: Callable[[str], str], file_url: Any,
                   button_form: Any = None, files: Mapping[str, Any] | None = None) -> str:
    """Block Kit → HTML; ``md`` renders mrkdwn, ``files`` (id → file) tells deleted files from live ones."""
    parts: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            parts.append(f'<div class="header">{_text(block.get("text"), md)}</div>')
        elif kind == "section":
            if block.get("text"):
                parts.append(f'<div class="section">{_text(block.get("text"), md)}</div>')
            if block.get("fields"):
                cells = "".join(f"<div>{_text(f, md)}</div>" for f in block["fields"])
                parts.append(f'<div class="fields">{cells}</div>')
        elif kind == "context":
            parts.append('<div class="context">' + " ".join(_text(e, md)
                                                           for e in block.get("elements", [])) + "</div>")
        elif kind == "divider":
            parts.append("<hr>")
        elif kind == "image":
            source = (block.get("slack_file") or {}).get("id")
            if block.get("title"):
                parts.append(f'<div class="context">{_text(block.get("title"), md)}</div>')
            if source and files is not None and (files.get(source) is None or files[source].deleted):
                parts.append(_DELETED)
                continue
            url = file_url(source) if source else block.get("image_url", "")
            alt = html.escape(str(block.get("alt_text", "")))
            parts.append(f'<img class="graph" src="{html.escape(str(url))}" alt="{alt}">')
        elif kind == "actions":
            buttons = []
            for element in block.get("elements", []):
                if element.get("type") != "button":
                    continue
                label = html.escape(str(element.get("text", {}).get("text", "")))
                style = html.escape(str(element.get("style", "")))
                if button_form is not None:
                    buttons.append(button_form(element, label, style))
                else:
                    buttons.append(f'<button class="{style}" disabled>{label}</button>')
            parts.append('<div class="actions">' + "".join(buttons) + "</div>")
    return "".join(parts)


def message_html(message: Any, *, tz: ZoneInfo, names: Mapping[str, str], channels: Mapping[str, str],
                 file_url: Any, files: Mapping[str, Any], button_form: Any = None,
                 channel_href: Callable[[str], str] | None = None) -> str:
    def md(text: str) -> str:
        return mrkdwn_to_html(text, names, channels, channel_href)

    who = names.get(message.user, message.user)
    when = datetime.fromtimestamp(float(message.ts), UTC).astimezone(tz).strftime("%H:%M")
    classes = ["msg"] + (["pinned"] if message.pinned else []) + (["ephemeral"] if message.ephemeral_to else [])
    body = []
    if message.ephemeral_to:
        body.append(f'<div class="note">Only visible to {html.escape(names.get(message.ephemeral_to, ""))}</div>')
    if message.pinned:
        body.append('<div class="pin">📌 Pinned</div>')
    if message.blocks:
        body.append(blocks_to_html(message.blocks, md=md, file_url=file_url, button_form=button_form, files=files))
    elif message.text:
        body.append(f'<div class="section">{md(message.text)}</div>')
    for file_id in message.file_ids:
        file = files.get(file_id)
        if file is None or file.deleted:
            body.append(_DELETED)
            continue
        if file.name.endswith(".png"):
            body.append(f'<img class="graph" src="{html.escape(str(file_url(file_id)))}" '
                        f'alt="{html.escape(file.title)}">')
        else:
            body.append(f'<div class="context">📎 {html.escape(file.name)}</div>')
    initial = html.escape((who or "?")[:1].upper())
    avatar = "avatar bot" if message.user == BOT_USER else "avatar"
    return (f'<div class="{" ".join(classes)}" id="m{html.escape(message.ts)}"><div class="{avatar}">{initial}</div>'
            f'<div><span class="who">{html.escape(who)}</span><span class="when">{when}</span>{"".join(body)}</div>'
            "</div>")


def page(title: str, topic: str, body: str, *, nav: str = "", script: str = "") -> str:
    """A whole page; ``topic`` is plain text (see :func:`mrkdwn_to_text`), ``nav`` and ``body`` are HTML."""
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body><header>{nav}<h1>{html.escape(title)}</h1>"
            f'<div class="topic">{html.escape(topic)}</div></header><main>{body}</main>{script}</body></html>')
