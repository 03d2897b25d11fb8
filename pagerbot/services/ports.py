"""The ports: what the use cases need from the world, as typing.Protocols the adapters implement.

A use case in ``pagerbot.services`` reaches Slack, the metrics source, the graph renderer, the mail
server and the clock only through these; ``bootstrap.build()`` picks the implementations (the Slack Web
API or the local workspace; Prometheus, Ganglia, Graphite or a recording; a worker process or a thread;
SMTP or nothing) and tests pass their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Protocol

from pagerbot.core.series import Series


class Clock(Protocol):
    """Time is passed in, never read inside core: tests and the demo use their own clocks."""

    def now(self) -> datetime: ...


# --- chat -----------------------------------------------------------------------------------------

class ChatError(Exception):
    """A chat call failed. ``retryable`` errors are retried by the outbox; others are final."""

    def __init__(self, method: str, error: str, *, retryable: bool = False, retry_after: float | None = None,
                 ambiguous: bool = False) -> None:
        super().__init__(f"{method}: {error}")
        self.method = method
        self.error = error
        self.retryable = retryable
        self.retry_after = retry_after
        # The request may have reached the other side (timeout, 5xx): check before repeating it.
        self.ambiguous = ambiguous


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    id: str
    name: str
    creator: str | None


@dataclass(frozen=True, slots=True)
class UserProfile:
    """How to reach a person, from their chat profile; None where the profile leaves it empty."""

    name: str | None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class PostedMessage:
    channel: str
    ts: str


class ChatPort(Protocol):
    async def bot_user_id(self) -> str: ...

    async def create_channel(self, name: str) -> ChannelInfo:
        """Raises ChatError with error ``name_taken`` when the name exists."""
        ...

    async def find_channel(self, name: str) -> ChannelInfo | None: ...

    async def join_channel(self, channel: str) -> None: ...

    async def set_topic(self, channel: str, topic: str) -> None: ...

    async def set_purpose(self, channel: str, purpose: str) -> None: ...

    async def invite(self, channel: str, user_ids: Sequence[str]) -> None: ...

    async def lookup_user_by_email(self, email: str) -> str | None: ...

    async def open_dm(self, user_id: str) -> str:
        """The id of the direct-message conversation between the bot and ``user_id`` (opened if need be)."""
        ...

    async def user_profile(self, user_id: str) -> UserProfile | None:
        """``user_id``'s profile: the name people know them by (Slack: the display name, else the real name,
        else the username), email and phone; None when there is no such user. Raises ChatError when the
        lookup fails."""
        ...

    async def post_message(self, channel: str, text: str, blocks: Sequence[Mapping[str, Any]] | None = None,
                           *, outbox_id: int | None = None, thread_ts: str | None = None) -> PostedMessage: ...

    async def find_posted(self, channel: str, outbox_id: int, oldest: float) -> str | None:
        """The ts of a message this bot posted for ``outbox_id`` (its metadata says so), if it exists."""
        ...

    async def update_message(self, channel: str, ts: str, text: str,
                             blocks: Sequence[Mapping[str, Any]] | None = None) -> None: ...

    async def pin(self, channel: str, ts: str) -> None: ...

    async def post_ephemeral(self, channel: str, user: str, text: str,
                             blocks: Sequence[Mapping[str, Any]] | None = None) -> None: ...

    async def upload_file(self, channel: str, filename: str, title: str, data: bytes,
                          comment: str | None = None, *, shared: bool = True) -> str:
        """Returns the file id once it is shared into the channel (a message of its own). With ``shared``
        False the file is uploaded for ``channel`` but shared nowhere: it shows only where a message's image
        block names it, and deleting it later leaves no "This file was deleted." message behind."""
        ...

    async def find_file(self, channel: str, filename: str, oldest: float) -> str | None:
        """The id of a file named ``filename`` this bot uploaded (for ``channel``) since ``oldest``, if any."""
        ...

    async def delete_file(self, file_id: str) -> None: ...

    async def open_view(self, trigger_id: str, view: Mapping[str, Any]) -> None: ...

    async def permalink(self, channel: str, ts: str) -> str | None: ...

    async def fetch_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One message (``text``, ``user``, ``ts``, ``files``) or None when it is gone."""
        ...


# --- metrics --------------------------------------------------------------------------------------

class MetricsUnavailable(Exception):
    """The source could not be reached or answered nonsense; the message says which and why."""


class MetricsUnreachable(MetricsUnavailable):
    """The source could not be reached at all: connection refused, no route, or no answer in time."""


class MetricsSource(Protocol):
    name: str

    async def fetch(
        self, metrics: Sequence[str], start: datetime, end: datetime, step_seconds: int,
        hosts: Sequence[str] | None = None,
    ) -> list[Series]:
        """History of ``metrics`` for ``hosts`` (all known hosts when None) between start and end."""
        ...

    async def close(self) -> None: ...


# --- graph rendering ------------------------------------------------------------------------------

class Renderer(Protocol):
    """Draws one graph (``kind`` names the figure, the keywords are its data) as PNG bytes."""

    async def render(self, kind: str, **kwargs: Any) -> bytes: ...

    async def close(self) -> None: ...


# --- mail -----------------------------------------------------------------------------------------

class MailSender(Protocol):
    """Hands one message to the mail server. Raises ``pagerbot.mail.smtp.MailError`` when it is not
    accepted; returns the recipients the server refused (address -> reason), empty or None when none."""

    async def __call__(self, message: EmailMessage, /) -> Mapping[str, str] | None: ...


@dataclass(frozen=True, slots=True)
class Fetched:
    """What one read of a mailbox found: its UIDVALIDITY and the new messages."""

    uidvalidity: int
    messages: list[tuple[int, bytes]]  # (UID, the whole message), in UID order


class Mailbox(Protocol):
    """Where the vendors' replies arrive (IMAP, or the demo's scripted mailbox). ``key`` names it in the
    progress table; ``read_new`` raises ``pagerbot.mail.imap.MailboxError`` when it cannot be read."""

    @property
    def key(self) -> str: ...

    async def read_new(self, after_uid: int, uidvalidity: int) -> Fetched: ...
