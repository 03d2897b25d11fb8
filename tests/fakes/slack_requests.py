"""Requests as Slack sends them to an app, signed with the app's signing secret.

Each builder returns ``(body, headers)``: POST ``body`` to the app's ``/slack/events`` with
``headers``. Shapes follow Slack's documented payloads (slash commands, ``block_actions``,
``view_submission``, ``event_callback``, ``url_verification``), so slack-bolt parses them as
real ones. Signatures are v0 HMAC-SHA256 of ``v0:{timestamp}:{body}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from tests.fakes.slack_api import APP_ID, BOT_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID

VERIFICATION_TOKEN = "fake-verification-token"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The two signature headers for ``body``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def _signed(
    secret: str, body: bytes, content_type: str, timestamp: int | None
) -> tuple[bytes, dict[str, str]]:
    headers = {"Content-Type": content_type, **sign(secret, body, timestamp)}
    return body, headers


def _user_name(user_id: str) -> str:
    return user_id.removeprefix("U0").lower() or user_id.lower()


def _trigger() -> str:
    return f"{secrets.randbelow(10**12)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def _action_ts() -> str:
    return f"{time.time():.6f}"


def slash_command(
    secret: str,
    text: str,
    *,
    user_id: str = "U0ALICE",
    channel_id: str,
    channel_name: str = "general",
    command: str = "/incident",
    trigger_id: str | None = None,
    response_url: str = "https://hooks.slack.com/commands/T0PAGERBOT/1/abc",
    team_id: str = TEAM_ID,
    user_name: str | None = None,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A slash command invocation, form-encoded in Slack's field order."""
    fields = [
        ("token", VERIFICATION_TOKEN),
        ("team_id", team_id),
        ("team_domain", TEAM_DOMAIN),
        ("channel_id", channel_id),
        ("channel_name", channel_name),
        ("user_id", user_id),
        ("user_name", user_name or _user_name(user_id)),
        ("command", command),
        ("text", text),
        ("api_app_id", APP_ID),
        ("is_enterprise_install", "false"),
        ("response_url", response_url),
        ("trigger_id", trigger_id or _trigger()),
    ]
    return _signed(secret, urlencode(fields).encode(), FORM, timestamp)


def _payload_body(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def block_action(
    secret: str,
    action_id: str,
    value: str,
    *,
    user_id: str = "U0ALICE",
    channel_id: str,
    message_ts: str,
    trigger_id: str | None = None,
    response_url: str = "https://hooks.slack.com/actions/T0PAGERBOT/1/abc",
    block_id: str = "actions",
    message: dict[str, Any] | None = None,
    channel_name: str = "general",
    team_id: str = TEAM_ID,
    button_text: str = "Button",
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A button click on a message (``block_actions``), as ``payload=<json>`` form data."""
    msg = message or {
        "type": "message",
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
        "app_id": APP_ID,
        "ts": message_ts,
        "text": "",
        "team": team_id,
        "blocks": [],
    }
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {
            "id": user_id,
            "username": _user_name(user_id),
            "name": _user_name(user_id),
            "team_id": team_id,
        },
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id or _trigger(),
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name},
        "message": msg,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": button_text, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": _action_ts(),
            }
        ],
    }
    return _signed(secret, _payload_body(payload), FORM, timestamp)


def _state_values(values: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for block_id, actions in values.items():
        out[block_id] = {}
        for action_id, v in actions.items():
            out[block_id][action_id] = v if isinstance(v, dict) else {"type": "plain_text_input", "value": v}
    return out


def view_submission(
    secret: str,
    callback_id: str,
    values: dict[str, dict[str, Any]],
    *,
    user_id: str = "U0ALICE",
    private_metadata: str = "",
    view_id: str = "V0FAKEVIEW1",
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
    title: str = "Modal",
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A modal submission. ``values`` is ``{block_id: {action_id: state}}``; a plain string state
    stands for a ``plain_text_input`` value."""
    payload: dict[str, Any] = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": {
            "id": user_id,
            "username": _user_name(user_id),
            "name": _user_name(user_id),
            "team_id": team_id,
        },
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or _trigger(),
        "view": {
            "id": view_id,
            "team_id": team_id,
            "type": "modal",
            "blocks": blocks or [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": _state_values(values)},
            "hash": f"{int(time.time())}.abcdef12",
            "title": {"type": "plain_text", "text": title, "emoji": True},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": {"type": "plain_text", "text": "Cancel", "emoji": True},
            "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": APP_ID,
            "external_id": "",
            "app_installed_team_id": team_id,
            "bot_id": BOT_ID,
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return _signed(secret, _payload_body(payload), FORM, timestamp)


def event_callback(
    secret: str,
    event: dict[str, Any],
    *,
    event_id: str | None = None,
    team_id: str = TEAM_ID,
    api_app_id: str = APP_ID,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
    bot_user_id: str = BOT_USER_ID,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """An Events API delivery (JSON); with ``retry_num`` it carries Slack's retry headers."""
    now = int(time.time())
    body_obj = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
        "event_time": now,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{secrets.token_hex(16)}",
    }
    body, headers = _signed(secret, json.dumps(body_obj).encode(), JSON, timestamp)
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason
    return body, headers


def reaction_event(
    reaction: str, *, user_id: str, channel_id: str, message_ts: str, added: bool = True, item_user: str = ""
) -> dict[str, Any]:
    """The ``event`` of a ``reaction_added`` / ``reaction_removed`` delivery."""
    return {
        "type": "reaction_added" if added else "reaction_removed",
        "user": user_id,
        "reaction": reaction,
        "item_user": item_user or BOT_USER_ID,
        "item": {"type": "message", "channel": channel_id, "ts": message_ts},
        "event_ts": _action_ts(),
    }


def url_verification(
    secret: str,
    challenge: str = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
    *,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The handshake Slack sends when the Request URL is saved."""
    body = json.dumps(
        {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
    ).encode()
    return _signed(secret, body, JSON, timestamp)
