"""Helpers of the intake end-to-end tests: storms of Alertmanager notifications, reading the database
directly (the tests count rows rather than trust the API), and Slack-side checks of an incident."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import make_url, text

from pagerbot.services.inbox import alerts_of
from pagerbot.store.db import create_engine, is_sqlite
from pagerbot.store.inbox import Delivery
from pagerbot.store.inbox_file import waiting_in_file
from tests.fakes.slack_api import FakeSlack, Message
from tests.harness import API_TOKEN, Posted, ServerThread
from tests.payloads import am_alert, am_notification

ALERT_NAMES = ("HostDown", "HighLoad", "DiskFull", "NTPDrift", "OOMKills")


def storm_alerts(count: int, *, cluster: str = "prod", prefix: str = "web") -> list[dict[str, Any]]:
    """``count`` distinct firing alerts of one cluster: five alert names over ``count / 5`` hosts."""
    alerts = []
    for index in range(count):
        name = ALERT_NAMES[index % len(ALERT_NAMES)]
        host = f"{prefix}{index // len(ALERT_NAMES):03d}"
        alerts.append(am_alert(name, instance=f"{host}:9100", cluster=cluster, summary=f"{name} on {host}"))
    return alerts


def storm_notifications(alerts: list[dict[str, Any]], *, per_notification: int = 10, repeat_every: int = 10,
                        cluster: str = "prod") -> list[dict[str, Any]]:
    """Alertmanager notifications of ``per_notification`` alerts; every ``repeat_every``-th one is delivered
    a second time three notifications later (Alertmanager is at-least-once and resends)."""
    bodies = [am_notification(alerts[start:start + per_notification], cluster=cluster)
              for start in range(0, len(alerts), per_notification)]
    sequence: list[dict[str, Any]] = []
    repeats: dict[int, dict[str, Any]] = {}
    for index, body in enumerate(bodies):
        sequence.append(body)
        if index % repeat_every == repeat_every - 1:
            repeats[index + 3] = body
        if index in repeats:
            sequence.append(repeats.pop(index))
    sequence += repeats.values()
    return sequence


class Sender:
    """An alert sender keeping one connection open (as Alertmanager does): ``post`` returns the answer and,
    when the sender knows the server, what applying the inbox after it did."""

    def __init__(self, url: str, token: str = API_TOKEN, *, server: ServerThread | None = None) -> None:
        self.url = url
        self.server = server
        self.client = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def post(self, sender: str, body: Any) -> Posted:
        response = self.client.post(f"{self.url}/alerts/{sender}", json=body)
        applied = self.server.apply_inbox() if self.server is not None and response.is_success else None
        return Posted(response, applied)

    def post_all(self, sender: str, bodies: list[Any]) -> dict[str, int]:
        """Post each body, expect 202, and add up what applying each did (with a server) or the alerts accepted."""
        totals = {"new": 0, "duplicates": 0, "updated": 0, "resolved": 0, "accepted": 0}
        for body in bodies:
            answer = self.post(sender, body)
            assert answer.status_code == 202, answer.text
            totals["accepted"] += answer.json()["alerts"]
            if answer.applied is not None:
                for key in ("new", "duplicates", "updated", "resolved"):
                    totals[key] += getattr(answer.applied, key)
        return totals

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def incident_alerts(server: ServerThread) -> dict[str, dict[str, Any]]:
    """Every stored alert by fingerprint (the latest occurrence), read through the API."""
    found: dict[str, dict[str, Any]] = {}
    for incident in server.get("/incidents"):
        for alert in server.get(f"/incidents/{incident['id']}")["alerts"]:
            found[alert["fingerprint"]] = alert
    return found


def sql(database_url: str, statement: str, **params: Any) -> list[tuple[Any, ...]]:
    """Run one statement on the database with a fresh engine (from any thread without a running loop)."""
    async def run() -> list[tuple[Any, ...]]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                return [tuple(row) for row in (await connection.execute(text(statement), params)).all()]
        finally:
            await engine.dispose()
    return asyncio.run(run())


def scalar(database_url: str, statement: str, **params: Any) -> Any:
    return sql(database_url, statement, **params)[0][0]


def waiting_deliveries(database_url: str) -> list[Delivery]:
    """Deliveries answered 2xx and not applied yet: in the inbox table, and on SQLite in the inbox file."""
    table = [Delivery(*row) for row in sql(database_url, "SELECT id, source, kind, payload FROM inbox "
                                                         "WHERE failed_at IS NULL ORDER BY id")]
    if not is_sqlite(database_url):
        return table
    database = make_url(database_url).database or ""
    return table + [Delivery(row.id, row.source, row.kind, row.payload, in_file=True)
                    for row in waiting_in_file(database)]


def stored_fingerprints(database_url: str) -> set[str]:
    """Fingerprints of the alerts stored: applied (the alerts table) or answered and waiting in the inbox."""
    applied = {row[0] for row in sql(database_url, "SELECT fingerprint FROM alerts")}
    waiting = {event.fingerprint for delivery in waiting_deliveries(database_url) for event in alerts_of(delivery)}
    return applied | waiting


@dataclass
class SlackView:
    """What a person sees in Slack of the one incident of a test."""

    channel_id: str
    messages: list[Message]
    pinned: list[Message]
    announcements: list[Message]

    @classmethod
    def of(cls, slack: FakeSlack) -> SlackView:
        channels = [c for c in slack.channels.values() if c.name.startswith("inc-")]
        assert len(channels) == 1, [c.name for c in channels]
        announce = slack.channel_by_name("incidents")
        assert announce is not None
        channel = channels[0].id
        return cls(channel, slack.messages(channel), slack.pinned(channel), slack.messages(announce.id))

    def with_text(self, start: str) -> list[Message]:
        return [m for m in self.messages if m.text.startswith(start)]

    def headers(self) -> list[Message]:
        return self.with_text("INC-")

    def digests(self) -> list[Message]:
        return self.with_text("Alert digest")

    def lines(self) -> Iterator[str]:
        for message in self.messages:
            yield from message.text.splitlines()

    def assert_opened_once(self) -> None:
        """One channel (checked by ``of``), one header and it pinned, one announcement."""
        assert len(self.headers()) == 1, [m.text for m in self.headers()]
        assert [m.ts for m in self.pinned] == [self.headers()[0].ts]
        assert len(self.announcements) == 1, [m.text for m in self.announcements]
        assert f"<#{self.channel_id}>" in self.announcements[0].text
