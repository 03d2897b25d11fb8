"""/local: the local workspace in a browser, before Slack is connected. Click the buttons, type
`/incident …`. Plain HTML forms (POST, then redirect back), the same renderer as the demo's transcript,
and the same dispatchers as Slack's listeners."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from pagerbot.chat.local import BOT_USER
from pagerbot.services.actor import Actor
from pagerbot.services.buttons import run_button
from pagerbot.services.commands import CommandRequest, run_command
from pagerbot.services.reply import DeclareForm, Reply, ResolveForm
from pagerbot.store.tables import Incident, OutboxRow
from pagerbot.web.errors import ApiError
from pagerbot.web.live import channel_version, follow_script
from pagerbot.web.local_access import page_headers
from pagerbot.web.render import message_html, mrkdwn_to_text, page

if TYPE_CHECKING:  # for the annotation only: the composition root builds the Runtime this app serves
    from pagerbot.bootstrap import Runtime



def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(include_in_schema=False)

    def same_origin(request: Request) -> None:
        """The forms change incidents: refuse a POST another site's page makes the browser send (CSRF).
        This server's own pages post with its Host (or PAGERBOT_PUBLIC_URL's, behind a proxy) as Origin."""
        origin = request.headers.get("origin")
        ours = {request.headers.get("host"), urlsplit(runtime.settings.public_url).netloc}
        if request.headers.get("sec-fetch-site") == "cross-site" or (
                origin is not None and urlsplit(origin).netloc not in ours):
            raise ApiError(403, "cross-site request refused", "post the /local forms from /local itself")
    local = runtime.local
    ctx = runtime.ctx
    assert local is not None
    announce = ctx.settings.config.slack.announce_channel
    if announce and announce not in local.standing_channels:  # as a Slack workspace would have it
        local.standing_channels.append(announce)

    async def nav(channels: list[Any], current: str = "") -> str:
        """#incidents first, then the incident channels, newest first, each with its severity and status."""
        async with ctx.store.sessions() as session:
            incidents = {row.channel_id: row for row in (await session.execute(
                select(Incident).where(Incident.channel_id.in_([c.id for c in channels])))).scalars()}
        ordered = sorted(channels, key=lambda c: (c.name != announce, -c.created_at.timestamp(), c.name))
        here = ' aria-current="page"'
        links = []
        for c in ordered:
            incident = incidents.get(c.id)
            badges = "" if incident is None else (
                f'<span class="badge sev{incident.severity}">SEV{incident.severity}</span>'
                f'<span class="badge {html.escape(incident.status)}">{html.escape(incident.status)}</span>')
            links.append(f'<a href="/local/{html.escape(c.id)}"{here if c.id == current else ""}>'
                         f'#{html.escape(c.name)}{badges}</a>')
        return "<nav>" + "".join(links) + "</nav>"

    @api.get("/local", response_class=HTMLResponse)
    async def home() -> Response:
        """The newest incident channel; before the first incident, the announce channel."""
        channels = await local.channels()
        incident_channels = [c for c in channels if c.name != announce]
        if channels:
            return RedirectResponse(f"/local/{(incident_channels or channels)[-1].id}", status_code=303)
        form = _command_form("-", local.known_names())
        return HTMLResponse(page("pagerbot local workspace", "no Slack connected", _EMPTY + form,
                                 nav=await nav(channels)))

    @api.get("/local/files/{file_id}")
    async def file(file_id: str) -> Response:
        found = await local.file(file_id)
        if found is None or found.deleted:
            raise ApiError(404, "no such file", {"id": file_id})
        kind = "image/png" if found.name.endswith(".png") else "text/plain; charset=utf-8"
        return Response(found.content, media_type=kind)

    @api.get("/local/{channel_id}/version")
    async def version(channel_id: str, request: Request) -> Response:
        """What the channel page shows, as an ETag: 304 while it is unchanged (the page polls this)."""
        tag = await channel_version(ctx.store, channel_id)
        headers = {"ETag": tag, "Cache-Control": "no-store"}
        if request.headers.get("if-none-match") == tag:
            return Response(status_code=304, headers=headers)
        return Response(tag, media_type="text/plain", headers=headers)

    @api.get("/local/{channel_id}", response_class=HTMLResponse)
    async def channel(channel_id: str) -> HTMLResponse:
        channels = await local.channels()
        current = next((c for c in channels if c.id == channel_id), None)
        if current is None:
            raise ApiError(404, "no such channel", {"id": channel_id})
        shown_version = await channel_version(ctx.store, channel_id)  # before reading: a change since shows
        messages = await local.messages(channel_id)
        files = {}
        for message in messages:
            shown = [*message.file_ids, *((b.get("slack_file") or {}).get("id") for b in message.blocks
                                          if b.get("type") == "image")]
            for file_id in filter(None, shown):
                files[file_id] = await local.file(file_id)

        def button(element: dict[str, Any], label: str, style: str) -> str:
            return (f'<form class="action" method="post" action="/local/{html.escape(channel_id)}/action" '
                    'style="display:inline">'
                    f'<input type="hidden" name="action_id" value="{html.escape(str(element.get("action_id", "")))}">'
                    f'<input type="hidden" name="value" value="{html.escape(str(element.get("value", "")))}">'
                    f'<button class="{style}" type="submit">{label}</button></form>')

        names = local.known_names()
        channel_names = {c.id: c.name for c in channels}
        body = "".join(message_html(m, tz=ctx.settings.tz, names=names, channels=channel_names,
                                    file_url=lambda f: f"/local/files/{f}", files=files, button_form=button,
                                    channel_href=lambda c: f"/local/{c}")
                       for m in messages)
        if not messages:
            body += _EMPTY
        body = f'<div id="messages">{body}</div>' + _command_form(channel_id, names)
        topic = mrkdwn_to_text(current.topic, names, channel_names)
        live = follow_script(f"/local/{channel_id}/version", shown_version)
        return HTMLResponse(page(f"#{current.name}", topic, body, nav=await nav(channels, channel_id), script=live),
                            headers=page_headers([live]))

    @api.post("/local/{channel_id}/command", dependencies=[Depends(same_origin)])
    async def command(channel_id: str, text: str = Form(...), user: str = Form("U0ALICE")) -> Response:
        words = text.strip().removeprefix("/incident").strip()
        channel_id = "" if channel_id == "-" else channel_id  # typed on the empty home page
        reply = await run_command(ctx, CommandRequest(text=words, user_id=user, channel_id=channel_id,
                                                      source="local"))
        await _answer(channel_id, user, reply)
        return RedirectResponse(f"/local/{channel_id}" if channel_id else "/local", status_code=303)

    @api.post("/local/{channel_id}/action", dependencies=[Depends(same_origin)])
    async def action(channel_id: str, action_id: str = Form(...), value: str = Form(""),
                     user: str = Form("U0ALICE")) -> Response:
        reply = await run_button(ctx, action_id, value, Actor(user, "local"), channel_id=channel_id,
                                 trigger_id=None)
        if reply is not None:
            await _answer(channel_id, user, reply)
        else:
            await _settle()
        return RedirectResponse(f"/local/{channel_id}", status_code=303)

    async def _settle(timeout: float = 8.0) -> None:
        """Deliver what the click or command queued, so that the page the browser is sent back to shows
        it. The background worker may hold some of those rows: wait for it too, but not for rows due later."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if await runtime.worker.run_once():
                continue
            async with ctx.store.sessions() as session:
                due = (await session.execute(select(func.count()).select_from(OutboxRow).where(
                    OutboxRow.status == "pending", OutboxRow.next_attempt_at <= ctx.clock.now()))).scalar_one()
            if not due:
                return
            await asyncio.sleep(0.05)

    async def _answer(channel_id: str, user: str, reply: Reply) -> None:
        if reply.shown_in_channel and reply.form is None:
            await _settle()  # the channel shows what happened: no private echo of it
            return
        await _show(channel_id, user, _no_forms(reply), reply.blocks, public=reply.public)

    async def _show(channel_id: str, user: str, text: str, blocks: Any = None, *, public: bool = False) -> None:
        """The answer, after what it caused: to everyone in the channel when public, else only to the one
        who typed or clicked (as Slack's response_url does)."""
        await _settle()
        if not (text or blocks) or not channel_id or await local.find_channel(channel_id) is None:
            return
        if public:
            await local.post_message(channel_id, text, blocks)
        else:
            await local.post_ephemeral(channel_id, user, text, blocks)

    return api


def _no_forms(reply: Reply) -> str:
    """Slack would open a form (a modal) here; this page has none, so it says what to type instead."""
    form = reply.form
    if form is None:
        return str(reply.text)
    if isinstance(form, DeclareForm):
        instead = "give the details in the command instead: `/incident declare TITLE`."
    elif isinstance(form, ResolveForm):
        instead = (f"give the summary in the command instead: `/incident resolve SUMMARY` in the channel of "
                   f"INC-{form.incident_id}.")
    else:
        instead = "press Send to send the draft as it is, or Discard and `/incident escalate` to draft it anew."
    return f"{reply.text} This page shows no Slack forms: {instead}".lstrip()


_EMPTY = ('<p class="empty">No incident yet. Post an alert to <code>/alerts/alertmanager</code> (or '
          "<code>/alerts/generic</code>, <code>/alerts/grafana</code>, <code>/alerts/pagerduty</code>), or type "
          "<code>/incident declare TITLE</code> below.</p>")


def _command_form(channel_id: str, people: Mapping[str, str]) -> str:
    """The command box; the person typing is chosen from the workspace's people (not the bot)."""
    target = f"/local/{html.escape(channel_id)}/command"
    options = "".join(f'<option value="{html.escape(uid)}">{html.escape(name)}</option>'
                      for uid, name in people.items() if uid != BOT_USER)
    return (f'<form method="post" action="{target}" style="margin-top:16px;display:flex;gap:8px">'
            f'<select name="user">{options}</select>'
            '<input name="text" placeholder="/incident note …" style="flex:1;padding:6px" aria-label="command">'
            '<button type="submit" class="primary">Send</button></form>')


