"""The fake Slack Web API, driven through the real slack-sdk clients over HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes import slack_requests as sr
from tests.fakes.slack_api import BOT_ID, BOT_USER_ID, TEAM_ID, UPLOAD_METHOD, FakeSlack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.token, base_url=fake.api_url, timeout=5)


@pytest.fixture
def sync_client(fake: FakeSlack) -> WebClient:
    return WebClient(token=fake.token, base_url=fake.api_url, timeout=5)


async def _error(coro: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await coro
    return info.value


def _code(exc: SlackApiError) -> str:
    return str(exc.response["error"])


async def _channel(client: AsyncWebClient, name: str = "inc-20240501-db") -> str:
    resp = await client.conversations_create(name=name)
    return str(resp["channel"]["id"])


def _section(text: str = "hello") -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(action_id: str, text: str = "Ack", **extra: Any) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text}, **extra}


async def _upload(client: AsyncWebClient, channel: str, data: bytes = b"\x89PNG fake") -> str:
    resp = await client.files_upload_v2(channel=channel, content=data, filename="graph.png", title="Load")
    return str(resp["file"]["id"])


# -- lifecycle, auth, scopes ------------------------------------------------------------------


def test_start_stop_and_urls() -> None:
    f = FakeSlack().start()
    try:
        assert f.url.startswith("http://127.0.0.1:") and f.url.endswith("/")
        assert f.api_url == f.url + "api/"
        assert WebClient(token=f.token, base_url=f.api_url).auth_test()["user_id"] == BOT_USER_ID
    finally:
        f.stop()


async def test_auth_test(client: AsyncWebClient) -> None:
    resp = await client.auth_test()
    assert (resp["user_id"], resp["bot_id"], resp["team_id"]) == (BOT_USER_ID, BOT_ID, TEAM_ID)
    assert resp["url"].startswith("https://")


async def test_bad_or_missing_token(fake: FakeSlack) -> None:
    bad = AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url)
    assert _code(await _error(bad.auth_test())) == "invalid_auth"
    none = AsyncWebClient(base_url=fake.api_url)
    assert _code(await _error(none.auth_test())) == "not_authed"


async def test_unknown_method(client: AsyncWebClient) -> None:
    assert _code(await _error(client.api_call("chat.doesNotExist"))) == "unknown_method"


async def test_missing_scope() -> None:
    with FakeSlack(scopes={"chat:write"}) as f:
        c = AsyncWebClient(token=f.token, base_url=f.api_url)
        err = await _error(c.conversations_create(name="x"))
        assert _code(err) == "missing_scope"
        assert err.response["needed"] == "channels:manage"
        assert err.response["provided"] == "chat:write"
        assert f.channels == {}


async def test_private_channel_needs_groups_write(client: AsyncWebClient) -> None:
    err = await _error(client.conversations_create(name="secret", is_private=True))
    assert _code(err) == "missing_scope" and err.response["needed"] == "groups:write"


# -- conversations -----------------------------------------------------------------------------


async def test_conversations_open_gives_one_dm_per_person(fake: FakeSlack, client: AsyncWebClient) -> None:
    opened = await client.conversations_open(users="U0ALICE")
    dm = opened["channel"]["id"]
    assert dm.startswith("D") and "already_open" not in opened.data
    again = await client.conversations_open(users="U0ALICE", return_im=True)
    assert again["already_open"] is True and again["channel"]["id"] == dm and again["channel"]["is_im"] is True
    assert again["channel"]["user"] == "U0ALICE"
    posted = await client.chat_postMessage(channel=dm, text="You are paged")
    assert posted["channel"] == dm and [m.text for m in fake.dms("U0ALICE")] == ["You are paged"]
    history = await client.conversations_history(channel=dm)
    assert [m["text"] for m in history["messages"]] == ["You are paged"]
    assert (await client.conversations_open(channel=dm))["channel"]["id"] == dm


async def test_conversations_open_refuses_as_slack_does(fake: FakeSlack, client: AsyncWebClient) -> None:
    assert _code(await _error(client.conversations_open(users="U0NOBODY"))) == "user_not_found"
    assert _code(await _error(client.conversations_open(users=BOT_USER_ID))) == "cannot_dm_bot"
    assert _code(await _error(client.api_call("conversations.open", data={}))) == "users_list_not_supplied"
    fake.deactivate_user("U0CAROL")
    assert _code(await _error(client.conversations_open(users="U0CAROL"))) == "user_disabled"
    fake.scopes.discard("im:write")
    err = await _error(client.conversations_open(users="U0ALICE"))
    assert _code(err) == "missing_scope" and err.response["needed"] == "im:write"
    assert fake.dm_channel("U0ALICE") is None


async def test_dm_history_needs_im_history(fake: FakeSlack, client: AsyncWebClient) -> None:
    dm = (await client.conversations_open(users="U0BOB"))["channel"]["id"]
    fake.scopes.discard("im:history")
    err = await _error(client.conversations_history(channel=dm))
    assert _code(err) == "missing_scope" and err.response["needed"] == "im:history"


async def test_conversations_create_and_info(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = await _channel(client, "inc-20240501-db_primary")
    assert cid.startswith("C")
    ch = fake.channel_by_name("inc-20240501-db_primary")
    assert ch is not None and ch.id == cid and ch.members == [BOT_USER_ID] and ch.creator == BOT_USER_ID
    info = await client.conversations_info(channel=cid, include_num_members=True)
    assert info["channel"]["name"] == "inc-20240501-db_primary" and info["channel"]["is_member"]
    assert info["channel"]["num_members"] == 1
    assert _code(await _error(client.conversations_info(channel="C0NOPE"))) == "channel_not_found"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "invalid_name_required"),
        ("Inc-Upper", "invalid_name_specials"),
        ("inc 2024", "invalid_name_specials"),
        ("inc.db", "invalid_name_specials"),
        ("inc#1", "invalid_name_specials"),
        ("x" * 81, "invalid_name_maxlength"),
        ("---", "invalid_name_punctuation"),
    ],
)
async def test_bad_channel_names(fake: FakeSlack, client: AsyncWebClient, name: str, error: str) -> None:
    assert _code(await _error(client.conversations_create(name=name))) == error
    assert fake.channels == {}


async def test_name_taken_and_max_length(client: AsyncWebClient) -> None:
    await _channel(client, "x" * 80)
    assert _code(await _error(client.conversations_create(name="x" * 80))) == "name_taken"


async def test_topic_and_purpose(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = await _channel(client)
    await client.conversations_setTopic(channel=cid, topic="SEV2 db down")
    await client.conversations_setPurpose(channel=cid, purpose="Incident INC-1")
    ch = fake.channel(cid)
    assert ch is not None and (ch.topic, ch.purpose) == ("SEV2 db down", "Incident INC-1")
    assert _code(await _error(client.conversations_setTopic(channel=cid, topic="t" * 251))) == "too_long"
    assert _code(await _error(client.conversations_setPurpose(channel=cid, purpose="p" * 251))) == "too_long"
    other = fake.add_channel("general")
    assert _code(await _error(client.conversations_setTopic(channel=other, topic="x"))) == "not_in_channel"


async def test_invite(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = await _channel(client)
    await client.conversations_invite(channel=cid, users="U0ALICE,U0BOB")
    ch = fake.channel(cid)
    assert ch is not None and ch.members == [BOT_USER_ID, "U0ALICE", "U0BOB"]
    assert (
        _code(await _error(client.conversations_invite(channel=cid, users="U0ALICE"))) == "already_in_channel"
    )
    assert (
        _code(await _error(client.conversations_invite(channel=cid, users=["U0NOBODY"]))) == "user_not_found"
    )
    assert (
        _code(await _error(client.conversations_invite(channel=cid, users=[BOT_USER_ID])))
        == "cant_invite_self"
    )
    # a partially bad list changes nothing
    await _error(client.conversations_invite(channel=cid, users="U0CAROL,U0NOBODY"))
    ch = fake.channel(cid)
    assert ch is not None and "U0CAROL" not in ch.members
    await client.conversations_invite(channel=cid, users="U0ALICE,U0CAROL")  # some new: ok
    other = fake.add_channel("general")
    assert _code(await _error(client.conversations_invite(channel=other, users="U0BOB"))) == "not_in_channel"


async def test_join_list_members(fake: FakeSlack, client: AsyncWebClient) -> None:
    general = fake.add_channel("incidents", members=["U0BOB"])
    resp = await client.conversations_join(channel=general)
    assert resp["channel"]["is_member"]
    again = await client.conversations_join(channel=general)
    assert again["warning"] == "already_in_channel"
    members = await client.conversations_members(channel=general)
    assert set(members["members"]) == {"U0ALICE", "U0BOB", BOT_USER_ID}
    for i in range(5):
        await _channel(client, f"c{i}")
    names: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await client.conversations_list(limit=2, cursor=cursor)
        names += [c["name"] for c in page["channels"]]
        pages += 1
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and sorted(names) == sorted(["incidents", "c0", "c1", "c2", "c3", "c4"])
    assert _code(await _error(client.conversations_list(cursor="garbage!"))) == "invalid_cursor"
    archived = fake.add_channel("old", is_archived=True)
    assert _code(await _error(client.conversations_join(channel=archived))) == "is_archived"
    listed = await client.conversations_list(exclude_archived=True, limit=100)
    assert "old" not in [c["name"] for c in listed["channels"]]


async def test_history_filters_and_metadata(client: AsyncWebClient) -> None:
    cid = await _channel(client)
    tss = []
    for i in range(5):
        md = {"event_type": "incident_status", "event_payload": {"n": i}}
        tss.append((await client.chat_postMessage(channel=cid, text=f"m{i}", metadata=md))["ts"])
    assert tss == sorted(tss) and len(set(tss)) == 5
    await client.chat_postMessage(channel=cid, text="reply", thread_ts=tss[0])
    hist = await client.conversations_history(channel=cid)
    assert [m["text"] for m in hist["messages"]] == ["m4", "m3", "m2", "m1", "m0"]
    assert "metadata" not in hist["messages"][0]
    assert hist["messages"][-1]["reply_count"] == 1
    full = await client.conversations_history(channel=cid, include_all_metadata=True, limit=2)
    assert full["messages"][0]["metadata"] == {"event_type": "incident_status", "event_payload": {"n": 4}}
    assert full["has_more"] and full["response_metadata"]["next_cursor"]
    window = await client.conversations_history(channel=cid, oldest=tss[1], latest=tss[3])
    assert [m["text"] for m in window["messages"]] == ["m2"]
    window = await client.conversations_history(channel=cid, oldest=tss[1], latest=tss[3], inclusive=True)
    assert [m["text"] for m in window["messages"]] == ["m3", "m2", "m1"]
    replies = await client.conversations_replies(channel=cid, ts=tss[0])
    assert [m["text"] for m in replies["messages"]] == ["m0", "reply"]


# -- chat ----------------------------------------------------------------------------------------


async def test_post_message_rules(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = await _channel(client)
    resp = await client.chat_postMessage(channel=cid, text="hello")
    assert resp["channel"] == cid and resp["message"]["bot_id"] == BOT_ID
    assert _code(await _error(client.api_call("chat.postMessage", json={"channel": cid}))) == "no_text"
    assert _code(await _error(client.chat_postMessage(channel=cid, text="x" * 40_001))) == "msg_too_long"
    assert _code(await _error(client.chat_postMessage(channel="C0NOPE", text="x"))) == "channel_not_found"
    assert (
        _code(await _error(client.chat_postMessage(channel="#inc-20240501-db", text="x")))
        == "channel_not_found"
    )
    other = fake.add_channel("general")
    assert _code(await _error(client.chat_postMessage(channel=other, text="x"))) == "not_in_channel"
    bad_md = {"event_type": "has space", "event_payload": {}}
    assert _code(await _error(client.chat_postMessage(channel=cid, text="x", metadata=bad_md))) == (
        "invalid_metadata_schema"
    )
    fake.archive_channel(cid)
    assert _code(await _error(client.chat_postMessage(channel=cid, text="x"))) == "is_archived"
    assert [m.text for m in fake.messages(cid)] == ["hello"]


async def test_dm_to_user(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.chat_postMessage(channel="U0ALICE", text="psst")
    assert resp["channel"].startswith("D")
    assert fake.messages(resp["channel"])[0].text == "psst"


async def test_update_delete_ephemeral(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = await _channel(client)
    ts = (await client.chat_postMessage(channel=cid, text="v1"))["ts"]
    await client.chat_update(channel=cid, ts=ts, text="v2", blocks=[_section("v2")])
    msg = fake.message(cid, ts)
    assert msg is not None and msg.text == "v2" and msg.edited and msg.blocks
    assert (
        _code(await _error(client.chat_update(channel=cid, ts="1.000001", text="x"))) == "message_not_found"
    )
    human = fake.post_as_user(cid, "U0ALICE", "mine")
    assert _code(await _error(client.chat_update(channel=cid, ts=human, text="x"))) == "cant_update_message"
    assert _code(await _error(client.chat_delete(channel=cid, ts=human))) == "cant_delete_message"
    await client.chat_delete(channel=cid, ts=ts)
    assert fake.message(cid, ts) is None
    assert _code(await _error(client.chat_postEphemeral(channel=cid, user="U0BOB", text="x"))) == (
        "user_not_in_channel"
    )
    await client.conversations_invite(channel=cid, users="U0BOB")
    await client.chat_postEphemeral(channel=cid, user="U0BOB", text="only you")
    assert [(e.user, e.text) for e in fake.ephemerals] == [("U0BOB", "only you")]


async def test_pins(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = await _channel(client)
    ts = (await client.chat_postMessage(channel=cid, text="status"))["ts"]
    await client.pins_add(channel=cid, timestamp=ts)
    assert [m.ts for m in fake.pinned(cid)] == [ts]
    assert _code(await _error(client.pins_add(channel=cid, timestamp=ts))) == "already_pinned"
    assert _code(await _error(client.pins_add(channel=cid, timestamp="1.000001"))) == "message_not_found"
    listed = await client.pins_list(channel=cid)
    assert listed["items"][0]["message"]["ts"] == ts
    await client.pins_remove(channel=cid, timestamp=ts)
    assert _code(await _error(client.pins_remove(channel=cid, timestamp=ts))) == "no_pin"
    assert fake.pinned(cid) == []


async def test_users(client: AsyncWebClient, fake: FakeSlack) -> None:
    fake.add_user("U0DAVE", "dave", "dave@example.com")
    assert (await client.users_lookupByEmail(email="Dave@example.com"))["user"]["id"] == "U0DAVE"
    assert _code(await _error(client.users_lookupByEmail(email="nobody@example.com"))) == "users_not_found"
    info = await client.users_info(user="U0ALICE")
    assert info["user"]["profile"]["email"] == "alice@example.com"
    assert _code(await _error(client.users_info(user="U0NOBODY"))) == "user_not_found"


async def test_users_info_is_strict(fake: FakeSlack, client: AsyncWebClient) -> None:
    alice = (await client.users_info(user="U0ALICE"))["user"]
    assert (alice["id"], alice["name"], alice["real_name"]) == ("U0ALICE", "alice", "Alice Nguyen")
    assert (alice["profile"]["display_name"], alice["profile"]["real_name"]) == ("Alice", "Alice Nguyen")
    bob = (await client.users_info(user="U0BOB"))["user"]
    assert (bob["profile"]["display_name"], bob["profile"]["real_name"]) == ("", "Bob Martinez")  # none set
    fake.add_user("U0DAVE", "dave", "dave@example.com", real_name="Dave Okafor", display_name="dave | *ops*")
    assert (await client.users_info(user="U0DAVE"))["user"]["profile"]["display_name"] == "dave | *ops*"
    assert _code(await _error(client.users_info(user="U0NOBODY"))) == "user_not_found"
    assert _code(await _error(client.api_call("users.info", params={}))) == "invalid_arguments"
    assert _code(await _error(client.api_call("users.info", params={"user": ""}))) == "invalid_arguments"
    anonymous = AsyncWebClient(base_url=fake.api_url, timeout=5)
    assert _code(await _error(anonymous.users_info(user="U0ALICE"))) == "not_authed"
    stranger = AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url, timeout=5)
    assert _code(await _error(stranger.users_info(user="U0ALICE"))) == "invalid_auth"
    assert [c.args.get("user") for c in fake.calls_to("users.info")][:2] == ["U0ALICE", "U0BOB"]
    fake.scopes.discard("users:read")
    assert _code(await _error(client.users_info(user="U0ALICE"))) == "missing_scope"


async def test_bookmarks_and_reactions(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = await _channel(client)
    resp = await client.bookmarks_add(channel_id=cid, title="Runbook", type="link", link="https://wiki/rb")
    assert resp["bookmark"]["title"] == "Runbook" and fake.bookmarks[0].link == "https://wiki/rb"
    assert _code(await _error(client.bookmarks_add(channel_id=cid, title="x", type="link", link="nope"))) == (
        "invalid_link"
    )
    ts = (await client.chat_postMessage(channel=cid, text="hi"))["ts"]
    fake.add_reaction(cid, ts, "pushpin", "U0ALICE")
    got = await client.reactions_get(channel=cid, timestamp=ts)
    assert got["message"]["reactions"] == [{"name": "pushpin", "users": ["U0ALICE"], "count": 1}]


# -- Block Kit ------------------------------------------------------------------------------------


async def _blocks_error(client: AsyncWebClient, cid: str, blocks: list[Any]) -> list[str]:
    err = await _error(client.chat_postMessage(channel=cid, text="fallback", blocks=blocks))
    assert _code(err) == "invalid_blocks"
    messages: list[str] = err.response["response_metadata"]["messages"]
    assert messages
    return messages


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([_section()] * 51, "/blocks"),
        ([{"type": "video"}], "/blocks/0/type"),
        ([{**_section(), "block_id": "a"}, {**_section(), "block_id": "a"}], "/blocks/1/block_id"),
        ([{**_section(), "block_id": "b" * 256}], "/blocks/0/block_id"),
        ([_section("x" * 3001)], "/blocks/0/text/text"),
        ([_section("")], "/blocks/0/text/text"),
        ([{"type": "section", "text": {"type": "markdown", "text": "x"}}], "/blocks/0/text/type"),
        ([{"type": "section"}], "/blocks/0"),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}], "/blocks/0/fields"),
        (
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
            "/blocks/0/fields/0/text",
        ),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "/blocks/0/text/text"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}], "/blocks/0/text/type"),
        ([{"type": "actions", "elements": [_button(f"a{i}") for i in range(26)]}], "/blocks/0/elements"),
        ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}], "/blocks/0/elements"),
        ([{"type": "actions", "elements": [_button("a", "t" * 76)]}], "/blocks/0/elements/0/text/text"),
        ([{"type": "actions", "elements": [_button("a" * 256)]}], "/blocks/0/elements/0/action_id"),
        ([{"type": "actions", "elements": [_button("a"), _button("a")]}], "/blocks/0/elements/1/action_id"),
        (
            [
                {"type": "actions", "elements": [_button("a")]},
                {"type": "actions", "elements": [_button("a")]},
            ],
            "/blocks/1/elements/0/action_id",
        ),
        ([{"type": "actions", "elements": [_button("a", value="v" * 2001)]}], "/blocks/0/elements/0/value"),
        (
            [{"type": "actions", "elements": [_button("a", url="https://" + "u" * 3000)]}],
            "/blocks/0/elements/0/url",
        ),
        ([{"type": "actions", "elements": [_button("a", style="secondary")]}], "/blocks/0/elements/0/style"),
        ([{"type": "image", "image_url": "https://x/y.png"}], "/blocks/0"),
        ([{"type": "image", "alt_text": "a"}], "/blocks/0"),
        (
            [{"type": "image", "alt_text": "a", "image_url": "https://x", "slack_file": {"id": "F1"}}],
            "/blocks/0",
        ),
        ([{"type": "image", "alt_text": "a" * 2001, "image_url": "https://x/y.png"}], "/blocks/0/alt_text"),
        ([{"type": "image", "alt_text": "a", "slack_file": {"id": "F0NOPE"}}], "/blocks/0/slack_file"),
    ],
)
async def test_invalid_blocks(
    client: AsyncWebClient, fake: FakeSlack, blocks: list[Any], pointer: str
) -> None:
    cid = await _channel(client)
    messages = await _blocks_error(client, cid, blocks)
    assert any(f"[json-pointer:{pointer}]" in m for m in messages), messages
    assert fake.messages(cid) == []


async def test_valid_blocks_at_limits(client: AsyncWebClient) -> None:
    cid = await _channel(client)
    blocks: list[Any] = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3000}, "block_id": "b" * 255},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2000}] * 10},
        {"type": "actions", "elements": [_button(f"a{i}", "t" * 75, style="danger") for i in range(25)]},
        {"type": "context", "elements": [{"type": "plain_text", "text": "c"}] * 10},
        {"type": "divider"},
        {"type": "image", "image_url": "https://example.com/g.png", "alt_text": "graph"},
        {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": []}]},
    ]
    blocks += [{"type": "divider"}] * (50 - len(blocks))
    await client.chat_postMessage(channel=cid, text="ok", blocks=blocks)


async def test_blocks_as_form_encoded_json(fake: FakeSlack, sync_client: WebClient) -> None:
    cid = fake.add_channel("general", members=[BOT_USER_ID])
    # form-encoded, JSON string inside (as some clients send it)
    sync_client.api_call(
        "chat.postMessage", data={"channel": cid, "text": "t", "blocks": json.dumps([_section("form")])}
    )
    with pytest.raises(SlackApiError) as info:
        sync_client.api_call("chat.postMessage", data={"channel": cid, "text": "t", "blocks": "not json"})
    assert info.value.response["error"] == "invalid_blocks_format"
    assert fake.messages(cid)[0].blocks == [_section("form")]


async def test_image_block_with_slack_file(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = await _channel(client)
    fid = await _upload(client, cid)
    img = {"type": "image", "alt_text": "load", "slack_file": {"id": fid}}
    await client.chat_postMessage(channel=cid, text="graph", blocks=[img])
    by_url = {
        "type": "image",
        "alt_text": "load",
        "slack_file": {"url": (await client.files_info(file=fid))["file"]["permalink"]},
    }
    await client.chat_postMessage(channel=cid, text="graph", blocks=[by_url])
    assert fake.files[fid].completed
    await client.files_delete(file=fid)
    messages = await _blocks_error(client, cid, [img])
    assert "deleted" in messages[0]
    ts = fake.messages(cid)[-1].ts
    err = await _error(client.chat_update(channel=cid, ts=ts, text="x", blocks=[img]))
    assert _code(err) == "invalid_blocks"


# -- files ---------------------------------------------------------------------------------------


async def test_files_upload_v2(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = await _channel(client)
    ts = (await client.chat_postMessage(channel=cid, text="parent"))["ts"]
    resp = await client.files_upload_v2(
        channel=cid,
        content=b"PNGDATA",
        filename="load.png",
        title="Load",
        initial_comment="graph",
        thread_ts=ts,
    )
    fid = resp["file"]["id"]
    f = fake.files[fid]
    assert f.bytes == b"PNGDATA" and f.title == "Load" and f.completed and list(f.shares) == [cid]
    msg = fake.messages(cid)[-1]
    assert msg.files == [fid] and msg.text == "graph" and msg.thread_ts == ts
    assert [c.method for c in fake.calls][-3:] == [
        "files.getUploadURLExternal",
        UPLOAD_METHOD,
        "files.completeUploadExternal",
    ]
    info = await client.files_info(file=fid)
    assert info["file"]["shares"]["public"][cid][0]["ts"] == msg.ts
    await client.files_delete(file=fid)
    assert _code(await _error(client.files_delete(file=fid))) == "file_deleted"
    assert _code(await _error(client.files_info(file=fid))) == "file_deleted"
    assert _code(await _error(client.files_info(file="F0NOPE"))) == "file_not_found"


async def test_files_list_filters_and_pages_as_slack_does(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid, other = await _channel(client), await _channel(client, "inc-20240501-web")
    first, second = await _upload(client, cid), await _upload(client, cid)
    await client.files_upload_v2(channel=cid, content=b"a,b", filename="hosts.csv", title="Hosts")
    await _upload(client, other)
    listed = await client.files_list(channel=cid, types="images", user=BOT_USER_ID)
    assert [f["id"] for f in listed["files"]] == [second, first]  # newest first, images only, this channel
    assert listed["paging"] == {"count": 100, "total": 2, "page": 1, "pages": 1}
    page2 = await client.files_list(channel=cid, count=1, page=2)
    assert len(page2["files"]) == 1 and page2["paging"]["pages"] == 3
    await client.files_delete(file=second)
    assert [f["id"] for f in (await client.files_list(channel=cid, types="images"))["files"]] == [first]
    assert (await client.files_list(channel=cid, ts_from=str(int(time.time()) + 3600)))["files"] == []
    assert _code(await _error(client.files_list(channel="C0NOPE"))) == "channel_not_found"
    assert _code(await _error(client.files_list(types="movies"))) == "unknown_type"
    assert _code(await _error(client.files_list(count=0))) == "invalid_arguments"
    with FakeSlack(scopes={"files:write"}) as f:
        err = await _error(AsyncWebClient(token=f.token, base_url=f.api_url).files_list())
        assert _code(err) == "missing_scope" and err.response["needed"] == "files:read"


async def test_upload_steps_are_enforced(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = await _channel(client)
    err = await _error(client.files_getUploadURLExternal(filename="g.png", length=0))
    assert _code(err) == "invalid_arguments"
    step1 = await client.files_getUploadURLExternal(filename="g.png", length=4)
    # completing before the bytes were posted
    err = await _error(client.files_completeUploadExternal(files=[{"id": step1["file_id"]}], channel_id=cid))
    assert _code(err) == "file_not_found"
    err = await _error(client.files_completeUploadExternal(files=[{"id": "F0NOPE"}], channel_id=cid))
    assert _code(err) == "file_not_found"
    async with aiohttp.ClientSession() as s:
        async with s.post(fake.url + "upload/v1/wrong", data=b"x") as r:
            assert r.status == 404
        async with s.post(step1["upload_url"], data=b"data") as r:
            assert r.status == 200
    other = fake.add_channel("general")
    err = await _error(
        client.files_completeUploadExternal(files=[{"id": step1["file_id"]}], channel_id=other)
    )
    assert _code(err) == "not_in_channel"
    await client.files_completeUploadExternal(files=[{"id": step1["file_id"], "title": "G"}], channel_id=cid)
    err = await _error(client.files_completeUploadExternal(files=[{"id": step1["file_id"]}], channel_id=cid))
    assert _code(err) == "file_not_found"  # only once
    assert _code(await _error(client.api_call("files.upload", data={"content": "x"}))) == "method_deprecated"


def test_files_upload_v2_sync(fake: FakeSlack, sync_client: WebClient) -> None:
    cid = fake.add_channel("general", members=[BOT_USER_ID])
    resp = sync_client.files_upload_v2(channel=cid, content="hello", filename="notes.txt")
    assert fake.files[resp["file"]["id"]].bytes == b"hello"


# -- views ---------------------------------------------------------------------------------------


def _modal(**extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "declare",
        "title": {"type": "plain_text", "text": "Declare incident"},
        "submit": {"type": "plain_text", "text": "Declare"},
        "blocks": [
            {
                "type": "input",
                "block_id": "title",
                "label": {"type": "plain_text", "text": "Title"},
                "element": {"type": "plain_text_input", "action_id": "value"},
            }
        ],
        **extra,
    }


async def test_views_open_update_push(fake: FakeSlack, client: AsyncWebClient) -> None:
    trigger = fake.new_trigger_id()
    resp = await client.views_open(trigger_id=trigger, view=_modal(private_metadata="m" * 3000))
    vid = resp["view"]["id"]
    assert _code(await _error(client.views_open(trigger_id=trigger, view=_modal()))) == "exchanged_trigger_id"
    assert _code(await _error(client.views_open(trigger_id="1.2.abc", view=_modal()))) == "invalid_trigger_id"
    upd = await client.views_update(view_id=vid, view=_modal(callback_id="c2"), hash=resp["view"]["hash"])
    assert upd["view"]["callback_id"] == "c2"
    assert (
        _code(await _error(client.views_update(view_id=vid, view=_modal(), hash="stale"))) == "hash_conflict"
    )
    assert _code(await _error(client.views_update(view_id="V0NOPE", view=_modal()))) == "not_found"
    pushed = await client.views_push(trigger_id=fake.new_trigger_id(), view=_modal())
    assert pushed["view"]["previous_view_id"] == vid and pushed["view"]["root_view_id"] == vid


async def test_trigger_expires() -> None:
    with FakeSlack(trigger_ttl=0.05) as f:
        c = AsyncWebClient(token=f.token, base_url=f.api_url)
        trigger = f.new_trigger_id()
        await asyncio.sleep(0.1)
        assert _code(await _error(c.views_open(trigger_id=trigger, view=_modal()))) == "expired_trigger_id"


@pytest.mark.parametrize(
    ("override", "pointer"),
    [
        ({"type": "home"}, "/view/type"),
        ({"title": {"type": "plain_text", "text": "t" * 25}}, "/view/title/text"),
        ({"submit": {"type": "plain_text", "text": "s" * 25}}, "/view/submit/text"),
        ({"close": {"type": "plain_text", "text": "c" * 25}}, "/view/close/text"),
        ({"callback_id": "c" * 256}, "/view/callback_id"),
        ({"private_metadata": "m" * 3001}, "/view/private_metadata"),
        ({"blocks": [{"type": "divider"}] * 101}, "/view/blocks"),
        ({"submit": None}, "/view/submit"),
    ],
)
async def test_invalid_views(
    fake: FakeSlack, client: AsyncWebClient, override: dict[str, Any], pointer: str
) -> None:
    trigger = fake.new_trigger_id()
    view = {k: v for k, v in {**_modal(), **override}.items() if v is not None}
    err = await _error(client.views_open(trigger_id=trigger, view=view))
    assert _code(err) == "invalid_arguments"
    assert any(f"[json-pointer:{pointer}]" in m for m in err.response["response_metadata"]["messages"])
    assert fake.views == {}
    await client.views_open(trigger_id=trigger, view=_modal())  # the trigger was not used up


# -- faults --------------------------------------------------------------------------------------


async def test_rate_limit(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = await _channel(client)
    fake.rate_limit_next("chat.postMessage", retry_after=7)
    err = await _error(client.chat_postMessage(channel=cid, text="x"))
    assert err.response.status_code == 429
    assert err.response.headers["Retry-After"] == "7"
    assert _code(err) == "ratelimited"
    assert fake.messages(cid) == []
    await client.chat_postMessage(channel=cid, text="x")
    assert len(fake.messages(cid)) == 1
    call = fake.calls_to("chat.postMessage")[0]
    assert (call.ok, call.error, call.http_status) == (False, "ratelimited", 429)


async def test_fail_next_changes_nothing(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail_next("conversations.create", count=2, status=502)
    for _ in range(2):
        err = await _error(client.conversations_create(name="inc-x"))
        assert err.response.status_code == 502
    assert fake.channels == {}
    await client.auth_test()
    await client.conversations_create(name="inc-x")
    assert fake.channel_by_name("inc-x") is not None


async def test_fail_next_any_method(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail_next(None)
    assert (await _error(client.auth_test())).response.status_code == 503
    await client.auth_test()


async def test_outage(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = await _channel(client)
    fake.outage()
    for _ in range(3):
        assert (await _error(client.chat_postMessage(channel=cid, text="x"))).response.status_code == 503
    fake.end_outage()
    await client.chat_postMessage(channel=cid, text="x")
    assert [m.text for m in fake.messages(cid)] == ["x"]


async def test_upload_post_fails(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = await _channel(client)
    fake.fail_next(UPLOAD_METHOD)
    with pytest.raises(SlackRequestError, match="Failed to upload"):
        await client.files_upload_v2(channel=cid, content=b"x", filename="a.png")
    assert fake.messages(cid) == [] and not any(f.uploaded for f in fake.files.values())


async def test_hang_causes_timeout(fake: FakeSlack) -> None:
    c = AsyncWebClient(token=fake.token, base_url=fake.api_url, timeout=1)
    cid = fake.add_channel("general", members=[BOT_USER_ID])
    fake.hang_next("chat.postMessage", 1.5, process=False)
    with pytest.raises(asyncio.TimeoutError):
        await c.chat_postMessage(channel=cid, text="x")
    await asyncio.sleep(0.7)
    assert fake.messages(cid) == []
    fake.hang_next("chat.postMessage", 1.5)  # processed after the client gave up, as Slack may
    with pytest.raises(asyncio.TimeoutError):
        await c.chat_postMessage(channel=cid, text="late")
    await asyncio.sleep(0.7)
    assert [m.text for m in fake.messages(cid)] == ["late"]


async def test_latency(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.latency = 0.1
    start = time.monotonic()
    await client.auth_test()
    assert time.monotonic() - start >= 0.1


def test_sync_client_sees_429(fake: FakeSlack, sync_client: WebClient) -> None:
    fake.rate_limit_next(None, retry_after=3)
    with pytest.raises(SlackApiError) as info:
        sync_client.auth_test()
    assert info.value.response.status_code == 429 and info.value.response.headers["Retry-After"] == "3"


async def test_concurrent_calls_from_other_loop(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = await _channel(client)
    await asyncio.gather(*(client.chat_postMessage(channel=cid, text=str(i)) for i in range(30)))
    tss = [m.ts for m in fake.messages(cid)]
    assert len(tss) == 30 and tss == sorted(tss) and len(set(tss)) == 30


# -- response_url --------------------------------------------------------------------------------


async def test_response_url(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = await _channel(client)
    ts = (await client.chat_postMessage(channel=cid, text="status"))["ts"]
    url = fake.new_response_url(channel_id=cid, message_ts=ts, user_id="U0ALICE")
    async with aiohttp.ClientSession() as s:
        async with s.post(url, json={"response_type": "ephemeral", "text": "only you"}) as r:
            assert r.status == 200
        async with s.post(
            url, json={"replace_original": True, "text": "updated", "blocks": [_section("u")]}
        ) as r:
            assert r.status == 200
        async with s.post(url, json={"text": "bad", "blocks": [_section("x" * 3001)]}) as r:
            assert r.status == 400 and await r.text() == "invalid_blocks"
        async with s.post(fake.url + "response/nope", json={"text": "x"}) as r:
            assert r.status == 404
    assert [r["text"] for r in fake.responses(url)] == ["only you", "updated"]
    msg = fake.message(cid, ts)
    assert msg is not None and msg.text == "updated"
    assert fake.ephemerals[0].text == "only you"


# -- recording -----------------------------------------------------------------------------------


async def test_calls_recorded(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.auth_test()
    await _error(client.conversations_create(name="BAD"))
    calls = fake.calls
    assert [c.method for c in calls] == ["auth.test", "conversations.create"]
    assert calls[1].args == {"name": "BAD"} and calls[1].error == "invalid_name_specials" and not calls[1].ok
    assert calls[0].ok and calls[0].http_status == 200
    fake.reset_calls()
    assert fake.calls == []


# -- signed requests -----------------------------------------------------------------------------


def _verify(body: bytes, headers: dict[str, str]) -> bool:
    return SignatureVerifier(SECRET).is_valid_request(body, headers)


def test_slash_command_request() -> None:
    body, headers = sr.slash_command(
        SECRET, "declare db down", user_id="U0ALICE", channel_id="C0GENERAL", trigger_id="1.2.3"
    )
    assert _verify(body, headers)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    assert (
        form["command"] == "/incident" and form["text"] == "declare db down" and form["trigger_id"] == "1.2.3"
    )
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    old_body, old_headers = sr.slash_command(SECRET, "x", channel_id="C1", timestamp=int(time.time()) - 600)
    assert not _verify(old_body, old_headers)


def test_interactive_requests() -> None:
    body, headers = sr.block_action(SECRET, "ack", "INC-1", channel_id="C1", message_ts="1.000001")
    assert _verify(body, headers)
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert payload["type"] == "block_actions" and payload["actions"][0]["action_id"] == "ack"
    assert payload["container"]["message_ts"] == "1.000001"
    body, headers = sr.view_submission(
        SECRET, "declare", {"title": {"value": "db down"}}, private_metadata="C1"
    )
    assert _verify(body, headers)
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert payload["view"]["state"]["values"]["title"]["value"] == {
        "type": "plain_text_input",
        "value": "db down",
    }


def test_event_requests() -> None:
    event = sr.reaction_event("pushpin", user_id="U0ALICE", channel_id="C1", message_ts="1.000001")
    body, headers = sr.event_callback(SECRET, event, event_id="Ev1", retry_num=1)
    assert _verify(body, headers)
    assert headers["X-Slack-Retry-Num"] == "1" and headers["X-Slack-Retry-Reason"] == "http_timeout"
    assert json.loads(body)["event"]["reaction"] == "pushpin"
    body, headers = sr.url_verification(SECRET, "abc")
    assert _verify(body, headers) and json.loads(body)["challenge"] == "abc"


def _bolt_request(body: bytes, headers: dict[str, str]) -> AsyncBoltRequest:
    hdrs: dict[str, str | Sequence[str]] = dict(headers)
    return AsyncBoltRequest(body=body.decode(), headers=hdrs)


async def test_bolt_parses_requests(fake: FakeSlack) -> None:

    app = AsyncApp(
        signing_secret=SECRET,
        client=AsyncWebClient(token=fake.token, base_url=fake.api_url),
        process_before_response=True,
    )
    seen: list[str] = []

    @app.command("/incident")
    async def on_command(ack: Any, command: dict[str, Any]) -> None:
        await ack()
        seen.append("command:" + command["text"])

    @app.action("ack")
    async def on_ack(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        seen.append("action:" + body["actions"][0]["value"])

    @app.view("declare")
    async def on_view(ack: Any, view: dict[str, Any]) -> None:
        await ack()
        seen.append("view:" + view["state"]["values"]["title"]["value"]["value"])

    @app.event("reaction_added")
    async def on_reaction(event: dict[str, Any]) -> None:
        seen.append("event:" + event["reaction"])

    requests = [
        sr.slash_command(SECRET, "status", channel_id="C1"),
        sr.block_action(SECRET, "ack", "INC-1", channel_id="C1", message_ts="1.000001"),
        sr.view_submission(SECRET, "declare", {"title": {"value": "db down"}}),
        sr.event_callback(
            SECRET, sr.reaction_event("pushpin", user_id="U0ALICE", channel_id="C1", message_ts="1.000001")
        ),
    ]
    for body, headers in requests:
        resp = await app.async_dispatch(_bolt_request(body, headers))
        assert resp.status == 200, resp.body
    body, headers = sr.url_verification(SECRET, "chal")
    resp = await app.async_dispatch(_bolt_request(body, headers))
    assert resp.status == 200 and "chal" in resp.body
    assert seen == ["command:status", "action:INC-1", "view:db down", "event:pushpin"]
