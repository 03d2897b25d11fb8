"""Who asks for a use case, and the one exception that tells them it cannot be done."""

from __future__ import annotations

from dataclasses import dataclass


class ActionRefused(Exception):
    """Something a person asked for that cannot be done; the message says why, in one sentence."""


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: str
    source: str = "slack"

    @property
    def mention(self) -> str:
        # pagerbot itself (auto-resolve) is no Slack user: "<@pagerbot>" would show as a broken mention
        return self.user_id if self.source == "pagerbot" else f"<@{self.user_id}>"
