"""The chat port over Slack's Web API (slack-sdk's AsyncWebClient)."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from pagerbot.chat.port import ChannelInfo, ChatError, PostedMessage, UserProfile
from pagerbot.observability import SLACK_CALLS, SLACK_LATENCY

METADATA_EVENT = "pagerbot_outbox"
# files.list pages (of 100) looked through for an earlier upload: its time window holds a few files at most.
MAX_FILE_PAGES = 5
_RETRYABLE_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


class SlackChat:
    """Every call maps Slack's answers onto ChatError: 429 and 5xx and timeouts are retryable."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._bot_user_id: str | None = None

    @classmethod
    def create(cls, token: str, base_url: str, timeout: int = 10) -> SlackChat:
        # Retries belong to the outbox, which persists them; the client must not retry behind its back.
        return cls(AsyncWebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[]))

    async def close(self) -> None:
        session = getattr(self.client, "session", None)
        if session is not None and not session.closed:
            await session.close()

    async def _call(self, method: str, call: Callable[[], Awaitable[AsyncSlackResponse]]) -> AsyncSlackResponse:
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await call()
        except SlackApiError as exc:
            status = exc.response.status_code
            error = str(exc.response.get("error") or f"http_{status}")
            outcome = error
            if status == 429:
                retry_after = float(exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 1)))
                raise ChatError(method, "ratelimited", retryable=True, retry_after=retry_after) from None
            if status >= 500 or error in _RETRYABLE_ERRORS:
                raise ChatError(method, error, retryable=True, ambiguous=True) from None
            raise ChatError(method, error) from None
        except (TimeoutError, aiohttp.ServerTimeoutError):
            outcome = "timeout"
            raise ChatError(method, "timeout", retryable=True, ambiguous=True) from None
        except aiohttp.ClientConnectorError:
            outcome = "unreachable"
            raise ChatError(method, "unreachable", retryable=True) from None
        except (aiohttp.ClientError, OSError) as exc:
            outcome = "connection_error"
            raise ChatError(method, f"connection error ({type(exc).__name__})", retryable=True,
                            ambiguous=True) from None
        finally:
            SLACK_CALLS.labels(method=method, result=outcome).inc()
            SLACK_LATENCY.labels(method=method).observe(time.perf_counter() - started)

    async def bot_user_id(self) -> str:
        if self._bot_user_id is None:
            response = await self._call("auth.test", lambda: self.client.auth_test())
            self._bot_user_id = str(response["user_id"])
        return self._bot_user_id

    async def create_channel(self, name: str) -> ChannelInfo:
        response = await self._call("conversations.create",
                                    lambda: self.client.conversations_create(name=name, is_private=False))
        channel = response["channel"]
        return ChannelInfo(id=channel["id"], name=channel["name"], creator=channel.get("creator"))

    async def find_channel(self, name: str) -> ChannelInfo | None:
        name = name.lstrip("#")
        cursor: str | None = None
        while True:
            page = cursor
            response = await self._call("conversations.list", lambda: self.client.conversations_list(
                types="public_channel", exclude_archived=True, limit=1000, cursor=page))  # noqa: B023
            for channel in response["channels"]:
                if channel["name"] == name or channel["id"] == name:
                    return ChannelInfo(id=channel["id"], name=channel["name"], creator=channel.get("creator"))
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None

    async def join_channel(self, channel: str) -> None:
        await self._call("conversations.join", lambda: self.client.conversations_join(channel=channel))

    async def set_topic(self, channel: str, topic: str) -> None:
        await self._call("conversations.setTopic",
                         lambda: self.client.conversations_setTopic(channel=channel, topic=topic))

    async def set_purpose(self, channel: str, purpose: str) -> None:
        await self._call("conversations.setPurpose",
                         lambda: self.client.conversations_setPurpose(channel=channel, purpose=purpose))

    async def invite(self, channel: str, user_ids: Sequence[str]) -> None:
        if not user_ids:
            return
        try:
            await self._call("conversations.invite",
                             lambda: self.client.conversations_invite(channel=channel, users=list(user_ids)))
        except ChatError as exc:
            if exc.error != "already_in_channel":
                raise

    async def lookup_user_by_email(self, email: str) -> str | None:
        try:
            response = await self._call("users.lookupByEmail", lambda: self.client.users_lookupByEmail(email=email))
        except ChatError as exc:
            if exc.error == "users_not_found":
                return None
            raise
        return str(response["user"]["id"])

    async def open_dm(self, user_id: str) -> str:
        response = await self._call("conversations.open", lambda: self.client.conversations_open(users=user_id))
        return str(response["channel"]["id"])

    async def user_profile(self, user_id: str) -> UserProfile | None:
        try:
            response = await self._call("users.info", lambda: self.client.users_info(user=user_id))
        except ChatError as exc:
            if exc.error in {"user_not_found", "users_not_found"}:
                return None
            raise
        user = response.get("user") or {}
        profile = user.get("profile") or {}
        return UserProfile(name=_first_text(profile.get("display_name"), profile.get("real_name"),
                                            user.get("real_name"), user.get("name")),
                           email=_first_text(profile.get("email")),  # needs the users:read.email scope
                           phone=_first_text(profile.get("phone")))

    async def post_message(self, channel: str, text: str, blocks: Sequence[Mapping[str, Any]] | None = None,
                           *, outbox_id: int | None = None, thread_ts: str | None = None) -> PostedMessage:
        metadata = ({"event_type": METADATA_EVENT, "event_payload": {"outbox_id": outbox_id}}
                    if outbox_id is not None else None)
        response = await self._call("chat.postMessage", lambda: self.client.chat_postMessage(
            channel=channel, text=text, blocks=[dict(b) for b in blocks] if blocks else None, metadata=metadata,
            thread_ts=thread_ts, unfurl_links=False, unfurl_media=False))
        return PostedMessage(channel=str(response["channel"]), ts=str(response["ts"]))

    async def find_posted(self, channel: str, outbox_id: int, oldest: float) -> str | None:
        response = await self._call("conversations.history", lambda: self.client.conversations_history(
            channel=channel, oldest=f"{oldest:.6f}", include_all_metadata=True, limit=200))
        for message in response["messages"]:
            metadata = message.get("metadata") or {}
            if (metadata.get("event_type") == METADATA_EVENT
                    and (metadata.get("event_payload") or {}).get("outbox_id") == outbox_id):
                return str(message["ts"])
        return None

    async def update_message(self, channel: str, ts: str, text: str,
                             blocks: Sequence[Mapping[str, Any]] | None = None) -> None:
        await self._call("chat.update", lambda: self.client.chat_update(
            channel=channel, ts=ts, text=text, blocks=[dict(b) for b in blocks] if blocks is not None else None))

    async def pin(self, channel: str, ts: str) -> None:
        try:
            await self._call("pins.add", lambda: self.client.pins_add(channel=channel, timestamp=ts))
        except ChatError as exc:
            if exc.error != "already_pinned":
                raise

    async def post_ephemeral(self, channel: str, user: str, text: str,
                             blocks: Sequence[Mapping[str, Any]] | None = None) -> None:
        await self._call("chat.postEphemeral", lambda: self.client.chat_postEphemeral(
            channel=channel, user=user, text=text, blocks=[dict(b) for b in blocks] if blocks else None))

    async def upload_file(self, channel: str, filename: str, title: str, data: bytes,
                          comment: str | None = None, *, shared: bool = True) -> str:
        # Unshared, a file is private to the bot, which may still show it in its own messages' image blocks.
        response = await self._call("files.upload", lambda: self.client.files_upload_v2(
            channel=channel if shared else None, filename=filename, title=title, content=data,
            initial_comment=comment if shared else None))
        file = response.get("file") or (response.get("files") or [{}])[0]
        return str(file["id"])

    async def find_file(self, channel: str, filename: str, oldest: float) -> str | None:
        # By this bot since ``oldest``, not by channel or type: Slack shares a completed upload into the
        # channel, and fills in its type, a moment later. The name is unique to one outbox row.
        bot = await self.bot_user_id()
        for page in range(1, MAX_FILE_PAGES + 1):
            listing = functools.partial(self.client.files_list, user=bot, ts_from=str(int(oldest)), count=100,
                                        page=page)
            response = await self._call("files.list", listing)
            for file in response.get("files") or []:
                if file.get("name") == filename:
                    return str(file["id"])
            if page >= int((response.get("paging") or {}).get("pages") or 1):
                break
        return None

    async def delete_file(self, file_id: str) -> None:
        try:
            await self._call("files.delete", lambda: self.client.files_delete(file=file_id))
        except ChatError as exc:
            if exc.error not in {"file_not_found", "file_deleted"}:
                raise

    async def open_view(self, trigger_id: str, view: Mapping[str, Any]) -> None:
        await self._call("views.open", lambda: self.client.views_open(trigger_id=trigger_id, view=dict(view)))

    async def permalink(self, channel: str, ts: str) -> str | None:
        return None

    async def fetch_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        response = await self._call("conversations.history", lambda: self.client.conversations_history(
            channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1))
        messages = response["messages"]
        return dict(messages[0]) if messages else None


def _first_text(*values: object) -> str | None:
    """The first value that is non-empty text, stripped (a profile field may be missing or "")."""
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
