"""The chat port lives with the other ports in ``pagerbot.services.ports``; these names stay importable here."""

from __future__ import annotations

from pagerbot.services.ports import ChannelInfo, ChatError, ChatPort, PostedMessage, UserProfile

__all__ = ["ChannelInfo", "ChatError", "ChatPort", "PostedMessage", "UserProfile"]
