"""Bolt's AsyncApp: listeners ack at once, then hand the work to services. Registered by register()."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.web.async_client import AsyncWebClient

from pagerbot.chat import blocks
from pagerbot.core.alerts import Severity
from pagerbot.services import incidents
from pagerbot.services.actor import ActionRefused, Actor
from pagerbot.services.buttons import run_button
from pagerbot.services.commands import CommandRequest, run_command
from pagerbot.services.context import Services
from pagerbot.services.escalation import EmailRefused, edit_draft
from pagerbot.services.reply import Reply
from pagerbot.settings import ConfigError
from pagerbot.slack import views
from pagerbot.slack.capture import on_message, on_pin_reaction
from pagerbot.store.repository import is_unavailable

log = logging.getLogger("pagerbot.slack")
DB_DOWN = ":warning: pagerbot cannot reach its database right now; try again in a minute."

COMMAND = "/incident"
EVENTS = ("reaction_added", "reaction_removed", "message")
PIN_REACTIONS = {"pushpin", "round_pushpin"}


class _SameToken(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment even when it is given a client, and then warns at every
    start that the token will be unused: our client is made from that same setting, so the warning only
    alarms whoever reads the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


def _quiet_about_the_token() -> None:
    bolt = logging.getLogger(f"slack_bolt.{AsyncApp.__name__}")  # the logger Bolt warns on
    if not any(isinstance(existing, _SameToken) for existing in bolt.filters):
        bolt.addFilter(_SameToken())


def build_bolt(ctx: Services) -> tuple[AsyncApp, AsyncSlackRequestHandler]:
    settings = ctx.settings
    if not settings.slack_signing_secret and not settings.slack_app_token:
        raise ConfigError(
            "SLACK_SIGNING_SECRET: required with SLACK_BOT_TOKEN (or set SLACK_APP_TOKEN for Socket Mode)")
    client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    _quiet_about_the_token()
    app = AsyncApp(client=client, signing_secret=settings.slack_signing_secret or "socket-mode",
                   process_before_response=False, request_verification_enabled=bool(settings.slack_signing_secret))
    register(app, ctx)

    return app, AsyncSlackRequestHandler(app)


async def _first_time(ctx: Services, key: str) -> bool:
    async with ctx.store.transaction() as session:
        return await ctx.store.first_time(session, key, ctx.clock.now())


async def _first_submission(ctx: Services, body: dict[str, Any], view: dict[str, Any]) -> bool:
    """False for a modal submission seen before (Slack's retry, or a replay): the same view, version, person
    and values. A corrected resubmission after an error differs in its values, so it counts."""
    values = json.dumps((view.get("state") or {}).get("values") or {}, sort_keys=True)
    digest = hashlib.sha256(values.encode()).hexdigest()[:32]
    who = (body.get("user") or {}).get("id")
    return await _first_time(ctx, f"view:{view.get('id')}:{view.get('hash')}:{who}:{digest}")


async def _send(ctx: Services, respond: Any, reply: Reply, trigger_id: str | None) -> None:
    """Open the reply's modal, or answer through response_url.

    Never raises: a listener that fails after ack() can make Bolt lose the ack (it then answers 404), so
    a failure here is logged and, where possible, told to the user.
    """
    try:
        if reply.form is not None and trigger_id:
            modal = views.modal(reply.form)
            try:
                await ctx.chat.open_view(trigger_id, modal)
                return
            except Exception:
                log.exception("could not open the %s modal", modal.get("callback_id"))
                reply = Reply(f":warning: The form could not be opened (Slack allows 3 seconds); try again. "
                              f"{reply.text}")
        if reply.shown_in_channel or not (reply.text or reply.blocks):
            return  # the channel shows what happened: no private echo of it
        await respond(text=reply.text, blocks=reply.blocks,
                      response_type="in_channel" if reply.public else "ephemeral", replace_original=False)
    except Exception:
        log.exception("could not answer through response_url")


def register(app: AsyncApp, ctx: Services) -> None:
    @app.command(COMMAND)
    async def incident_command(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        request = CommandRequest(text=body.get("text") or "", user_id=body["user_id"],
                                 channel_id=body.get("channel_id") or "", trigger_id=body.get("trigger_id"))
        try:
            # Slack may deliver a command twice; its trigger_id tells a repeat from a new one.
            if request.trigger_id and not await _first_time(ctx, f"cmd:{request.trigger_id}"):
                return
            reply = await run_command(ctx, request)
        except Exception as exc:
            if not is_unavailable(exc):
                log.exception("/incident %s failed", request.text)
                await _send(ctx, respond, Reply(":x: Something went wrong; it is in pagerbot's log."), None)
                return
            await _send(ctx, respond, Reply(DB_DOWN), None)
            return
        await _send(ctx, respond, reply, request.trigger_id)

    @app.action(re.compile("^(" + "|".join(blocks.ALL_ACTIONS) + ")$"))
    async def button(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        user = body["user"]["id"]
        trigger_id = body.get("trigger_id")
        try:
            if trigger_id and not await _first_time(ctx, f"act:{trigger_id}:{action['action_id']}"):
                return
            reply = await run_button(ctx, action["action_id"], action.get("value") or "", Actor(user),
                                        channel_id=(body.get("channel") or {}).get("id"), trigger_id=trigger_id)
        except Exception as exc:
            if not is_unavailable(exc):
                log.exception("button %s failed", action.get("action_id"))
                await _send(ctx, respond, Reply(":x: Something went wrong; it is in pagerbot's log."), None)
                return
            await _send(ctx, respond, Reply(DB_DOWN), None)
            return
        if reply is not None:
            await _send(ctx, respond, reply, trigger_id)

    @app.view(views.DECLARE)
    async def declare_submitted(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = views.submitted_values(view)
        if not values.get("title", "").strip():
            await ack(response_action="errors", errors={"title": "Give the incident a title"})
            return
        await ack()
        if not await _first_submission(ctx, body, view):
            return
        try:
            await incidents.declare(ctx, Actor(body["user"]["id"]), values["title"],
                                    severity=Severity.parse(values.get("severity") or "3", Severity.SEV3),
                                    description=values.get("description") or None)
        except Exception:  # after ack() nothing may escape (see _send); the modal is already closed
            log.exception("declaring %r from the modal failed", values["title"])

    @app.view(views.RESOLVE)
    async def resolve_submitted(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = views.submitted_values(view)
        summary = values.get("summary", "").strip()
        if not summary:
            await ack(response_action="errors", errors={"summary": "Say in a sentence what happened"})
            return
        chosen = values.get("mitigated", "")
        mitigated = datetime.fromtimestamp(int(chosen), UTC) if chosen.isdigit() else None
        if mitigated is not None and mitigated > ctx.clock.now():
            await ack(response_action="errors", errors={"mitigated": "That is in the future: when did the impact end?"})
            return
        incident_id = int(json.loads(view.get("private_metadata") or "{}").get("incident", 0))
        if not await _first_submission(ctx, body, view):
            await ack()
            return
        try:
            await incidents.resolve(ctx, incident_id, Actor(body["user"]["id"]), summary, mitigated_at=mitigated,
                                    impact=values.get("impact") or None)
        except ActionRefused as exc:
            await ack(response_action="errors", errors={"summary": str(exc)[:150]})
            return
        await ack()

    @app.view(views.EDIT_EMAIL)
    async def email_edited(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = views.submitted_values(view)
        email_id = int(json.loads(view.get("private_metadata") or "{}").get("email", 0))
        if not await _first_submission(ctx, body, view):
            await ack()
            return
        try:
            await edit_draft(ctx, email_id, Actor(body["user"]["id"]), to=values.get("to", ""),
                             cc=values.get("cc", ""), subject=values.get("subject", ""), body=values.get("body", ""))
        except EmailRefused as exc:
            await ack(response_action="errors", errors={exc.field: str(exc)[:150]})
            return
        await ack()

    @app.event("reaction_added")
    async def reaction_added(body: dict[str, Any], event: dict[str, Any]) -> None:
        await _on_reaction(ctx, body, event, added=True)

    @app.event("reaction_removed")
    async def reaction_removed(body: dict[str, Any], event: dict[str, Any]) -> None:
        await _on_reaction(ctx, body, event, added=False)

    @app.event("message")
    async def message(body: dict[str, Any], event: dict[str, Any]) -> None:
        if body.get("event_id") and not await _first_time(ctx, f"evt:{body['event_id']}"):
            return
        await on_message(ctx, event)


async def _on_reaction(ctx: Services, body: dict[str, Any], event: dict[str, Any], *, added: bool) -> None:
    if event.get("reaction") not in PIN_REACTIONS:
        return
    if body.get("event_id") and not await _first_time(ctx, f"evt:{body['event_id']}"):
        return
    await on_pin_reaction(ctx, event, added=added)
