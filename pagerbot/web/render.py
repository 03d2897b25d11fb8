"""The local workspace rendered as HTML: the demo's transcript.html and the /local page share this.

Every piece of text is escaped (html.escape) before the little mrkdwn we render (bold, mentions,
channel links, line breaks) is applied to the escaped text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

_BOLD = re.compile(r"\*([^*\n]+)\*")
_USER = re.compile(r"&lt;@([A-Z0-9]+)(?:\|[^&]*)?&gt;")
_CHANNEL = re.compile(r"&lt;#([A-Z0-9]+)(?:\|[^&]*)?&gt;")
_CODE = re.compile(r"`([^`\n]+)`")
_EMOJI = {":rotating_light:": "🚨", ":red_circle:": "🔴", ":large_green_circle:": "🟢", ":eyes:": "👀",
          ":mag:": "🔍", ":bulb:": "💡", ":white_check_mark:": "✅", ":chart_with_downwards_trend:": "📉",
          ":warning:": "⚠️", ":memo:": "📝", ":crown:": "👑", ":ocean:": "🌊", ":bell:": "🔔",
          ":alarm_clock:": "⏰", ":bust_in_silhouette:": "👤", ":email:": "📧", ":x:": "❌", ":pushpin:": "📌"}

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
.actions button,form.action button{margin:4px 6px 0 0;padding:5px 12px;border:1px solid #bbb;border-radius:4px;
background:#fff;cursor:pointer;font-weight:600}
button.primary{background:#007a5a;color:#fff;border-color:#007a5a}button.danger{background:#e01e5a;color:#fff;
border-color:#e01e5a}
img.graph{max-width:100%;border:1px solid #ddd;border-radius:4px;margin-top:6px}
code{background:#f1f1f1;padding:1px 4px;border-radius:3px}
.mention{background:#e8f5fa;color:#1264a3;border-radius:3px;padding:0 2px}
nav a{color:#fff;margin-right:12px}
"""


def mrkdwn_to_html(text: str, names: Mapping[str, str] | None = None, channels: Mapping[str, str] | None = None
                   ) -> str:
    names = names or {}
    channels = channels or {}
    out = html.escape(text, quote=False).replace("&amp;lt;", "&lt;").replace("&amp;gt;", "&gt;")
    out = out.replace("&amp;amp;", "&amp;").replace("\u200b", "")
    out = _USER.sub(lambda m: f'<span class="mention">@{html.escape(names.get(m.group(1), m.group(1)))}</span>', out)
    out = _CHANNEL.sub(lambda m: f'<span class="mention">#{html.escape(channels.get(m.group(1), m.group(1)))}</span>',
                       out)
    out = _CODE.sub(r"<code>\1</code>", out)
    out = _BOLD.sub(r"<b>\1</b>", out)
    for code, emoji in _EMOJI.items():
        out = out.replace(code, emoji)
    return out.replace("\n", "<br>")


def _text(obj: Mapping[str, Any] | None, names: Mapping[str, str], channels: Mapping[str, str]) -> str:
    if not obj:
        return ""
    if obj.get("type") == "mrkdwn":
        return mrkdwn_to_html(str(obj.get("text", "")), names, channels)
    return html.escape(str(obj.get("text", "")))


def blocks_to_html(blocks: Sequence[Mapping[str, Any]], *, names: Mapping[str, str], channels: Mapping[str, str],
                   file_url: Any, button_form: Any = None) -> str:
    parts: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            parts.append(f'<div class="header">{_text(block.get("text"), names, channels)}</div>')
        elif kind == "section":
            if block.get("text"):
                parts.append(f'<div class="section">{_text(block.get("text"), names, channels)}</div>')
            if block.get("fields"):
                cells = "".join(f"<div>{_text(f, names, channels)}</div>" for f in block["fields"])
                parts.append(f'<div class="fields">{cells}</div>')
        elif kind == "context":
            parts.append('<div class="context">' + " ".join(_text(e, names, channels)
                                                           for e in block.get("elements", [])) + "</div>")
        elif kind == "divider":
            parts.append("<hr>")
        elif kind == "image":
            source = block.get("slack_file", {}).get("id")
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
                 file_url: Any, files: Mapping[str, Any], button_form: Any = None) -> str:
    who = names.get(message.user, message.user)
    when = datetime.fromtimestamp(float(message.ts), UTC).astimezone(tz).strftime("%H:%M")
    classes = ["msg"] + (["pinned"] if message.pinned else []) + (["ephemeral"] if message.ephemeral_to else [])
    body = []
    if message.ephemeral_to:
        body.append(f'<div class="note">Only visible to {html.escape(names.get(message.ephemeral_to, ""))}</div>')
    if message.pinned:
        body.append('<div class="pin">📌 Pinned</div>')
    if message.blocks:
        body.append(blocks_to_html(message.blocks, names=names, channels=channels, file_url=file_url,
                                   button_form=button_form))
    elif message.text:
        body.append(f'<div class="section">{mrkdwn_to_html(message.text, names, channels)}</div>')
    for file_id in message.file_ids:
        file = files.get(file_id)
        if file is None or file.deleted:
            body.append('<div class="context">(file deleted)</div>')
            continue
        if file.name.endswith(".png"):
            body.append(f'<img class="graph" src="{html.escape(str(file_url(file_id)))}" '
                        f'alt="{html.escape(file.title)}">')
        else:
            body.append(f'<div class="context">📎 {html.escape(file.name)}</div>')
    initial = html.escape((who or "?")[:1].upper())
    return (f'<div class="{" ".join(classes)}" id="m{html.escape(message.ts)}"><div class="avatar">{initial}</div>'
            f'<div><span class="who">{html.escape(who)}</span><span class="when">{when}</span>{"".join(body)}</div>'
            "</div>")


def page(title: str, topic: str, body: str, *, nav: str = "", script: str = "") -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><header>{nav}<h1>{html.escape(title)}</h1>"
            f'<div class="topic">{html.escape(topic)}</div></header><main>{body}</main>{script}</body></html>')
