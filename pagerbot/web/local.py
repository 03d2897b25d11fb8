"""/local: the local workspace in a browser, before Slack is connected. Click the buttons, type
`/incident …`. Plain HTML forms (POST, then redirect back), the same renderer as the demo's transcript,
and the same dispatchers as Slack's listeners."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pagerbot.chat.local import BOT_USER
from pagerbot.services.commands import CommandRequest, run_command
from pagerbot.services.incidents import Actor
from pagerbot.web.errors import ApiError
from pagerbot.web.render import message_html, page

if TYPE_CHECKING:
    from pagerbot.bootstrap import Runtime

NAMES = {BOT_USER: "pagerbot", "U0ALICE": "Alice", "U0BOB": "Bob", "U0CAROL": "Carol"}


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(include_in_schema=False)
    local = runtime.local
    ctx = runtime.ctx
    assert local is not None

    def nav(channels: list[Any]) -> str:
        return "<nav>" + "".join(f'<a href="/local/{html.escape(c.id)}">#{html.escape(c.name)}</a>'
                                 for c in channels) + "</nav>"

    @api.get("/local", response_class=HTMLResponse)
    async def home() -> HTMLResponse:
        channels = await local.channels()
        incident_channels = [c for c in channels if c.name != (ctx.settings.config.slack.announce_channel or "")]
        if incident_channels:
            return RedirectResponse(f"/local/{incident_channels[-1].id}", status_code=303)  # type: ignore[return-value]
        form = _command_form("")
        body = ("<p>No incident channels yet. Post an alert to <code>/alerts/generic</code>, or declare one:</p>"
                + form)
        return HTMLResponse(page("pagerbot local workspace", "no Slack connected", body, nav=nav(channels)))

    @api.get("/local/files/{file_id}")
    async def file(file_id: str) -> Response:
        found = await local.file(file_id)
        if found is None or found.deleted:
            raise ApiError(404, "no such file", {"id": file_id})
        kind = "image/png" if found.name.endswith(".png") else "text/plain; charset=utf-8"
        return Response(found.content, media_type=kind)

    @api.get("/local/{channel_id}", response_class=HTMLResponse)
    async def channel(channel_id: str) -> HTMLResponse:
        channels = await local.channels()
        current = next((c for c in channels if c.id == channel_id), None)
        if current is None:
            raise ApiError(404, "no such channel", {"id": channel_id})
        messages = await local.messages(channel_id)
        files = {}
        for message in messages:
            for file_id in message.file_ids:
                files[file_id] = await local.file(file_id)

        def button(element: dict[str, Any], label: str, style: str) -> str:
            return (f'<form class="action" method="post" action="/local/{html.escape(channel_id)}/action" '
                    'style="display:inline">'
                    f'<input type="hidden" name="action_id" value="{html.escape(str(element.get("action_id", "")))}">'
                    f'<input type="hidden" name="value" value="{html.escape(str(element.get("value", "")))}">'
                    f'<button class="{style}" type="submit">{label}</button></form>')

        names = {**NAMES, **{v: k.split("@")[0].title() for k, v in local.directory.items()}}
        body = "".join(message_html(m, tz=ctx.settings.tz, names=names, channels={c.id: c.name for c in channels},
                                    file_url=lambda f: f"/local/files/{f}", files=files, button_form=button)
                       for m in messages)
        body += _command_form(channel_id)
        return HTMLResponse(page(f"#{current.name}", current.topic, body, nav=nav(channels)))

    @api.post("/local/{channel_id}/command")
    async def command(channel_id: str, text: str = Form(...), user: str = Form("U0ALICE")) -> Response:
        words = text.strip().removeprefix("/incident").strip()
        reply = await run_command(ctx, CommandRequest(text=words, user_id=user, channel_id=channel_id,
                                                      source="local"))
        await _show(channel_id, user, reply.text)
        return RedirectResponse(f"/local/{channel_id}" if channel_id else "/local", status_code=303)

    @api.post("/local/{channel_id}/action")
    async def action(channel_id: str, action_id: str = Form(...), value: str = Form(""),
                     user: str = Form("U0ALICE")) -> Response:
        from pagerbot.slack.app import handle_button

        reply = await handle_button(ctx, action_id, value, Actor(user, "local"), channel_id=channel_id,
                                    trigger_id=None)
        if reply is not None:
            await _show(channel_id, user, reply.text)
        return RedirectResponse(f"/local/{channel_id}", status_code=303)

    async def _show(channel_id: str, user: str, text: str) -> None:
        await runtime.worker.drain(10)
        if text and channel_id and await local.find_channel(channel_id) is not None:
            await local.post_ephemeral(channel_id, user, text)

    return api


def _command_form(channel_id: str) -> str:
    target = f"/local/{html.escape(channel_id)}/command" if channel_id else "/local/-/command"
    return (f'<form method="post" action="{target}" style="margin-top:16px;display:flex;gap:8px">'
            '<select name="user"><option value="U0ALICE">Alice</option><option value="U0BOB">Bob</option></select>'
            '<input name="text" placeholder="/incident note …" style="flex:1;padding:6px" aria-label="command">'
            '<button type="submit" class="primary">Send</button></form>')


