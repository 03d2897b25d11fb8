"""transcript.html: the incident channel as a person would see it, graphs inline (files beside it)."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pagerbot.chat.local import BOT_USER, LocalChat
from pagerbot.web.render import message_html, mrkdwn_to_text, page


async def write_transcript(local: LocalChat, path: Path, tz: ZoneInfo, *, ctx: Any = None) -> Path:
    channels = await local.channels()
    names = {BOT_USER: "pagerbot", "U0ALICE": "Alice Nguyen", "U0BOB": "Bob Martinez", "U0CAROL": "Carol"}
    channel_names = {c.id: c.name for c in channels}
    files: dict[str, Any] = {}
    sections = []
    for channel in channels:
        messages = await local.messages(channel.id)
        for message in messages:
            for file_id in message.file_ids:
                files[file_id] = await local.file(file_id)

        def file_url(file_id: str) -> str:
            file = files.get(file_id) or None
            if file is None or file.deleted:
                return ""
            return "data:image/png;base64," + base64.b64encode(file.content).decode("ascii")

        for message in messages:
            for block in message.blocks:
                source = (block.get("slack_file") or {}).get("id") if block.get("type") == "image" else None
                if source and source not in files:
                    files[source] = await local.file(source)
        body = "".join(message_html(m, tz=tz, names=names, channels=channel_names, file_url=file_url, files=files,
                                    channel_href=lambda c: f"#{c}")
                       for m in messages)
        topic = html.escape(mrkdwn_to_text(channel.topic, names, channel_names))
        sections.append(f'<section id="{html.escape(channel.id)}"><h2>#{html.escape(channel.name)}</h2>'
                        f'<p class="context">{topic}</p>{body}</section>')
    path.write_text(page("pagerbot demo: the incident channel", "transcript of the local workspace",
                         "".join(sections)), encoding="utf-8")
    return path
