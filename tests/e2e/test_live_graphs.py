"""End to end: live load graphs over HTTP against the strict fake Slack, through the real slack-sdk.

An Alertmanager webhook opens an incident; a PNG graph of the recorded demo metrics arrives through Slack's
three-step upload; the pinned header shows it in a ``slack_file`` image block; the next refresh (the test
moves the clock and runs the scheduler's tick) uploads a new file, points the header at it and deletes the
old one; refresh stops at resolve and the last graph stays for the postmortem. ``/incident graph`` and
``/incident hosts`` on demand; the escalation email's host lines carry the numbers. A metrics source that is
down, then slow, then back (a real Prometheus on the same port) never holds the incident up.
"""

from __future__ import annotations

import json
import math
import re
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select

from pagerbot.chat import blocks
from pagerbot.clock import ShiftedClock
from pagerbot.metrics.recorded import scenario_metrics_path
from pagerbot.scheduler import Scheduler
from pagerbot.store.tables import Email, Graph
from tests.e2e.test_slack_commands import Bot
from tests.fakes.slack_api import BOT_USER_ID, UPLOAD_METHOD, FakeSlack, Message
from tests.harness import API_TOKEN, ServerThread, make_settings, wait_for
from tests.integration.test_prometheus_live import incident_history
from tests.payloads import am_alert, am_notification
from tests.peers.ports import free_port
from tests.peers.prometheus import start_prometheus
from tests.peers.smtp import SmtpPeer, smtp_server

PNG = b"\x89PNG\r\n\x1a\n"
MORNING = datetime(2026, 3, 10, 14, 12, tzinfo=UTC)  # the demo recording: db1 starved for I/O since 14:00
POOLS = {"web": ["web1", "web2", "web3", "web4"], "db": ["db1", "db2"]}
LIVE_TITLE = "Load, cluster, 06:04–07:12 PDT, 2026-03-10"
RECORDED = {"source": "recorded", "path": str(scenario_metrics_path()), "refresh_minutes": 5, "window_hours": 2,
            "pools": POOLS}


def _config(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        "timezone": "America/Los_Angeles",
        "slack": {"announce_channel": "incidents", "responders": ["U0ALICE"]},
        "metrics": metrics,
        "vendors": {"hostwise": {"name": "Hostwise", "to": ["support@hostwise.example"], "account": "ACME-1"}},
    }


@dataclass
class Live:
    """One running pagerbot with its clock and a scheduler whose ticks the test runs."""

    server: ServerThread
    slack: FakeSlack
    clock: ShiftedClock
    bot: Bot
    scheduler: Scheduler

    def tick(self) -> None:
        assert self.server.call(self.scheduler.tick())
        assert self.server.drain()

    def advance(self, minutes: float) -> None:
        self.clock.jump_to(self.clock.now() + timedelta(minutes=minutes))

    def open_incident(self) -> str:
        alert = am_alert("DBHighIOWait", instance="db1:9100", summary="iowait above 40 % on db1",
                         starts_at=self.clock.now() - timedelta(minutes=8))
        assert self.server.post_alerts("alertmanager", am_notification([alert])).status_code == 202
        channel = self.bot.channel()
        assert self.server.drain()
        return channel

    def uploads(self, channel: str) -> list[str]:
        """Ids of the files shared into ``channel`` (graphs asked for), oldest first."""
        return [f for m in self.slack.messages(channel) for f in m.files]

    def live_files(self) -> list[str]:
        """Ids of the live graph's files, oldest first: uploaded, completed, shared nowhere (the header shows
        them by its image block)."""
        return [f.id for f in self.slack.files.values() if f.completed and not f.shares]

    def assert_one_live_graph(self, channel: str) -> None:
        """One message shows the live graph (the pinned header), and no refresh left a tombstone."""
        shown = self.slack.images_shown(channel)
        assert [m.ts for m, _ in shown] == [self.bot.header(channel).ts], shown
        assert not self.slack.files[shown[0][1]].deleted
        assert self.slack.tombstones(channel) == []

    def header_image(self, channel: str) -> str | None:
        images = [b for b in self.bot.header(channel).blocks or [] if b["type"] == "image"]
        assert len(images) <= 1, images
        return str(images[0]["slack_file"]["id"]) if images else None

    def graphs(self) -> list[Graph]:
        async def query() -> list[Graph]:
            assert self.server.runtime is not None
            async with self.server.runtime.ctx.store.sessions() as session:
                return list((await session.execute(select(Graph).order_by(Graph.id))).scalars())
        return list(self.server.call(query()))

    def posts(self, channel: str) -> list[str]:
        return [m.text for m in self.slack.messages(channel)]


@contextmanager
def live(fake_slack: FakeSlack, url: str, metrics: dict[str, Any], clock: ShiftedClock,
         smtp: SmtpPeer | None = None) -> Iterator[Live]:
    config = _config(metrics)
    if smtp is not None:
        config["smtp"] = {"host": smtp.host, "port": smtp.port, "starttls": False, "from": "pagerbot@acme.example"}
    settings = make_settings(url, slack_api_url=fake_slack.api_url, config=config)
    with ServerThread(settings, overrides={"clock": clock, "with_scheduler": False}) as server:
        assert server.runtime is not None
        scheduler = Scheduler(server.runtime.ctx)
        try:
            yield Live(server, fake_slack, clock, Bot(server, fake_slack), scheduler)
        finally:
            server.call(scheduler.stop())  # on PostgreSQL it holds the leader's advisory lock connection


def _three_steps(slack: FakeSlack, file_id: str) -> None:
    """The file came through getUploadURLExternal, a POST of its bytes to the upload URL, and
    completeUploadExternal, in that order, each once."""
    calls = slack.calls
    upload = [i for i, c in enumerate(calls) if c.method == UPLOAD_METHOD and c.args.get("file_id") == file_id]
    assert len(upload) == 1 and calls[upload[0]].ok, upload
    i = upload[0]
    before = [c for c in calls[:i] if c.method == "files.getUploadURLExternal"]
    assert before and before[-1].ok and str(before[-1].args["filename"]).endswith(".png")
    assert int(before[-1].args["length"]) == len(slack.files[file_id].bytes or b"")
    complete = next(c for c in calls[i:] if c.method == "files.completeUploadExternal")
    assert complete.ok and file_id in json.dumps(complete.args)


def _header_updates(slack: FakeSlack, channel: str, file_id: str) -> list[int]:
    return [i for i, c in enumerate(slack.calls) if c.method == "chat.update" and c.ok
            and c.args.get("channel") == channel and f'"{file_id}"' in json.dumps(c.args.get("blocks"))]


def _section_text(header: Message, title: str) -> str:
    for block in header.blocks or []:
        text = (block.get("text") or {}).get("text", "")
        if block["type"] == "section" and text.startswith(title):
            return str(text)
    raise AssertionError(f"no {title} section in {header.blocks}")


# --- the live graph ------------------------------------------------------------------------------------------

def test_live_graph_upload_header_refresh_and_resolve(database_url: str, fake_slack: FakeSlack) -> None:
    with live(fake_slack, database_url, RECORDED, ShiftedClock(MORNING)) as lv:
        channel = lv.open_incident()

        # the first graph: a PNG through the three-step upload, shared nowhere: no message of its own
        [first] = lv.live_files()
        f = lv.slack.files[first]
        assert f.completed and not f.deleted and not f.shares and lv.uploads(channel) == []
        assert (f.bytes or b"").startswith(PNG) and len(f.bytes or b"") > 10_000
        # the incident framed: its first alert began at 06:04 PDT, eight minutes ago; the graph starts an hour
        # before and says when it was drawn, in absolute local time
        assert f.name.startswith("load-cluster-") and f.title == LIVE_TITLE
        _three_steps(lv.slack, first)

        # the pinned header shows it (slack_file), with what stands out, after the upload completed
        assert lv.header_image(channel) == first
        header = lv.bot.header(channel)
        stands_out = _section_text(header, "*What stands out*")
        assert "db1 is disk-bound" in stands_out and "on 8 cores" in stands_out
        complete = max(i for i, c in enumerate(lv.slack.calls) if c.method == "files.completeUploadExternal")
        assert min(_header_updates(lv.slack, channel, first)) > complete

        # stored for the postmortem and the escalation email, with the summary's numbers
        [graph] = lv.graphs()
        assert graph.slack_file_id == first and graph.png == f.bytes and graph.title == LIVE_TITLE
        db1 = next(h for h in graph.summary["hosts"] if h["host"] == "db1")
        assert db1["pool"] == "db" and db1["cpus"] == 8 and 10 < db1["load"] < 15 and db1["iowait"] > 40
        assert graph.summary["findings"][0]["numbers"]["iowait"] > 40

        # not due yet: a tick changes nothing
        lv.advance(2)
        lv.tick()
        assert lv.live_files() == [first]
        lv.assert_one_live_graph(channel)

        # the next refresh: a new file, the header points at it, then the superseded file is deleted
        lv.advance(3)
        lv.tick()
        [_, second] = lv.live_files()
        _three_steps(lv.slack, second)
        assert lv.header_image(channel) == second
        files = lv.slack.files
        assert files[first].deleted and not files[second].deleted and (files[second].bytes or b"").startswith(PNG)
        deletes = [i for i, c in enumerate(lv.slack.calls) if c.method == "files.delete"]
        assert len(deletes) == 1 and lv.slack.calls[deletes[0]].args["file"] == first
        assert min(_header_updates(lv.slack, channel, second)) < deletes[0]
        lv.assert_one_live_graph(channel)  # replaced in place: no "This file was deleted." in the channel
        assert [g.slack_file_id for g in lv.graphs()] == [first, second]
        assert [g.png[:8] for g in lv.graphs()] == [b"", PNG]  # the superseded image is not kept twice
        # routine refreshes are not timeline entries; the first graph is
        assert [e["text"] for e in lv.bot.timeline() if e["kind"] == "graph"] == [
            f"Graph posted: {LIVE_TITLE}"]

        # several refreshes more: still one live graph, and not one tombstone
        for _ in range(3):
            lv.advance(5)
            lv.tick()
            lv.assert_one_live_graph(channel)
        second = lv.live_files()[-1]
        refreshed = len(lv.live_files())
        assert refreshed == 5 and lv.header_image(channel) == second

        # resolve: refreshing stops, the last graph stays in the header and in the database
        assert "resolved" in lv.bot.do("resolve RAID rebuild throttled", channel_id=channel)
        assert lv.server.drain()
        for _ in range(2):
            lv.advance(6)
            lv.tick()
        assert len(lv.live_files()) == refreshed and lv.uploads(channel) == []
        assert lv.header_image(channel) == second and not lv.slack.files[second].deleted
        assert lv.graphs()[-1].slack_file_id == second
        postmortem = httpx.get(f"{lv.server.url}/incidents/1/postmortem.md", timeout=30,
                               headers={"Authorization": f"Bearer {API_TOKEN}"})
        # the postmortem's graphs are drawn anew over the whole incident, from an hour before it began
        assert postmortem.status_code == 200 and "![Load, cluster, 06:04–07:" in postmortem.text
        assert not [c for c in lv.slack.calls if not c.ok and c.error != "already_in_channel"]


def test_an_upload_whose_answer_was_lost_is_not_repeated(database_url: str, fake_slack: FakeSlack) -> None:
    """Slack shared the refreshed graph but its answer was lost (a 503 after the work was done): the retry
    finds the file it named after its outbox row and uses it instead of uploading it again."""
    with live(fake_slack, database_url, RECORDED, ShiftedClock(MORNING)) as lv:
        channel = lv.open_incident()
        [first] = lv.live_files()
        lv.slack.lose_answer_next("files.completeUploadExternal")
        lv.advance(5)
        lv.tick()
        [_, second] = lv.live_files()  # one new file, not two
        assert [c.ok for c in lv.slack.calls if c.method == "files.completeUploadExternal"] == [True, False]
        assert [c.ok for c in lv.slack.calls if c.method == "files.list"] == [True]
        assert lv.header_image(channel) == second and lv.slack.files[first].deleted
        assert [g.slack_file_id for g in lv.graphs()] == [first, second]
        assert re.fullmatch(r"load-cluster-\d{4}-\d+\.png", lv.slack.files[second].name)


def test_an_upload_that_cannot_be_looked_for_is_made_again(sqlite_url: str, fake_slack: FakeSlack) -> None:
    """Without files:read the retry cannot look for its earlier upload: a second copy beats no graph."""
    with live(fake_slack, sqlite_url, RECORDED, ShiftedClock(MORNING)) as lv:
        channel = lv.open_incident()
        fake_slack.scopes.discard("files:read")
        lv.slack.lose_answer_next("files.completeUploadExternal")
        lv.advance(5)
        lv.tick()
        [first, lost, again] = lv.live_files()
        assert [c.error for c in lv.slack.calls if c.method == "files.list"] == ["missing_scope"]
        assert lv.header_image(channel) == again and lv.slack.files[first].deleted
        assert not lv.slack.files[lost].deleted  # the copy nobody could find stays (shared nowhere)
        lv.assert_one_live_graph(channel)


def test_graph_and_hosts_on_demand(sqlite_url: str, fake_slack: FakeSlack) -> None:
    with live(fake_slack, sqlite_url, RECORDED, ShiftedClock(MORNING)) as lv:
        channel = lv.open_incident()
        [live_file] = lv.live_files()

        # a pool over a window: a new message with its file; the live graph and the header stay as they were
        said = lv.bot.do("graph db 30m", channel_id=channel)  # no private "drawing…" echo: the graph says it
        assert said.startswith("Load, pool db, 06:42–07:12 PDT, 2026-03-10")
        assert lv.server.drain()
        [db_file] = lv.uploads(channel)
        assert lv.slack.files[db_file].title == "Load, pool db, 06:42–07:12 PDT, 2026-03-10"
        assert (lv.slack.files[db_file].bytes or b"").startswith(PNG)
        _three_steps(lv.slack, db_file)
        # one host, the incident framed: its load against its cores, CPU busy and iowait
        assert lv.bot.do("graph web4", channel_id=channel).startswith(
            "Load, CPU and iowait, host web4, 06:04–07:12 PDT, 2026-03-10")
        assert lv.server.drain()
        web4 = lv.uploads(channel)[-1]
        assert lv.slack.files[web4].title == "Load, CPU and iowait, host web4, 06:04–07:12 PDT, 2026-03-10"
        assert [g.kind for g in lv.graphs()] == ["stacked_load", "stacked_load", "host_panels"]
        assert lv.header_image(channel) == live_file and not lv.slack.calls_to("files.delete")
        # the header's findings stay those of the live graph, not of the last graph someone asked for
        lv.bot.do("ack", channel_id=channel)
        assert lv.server.drain()
        assert "db1 is disk-bound" in _section_text(lv.bot.header(channel), "*What stands out*")

        # mistakes: a window out of range is refused; an unknown host is said in the channel, once
        assert "between 5 minutes and 7 days" in lv.bot.say("graph db 10d", channel_id=channel)
        lv.bot.do("graph nosuchhost", channel_id=channel)
        assert lv.server.drain()
        assert lv.posts(channel)[-1] == ":warning: No graph: the metrics source has no load data for host nosuchhost."

        # a requested graph does not postpone the live refresh (due 5 minutes after the live one)
        lv.advance(5)
        lv.tick()
        assert lv.header_image(channel) == lv.live_files()[-1] != live_file
        assert lv.slack.files[live_file].deleted and not lv.slack.files[db_file].deleted
        lv.assert_one_live_graph(channel)
        # the superseded live graph keeps its row and summary, not its image; requested graphs keep theirs
        stored = {g.slack_file_id: g for g in lv.graphs()}
        assert stored[live_file].png == b"" and stored[live_file].summary["findings"]
        assert all((stored[f].png or b"").startswith(PNG) for f in (db_file, web4, lv.live_files()[-1]))

        # /incident hosts: each host's numbers and what stands out, a read-only answer to the one who asked
        posts = len(lv.posts(channel))
        hosts = lv.bot.say("hosts", channel_id=channel)
        assert lv.server.drain() and len(lv.posts(channel)) == posts
        lines = hosts.splitlines()
        assert lines[0] == "*Hosts* (last hour)" and len([x for x in lines if x.startswith("• *")]) >= 6
        assert lines[1].startswith("• *db1*: load 1") and "on 8 cores" in lines[1] and "iowait 5" in lines[1]
        assert "*What stands out*" in hosts and "db1 is disk-bound" in hosts

        # the escalation email's host lines carry the live graph's numbers (one stored shape for both)
        assert "drafted in the channel" in lv.bot.say("escalate hostwise", channel_id=channel)  # the next step
        assert lv.server.drain()
        draft = next(m for m in reversed(lv.slack.messages(channel)) if "Hostwise" in m.text or any(
            "Hostwise" in json.dumps(b) for b in m.blocks or []))
        body = json.dumps(draft.blocks)
        assert "db1 (db pool): load 1" in body and "on 8 CPUs" in body and "iowait 5" in body, body
        assert "web4 (web pool): load 1." in body and "no current numbers" not in body

        # a live graph an email attaches keeps its image when the next refresh supersedes it
        async def attached_ids() -> list[int | None]:
            assert lv.server.runtime is not None
            async with lv.server.runtime.ctx.store.sessions() as session:
                return list((await session.execute(select(Email.graph_id))).scalars())

        # the live graph, posted in the channel (the host graphs drawn for the email come after it, unposted)
        attached = [g for g in lv.graphs() if g.slack_file_id][-1]
        assert lv.server.call(attached_ids()) == [attached.id]
        host_graphs = [g for g in lv.graphs() if g.id > attached.id]
        assert host_graphs and all(g.kind == "host_panels" and g.png.startswith(b"\x89PNG") for g in host_graphs)
        lv.advance(5)
        lv.tick()
        assert lv.slack.files[attached.slack_file_id or ""].deleted
        assert next(g for g in lv.graphs() if g.id == attached.id).png == attached.png != b""


def _buttons(message: Message) -> dict[str, str]:
    return {e["action_id"]: e.get("value", "") for b in message.blocks or [] if b["type"] == "actions"
            for e in b["elements"]}


def test_the_all_clear_email_attaches_a_graph_of_the_whole_incident(sqlite_url: str, fake_slack: FakeSlack) -> None:
    """Resolved, the all-clear to the vendor attaches the cluster's load from an hour before the incident began
    to the resolve (half an hour after it, once that has passed), captioned with the absolute range."""
    with smtp_server(mode="plain") as peer, live(fake_slack, sqlite_url, RECORDED, ShiftedClock(MORNING),
                                                  smtp=peer) as lv:
        channel = lv.open_incident()

        def newest_with(action: str) -> Message:
            return next(m for m in reversed(lv.slack.messages(channel)) if action in _buttons(m))

        def send_newest_draft(emails_then: int) -> None:
            draft = newest_with(blocks.EMAIL_SEND)
            url = lv.bot.click(blocks.EMAIL_SEND, _buttons(draft)[blocks.EMAIL_SEND], channel_id=channel,
                               message_ts=draft.ts)
            wait_for(lambda: len(peer.received) == emails_then or lv.slack.responses(url), what="the email sent")
            assert lv.server.drain() and len(peer.received) == emails_then

        lv.bot.say("escalate hostwise", channel_id=channel)
        assert lv.server.drain()
        send_newest_draft(1)

        lv.advance(90)  # 08:42 PDT: resolved
        assert "resolved" in lv.bot.do("resolve RAID rebuild throttled", channel_id=channel)
        assert lv.server.drain()
        offer = newest_with(blocks.EMAIL_ALL_CLEAR)
        url = lv.bot.click(blocks.EMAIL_ALL_CLEAR, _buttons(offer)[blocks.EMAIL_ALL_CLEAR], channel_id=channel,
                           message_ts=offer.ts)
        said = wait_for(lambda: lv.slack.responses(url), what="an answer to the all-clear button")
        assert "all-clear" in str(said[0]["text"]).lower()
        assert lv.server.drain()
        send_newest_draft(2)

        graph = lv.graphs()[-1]
        assert graph.slack_file_id is None  # drawn for the email, not posted
        assert graph.title == "Load, cluster, 06:04–08:42 PDT, 2026-03-10"
        [attached] = [p for p in peer.received[1].message.walk() if p.get_content_type() == "image/png"]
        png = attached.get_content()
        assert png == graph.png and struct.unpack(">I", png[16:20])[0] == 960


# --- the source down, slow, and back --------------------------------------------------------------------------

@contextmanager
def silent_listener(port: int) -> Iterator[None]:
    """Something listening on ``port`` that accepts connections and never answers: a hung server."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(64)
        yield


@pytest.mark.peers
def test_metrics_source_down_slow_then_back(sqlite_url: str, fake_slack: FakeSlack, tmp_path: Path) -> None:
    port = free_port()
    metrics = {"source": "prometheus", "url": f"http://127.0.0.1:{port}", "refresh_minutes": 5,
               "window_hours": 1, "pools": {"web": ["web1", "web2", "web3", "web4"], "db": ["db1"]},
               "timeout_seconds": 1}
    with live(fake_slack, sqlite_url, metrics, ShiftedClock(datetime.now(UTC))) as lv:
        # down (connection refused): the incident opens as ever; the channel is told, once
        channel = lv.open_incident()
        assert lv.bot.header(channel) and lv.header_image(channel) is None
        warning = lv.posts(channel)[-1]
        assert warning.startswith(":warning: No graph: the metrics source is unreachable. Prometheus at "
                                  f"http://127.0.0.1:{port} refused the connection"), warning
        assert warning.endswith("pagerbot tries again at the next refresh.")
        lv.tick()  # tried again (no graph yet, so due at every tick): still down, and not said twice
        assert lv.posts(channel)[-1] == warning and lv.live_files() == []
        assert "acknowledged" in lv.bot.do("ack", channel_id=channel)

        # slow (accepts, never answers): commands answer within the timeout; the incident moves on
        with silent_listener(port):
            started = time.monotonic()
            said = lv.bot.say("hosts", channel_id=channel)
            assert said == (f":warning: The metrics source is unreachable: Prometheus at http://127.0.0.1:{port} "
                            "did not answer within 1 s.")
            assert time.monotonic() - started < 5
            lv.tick()
            assert lv.bot.do("status identified", channel_id=channel).endswith(
                "<@U0ALICE> moved the incident to identified")
            assert lv.server.drain()
            assert lv.bot.incident()["status"] == "identified" and lv.live_files() == []

        # back: a real Prometheus with the morning's history on the same port; the next tick draws it
        end = math.floor(time.time() / 60) * 60
        with start_prometheus(tmp_path, history=incident_history(end), port=port,
                              wait_for=['node_load1{instance="db1"}']):
            lv.tick()
            [graph] = lv.live_files()
            assert (lv.slack.files[graph].bytes or b"").startswith(PNG)
            assert lv.header_image(channel) == graph
            assert "db1 is disk-bound" in _section_text(lv.bot.header(channel), "*What stands out*")
        kinds = [(e["kind"], e["text"]) for e in lv.bot.timeline() if e["kind"].startswith("graph")]
        assert [k for k, _ in kinds] == ["graph_unavailable", "graph"]
        assert re.fullmatch(r"Graph posted: Load, cluster, [-\d: –PSDT]+ P[SD]T(, [-\d]+)? "
                            r"\(the metrics source answers again\)", kinds[1][1]), kinds[1][1]
        assert lv.bot.incident()["status"] == "identified"


# --- the fake is as strict as Slack about files -----------------------------------------------------------------

def test_fake_slack_enforces_the_upload_steps_and_file_ids(fake_slack: FakeSlack) -> None:
    client = WebClient(token="xoxb-0000-fake-pagerbot-token", base_url=fake_slack.api_url)
    channel = fake_slack.add_channel("inc-files", members=["U0ALICE", BOT_USER_ID])

    def error(call: Any) -> str:
        with pytest.raises(SlackApiError) as raised:
            call()
        return str(raised.value.response["error"])

    image = {"type": "image", "alt_text": "load", "slack_file": {"id": "F0NOPE"}}
    assert error(lambda: client.chat_postMessage(channel=channel, text="x", blocks=[image])) == "invalid_blocks"
    assert error(lambda: client.files_completeUploadExternal(files=[{"id": "F0NOPE"}],
                                                             channel_id=channel)) == "file_not_found"
    assert error(lambda: client.files_delete(file="F0NOPE")) == "file_not_found"
    step = client.files_getUploadURLExternal(filename="load.png", length=len(PNG))
    # not uploaded yet: cannot complete, cannot be shown
    assert error(lambda: client.files_completeUploadExternal(files=[{"id": step["file_id"]}],
                                                             channel_id=channel)) == "file_not_found"
    shown = {**image, "slack_file": {"id": step["file_id"]}}
    assert error(lambda: client.chat_postMessage(channel=channel, text="x", blocks=[shown])) == "invalid_blocks"
    png = client.files_upload_v2(channel=channel, content=PNG, filename="load.png")["file"]["id"]
    client.chat_postMessage(channel=channel, text="graph", blocks=[{**image, "slack_file": {"id": png}}])
    # only images can be shown in an image block
    md = client.files_upload_v2(channel=channel, content="# notes", filename="notes.md")["file"]["id"]
    assert error(lambda: client.chat_postMessage(channel=channel, text="x",
                                                 blocks=[{**image, "slack_file": {"id": md}}])) == "invalid_blocks"
    # a deleted file is gone: not shown, not deleted twice
    client.files_delete(file=png)
    assert error(lambda: client.chat_postMessage(channel=channel, text="x",
                                                 blocks=[{**image, "slack_file": {"id": png}}])) == "invalid_blocks"
    assert error(lambda: client.files_delete(file=png)) == "file_deleted"
