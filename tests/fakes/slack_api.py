"""A strict fake of the Slack Web API, served over real HTTP for tests and benchmarks.

The bot talks to it through the real slack-sdk client
(``AsyncWebClient(token=fake.token, base_url=fake.api_url)``). It rejects what Slack rejects,
with Slack's error codes, records every call, and can inject faults (5xx, 429, hangs, outages).

The server runs in its own thread with its own event loop, so synchronous tests and async
tests running in any other loop can use it. All state is guarded by one lock; the helpers
(``messages``, ``files``, ``channel_by_name``...) return copies.

Faulted calls (``fail_next``, ``rate_limit_next``, ``outage``) never reach a method handler, so
they change nothing, exactly like Slack. A call delayed by ``hang_next`` *is* processed after
the delay (as Slack would, even though the client gave up) unless ``process=False``. A call hit by
``lose_answer_next`` is processed and then answered with a 5xx, so the client cannot know it took effect.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_TOKEN = "xoxb-0000-fake-pagerbot-token"
APP_TOKEN = "xapp-1-A0PAGERBOT-0000-fake-app-token"  # app-level token: Socket Mode (apps.connections.open)
TEAM_ID = "T0PAGERBOT"
TEAM_NAME = "Pagerbot Test"
TEAM_DOMAIN = "pagerbot-test"
BOT_USER_ID = "U0PAGERBOT"
BOT_USER_NAME = "pagerbot"
BOT_ID = "B0PAGERBOT"
APP_ID = "A0PAGERBOT"

DEFAULT_SCOPES: frozenset[str] = frozenset(
    {
        "channels:manage",
        "channels:read",
        "channels:join",
        "channels:history",
        "chat:write",
        "pins:write",
        "pins:read",
        "bookmarks:write",
        "users:read",
        "users:read.email",
        "files:read",
        "files:write",
        "reactions:read",
        "commands",
        "groups:read",
        "im:write",
        "im:history",
    }
)

DEFAULT_USERS: tuple[tuple[str, str, str], ...] = (
    ("U0ALICE", "alice", "alice@example.com"),
    ("U0BOB", "bob", "bob@example.com"),
    ("U0CAROL", "carol", "carol@example.com"),
)
# Their profiles (users.info): (real name, display name). As in Slack, a display name may be left empty.
DEFAULT_PROFILES: dict[str, tuple[str, str]] = {
    "U0ALICE": ("Alice Nguyen", "Alice"),
    "U0BOB": ("Bob Martinez", ""),
    "U0CAROL": ("Carol", ""),
}
# Their profiles' phone numbers (as in Slack: free text, empty when not given).
DEFAULT_PHONES: dict[str, str] = {"U0ALICE": "+1 555 0101"}

#: pseudo-method names under which the upload POST and response_url POSTs are recorded
#: (and can be targeted by ``fail_next`` / ``rate_limit_next`` / ``hang_next``).
UPLOAD_METHOD = "files.upload_url"
RESPONSE_URL_METHOD = "response_url"

# Scopes each method needs (any one of them). Methods absent here need no scope.
_METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "conversations.create": ("channels:manage",),
    "conversations.setTopic": ("channels:manage", "channels:write.topic"),
    "conversations.setPurpose": ("channels:manage",),
    "conversations.invite": ("channels:manage",),
    "conversations.archive": ("channels:manage",),
    "conversations.join": ("channels:join",),
    "conversations.info": ("channels:read", "groups:read"),
    "conversations.list": ("channels:read", "groups:read"),
    "conversations.members": ("channels:read", "groups:read"),
    # a DM needs im:write (several people at once, an mpim, would need mpim:write)
    "conversations.open": ("im:write", "mpim:write"),
    "conversations.history": ("channels:history",),
    "conversations.replies": ("channels:history",),
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.delete": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.getPermalink": (),
    "pins.add": ("pins:write",),
    "pins.remove": ("pins:write",),
    "pins.list": ("pins:read",),
    "users.lookupByEmail": ("users:read.email",),
    "users.info": ("users:read",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
    "files.delete": ("files:write",),
    "files.info": ("files:read",),
    "files.list": ("files:read",),
    "bookmarks.add": ("bookmarks:write",),
    "reactions.get": ("reactions:read",),
}

_CHANNEL_NAME_OK = re.compile(r"^[a-z0-9_\-]+$")
_ID_ALPHABET = string.ascii_uppercase + string.digits


class SlackError(Exception):
    """Raised by a method handler: becomes ``{"ok": false, "error": error, ...extra}``."""

    def __init__(self, error: str, *, messages: list[str] | None = None, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []
        self.extra = extra

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": False, "error": self.error, **self.extra}
        if self.messages:
            out["response_metadata"] = {"messages": list(self.messages)}
        return out


# ---------------------------------------------------------------------------------------------
# State records
# ---------------------------------------------------------------------------------------------


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    ok: bool
    error: str | None
    http_status: int
    at: float


@dataclass
class User:
    id: str
    name: str
    email: str
    real_name: str = ""
    is_bot: bool = False
    deleted: bool = False
    tz: str = "America/Los_Angeles"
    display_name: str = ""  # the profile's display name; empty unless the person set one
    phone: str = ""  # the profile's phone; Slack sends "" when the person left it empty

    def to_api(self, *, include_email: bool) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "real_name": self.real_name or self.name,
            "display_name": self.display_name,
            "real_name_normalized": self.real_name or self.name,
            "display_name_normalized": self.display_name,
            "phone": self.phone,
        }
        if include_email and self.email:
            profile["email"] = self.email
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "real_name": self.real_name or self.name,
            "deleted": self.deleted,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "tz": self.tz,
            "profile": profile,
        }


@dataclass
class Channel:
    id: str
    name: str
    creator: str
    created: int
    members: list[str] = field(default_factory=list)
    topic: str = ""
    purpose: str = ""
    topic_set: tuple[str, int] = ("", 0)
    purpose_set: tuple[str, int] = ("", 0)
    is_archived: bool = False
    is_private: bool = False
    is_im: bool = False

    def to_api(self, *, num_members: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "created": self.created,
            "creator": self.creator,
            "is_archived": self.is_archived,
            "is_general": False,
            "is_member": BOT_USER_ID in self.members,
            "is_private": self.is_private,
            "is_im": self.is_im,
            "context_team_id": TEAM_ID,
        }
        if self.is_im:
            other = [m for m in self.members if m != BOT_USER_ID]
            out["user"] = other[0] if other else BOT_USER_ID
            return out
        out.update(
            {
                "name": self.name,
                "name_normalized": self.name,
                "is_channel": not self.is_private,
                "is_group": self.is_private,
                "topic": {"value": self.topic, "creator": self.topic_set[0], "last_set": self.topic_set[1]},
                "purpose": {
                    "value": self.purpose,
                    "creator": self.purpose_set[0],
                    "last_set": self.purpose_set[1],
                },
            }
        )
        if num_members:
            out["num_members"] = len(self.members)
        return out


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    user: str
    bot_id: str | None = None
    blocks: list[Any] | None = None
    attachments: list[Any] | None = None
    metadata: dict[str, Any] | None = None
    thread_ts: str | None = None
    reply_broadcast: bool = False
    edited: dict[str, str] | None = None
    pinned_by: str | None = None
    pinned_at: int = 0
    files: list[str] = field(default_factory=list)
    reactions: dict[str, list[str]] = field(default_factory=dict)
    subtype: str | None = None

    @property
    def pinned(self) -> bool:
        return self.pinned_by is not None

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts


@dataclass
class File:
    id: str
    name: str
    title: str
    length: int
    user: str
    created: int
    upload_token: str
    alt_txt: str | None = None
    snippet_type: str | None = None
    bytes: bytes | None = None
    completed: bool = False
    deleted: bool = False
    #: channel id -> message ts of each share
    shares: dict[str, list[str]] = field(default_factory=dict)

    @property
    def uploaded(self) -> bool:
        return self.bytes is not None

    @property
    def mimetype(self) -> str:
        ext = self.name.rsplit(".", 1)[-1].lower() if "." in self.name else ""
        return {
            "png": "image/png",
            "jpg": "image/jpeg",
            "jpeg": "image/jpeg",
            "gif": "image/gif",
            "svg": "image/svg+xml",
            "md": "text/markdown",
            "txt": "text/plain",
            "csv": "text/csv",
            "json": "application/json",
            "pdf": "application/pdf",
        }.get(ext, "application/octet-stream")


@dataclass
class View:
    id: str
    view: dict[str, Any]
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    external_id: str = ""


@dataclass
class Bookmark:
    id: str
    channel_id: str
    title: str
    link: str
    type: str
    emoji: str | None
    created: int
    created_by: str


@dataclass
class Ephemeral:
    channel: str
    user: str
    ts: str
    text: str
    blocks: list[Any] | None


@dataclass
class ResponseUrl:
    url: str
    channel_id: str | None
    message_ts: str | None
    user_id: str | None
    uses: int = 0
    created: float = 0.0


@dataclass
class _Fault:
    kind: str  # "fail" | "ratelimit" | "hang" | "lose_answer"
    method: str | None
    remaining: int
    status: int = 503
    retry_after: int = 1
    seconds: float = 0.0
    process: bool = True


# ---------------------------------------------------------------------------------------------
# Block Kit validation
# ---------------------------------------------------------------------------------------------

_BLOCK_TYPES = frozenset(
    {"section", "header", "actions", "context", "divider", "image", "rich_text", "input"}
)
_INTERACTIVE = frozenset(
    {
        "button",
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
        "overflow",
        "datepicker",
        "timepicker",
        "datetimepicker",
        "checkboxes",
        "radio_buttons",
    }
)
_INPUT_ELEMENTS = _INTERACTIVE | frozenset(
    {
        "plain_text_input",
        "number_input",
        "email_text_input",
        "url_text_input",
        "rich_text_input",
        "file_input",
    }
)
_SECTION_ACCESSORIES = _INTERACTIVE | frozenset({"image"})


class _BlockChecker:
    """Walks blocks, collecting Slack-style errors: ``"<what> [json-pointer:/blocks/0/text]"``."""

    def __init__(self, file_ok: Callable[[Any], str | None], *, action_id_scope: str) -> None:
        self.errors: list[str] = []
        self._file_ok = file_ok
        self._block_ids: set[str] = set()
        self._action_ids: set[str] = set()
        self._action_ids_block: set[str] = set()
        self._action_id_scope = action_id_scope

    def err(self, msg: str, ptr: str) -> None:
        self.errors.append(f"{msg} [json-pointer:{ptr}]")

    def _str_max(self, value: Any, ptr: str, max_len: int, *, required: bool = False) -> None:
        if value is None:
            if required:
                self.err("missing required field", ptr)
            return
        if not isinstance(value, str):
            self.err("must be a string", ptr)
        elif len(value) > max_len:
            self.err(f"must be less than {max_len + 1} characters", ptr)

    def text(
        self, obj: Any, ptr: str, max_len: int, *, plain_only: bool = False, required: bool = True
    ) -> None:
        if obj is None:
            if required:
                self.err("missing required field: text", ptr)
            return
        if not isinstance(obj, dict):
            self.err("must be a text object", ptr)
            return
        kind = obj.get("type")
        if kind not in ("plain_text", "mrkdwn"):
            self.err("must be one of: plain_text, mrkdwn", f"{ptr}/type")
        elif plain_only and kind != "plain_text":
            self.err('must be "plain_text"', f"{ptr}/type")
        value = obj.get("text")
        if not isinstance(value, str):
            self.err("must be a string", f"{ptr}/text")
        elif len(value) < 1:
            self.err("must be more than 0 characters", f"{ptr}/text")
        elif len(value) > max_len:
            self.err(f"must be less than {max_len + 1} characters", f"{ptr}/text")

    def blocks(self, blocks: Any, ptr: str, max_blocks: int) -> None:
        if not isinstance(blocks, list):
            self.err("must be an array", ptr)
            return
        if len(blocks) > max_blocks:
            self.err(f"no more than {max_blocks} items allowed", ptr)
        for i, block in enumerate(blocks):
            self._action_ids_block = set()
            self.block(block, f"{ptr}/{i}")

    def block(self, block: Any, ptr: str) -> None:
        if not isinstance(block, dict):
            self.err("must be an object", ptr)
            return
        kind = block.get("type")
        if kind not in _BLOCK_TYPES:
            self.err(f"unsupported block type: {kind!r}", f"{ptr}/type")
            return
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id:
                self.err("must be a non-empty string", f"{ptr}/block_id")
            elif len(block_id) > 255:
                self.err("must be less than 256 characters", f"{ptr}/block_id")
            elif block_id in self._block_ids:
                self.err(f"duplicate block_id: {block_id}", f"{ptr}/block_id")
            else:
                self._block_ids.add(block_id)
        getattr(self, f"_block_{kind}")(block, ptr)

    def _block_section(self, block: dict[str, Any], ptr: str) -> None:
        text, fields = block.get("text"), block.get("fields")
        if text is None and fields is None:
            self.err("must provide either text or fields", ptr)
        if text is not None:
            self.text(text, f"{ptr}/text", 3000)
        if fields is not None:
            if not isinstance(fields, list) or not fields:
                self.err("must be a non-empty array", f"{ptr}/fields")
            else:
                if len(fields) > 10:
                    self.err("no more than 10 items allowed", f"{ptr}/fields")
                for i, f in enumerate(fields):
                    self.text(f, f"{ptr}/fields/{i}", 2000)
        accessory = block.get("accessory")
        if accessory is not None:
            self.element(accessory, f"{ptr}/accessory", _SECTION_ACCESSORIES)

    def _block_header(self, block: dict[str, Any], ptr: str) -> None:
        self.text(block.get("text"), f"{ptr}/text", 150, plain_only=True)

    def _block_actions(self, block: dict[str, Any], ptr: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.err("must be a non-empty array", f"{ptr}/elements")
            return
        if len(elements) > 25:
            self.err("no more than 25 items allowed", f"{ptr}/elements")
        for i, el in enumerate(elements):
            self.element(el, f"{ptr}/elements/{i}", _INTERACTIVE)

    def _block_context(self, block: dict[str, Any], ptr: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.err("must be a non-empty array", f"{ptr}/elements")
            return
        if len(elements) > 10:
            self.err("no more than 10 items allowed", f"{ptr}/elements")
        for i, el in enumerate(elements):
            p = f"{ptr}/elements/{i}"
            if isinstance(el, dict) and el.get("type") == "image":
                self._image(el, p)
            else:
                self.text(el, p, 3000)

    def _block_divider(self, block: dict[str, Any], ptr: str) -> None:
        return None

    def _block_image(self, block: dict[str, Any], ptr: str) -> None:
        self._image(block, ptr)
        if block.get("title") is not None:
            self.text(block.get("title"), f"{ptr}/title", 2000, plain_only=True)

    def _block_rich_text(self, block: dict[str, Any], ptr: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.err("must be a non-empty array", f"{ptr}/elements")

    def _block_input(self, block: dict[str, Any], ptr: str) -> None:
        self.text(block.get("label"), f"{ptr}/label", 2000, plain_only=True)
        element = block.get("element")
        if element is None:
            self.err("missing required field: element", ptr)
        else:
            self.element(element, f"{ptr}/element", _INPUT_ELEMENTS)
        if block.get("hint") is not None:
            self.text(block.get("hint"), f"{ptr}/hint", 2000, plain_only=True)

    def _image(self, obj: dict[str, Any], ptr: str) -> None:
        alt = obj.get("alt_text")
        if alt is None:
            self.err("missing required field: alt_text", ptr)
        else:
            self._str_max(alt, f"{ptr}/alt_text", 2000)
        url, slack_file = obj.get("image_url"), obj.get("slack_file")
        if (url is None) == (slack_file is None):
            self.err("must provide exactly one of image_url or slack_file", ptr)
            return
        if url is not None:
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                self.err("must be a valid http(s) URL", f"{ptr}/image_url")
            elif len(url) > 3000:
                self.err("must be less than 3001 characters", f"{ptr}/image_url")
        else:
            problem = self._file_ok(slack_file)
            if problem:
                self.err(problem, f"{ptr}/slack_file")

    def element(self, el: Any, ptr: str, allowed: frozenset[str]) -> None:
        if not isinstance(el, dict):
            self.err("must be an object", ptr)
            return
        kind = el.get("type")
        if kind not in allowed:
            self.err(f"unsupported element type here: {kind!r}", f"{ptr}/type")
            return
        action_id = el.get("action_id")
        if action_id is not None:
            if not isinstance(action_id, str) or not action_id:
                self.err("must be a non-empty string", f"{ptr}/action_id")
            elif len(action_id) > 255:
                self.err("must be less than 256 characters", f"{ptr}/action_id")
            else:
                seen = self._action_ids if self._action_id_scope == "message" else self._action_ids_block
                if action_id in seen:
                    self.err(f"duplicate action_id: {action_id}", f"{ptr}/action_id")
                seen.add(action_id)
        if kind == "button":
            self.text(el.get("text"), f"{ptr}/text", 75, plain_only=True)
            self._str_max(el.get("value"), f"{ptr}/value", 2000)
            self._str_max(el.get("url"), f"{ptr}/url", 3000)
            style = el.get("style")
            if style is not None and style not in ("primary", "danger"):
                self.err("must be one of: primary, danger", f"{ptr}/style")
        elif kind == "image":
            self._image(el, ptr)
        elif kind in ("static_select", "multi_static_select", "overflow", "checkboxes", "radio_buttons"):
            options = el.get("options")
            groups = el.get("option_groups")
            if options is None and groups is None:
                self.err("missing required field: options", ptr)
            elif options is not None:
                limit = 5 if kind == "overflow" else (10 if kind in ("checkboxes", "radio_buttons") else 100)
                if not isinstance(options, list) or not options:
                    self.err("must be a non-empty array", f"{ptr}/options")
                else:
                    if len(options) > limit:
                        self.err(f"no more than {limit} items allowed", f"{ptr}/options")
                    for i, opt in enumerate(options):
                        p = f"{ptr}/options/{i}"
                        if not isinstance(opt, dict):
                            self.err("must be an object", p)
                            continue
                        self.text(opt.get("text"), f"{p}/text", 75)
                        self._str_max(opt.get("value"), f"{p}/value", 150, required=True)


# ---------------------------------------------------------------------------------------------
# The fake
# ---------------------------------------------------------------------------------------------


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in ("1", "true", "yes")


def _as_int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SlackError("invalid_arguments", messages=[f"[ERROR] not an integer: {value!r}"]) from None


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.b64decode(str(cursor)).decode()
        kind, _, number = raw.partition(":")
        if kind != "offset":
            raise ValueError(raw)
        return int(number)
    except (ValueError, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None


_JSON_FIELDS = ("blocks", "attachments", "metadata", "files", "view", "user_auth_blocks")


class FakeSlack:
    """A strict, recording, fault-injecting fake of the Slack Web API (see module docstring)."""

    def __init__(
        self,
        *,
        token: str = BOT_TOKEN,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        clock: Callable[[], float] = time.time,
        trigger_ttl: float = 3.0,
        action_id_scope: str = "message",
        default_users: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        #: the address it listens on: another than loopback lets containers on a bridge network reach it
        self.host = host
        self.token = token
        self.scopes: set[str] = set(scopes)
        self.clock = clock
        self.trigger_ttl = trigger_ttl
        self.action_id_scope = action_id_scope
        #: seconds added to every call (e.g. 0.05 for benchmarks)
        self.latency: float = 0.0

        self._lock = threading.RLock()
        self._users: dict[str, User] = {}
        self._channels: dict[str, Channel] = {}
        self._messages: dict[str, list[Message]] = {}
        self._files: dict[str, File] = {}
        self._uploads: dict[str, str] = {}  # upload token -> file id
        self._bookmarks: list[Bookmark] = []
        self._ephemerals: list[Ephemeral] = []
        self._views: dict[str, View] = {}
        self._view_stack: list[str] = []
        self._triggers: dict[str, float] = {}
        self._used_triggers: set[str] = set()
        self._response_urls: dict[str, ResponseUrl] = {}
        self._responses: dict[str, list[dict[str, Any]]] = {}
        self._calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._outage_status: int | None = None
        self._last_us = 0
        # Socket Mode: the app-level token, open websockets, and the acks of envelopes sent over them
        self.app_token = APP_TOKEN
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_acks: dict[str, dict[str, Any]] = {}
        self._socket_tickets: set[str] = set()

        self._users[BOT_USER_ID] = User(BOT_USER_ID, BOT_USER_NAME, "", "Pagerbot", is_bot=True)
        if default_users:
            for uid, name, email in DEFAULT_USERS:
                real_name, display_name = DEFAULT_PROFILES[uid]
                self.add_user(uid, name, email, real_name=real_name, display_name=display_name,
                              phone=DEFAULT_PHONES.get(uid, ""))

        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # reported to start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-slack", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            self._thread = None
            raise RuntimeError("fake Slack failed to start") from failure[0]
        return self

    async def _serve(self) -> None:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{token}", self._handle_upload)
        app.router.add_post("/response/{token}", self._handle_response_url)
        app.router.add_get("/socket/{ticket}", self._handle_socket)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        self._runner = runner
        server = site._server
        assert server is not None
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    def stop(self) -> None:
        loop, thread, runner = self._loop, self._thread, self._runner
        if loop is None or thread is None:
            return
        if runner is not None:
            fut = asyncio.run_coroutine_threadsafe(runner.cleanup(), loop)
            try:
                fut.result(10)
            except Exception:
                pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = self._loop = self._runner = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://{self.host}:{self._port}/"

    @property
    def api_url(self) -> str:
        return self.url + "api/"

    # -- seeding the workspace ------------------------------------------------------------------

    def add_user(
        self, user_id: str, name: str, email: str, *, real_name: str = "", is_bot: bool = False,
        display_name: str = "", phone: str = "",
    ) -> User:
        with self._lock:
            user = User(user_id, name, email, real_name or name.capitalize(), is_bot=is_bot,
                        display_name=display_name, phone=phone)
            self._users[user_id] = user
            return copy.deepcopy(user)

    def add_channel(
        self,
        name: str,
        *,
        members: Iterable[str] = (),
        creator: str = "U0ALICE",
        is_archived: bool = False,
        is_private: bool = False,
        topic: str = "",
        purpose: str = "",
    ) -> str:
        """Create a channel as a person would (the bot is a member only if listed). Returns its id."""
        with self._lock:
            cid = self._new_id("C" if not is_private else "G")
            self._channels[cid] = Channel(
                cid,
                name,
                creator,
                int(self.clock()),
                members=list(dict.fromkeys([creator, *members])),
                topic=topic,
                purpose=purpose,
                is_archived=is_archived,
                is_private=is_private,
            )
            self._messages[cid] = []
            return cid

    def archive_channel(self, channel_id: str) -> None:
        with self._lock:
            self._channels[channel_id].is_archived = True

    def post_as_user(self, channel_id: str, user_id: str, text: str, *, thread_ts: str | None = None) -> str:
        """A person's message (not editable by the bot). Returns its ts."""
        with self._lock:
            msg = Message(channel_id, self._next_ts(), text, user_id, thread_ts=thread_ts)
            self._messages.setdefault(channel_id, []).append(msg)
            return msg.ts

    def add_reaction(self, channel_id: str, ts: str, name: str, user_id: str) -> None:
        with self._lock:
            msg = self._find_message(channel_id, ts)
            if msg is None:
                raise KeyError(f"no message {ts} in {channel_id}")
            users = msg.reactions.setdefault(name, [])
            if user_id not in users:
                users.append(user_id)

    def new_trigger_id(self) -> str:
        """A trigger_id as Slack puts in interactive payloads; valid for ``trigger_ttl`` s, once."""
        tid = f"{secrets.randbelow(10**12)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        with self._lock:
            self._triggers[tid] = time.monotonic()
        return tid

    def new_response_url(
        self, *, channel_id: str | None = None, message_ts: str | None = None, user_id: str | None = None
    ) -> str:
        """A response_url on the fake. With channel_id (and message_ts) it acts on that message."""
        url = f"{self.url}response/{secrets.token_hex(12)}"
        with self._lock:
            self._response_urls[url] = ResponseUrl(url, channel_id, message_ts, user_id, created=time.time())
            self._responses[url] = []
        return url

    # -- inspection ------------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if c.method == method]

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    @property
    def users(self) -> dict[str, User]:
        with self._lock:
            return copy.deepcopy(self._users)

    @property
    def channels(self) -> dict[str, Channel]:
        with self._lock:
            return copy.deepcopy(self._channels)

    def channel(self, channel_id: str) -> Channel | None:
        with self._lock:
            ch = self._channels.get(channel_id)
            return copy.deepcopy(ch)

    def channel_by_name(self, name: str) -> Channel | None:
        with self._lock:
            for ch in self._channels.values():
                if ch.name == name:
                    return copy.deepcopy(ch)
            return None

    def messages(self, channel_id: str, *, include_replies: bool = True) -> list[Message]:
        """Messages of a channel, oldest first."""
        with self._lock:
            msgs = self._messages.get(channel_id, [])
            return copy.deepcopy([m for m in msgs if include_replies or not m.is_reply])

    def dm_channel(self, user_id: str) -> str | None:
        """The id of the bot's direct-message conversation with ``user_id``, if one was opened."""
        with self._lock:
            for ch in self._channels.values():
                if ch.is_im and user_id in ch.members:
                    return ch.id
            return None

    def dms(self, user_id: str) -> list[Message]:
        """The bot's direct messages to ``user_id`` (copies), oldest first."""
        channel = self.dm_channel(user_id)
        return self.messages(channel) if channel else []

    def deactivate_user(self, user_id: str) -> None:
        with self._lock:
            self._users[user_id].deleted = True

    def message(self, channel_id: str, ts: str) -> Message | None:
        with self._lock:
            return copy.deepcopy(self._find_message(channel_id, ts))

    def pinned(self, channel_id: str) -> list[Message]:
        with self._lock:
            return copy.deepcopy([m for m in self._messages.get(channel_id, []) if m.pinned])

    @property
    def files(self) -> dict[str, File]:
        with self._lock:
            return copy.deepcopy(self._files)

    def tombstones(self, channel_id: str) -> list[Message]:
        """What Slack shows as "This file was deleted.": a message that shared files into the channel, all of
        them deleted since (Slack keeps the message, its files in mode "tombstone"). A file that was never
        shared leaves nothing behind when deleted; an image block naming it shows the file no more."""
        with self._lock:
            return copy.deepcopy([
                m for m in self._messages.get(channel_id, [])
                if m.files and all(f not in self._files or self._files[f].deleted for f in m.files)])

    def images_shown(self, channel_id: str) -> list[tuple[Message, str]]:
        """(message, file id) for each image block of the channel's messages that names a file."""
        with self._lock:
            return copy.deepcopy([(m, str(b["slack_file"]["id"])) for m in self._messages.get(channel_id, [])
                                  for b in m.blocks or [] if b.get("type") == "image" and b.get("slack_file")])

    @property
    def bookmarks(self) -> list[Bookmark]:
        with self._lock:
            return copy.deepcopy(self._bookmarks)

    @property
    def ephemerals(self) -> list[Ephemeral]:
        with self._lock:
            return copy.deepcopy(self._ephemerals)

    @property
    def views(self) -> dict[str, View]:
        with self._lock:
            return copy.deepcopy(self._views)

    def responses(self, url: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._responses.get(url, []))

    # -- fault injection ----------------------------------------------------------------------

    def fail_next(self, method: str | None = None, count: int = 1, status: int = 503) -> None:
        with self._lock:
            self._faults.append(_Fault("fail", method, count, status=status))

    def rate_limit_next(self, method: str | None = None, count: int = 1, retry_after: int = 1) -> None:
        with self._lock:
            self._faults.append(_Fault("ratelimit", method, count, status=429, retry_after=retry_after))

    def hang_next(self, method: str | None, seconds: float, *, count: int = 1, process: bool = True) -> None:
        """Delay the next call(s) by ``seconds``; then process it (or answer 503 if not ``process``)."""
        with self._lock:
            self._faults.append(_Fault("hang", method, count, seconds=seconds, process=process))

    def lose_answer_next(self, method: str | None = None, count: int = 1, status: int = 503) -> None:
        """Carry out the next call(s) but answer ``status``, as when the answer is lost on its way back
        (a load balancer's 503 after Slack acted): the client cannot tell whether the call took effect."""
        with self._lock:
            self._faults.append(_Fault("lose_answer", method, count, status=status))

    def faults_pending(self) -> int:
        """How many armed faults have not been taken by a call yet (0: every hang has begun)."""
        with self._lock:
            return len(self._faults)

    def outage(self, status: int = 503) -> None:
        with self._lock:
            self._outage_status = status

    def end_outage(self) -> None:
        with self._lock:
            self._outage_status = None

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._outage_status = None

    def _take_fault(self, method: str, *, after: bool = False) -> _Fault | None:
        """A fault replacing the call, or with ``after`` one replacing the answer of a processed call."""
        with self._lock:
            if self._outage_status is not None and not after:
                return _Fault("fail", None, 1, status=self._outage_status)
            for fault in self._faults:
                if (fault.kind == "lose_answer") != after:
                    continue
                if fault.method is None or fault.method == method:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
            return None

    # -- HTTP plumbing ------------------------------------------------------------------------

    def _record(self, method: str, args: dict[str, Any], body: dict[str, Any] | None, status: int) -> None:
        ok = bool(body and body.get("ok")) and status == 200
        error = None if ok else (body or {}).get("error") or f"http_{status}"
        with self._lock:
            self._calls.append(Call(method, args, ok, error, status, time.time()))

    async def _apply_faults(
        self, method: str, args: dict[str, Any]
    ) -> tuple[dict[str, Any], int, dict[str, str]] | None:
        """Return an answer when a fault replaces the call, or None to process it."""
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = self._take_fault(method)
        if fault is None:
            return None
        if fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
            if fault.process:
                return None
            return {"ok": False, "error": "service_unavailable"}, 503, {}
        if fault.kind == "ratelimit":
            return {"ok": False, "error": "ratelimited"}, 429, {"Retry-After": str(fault.retry_after)}
        return {"ok": False, "error": "service_unavailable"}, fault.status, {}

    async def _parse_args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.body_exists:
            ctype = request.content_type
            if ctype == "application/json":
                raw = await request.read()
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    raise SlackError("invalid_json") from None
                if not isinstance(body, dict):
                    raise SlackError("invalid_json")
                args.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                try:
                    form = await request.post()
                except ValueError:
                    raise SlackError("invalid_form_data") from None
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        args[key] = value.file.read()
                    else:
                        args[key] = value
            else:
                raise SlackError("invalid_post_type")
        for key in _JSON_FIELDS:
            raw_value = args.get(key)
            if isinstance(raw_value, str):
                try:
                    args[key] = json.loads(raw_value)
                except ValueError:
                    pass  # left as a string: the handler reports the right *_format error
        return args

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            args = await self._parse_args(request)
        except SlackError as exc:
            self._record(method, {}, exc.body(), 200)
            return web.json_response(exc.body())
        header_token = None
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            header_token = auth[7:].strip()
        form_token = args.pop("token", None)
        token = header_token or form_token
        expected_token = self.app_token if method == "apps.connections.open" else self.token

        faulted = await self._apply_faults(method, args)
        if faulted is not None:
            body, status, headers = faulted
            self._record(method, args, body, status)
            return web.json_response(body, status=status, headers=headers)

        headers = {"x-oauth-scopes": ",".join(sorted(self.scopes))}
        try:
            handler = self._handlers().get(method)
            if handler is None:
                raise SlackError("unknown_method", req_method=method)
            if not token:
                raise SlackError("not_authed")
            if token != expected_token:
                # Slack tells a known token of the wrong kind (bot vs app-level) from an unknown one.
                raise SlackError("not_allowed_token_type" if token in {self.token, self.app_token} else "invalid_auth")
            needed = _METHOD_SCOPES.get(method, ())
            headers["x-accepted-oauth-scopes"] = ",".join(needed)
            if needed and not (set(needed) & self.scopes):
                raise SlackError("missing_scope", needed=needed[0], provided=",".join(sorted(self.scopes)))
            with self._lock:
                body = handler(args)
        except SlackError as exc:
            body = exc.body()
        lost = self._take_fault(method, after=True)
        if lost is not None:
            body = {"ok": False, "error": "service_unavailable"}
            self._record(method, args, body, lost.status)
            return web.json_response(body, status=lost.status)
        self._record(method, args, body, 200)
        return web.json_response(body, headers=headers)

    async def _handle_upload(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        args: dict[str, Any] = {"token": token}
        faulted = await self._apply_faults(UPLOAD_METHOD, args)
        if faulted is not None:
            body, status, headers = faulted
            self._record(UPLOAD_METHOD, args, body, status)
            return web.Response(text=str(body.get("error")), status=status, headers=headers)
        if request.content_type == "multipart/form-data":
            form = await request.post()
            data = b""
            for value in form.values():
                if isinstance(value, web.FileField):
                    data = value.file.read()
                    break
                data = str(value).encode()
        else:
            data = await request.read()
        args["length"] = len(data)
        with self._lock:
            fid = self._uploads.get(token)
            f = self._files.get(fid) if fid else None
            if f is None or f.completed:
                self._record(UPLOAD_METHOD, args, {"ok": False, "error": "not_found"}, 404)
                return web.Response(text="Not Found", status=404)
            f.bytes = data
            args["file_id"] = f.id
        self._record(UPLOAD_METHOD, args, {"ok": True}, 200)
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        url = f"{self.url}response/{request.match_info['token']}"
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            body = None
        args: dict[str, Any] = body if isinstance(body, dict) else {"raw": body}
        faulted = await self._apply_faults(RESPONSE_URL_METHOD, args)
        if faulted is not None:
            fbody, status, headers = faulted
            self._record(RESPONSE_URL_METHOD, args, fbody, status)
            return web.Response(text=str(fbody.get("error")), status=status, headers=headers)
        with self._lock:
            result = self._response_url_post(url, body)
        status, text = result
        self._record(RESPONSE_URL_METHOD, args, {"ok": status == 200, "error": text}, status)
        return web.Response(text=text, status=status, content_type="text/plain")

    def _response_url_post(self, url: str, body: Any) -> tuple[int, str]:
        ru = self._response_urls.get(url)
        if ru is None:
            return 404, "no_service"
        if time.time() - ru.created > 30 * 60:
            return 404, "expired_url"
        if ru.uses >= 5:
            return 404, "used_url"
        if not isinstance(body, dict):
            return 400, "invalid_payload"
        try:
            if body.get("delete_original"):
                if ru.channel_id and ru.message_ts:
                    msgs = self._messages.get(ru.channel_id, [])
                    msg = self._find_message(ru.channel_id, ru.message_ts)
                    if msg is None:
                        return 404, "message_not_found"
                    msgs.remove(msg)
            else:
                text, blocks, _ = self._content(body)
                if body.get("replace_original") and ru.channel_id and ru.message_ts:
                    msg = self._find_message(ru.channel_id, ru.message_ts)
                    if msg is None:
                        return 404, "message_not_found"
                    msg.text, msg.blocks = text, blocks
                    msg.edited = {"user": BOT_USER_ID, "ts": self._next_ts()}
                elif body.get("response_type") == "in_channel" and ru.channel_id:
                    self._messages.setdefault(ru.channel_id, []).append(
                        Message(ru.channel_id, self._next_ts(), text, BOT_USER_ID, BOT_ID, blocks=blocks)
                    )
                elif ru.channel_id and ru.user_id:
                    self._ephemerals.append(
                        Ephemeral(ru.channel_id, ru.user_id, self._next_ts(), text, blocks)
                    )
        except SlackError as exc:
            return 400, exc.error
        ru.uses += 1
        self._responses[url].append(copy.deepcopy(body))
        return 200, "ok"

    # -- Socket Mode ------------------------------------------------------------------------------

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        """Slack's Socket Mode websocket: ``hello`` first, then envelopes; the app acks each by envelope_id."""
        with self._lock:
            known = request.match_info["ticket"] in self._socket_tickets
            self._socket_tickets.discard(request.match_info["ticket"])
        if not known:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": len(self._sockets) + 1,
                            "connection_info": {"app_id": APP_ID}, "debug_info": {"host": "fake-slack"}})
        with self._lock:
            self._sockets.append(ws)
        try:
            async for frame in ws:
                if frame.type != web.WSMsgType.TEXT:
                    continue
                try:
                    message = json.loads(frame.data)
                except ValueError:
                    continue
                if isinstance(message, dict) and message.get("envelope_id"):
                    with self._lock:
                        self._socket_acks[str(message["envelope_id"])] = message
        finally:
            with self._lock:
                if ws in self._sockets:
                    self._sockets.remove(ws)
        return ws

    @property
    def socket_connections(self) -> int:
        """How many Socket Mode websockets are open."""
        with self._lock:
            return len(self._sockets)

    def socket_send(self, kind: str, payload: dict[str, Any]) -> str:
        """Send an envelope (``slash_commands``, ``interactive``, ``events_api``) over the newest websocket,
        as Slack does in Socket Mode. Returns its envelope_id (see ``socket_ack``)."""
        with self._lock:
            if not self._sockets:
                raise RuntimeError("no Socket Mode connection is open")
            ws = self._sockets[-1]
        envelope_id = secrets.token_hex(12)
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                    "accepts_response_payload": kind != "events_api", "retry_attempt": 0, "retry_reason": ""}
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(ws.send_json(envelope), self._loop).result(10)
        return envelope_id

    def socket_ack(self, envelope_id: str) -> dict[str, Any] | None:
        """The app's ack of an envelope, once it arrived."""
        with self._lock:
            return copy.deepcopy(self._socket_acks.get(envelope_id))

    # -- shared helpers (called with the lock held) -----------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))

    def _next_ts(self) -> str:
        us = max(int(self.clock() * 1_000_000), self._last_us + 1)
        self._last_us = us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def _find_message(self, channel_id: str, ts: str) -> Message | None:
        for msg in self._messages.get(channel_id, []):
            if msg.ts == ts:
                return msg
        return None

    def _file_problem(self, slack_file: Any) -> str | None:
        if not isinstance(slack_file, dict):
            return "must be an object with id or url"
        fid, url = slack_file.get("id"), slack_file.get("url")
        if (fid is None) == (url is None):
            return "must provide exactly one of id or url"
        f: File | None = None
        if fid is not None:
            f = self._files.get(str(fid))
        else:
            for cand in self._files.values():
                if url in (self._file_url(cand), self._file_permalink(cand)):
                    f = cand
        if f is None or not f.completed:
            return f"invalid slack_file: file {fid or url} not found"
        if f.deleted:
            return f"invalid slack_file: file {f.id} was deleted"
        if f.name.rsplit(".", 1)[-1].lower() not in {"png", "jpg", "jpeg", "gif"}:
            # Slack shows only png, jpg, jpeg and gif files in an image block
            return f"invalid slack_file: file {f.id} is not a png, jpg, jpeg or gif image"
        return None

    def _check_blocks(self, blocks: Any, *, error: str = "invalid_blocks") -> list[Any] | None:
        if blocks is None or blocks == "":
            return None
        if not isinstance(blocks, list):
            raise SlackError("invalid_blocks_format", messages=["[ERROR] must be a JSON array of blocks"])
        checker = _BlockChecker(self._file_problem, action_id_scope=self.action_id_scope)
        checker.blocks(blocks, "/blocks", 50)
        if checker.errors:
            raise SlackError(error, errors=checker.errors, messages=[f"[ERROR] {e}" for e in checker.errors])
        return copy.deepcopy(blocks)

    def _content(
        self, args: dict[str, Any], *, required: bool = True
    ) -> tuple[str, list[Any] | None, list[Any] | None]:
        text = args.get("text")
        text = "" if text is None else str(text)
        blocks = self._check_blocks(args.get("blocks"))
        attachments = args.get("attachments")
        if attachments in ("", None):
            attachments = None
        elif not isinstance(attachments, list):
            raise SlackError("invalid_attachments")
        if len(text) > 40_000:
            raise SlackError("msg_too_long")
        if required and not text and not blocks and not attachments:
            raise SlackError("no_text")
        return text, blocks, copy.deepcopy(attachments)

    def _metadata(self, args: dict[str, Any]) -> dict[str, Any] | None:
        md = args.get("metadata")
        if md in (None, ""):
            return None
        if not isinstance(md, dict):
            raise SlackError("invalid_metadata_format")
        event_type, payload = md.get("event_type"), md.get("event_payload")
        if not isinstance(event_type, str) or not re.fullmatch(r"[A-Za-z0-9_]{1,255}", event_type):
            raise SlackError("invalid_metadata_schema", messages=["[ERROR] event_type is invalid"])
        if not isinstance(payload, dict):
            raise SlackError("invalid_metadata_schema", messages=["[ERROR] event_payload must be an object"])
        return {"event_type": event_type, "event_payload": copy.deepcopy(payload)}

    def _get_channel(self, args: dict[str, Any], key: str = "channel") -> Channel:
        cid = args.get(key)
        ch = self._channels.get(str(cid)) if cid else None
        if ch is None:
            raise SlackError("channel_not_found")
        return ch

    def _member_channel(
        self, args: dict[str, Any], key: str = "channel", *, writable: bool = True
    ) -> Channel:
        ch = self._get_channel(args, key)
        if writable and ch.is_archived:
            raise SlackError("is_archived")
        if BOT_USER_ID not in ch.members:
            raise SlackError("not_in_channel")
        return ch

    def _post_channel(self, args: dict[str, Any]) -> Channel:
        cid = str(args.get("channel") or "")
        if cid[:1] in ("U", "W") and cid in self._users:  # a DM to a person
            for ch in self._channels.values():
                if ch.is_im and cid in ch.members:
                    return ch
            im = Channel(self._new_id("D"), cid, cid, int(self.clock()), [BOT_USER_ID, cid], is_im=True)
            self._channels[im.id] = im
            self._messages[im.id] = []
            return im
        return self._member_channel(args)

    def _file_url(self, f: File) -> str:
        return f"{self.url}files-pri/{TEAM_ID}-{f.id}/{f.name}"

    def _file_permalink(self, f: File) -> str:
        return f"https://{TEAM_DOMAIN}.slack.com/files/{BOT_USER_ID}/{f.id}/{f.name}"

    def _file_api(self, f: File) -> dict[str, Any]:
        if f.deleted:
            return {"id": f.id, "mode": "tombstone"}
        public: dict[str, list[dict[str, Any]]] = {}
        for cid, tss in f.shares.items():
            ch = self._channels.get(cid)
            public[cid] = [
                {"ts": ts, "channel_name": ch.name if ch else "", "team_id": TEAM_ID} for ts in tss
            ]
        return {
            "id": f.id,
            "created": f.created,
            "timestamp": f.created,
            "name": f.name,
            "title": f.title,
            "mimetype": f.mimetype,
            "filetype": f.name.rsplit(".", 1)[-1] if "." in f.name else "binary",
            "user": f.user,
            "size": len(f.bytes or b""),
            "mode": "hosted",
            "is_external": False,
            "is_public": bool(f.shares),
            "url_private": self._file_url(f),
            "url_private_download": self._file_url(f) + "?download=1",
            "permalink": self._file_permalink(f),
            "channels": list(f.shares),
            "shares": {"public": public} if public else {},
            "alt_txt": f.alt_txt,
        }

    def _message_api(self, msg: Message, *, include_metadata: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "ts": msg.ts, "text": msg.text, "user": msg.user}
        out["team"] = TEAM_ID
        if msg.bot_id:
            out["bot_id"] = msg.bot_id
            out["app_id"] = APP_ID
        if msg.subtype:
            out["subtype"] = msg.subtype
        if msg.blocks is not None:
            out["blocks"] = copy.deepcopy(msg.blocks)
        if msg.attachments is not None:
            out["attachments"] = copy.deepcopy(msg.attachments)
        if msg.metadata is not None and include_metadata:
            out["metadata"] = copy.deepcopy(msg.metadata)
        if msg.thread_ts:
            out["thread_ts"] = msg.thread_ts
        replies = [m for m in self._messages.get(msg.channel, []) if m.thread_ts == msg.ts and m.is_reply]
        if replies and not msg.is_reply:
            out["reply_count"] = len(replies)
            out["reply_users"] = sorted({m.user for m in replies})
            out["latest_reply"] = replies[-1].ts
        if msg.edited:
            out["edited"] = dict(msg.edited)
        if msg.pinned:
            out["pinned_to"] = [msg.channel]
        if msg.files:
            out["files"] = [self._file_api(self._files[fid]) for fid in msg.files if fid in self._files]
            out["upload"] = True
        if msg.reactions:
            out["reactions"] = [
                {"name": n, "users": list(u), "count": len(u)} for n, u in msg.reactions.items() if u
            ]
        return out

    def _paginate(self, items: list[Any], args: dict[str, Any], default: int) -> tuple[list[Any], str]:
        offset = _decode_cursor(args.get("cursor"))
        limit = _as_int(args.get("limit"), default) or default
        if limit < 1 or limit > 1000:
            raise SlackError("invalid_limit")
        page = items[offset : offset + limit]
        nxt = _encode_cursor(offset + limit) if offset + limit < len(items) else ""
        return page, nxt

    # -- method handlers ----------------------------------------------------------------------

    def _handlers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {
            "api.test": lambda args: {"ok": True, "args": args},
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "conversations.create": self._conversations_create,
            "conversations.setTopic": self._conversations_set_topic,
            "conversations.setPurpose": self._conversations_set_purpose,
            "conversations.invite": self._conversations_invite,
            "conversations.join": self._conversations_join,
            "conversations.archive": self._conversations_archive,
            "conversations.info": self._conversations_info,
            "conversations.list": self._conversations_list,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.members": self._conversations_members,
            "conversations.open": self._conversations_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "pins.add": self._pins_add,
            "pins.remove": self._pins_remove,
            "pins.list": self._pins_list,
            "users.lookupByEmail": self._users_lookup_by_email,
            "users.info": self._users_info,
            "files.upload": self._files_upload_v1,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.delete": self._files_delete,
            "files.info": self._files_info,
            "files.list": self._files_list,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "bookmarks.add": self._bookmarks_add,
            "reactions.get": self._reactions_get,
        }

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": BOT_USER_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        ticket = secrets.token_hex(8)
        self._socket_tickets.add(ticket)
        return {"ok": True, "url": f"ws://{self.host}:{self._port}/socket/{ticket}"}

    def _conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = args.get("name")
        is_private = _as_bool(args.get("is_private"))
        if is_private and "groups:write" not in self.scopes:
            raise SlackError("missing_scope", needed="groups:write", provided=",".join(sorted(self.scopes)))
        if name is None or str(name) == "":
            raise SlackError("invalid_name_required")
        name = str(name)
        if len(name) > 80:
            raise SlackError("invalid_name_maxlength")
        if not _CHANNEL_NAME_OK.match(name):
            raise SlackError("invalid_name_specials")
        if not re.search(r"[a-z0-9]", name):
            raise SlackError("invalid_name_punctuation")
        if any(ch.name == name for ch in self._channels.values() if not ch.is_im):
            raise SlackError("name_taken")
        cid = self._new_id("G" if is_private else "C")
        ch = Channel(cid, name, BOT_USER_ID, int(self.clock()), [BOT_USER_ID], is_private=is_private)
        self._channels[cid] = ch
        self._messages[cid] = []
        return {"ok": True, "channel": ch.to_api()}

    def _set_text(self, args: dict[str, Any], key: str) -> dict[str, Any]:
        ch = self._get_channel(args)
        if ch.is_archived:
            raise SlackError("is_archived")
        if BOT_USER_ID not in ch.members:
            raise SlackError("not_in_channel")
        value = args.get(key)
        value = "" if value is None else str(value)
        if len(value) > 250:
            raise SlackError("too_long")
        stamp = (BOT_USER_ID, int(self.clock()))
        if key == "topic":
            ch.topic, ch.topic_set = value, stamp
        else:
            ch.purpose, ch.purpose_set = value, stamp
        return {"ok": True, "channel": ch.to_api()}

    def _conversations_set_topic(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._set_text(args, "topic")

    def _conversations_set_purpose(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._set_text(args, "purpose")

    def _conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._get_channel(args)
        raw = args.get("users")
        if isinstance(raw, list):
            raw = ",".join(str(u) for u in raw)
        users = [u.strip() for u in str(raw or "").split(",") if u.strip()]
        if not users:
            raise SlackError("no_user")
        if len(users) > 1000:
            raise SlackError("too_many_users")
        if ch.is_archived:
            raise SlackError("is_archived")
        if BOT_USER_ID not in ch.members:
            raise SlackError("not_in_channel")
        errors = []
        for uid in users:
            if uid == BOT_USER_ID:
                errors.append({"user": uid, "ok": False, "error": "cant_invite_self"})
            elif uid not in self._users or self._users[uid].deleted:
                errors.append({"user": uid, "ok": False, "error": "user_not_found"})
        if errors:
            raise SlackError(str(errors[0]["error"]), errors=errors)
        new = [u for u in dict.fromkeys(users) if u not in ch.members]
        if not new:
            raise SlackError(
                "already_in_channel",
                errors=[{"user": u, "ok": False, "error": "already_in_channel"} for u in users],
            )
        ch.members.extend(new)
        return {"ok": True, "channel": ch.to_api()}

    def _conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._get_channel(args)
        if ch.is_archived:
            raise SlackError("is_archived")
        if ch.is_private or ch.is_im:
            raise SlackError("method_not_supported_for_channel_type")
        body: dict[str, Any] = {"ok": True}
        if BOT_USER_ID in ch.members:
            body["warning"] = "already_in_channel"
            body["response_metadata"] = {"warnings": ["already_in_channel"]}
        else:
            ch.members.append(BOT_USER_ID)
        body["channel"] = ch.to_api()
        return body

    def _conversations_archive(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._get_channel(args)
        if ch.is_archived:
            raise SlackError("already_archived")
        if BOT_USER_ID not in ch.members:
            raise SlackError("not_in_channel")
        ch.is_archived = True
        return {"ok": True}

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._get_channel(args)
        if ch.is_private and BOT_USER_ID not in ch.members:
            raise SlackError("channel_not_found")
        return {"ok": True, "channel": ch.to_api(num_members=_as_bool(args.get("include_num_members")))}

    def _conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        types = {t.strip() for t in str(args.get("types") or "public_channel").split(",") if t.strip()}
        if not types <= {"public_channel", "private_channel", "im", "mpim"}:
            raise SlackError("invalid_types")
        exclude_archived = _as_bool(args.get("exclude_archived"))
        out = []
        for ch in self._channels.values():
            kind = "im" if ch.is_im else ("private_channel" if ch.is_private else "public_channel")
            if kind not in types or (exclude_archived and ch.is_archived):
                continue
            if kind != "public_channel" and BOT_USER_ID not in ch.members:
                continue
            out.append(ch.to_api())
        page, nxt = self._paginate(out, args, 100)
        return {"ok": True, "channels": page, "response_metadata": {"next_cursor": nxt}}

    def _history_channel(self, args: dict[str, Any]) -> Channel:
        ch = self._get_channel(args)
        if ch.is_im and "im:history" not in self.scopes:
            raise SlackError("missing_scope", needed="im:history", provided=",".join(sorted(self.scopes)))
        if BOT_USER_ID not in ch.members:
            raise SlackError("not_in_channel")
        return ch

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._history_channel(args)
        oldest = float(args.get("oldest") or 0)
        latest = float(args["latest"]) if args.get("latest") else float("inf")
        inclusive = _as_bool(args.get("inclusive"))
        include_md = _as_bool(args.get("include_all_metadata"))
        limit = _as_int(args.get("limit"), 100) or 100
        if limit < 1 or limit > 999:
            raise SlackError("invalid_limit")
        msgs = []
        for m in reversed(self._messages.get(ch.id, [])):
            if m.is_reply and not m.reply_broadcast:
                continue
            t = float(m.ts)
            if inclusive:
                if t < oldest or t > latest:
                    continue
            elif t <= oldest or t >= latest:
                continue
            msgs.append(self._message_api(m, include_metadata=include_md))
        offset = _decode_cursor(args.get("cursor"))
        page = msgs[offset : offset + limit]
        has_more = offset + limit < len(msgs)
        body: dict[str, Any] = {
            "ok": True,
            "messages": page,
            "has_more": has_more,
            "pin_count": sum(1 for m in self._messages.get(ch.id, []) if m.pinned),
        }
        body["response_metadata"] = {"next_cursor": _encode_cursor(offset + limit) if has_more else ""}
        return body

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._history_channel(args)
        ts = str(args.get("ts") or "")
        parent = self._find_message(ch.id, ts)
        if parent is None:
            raise SlackError("thread_not_found")
        root = parent.thread_ts or parent.ts
        include_md = _as_bool(args.get("include_all_metadata"))
        msgs = [
            self._message_api(m, include_metadata=include_md)
            for m in self._messages[ch.id]
            if m.ts == root or m.thread_ts == root
        ]
        page, nxt = self._paginate(msgs, args, 1000)
        return {
            "ok": True,
            "messages": page,
            "has_more": bool(nxt),
            "response_metadata": {"next_cursor": nxt},
        }

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        """A DM with one person (as Slack: the same D channel every time, ``already_open`` after the first)."""
        if args.get("channel"):
            ch = self._get_channel(args)
            if not ch.is_im:
                raise SlackError("channel_not_found")
            return {"ok": True, "no_op": True, "already_open": True, "channel": {"id": ch.id}}
        users = [u.strip() for u in str(args.get("users") or "").split(",") if u.strip()]
        if not users:
            raise SlackError("users_list_not_supplied")
        if len(users) > 1:
            if "mpim:write" not in self.scopes:
                raise SlackError("missing_scope", needed="mpim:write", provided=",".join(sorted(self.scopes)))
            raise SlackError("not_supported")  # group DMs: nothing in pagerbot opens one
        if "im:write" not in self.scopes:
            raise SlackError("missing_scope", needed="im:write", provided=",".join(sorted(self.scopes)))
        user = self._users.get(users[0])
        if user is None:
            raise SlackError("user_not_found")
        if user.deleted:
            raise SlackError("user_disabled")
        if user.id == BOT_USER_ID:
            raise SlackError("cannot_dm_bot")
        for ch in self._channels.values():
            if ch.is_im and user.id in ch.members:
                body: dict[str, Any] = {"ok": True, "no_op": True, "already_open": True}
                body["channel"] = ch.to_api() if _as_bool(args.get("return_im")) else {"id": ch.id}
                return body
        im = Channel(self._new_id("D"), user.id, user.id, int(self.clock()), [BOT_USER_ID, user.id], is_im=True)
        self._channels[im.id] = im
        self._messages[im.id] = []
        return {"ok": True, "channel": im.to_api() if _as_bool(args.get("return_im")) else {"id": im.id}}

    def _conversations_members(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._get_channel(args)
        page, nxt = self._paginate(list(ch.members), args, 100)
        return {"ok": True, "members": page, "response_metadata": {"next_cursor": nxt}}

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._post_channel(args)
        text, blocks, attachments = self._content(args)
        metadata = self._metadata(args)
        thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
        if thread_ts is not None:
            parent = self._find_message(ch.id, thread_ts)
            if parent is not None and parent.is_reply:
                thread_ts = parent.thread_ts
        msg = Message(
            ch.id,
            self._next_ts(),
            text,
            BOT_USER_ID,
            BOT_ID,
            blocks=blocks,
            attachments=attachments,
            metadata=metadata,
            thread_ts=thread_ts,
            reply_broadcast=_as_bool(args.get("reply_broadcast")),
        )
        self._messages[ch.id].append(msg)
        return {"ok": True, "channel": ch.id, "ts": msg.ts, "message": self._message_api(msg)}

    def _own_message(self, args: dict[str, Any], forbidden: str) -> tuple[Channel, Message]:
        ch = self._get_channel(args)
        ts = args.get("ts")
        msg = self._find_message(ch.id, str(ts)) if ts else None
        if msg is None:
            raise SlackError("message_not_found")
        if msg.bot_id != BOT_ID:
            raise SlackError(forbidden)
        if ch.is_archived:
            raise SlackError("is_archived")
        return ch, msg

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        ch, msg = self._own_message(args, "cant_update_message")
        text, blocks, attachments = self._content(args)
        metadata = self._metadata(args)
        msg.text = text
        if "blocks" in args:
            msg.blocks = blocks
        if "attachments" in args:
            msg.attachments = attachments
        if metadata is not None:
            msg.metadata = metadata
        msg.edited = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {
            "ok": True,
            "channel": ch.id,
            "ts": msg.ts,
            "text": msg.text,
            "message": self._message_api(msg),
        }

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        ch, msg = self._own_message(args, "cant_delete_message")
        self._messages[ch.id].remove(msg)
        return {"ok": True, "channel": ch.id, "ts": msg.ts}

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._member_channel(args)
        user = args.get("user")
        if not user or str(user) not in self._users:
            raise SlackError("user_not_found")
        if str(user) not in ch.members:
            raise SlackError("user_not_in_channel")
        text, blocks, _ = self._content(args)
        ts = self._next_ts()
        self._ephemerals.append(Ephemeral(ch.id, str(user), ts, text, blocks))
        return {"ok": True, "message_ts": ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._get_channel(args)
        ts = str(args.get("message_ts") or "")
        if self._find_message(ch.id, ts) is None:
            raise SlackError("message_not_found")
        link = f"https://{TEAM_DOMAIN}.slack.com/archives/{ch.id}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": ch.id, "permalink": link}

    def _pinnable(self, args: dict[str, Any]) -> tuple[Channel, Message]:
        ch = self._get_channel(args)
        ts = args.get("timestamp")
        if not ts:
            raise SlackError("no_item_specified")
        msg = self._find_message(ch.id, str(ts))
        if msg is None:
            raise SlackError("message_not_found")
        if BOT_USER_ID not in ch.members:
            raise SlackError("not_in_channel")
        return ch, msg

    def _pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        ch, msg = self._pinnable(args)
        if ch.is_archived:
            raise SlackError("is_archived")
        if msg.pinned:
            raise SlackError("already_pinned")
        msg.pinned_by, msg.pinned_at = BOT_USER_ID, int(self.clock())
        return {"ok": True}

    def _pins_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        _ch, msg = self._pinnable(args)
        if not msg.pinned:
            raise SlackError("no_pin")
        msg.pinned_by, msg.pinned_at = None, 0
        return {"ok": True}

    def _pins_list(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._get_channel(args)
        items = [
            {
                "type": "message",
                "created": m.pinned_at,
                "created_by": m.pinned_by,
                "channel": ch.id,
                "message": self._message_api(m),
            }
            for m in self._messages.get(ch.id, [])
            if m.pinned
        ]
        return {"ok": True, "items": items}

    def _users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email") or "").strip().lower()
        if not email:
            raise SlackError("invalid_arguments")
        for user in self._users.values():
            if user.email and user.email.lower() == email and not user.deleted:
                return {"ok": True, "user": user.to_api(include_email=True)}
        raise SlackError("users_not_found")

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user") or "").strip()
        if not user_id:
            raise SlackError("invalid_arguments", messages=["[ERROR] missing required field: user"])
        user = self._users.get(user_id)
        if user is None:
            raise SlackError("user_not_found")
        return {"ok": True, "user": user.to_api(include_email="users:read.email" in self.scopes)}

    def _files_upload_v1(self, args: dict[str, Any]) -> dict[str, Any]:
        raise SlackError(
            "method_deprecated",
            messages=["[ERROR] files.upload is retired; use files.getUploadURLExternal (files_upload_v2)"],
        )

    def _files_get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = args.get("filename")
        if not filename:
            raise SlackError("invalid_arguments", messages=["[ERROR] missing required field: filename"])
        if args.get("length") in (None, ""):
            raise SlackError("invalid_arguments", messages=["[ERROR] missing required field: length"])
        length = _as_int(args.get("length"), 0)
        if length <= 0:
            raise SlackError("invalid_arguments", messages=["[ERROR] length must be greater than 0"])
        alt = args.get("alt_txt")
        if alt is not None and len(str(alt)) > 1000:
            raise SlackError("alt_txt_too_large")
        token = secrets.token_urlsafe(18)
        f = File(
            self._new_id("F"),
            str(filename),
            str(filename),
            length,
            BOT_USER_ID,
            int(self.clock()),
            token,
            alt_txt=str(alt) if alt is not None else None,
            snippet_type=args.get("snippet_type"),
        )
        self._files[f.id] = f
        self._uploads[token] = f.id
        return {"ok": True, "upload_url": f"{self.url}upload/v1/{token}", "file_id": f.id}

    def _files_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        items = args.get("files")
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise SlackError(
                "invalid_arguments", messages=["[ERROR] files must be a JSON array of {id, title}"]
            )
        files: list[tuple[File, dict[str, Any]]] = []
        for item in items:
            f = self._files.get(str(item.get("id")))
            if f is None or f.deleted:
                raise SlackError("file_not_found")
            if f.completed:
                raise SlackError(
                    "file_not_found", messages=[f"[ERROR] upload of {f.id} was already completed"]
                )
            if not f.uploaded:
                raise SlackError("file_not_found", messages=[f"[ERROR] no bytes were uploaded for {f.id}"])
            files.append((f, item))
        targets: list[Channel] = []
        if args.get("channel_id"):
            targets.append(self._member_channel(args, "channel_id"))
        if args.get("channels"):
            for cid in str(args["channels"]).split(","):
                targets.append(self._member_channel({"channel": cid.strip()}))
        thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
        if thread_ts and len(targets) != 1:
            raise SlackError("invalid_arguments", messages=["[ERROR] thread_ts needs exactly one channel"])
        comment = args.get("initial_comment")
        comment = "" if comment is None else str(comment)
        if len(comment) > 40_000:
            raise SlackError("msg_too_long")
        for f, item in files:
            f.completed = True
            if item.get("title"):
                f.title = str(item["title"])
        for ch in targets:
            msg = Message(
                ch.id,
                self._next_ts(),
                comment,
                BOT_USER_ID,
                BOT_ID,
                thread_ts=thread_ts,
                files=[f.id for f, _ in files],
                subtype=None,
            )
            self._messages[ch.id].append(msg)
            for f, _ in files:
                f.shares.setdefault(ch.id, []).append(msg.ts)
        return {"ok": True, "files": [self._file_api(f) for f, _ in files]}

    def _live_file(self, args: dict[str, Any]) -> File:
        f = self._files.get(str(args.get("file") or ""))
        if f is None or not f.completed:
            raise SlackError("file_not_found")
        if f.deleted:
            raise SlackError("file_deleted")
        return f

    def _files_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        f = self._live_file(args)
        if f.user != BOT_USER_ID:
            raise SlackError("cant_delete_file")
        f.deleted = True
        f.bytes = b""
        return {"ok": True}

    def _files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        f = self._live_file(args)
        return {
            "ok": True,
            "file": self._file_api(f),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    _FILE_TYPES = {"all", "spaces", "snippets", "images", "gdocs", "zips", "pdfs"}

    def _files_list(self, args: dict[str, Any]) -> dict[str, Any]:
        """Completed, undeleted files, newest first, filtered as Slack does (channel, user, created between
        ts_from and ts_to, types), a page at a time."""
        channel = str(args["channel"]) if args.get("channel") else None
        if channel is not None and channel not in self._channels:
            raise SlackError("channel_not_found")
        user = str(args["user"]) if args.get("user") else None
        if user is not None and user not in self._users and user != BOT_USER_ID:
            raise SlackError("user_not_found")
        types = {t.strip() for t in str(args.get("types") or "all").split(",")}
        if not types <= self._FILE_TYPES:
            raise SlackError("unknown_type")
        count, page = _as_int(args.get("count"), 100), _as_int(args.get("page"), 1)
        if not 1 <= count <= 1000 or page < 1:
            raise SlackError("invalid_arguments", messages=["[ERROR] count must be 1-1000 and page at least 1"])
        try:
            ts_from = float(args.get("ts_from") or 0)
            ts_to = float(args.get("ts_to") or "inf")
        except ValueError:
            raise SlackError("invalid_ts_latest" if args.get("ts_to") else "invalid_ts_oldest") from None
        found = [f for f in self._files.values()
                 if f.completed and not f.deleted and (channel is None or channel in f.shares)
                 and (user is None or f.user == user) and ts_from <= f.created <= ts_to
                 and ("all" in types or ("images" in types and f.mimetype.startswith("image/")))]
        found.reverse()  # newest first: by creation, and in the order of upload within one second
        found.sort(key=lambda f: f.created, reverse=True)
        pages = max(1, -(-len(found) // count))
        chosen = found[(page - 1) * count : page * count]
        return {"ok": True, "files": [self._file_api(f) for f in chosen],
                "paging": {"count": count, "total": len(found), "page": page, "pages": pages}}

    # views ----------------------------------------------------------------------------------

    def _check_trigger(self, args: dict[str, Any]) -> str:
        tid = args.get("trigger_id") or args.get("interactivity_pointer")
        if not tid:
            raise SlackError("invalid_arguments", messages=["[ERROR] missing required field: trigger_id"])
        tid = str(tid)
        issued = self._triggers.get(tid)
        if issued is None:
            raise SlackError("invalid_trigger_id")
        if tid in self._used_triggers:
            raise SlackError("exchanged_trigger_id")
        if time.monotonic() - issued > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        return tid

    def _check_view(self, view: Any) -> dict[str, Any]:
        if not isinstance(view, dict):
            raise SlackError(
                "invalid_arguments", messages=["[ERROR] view must be a JSON object [json-pointer:/view]"]
            )
        checker = _BlockChecker(self._file_problem, action_id_scope=self.action_id_scope)
        if view.get("type") != "modal":
            checker.err('must be "modal" (home tabs use views.publish)', "/view/type")
        checker.text(view.get("title"), "/view/title", 24, plain_only=True)
        for key in ("submit", "close"):
            if view.get(key) is not None:
                checker.text(view.get(key), f"/view/{key}", 24, plain_only=True)
        checker._str_max(view.get("callback_id"), "/view/callback_id", 255)
        checker._str_max(view.get("private_metadata"), "/view/private_metadata", 3000)
        checker._str_max(view.get("external_id"), "/view/external_id", 255)
        blocks = view.get("blocks")
        if blocks is None:
            checker.err("missing required field: blocks", "/view")
        else:
            checker.blocks(blocks, "/view/blocks", 100)
            if (
                isinstance(blocks, list)
                and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
                and view.get("submit") is None
            ):
                checker.err("a view with input blocks must have a submit button", "/view/submit")
        if checker.errors:
            raise SlackError(
                "invalid_arguments", errors=checker.errors, messages=[f"[ERROR] {e}" for e in checker.errors]
            )
        return copy.deepcopy(view)

    def _view_api(self, v: View) -> dict[str, Any]:
        view = v.view
        return {
            "id": v.id,
            "team_id": TEAM_ID,
            "type": view.get("type"),
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": view.get("blocks"),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": v.external_id,
            "state": {"values": {}},
            "hash": v.hash,
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": v.root_view_id,
            "previous_view_id": v.previous_view_id,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
        }

    def _new_view(self, view: dict[str, Any], *, root: str | None, previous: str | None) -> View:
        vid = self._new_id("V")
        ext = str(view.get("external_id") or "")
        if ext and any(v.external_id == ext for v in self._views.values()):
            raise SlackError("duplicate_external_id")
        v = View(vid, view, f"{int(time.time())}.{secrets.token_hex(4)}", root or vid, previous, ext)
        self._views[vid] = v
        return v

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        tid = self._check_trigger(args)
        view = self._check_view(args.get("view"))
        v = self._new_view(view, root=None, previous=None)
        self._used_triggers.add(tid)
        self._view_stack = [v.id]
        return {"ok": True, "view": self._view_api(v)}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        tid = self._check_trigger(args)
        view = self._check_view(args.get("view"))
        if len(self._view_stack) >= 3:
            raise SlackError("push_limit_reached")
        root = self._view_stack[0] if self._view_stack else None
        prev = self._view_stack[-1] if self._view_stack else None
        v = self._new_view(view, root=root, previous=prev)
        self._used_triggers.add(tid)
        self._view_stack.append(v.id)
        return {"ok": True, "view": self._view_api(v)}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        vid, ext = args.get("view_id"), args.get("external_id")
        if not vid and not ext:
            raise SlackError("invalid_arguments", messages=["[ERROR] view_id or external_id is required"])
        target = self._views.get(str(vid)) if vid else None
        if target is None and ext:
            target = next((v for v in self._views.values() if v.external_id == ext), None)
        if target is None:
            raise SlackError("not_found")
        view = self._check_view(args.get("view"))
        if args.get("hash") and str(args["hash"]) != target.hash:
            raise SlackError("hash_conflict")
        target.view = view
        target.hash = f"{int(time.time())}.{secrets.token_hex(4)}"
        return {"ok": True, "view": self._view_api(target)}

    def _bookmarks_add(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._member_channel(args, "channel_id")
        title, kind, link = args.get("title"), args.get("type"), args.get("link")
        if not title or not kind:
            raise SlackError("invalid_arguments")
        if kind != "link":
            raise SlackError("invalid_bookmark_type")
        if not link or not str(link).startswith(("http://", "https://")):
            raise SlackError("invalid_link")
        bm = Bookmark(
            self._new_id("Bk"),
            ch.id,
            str(title),
            str(link),
            "link",
            args.get("emoji"),
            int(self.clock()),
            BOT_USER_ID,
        )
        self._bookmarks.append(bm)
        return {
            "ok": True,
            "bookmark": {
                "id": bm.id,
                "channel_id": bm.channel_id,
                "title": bm.title,
                "link": bm.link,
                "emoji": bm.emoji,
                "type": bm.type,
                "date_created": bm.created,
                "date_updated": 0,
                "rank": "U",
                "last_updated_by_user_id": BOT_USER_ID,
                "entity_id": None,
                "app_id": APP_ID,
            },
        }

    def _reactions_get(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._get_channel(args)
        ts = args.get("timestamp")
        msg = self._find_message(ch.id, str(ts)) if ts else None
        if msg is None:
            raise SlackError("message_not_found")
        return {"ok": True, "type": "message", "channel": ch.id, "message": self._message_api(msg)}
