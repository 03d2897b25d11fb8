"""`pagerbot demo`: replay the scripted morning (pagerbot/demo/scenario) through the real server code.

SQLite in the output folder, the local workspace instead of Slack, the recorded metrics as the metrics
source, a real SMTP sink in-process; alerts go through the HTTP app, commands and clicks through the
same dispatchers Slack's listeners use. The scenario is data: scenario.yaml says what happens when.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import secrets
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import select

from pagerbot.bootstrap import build
from pagerbot.clock import ManualClock
from pagerbot.demo.mailbox import ScriptedMailbox
from pagerbot.demo.transcript import write_transcript
from pagerbot.metrics.recorded import RecordedSource, scenario_path
from pagerbot.services.actor import Actor
from pagerbot.services.buttons import run_button
from pagerbot.services.commands import CommandRequest, run_command
from pagerbot.services.postmortem import export
from pagerbot.settings import Settings, parse_config
from pagerbot.slack.capture import on_pin_reaction
from pagerbot.store.migrate import upgrade
from pagerbot.store.tables import LocalFile
from pagerbot.web.app import create_app


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class SmtpSink:
    """A real SMTP server on loopback that keeps what it receives (aiosmtpd)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.received: list[bytes] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                sink.received.append(bytes(envelope.content))
                return "250 Message accepted"

        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self) -> int:
        self.controller.start()
        return self.port

    def stop(self) -> None:
        self.controller.stop()


async def run_demo(out: Path, *, pause: float = 0.0) -> int:
    started = time.monotonic()
    scenario_dir = scenario_path()
    scenario = yaml.safe_load((scenario_dir / "scenario.yaml").read_text(encoding="utf-8"))
    if out.exists():  # what an earlier run wrote, so that nothing stale sits beside this run's files
        for name in ("pagerbot.db", "pagerbot.db-wal", "pagerbot.db-shm", "pagerbot.db-inbox", "transcript.html",
                     "escalation.eml", "postmortem.md"):
            (out / name).unlink(missing_ok=True)
        for graph in out.glob("graph-*.png"):  # the postmortem's graphs: this run may draw fewer
            graph.unlink()
        shutil.rmtree(out / "graphs", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)

    sink = SmtpSink()
    smtp_port = sink.start()
    config = dict(scenario["config"])
    config["smtp"] = {**config.get("smtp", {}), "host": "127.0.0.1", "port": smtp_port, "starttls": False}
    config["metrics"] = {**config["metrics"], "path": str(scenario_dir / scenario["metrics"])}
    token = secrets.token_hex(16)
    settings = Settings(database_url=f"sqlite:///{out / 'pagerbot.db'}", api_token=token,
                        config=parse_config(config, "scenario.yaml"))
    steps: list[dict[str, Any]] = scenario["steps"]
    clock = ManualClock(_when(steps[0]["at"]) - timedelta(minutes=1))
    await upgrade(settings.database_url)
    mailbox = ScriptedMailbox()
    runtime = build(settings, clock=clock, metrics=RecordedSource(scenario_dir / scenario["metrics"]),
                    mailbox=mailbox)
    assert runtime.local is not None
    local = runtime.local
    ctx = runtime.ctx
    local.directory.update({u["email"]: uid for uid, u in scenario.get("users", {}).items()})
    local.names.update({uid: u["name"] for uid, u in scenario.get("users", {}).items()})
    await local.ensure_channel(settings.config.slack.announce_channel or "incidents")
    app = create_app(runtime, background=False)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pagerbot.demo",
                               headers={"Authorization": f"Bearer {token}"})
    notes: dict[str, tuple[str, str]] = {}
    names = {uid: u["name"] for uid, u in scenario.get("users", {}).items()}
    print(f"pagerbot demo: {scenario['name']} ({len(steps)} steps) → {out}/")

    async def channel() -> str:
        async with ctx.store.sessions() as session:
            rows = await ctx.store.list_incidents(session, limit=1)
        if not rows or not rows[0].channel_id:
            raise RuntimeError("the scenario acts in an incident channel before one was opened")
        return rows[0].channel_id

    async def settle() -> None:
        if runtime.scheduler is not None:
            await runtime.scheduler.tick()
        await runtime.worker.drain(60, include_delayed=False)

    try:
        for number, step in enumerate(steps, start=1):
            clock.set(_when(step["at"]))
            await settle()
            kind = step["do"]
            local_time = clock.now().astimezone(settings.tz).strftime("%H:%M")
            who = names.get(step.get("user", ""), step.get("user", ""))
            if kind == "alert":
                body = (scenario_dir / scenario["notifications"] / step["file"]).read_bytes()
                response = await client.post("/alerts/alertmanager", content=body,
                                             headers={"Content-Type": "application/json"})
                response.raise_for_status()
                result = await runtime.inbox.drain()  # the worker's job, done here in step with the clock
                line = (f"alert {step['file']}: {result.new} new, {result.updated} updated, "
                        f"{result.resolved} resolved, {result.duplicates} repeats"
                        + (" → incident opened" if result.opened else ""))
            elif kind == "generic":
                response = await client.post("/alerts/generic", json=step["alert"])
                response.raise_for_status()
                result = await runtime.inbox.drain()
                line = (f"generic alert ({step['alert'].get('status', 'firing')}): {step['alert']['title'][:50]}"
                        + (" → incident opened" if result.opened else ""))
            elif kind == "command":
                channel_id = await channel()
                reply = await run_command(ctx, CommandRequest(text=step["text"], user_id=step["user"],
                                                              channel_id=channel_id, source="slack"))
                if reply.text and not reply.shown_in_channel:
                    await local.post_ephemeral(channel_id, step["user"], reply.text, reply.blocks)
                line = f"{who} typed /incident {step['text'][:60]}"
            elif kind == "click":
                where = await local.open_dm(step["user"]) if step.get("in") == "dm" else await channel()
                line = await _click(ctx, local, where, step, who)
            elif kind == "note":
                channel_id = await channel()
                posted = await local.post_message(channel_id, step["text"], user=step["user"])
                notes[step["id"]] = (channel_id, posted.ts)
                line = f"{who} wrote in the channel: {step['text'][:60]}…"
            elif kind == "pin":
                channel_id, ts = notes[step["message"]]
                await local.set_pinned(channel_id, ts, True)
                await on_pin_reaction(ctx, {"reaction": "pushpin", "user": step["user"],
                                            "item": {"type": "message", "channel": channel_id, "ts": ts}},
                                      added=True)
                line = f"{who} pinned a message to the timeline"
            elif kind == "reply":
                sent = email.message_from_bytes(sink.received[-1], policy=email.policy.default)
                raw = (scenario_dir / scenario["replies"] / step["file"]).read_bytes()
                mailbox.deliver(raw.replace(b"{REPLY_TO_ID}", str(sent["Message-ID"]).encode()))
                line = f"the vendor's reply {step['file']} arrives in the mailbox"
            elif kind == "wait":
                line = "time passes"
            else:
                raise RuntimeError(f"scenario step {number}: unknown step {kind!r}")
            await settle()
            print(f"[{number:2d}/{len(steps)}] {local_time} {line}", flush=True)
            if pause:
                await asyncio.sleep(pause)
        await runtime.worker.drain(60, include_delayed=True)
        written = await _write_outputs(ctx, local, out, sink, settings)
    finally:
        await client.aclose()
        await runtime.close()
        sink.stop()
    for path in written:
        print(f"wrote {path}")
    print(f"done in {time.monotonic() - started:.1f}s")
    return 0


async def _click(ctx: Any, local: Any, channel_id: str, step: dict[str, Any], who: str) -> str:
    wanted = step["action"]
    for message in reversed(await local.messages(channel_id)):
        for block in message.blocks:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("action_id") == wanted:
                    reply = await run_button(ctx, wanted, element.get("value", ""), Actor(step["user"]),
                                                channel_id=channel_id, trigger_id=None)
                    if reply is not None and reply.text and not reply.shown_in_channel:
                        await local.post_ephemeral(channel_id, step["user"], reply.text, reply.blocks)
                    return f"{who} clicked {element.get('text', {}).get('text', wanted)}"
    raise RuntimeError(f"no button {wanted!r} in channel {channel_id}")


async def _write_outputs(ctx: Any, local: Any, out: Path, sink: SmtpSink, settings: Settings) -> list[Path]:
    written: list[Path] = []
    written.append(await write_transcript(local, out / "transcript.html", settings.tz, ctx=ctx))
    graphs = out / "graphs"
    graphs.mkdir(exist_ok=True)
    for file in await _files(local):
        if file.name.endswith(".png") and not file.deleted:
            path = graphs / f"{file.id}-{file.name}"
            path.write_bytes(file.content)
    written.append(graphs)
    if sink.received:
        message = email.message_from_bytes(sink.received[0], policy=email.policy.default)
        path = out / "escalation.eml"
        path.write_bytes(message.as_bytes())
        written.append(path)
    async with ctx.store.sessions() as session:
        incidents = await ctx.store.list_incidents(session, limit=1)
    if incidents:
        postmortem = await export(ctx, incidents[0].id, out)
        written.append(postmortem)
    return written


async def _files(local: Any) -> list[Any]:
    async with local.store.sessions() as session:
        return list((await session.execute(select(LocalFile).order_by(LocalFile.created_at))).scalars())
