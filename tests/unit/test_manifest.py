"""app.yaml must match what the code registers: the slash command, events, interactivity, scopes."""

from __future__ import annotations

from pathlib import Path

import yaml

from pagerbot.services.commands import SUBCOMMANDS
from pagerbot.slack import app as slack_app

MANIFEST = yaml.safe_load((Path(__file__).parents[2] / "app.yaml").read_text())
REQUIRED_SCOPES = {"channels:manage", "channels:read", "chat:write", "pins:write", "bookmarks:write", "users:read",
                   "users:read.email", "files:read", "files:write", "commands", "reactions:read",
                   "im:write", "im:history"}  # a page is a DM: conversations.open, and its history on a retry


def test_the_slash_command_is_declared() -> None:
    commands = [c["command"] for c in MANIFEST["features"]["slash_commands"]]
    assert commands == [slack_app.COMMAND]
    hint = MANIFEST["features"]["slash_commands"][0]["usage_hint"]
    for sub in SUBCOMMANDS:
        assert sub in hint, sub


def test_scopes_cover_what_the_code_needs() -> None:
    assert REQUIRED_SCOPES <= set(MANIFEST["oauth_config"]["scopes"]["bot"])


def test_events_match_the_registered_listeners() -> None:
    declared = set(MANIFEST["settings"]["event_subscriptions"]["bot_events"])
    # message.channels delivers the "message" event type in public channels
    expected = {"message.channels" if e == "message" else e for e in slack_app.EVENTS}
    assert declared == expected
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True


def test_listeners_registered_in_bolt_are_the_declared_ones() -> None:
    from typing import Any

    from slack_bolt.async_app import AsyncApp

    from pagerbot.services.context import Services

    class RecordingApp(AsyncApp):
        def __init__(self) -> None:
            super().__init__(signing_secret="s", token="xoxb-1", request_verification_enabled=False)
            self.events: list[str] = []
            self.commands: list[str] = []

        def event(self, event: Any, *args: Any, **kwargs: Any) -> Any:
            self.events.append(str(event))
            return super().event(event, *args, **kwargs)

        def command(self, command: Any, *args: Any, **kwargs: Any) -> Any:
            self.commands.append(str(command))
            return super().command(command, *args, **kwargs)

    app = RecordingApp()
    slack_app.register(app, Services.__new__(Services))
    assert sorted(app.events) == sorted(slack_app.EVENTS)
    assert app.commands == [slack_app.COMMAND]
