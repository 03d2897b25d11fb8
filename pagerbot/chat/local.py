"""The local workspace: the chat port kept in pagerbot's own database, for the demo and for trying
pagerbot before connecting Slack. Rules match Slack's where they matter (names, membership, files)."""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from pagerbot.chat.port import ChannelInfo, ChatError, PostedMessage, UserProfile
from pagerbot.clock import Clock
from pagerbot.store.repository import Store, rowcount
from pagerbot.store.tables import LocalChannel, LocalFile, LocalMessage

BOT_USER = "UPAGERBOT"
_NAME = re.compile(r"[a-z0-9_-]{1,80}")
DIRECTORY = {"alice@example.com": "U0ALICE", "bob@example.com": "U0BOB", "carol@example.com": "U0CAROL"}
NAMES = {BOT_USER: "pagerbot", "U0ALICE": "Alice", "U0BOB": "Bob", "U0CAROL": "Carol"}


class LocalChat:
    def __init__(self, store: Store, clock: Clock, directory: Mapping[str, str] | None = None,
                 standing_channels: Sequence[str] = (), names: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.clock = clock
        self.directory = dict(DIRECTORY if directory is None else directory)
        # the people's names (user ID -> name); a user only in the directory is named after their email
        self.names = dict(NAMES if names is None else names)
        # channels the workspace has before pagerbot does anything (the announce channel), as a
        # Slack workspace would; made on first look
        self.standing_channels = [name.lstrip("#") for name in standing_channels if name]
        self._standing_made = False
        self._ts = itertools.count(1)

    async def _ensure_standing(self) -> None:
        if self._standing_made:
            return
        for name in self.standing_channels:
            if await self._find(name) is None:
                try:
                    await self.create_channel(name)
                except ChatError as exc:
                    if exc.error != "name_taken":  # made meanwhile, by another request or replica
                        raise
        self._standing_made = True

    def _new_ts(self) -> str:
        # Slack's ts: seconds.micro, unique in the workspace; the counter keeps it unique within a second.
        now = self.clock.now().timestamp()
        return f"{int(now)}.{next(self._ts) % 1_000_000:06d}"

    async def bot_user_id(self) -> str:
        return BOT_USER

    async def create_channel(self, name: str) -> ChannelInfo:
        if not _NAME.fullmatch(name):
            raise ChatError("conversations.create", "invalid_name_specials")
        channel_id = "CL" + secrets.token_hex(5).upper()
        try:
            async with self.store.transaction() as session:
                session.add(LocalChannel(id=channel_id, name=name, topic="", purpose="", members=[BOT_USER],
                                         bookmarks=[], created_at=self.clock.now()))
        except IntegrityError:
            raise ChatError("conversations.create", "name_taken") from None
        return ChannelInfo(id=channel_id, name=name, creator=BOT_USER)

    async def ensure_channel(self, name: str) -> ChannelInfo:
        found = await self.find_channel(name)
        return found if found is not None else await self.create_channel(name)

    async def find_channel(self, name: str) -> ChannelInfo | None:
        await self._ensure_standing()
        return await self._find(name)

    async def _find(self, name: str) -> ChannelInfo | None:
        name = name.lstrip("#")
        async with self.store.sessions() as session:
            row = (await session.execute(select(LocalChannel).where(
                (LocalChannel.name == name) | (LocalChannel.id == name)))).scalar_one_or_none()
        return ChannelInfo(id=row.id, name=row.name, creator=BOT_USER) if row else None

    async def _channel(self, channel: str) -> LocalChannel:
        async with self.store.sessions() as session:
            row = await session.get(LocalChannel, channel)
        if row is None:
            raise ChatError("chat", "channel_not_found")
        return row

    async def join_channel(self, channel: str) -> None:
        await self._channel(channel)

    async def _set(self, channel: str, **values: Any) -> None:
        await self._channel(channel)
        async with self.store.transaction() as session:
            await session.execute(update(LocalChannel).where(LocalChannel.id == channel).values(**values))

    async def set_topic(self, channel: str, topic: str) -> None:
        if len(topic) > 250:
            raise ChatError("conversations.setTopic", "too_long")
        await self._set(channel, topic=topic)

    async def set_purpose(self, channel: str, purpose: str) -> None:
        if len(purpose) > 250:
            raise ChatError("conversations.setPurpose", "too_long")
        await self._set(channel, purpose=purpose)

    async def invite(self, channel: str, user_ids: Sequence[str]) -> None:
        row = await self._channel(channel)
        members = list(dict.fromkeys([*row.members, *user_ids]))
        await self._set(channel, members=members)

    async def lookup_user_by_email(self, email: str) -> str | None:
        return self.directory.get(email.lower())

    def known_names(self) -> dict[str, str]:
        """Every person this workspace can name (user ID -> name); a user only in the directory is named
        after their email address."""
        named = {known: email.partition("@")[0].replace(".", " ").title() for email, known in self.directory.items()}
        return {**{k: v for k, v in named.items() if v}, **{k: v for k, v in self.names.items() if v}}

    async def open_dm(self, user_id: str) -> str:
        """A channel of the local workspace stands for the direct messages with ``user_id``."""
        if user_id not in self.names and user_id not in self.directory.values():
            raise ChatError("conversations.open", "user_not_found")
        info = await self.ensure_channel(f"dm-{user_id.lower()}")
        await self.invite(info.id, [user_id])
        return info.id

    async def user_profile(self, user_id: str) -> UserProfile | None:
        """The local workspace knows names and the directory's emails; it keeps no phone numbers."""
        name = self.known_names().get(user_id)
        email = next((address for address, known in self.directory.items() if known == user_id), None)
        if name is None and email is None:
            return None
        return UserProfile(name=name, email=email)

    async def post_message(self, channel: str, text: str, blocks: Sequence[Mapping[str, Any]] | None = None,
                           *, outbox_id: int | None = None, thread_ts: str | None = None,
                           user: str = BOT_USER, file_ids: Sequence[str] = ()) -> PostedMessage:
        await self._channel(channel)
        if not text and not blocks and not file_ids:
            raise ChatError("chat.postMessage", "no_text")
        ts = self._new_ts()
        async with self.store.transaction() as session:
            session.add(LocalMessage(channel_id=channel, ts=ts, user=user, text=text, blocks=list(blocks or []),
                                     file_ids=list(file_ids), ephemeral_to=None, pinned=0,
                                     created_at=self.clock.now(), edited_at=None))
        return PostedMessage(channel=channel, ts=ts)

    async def find_posted(self, channel: str, outbox_id: int, oldest: float) -> str | None:
        return None  # local posts commit with the call: there is never an ambiguous attempt

    async def update_message(self, channel: str, ts: str, text: str,
                             blocks: Sequence[Mapping[str, Any]] | None = None) -> None:
        async with self.store.transaction() as session:
            result = await session.execute(update(LocalMessage).where(
                LocalMessage.channel_id == channel, LocalMessage.ts == ts).values(
                text=text, blocks=list(blocks or []), edited_at=self.clock.now()))
            if not rowcount(result):
                raise ChatError("chat.update", "message_not_found")

    async def pin(self, channel: str, ts: str) -> None:
        async with self.store.transaction() as session:
            result = await session.execute(update(LocalMessage).where(
                LocalMessage.channel_id == channel, LocalMessage.ts == ts).values(pinned=1))
            if not rowcount(result):
                raise ChatError("pins.add", "message_not_found")

    async def post_ephemeral(self, channel: str, user: str, text: str,
                             blocks: Sequence[Mapping[str, Any]] | None = None) -> None:
        await self._channel(channel)
        async with self.store.transaction() as session:
            session.add(LocalMessage(channel_id=channel, ts=self._new_ts(), user=BOT_USER, text=text,
                                     blocks=list(blocks or []), file_ids=[], ephemeral_to=user, pinned=0,
                                     created_at=self.clock.now(), edited_at=None))

    async def upload_file(self, channel: str, filename: str, title: str, data: bytes,
                          comment: str | None = None, *, shared: bool = True) -> str:
        if not data:
            raise ChatError("files.upload", "no_file_data")
        file_id = "FL" + secrets.token_hex(5).upper()
        async with self.store.transaction() as session:
            session.add(LocalFile(id=file_id, name=filename, title=title, content=data, deleted=0,
                                  created_at=self.clock.now()))
        if shared:
            await self.post_message(channel, comment or "", None, file_ids=[file_id])
        return file_id

    async def find_file(self, channel: str, filename: str, oldest: float) -> str | None:
        return None  # local uploads commit with the call: there is never an ambiguous attempt

    async def delete_file(self, file_id: str) -> None:
        async with self.store.transaction() as session:
            await session.execute(update(LocalFile).where(LocalFile.id == file_id).values(deleted=1))

    async def open_view(self, trigger_id: str, view: Mapping[str, Any]) -> None:
        # The local page renders modals itself from the same view; nothing to keep here.
        return None

    async def permalink(self, channel: str, ts: str) -> str | None:
        return f"/local/{channel}#m{ts}"

    async def fetch_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        async with self.store.sessions() as session:
            row = (await session.execute(select(LocalMessage).where(
                LocalMessage.channel_id == channel, LocalMessage.ts == ts))).scalar_one_or_none()
        if row is None:
            return None
        return {"ts": row.ts, "text": row.text, "user": row.user, "files": [{"id": f} for f in row.file_ids]}

    async def set_pinned(self, channel: str, ts: str, pinned: bool) -> None:
        async with self.store.transaction() as session:
            await session.execute(update(LocalMessage).where(
                LocalMessage.channel_id == channel, LocalMessage.ts == ts).values(pinned=int(pinned)))

    # --- reading, for the transcript and the /local page ----------------------------------------------

    async def channels(self) -> list[LocalChannel]:
        await self._ensure_standing()
        async with self.store.sessions() as session:
            return list((await session.execute(select(LocalChannel).order_by(LocalChannel.created_at))).scalars())

    async def messages(self, channel: str) -> list[LocalMessage]:
        async with self.store.sessions() as session:
            rows = await session.execute(select(LocalMessage).where(LocalMessage.channel_id == channel)
                                         .order_by(LocalMessage.id))
            return list(rows.scalars())

    async def file(self, file_id: str) -> LocalFile | None:
        async with self.store.sessions() as session:
            return await session.get(LocalFile, file_id)
