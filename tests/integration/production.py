"""Helpers of the production tests: `pagerbot serve` processes, their /metrics, the database."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_requests import slash_command
from tests.harness import API_TOKEN, SIGNING_SECRET, ServerProcess, wait_for

# Ticks and leases short enough for tests (server.* in the config file; README, Production).
FAST = {"tick_seconds": 0.5, "outbox_lease_seconds": 3, "shutdown_seconds": 8}


def write_config(tmp_path: Path, config: dict[str, Any], name: str = "pagerbot.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


def server_env(database_url: str, slack: FakeSlack | None, config: Path | None = None,
               **extra: str) -> dict[str, str]:
    env = {"PAGERBOT_DATABASE_URL": database_url, "PAGERBOT_API_TOKEN": API_TOKEN}
    if slack is not None:
        env |= {"SLACK_BOT_TOKEN": slack.token, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": slack.api_url}
    if config is not None:
        env["PAGERBOT_CONFIG"] = str(config)
    return env | extra


@contextmanager
def serving(*servers: ServerProcess) -> Iterator[Sequence[ServerProcess]]:
    """Start the servers together (their migrations queue on an advisory lock); stop those still running."""
    try:
        with ThreadPoolExecutor(len(servers)) as pool:
            for started in [pool.submit(server.start) for server in servers]:
                started.result()
        yield servers
    finally:
        for server in servers:
            server.stop()


def post_alerts(url: str, sender: str, body: Any, *, timeout: float = 15) -> httpx.Response:
    return httpx.post(f"{url}/alerts/{sender}", json=body, headers={"Authorization": f"Bearer {API_TOKEN}"},
                      timeout=timeout)


class AlertTraffic:
    """Alertmanager notifications posted one after another from a thread (``Burst000``, ``Burst001``…) until
    stopped or the server stops accepting; ``answered`` names those answered 202."""

    def __init__(self, url: str, notification: Callable[[str], Any]) -> None:
        self.url = url
        self.notification = notification
        self.answered: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send)

    def _send(self) -> None:
        n = 0
        while not self._stop.is_set():
            name = f"Burst{n:03d}"
            n += 1
            try:
                if post_alerts(self.url, "alertmanager", self.notification(name), timeout=10).status_code == 202:
                    self.answered.append(name)
            except httpx.HTTPError:
                return  # the server stopped accepting

    def __enter__(self) -> AlertTraffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)


# --- /metrics -------------------------------------------------------------------------------------------

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of a /metrics answer, parsed by prometheus-client's own text parser."""
    response = httpx.get(f"{url}/metrics", timeout=10)
    response.raise_for_status()
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels`` (0 when there are none)."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


# --- the database ---------------------------------------------------------------------------------------

def query(database_url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of one statement, read straight from PostgreSQL (what the replicas share)."""
    import asyncpg

    async def run() -> list[dict[str, Any]]:
        connection = await asyncpg.connect(database_url)
        try:
            return [dict(r) for r in await connection.fetch(sql, *args)]
        finally:
            await connection.close()

    return asyncio.run(run())


# --- Slack ----------------------------------------------------------------------------------------------

def slash(server_url: str, fake: FakeSlack, text: str, *, channel_id: str, user: str = "U0ALICE",
          timeout: float = 15) -> dict[str, Any]:
    """Run ``/incident TEXT`` as Slack does (signed, over HTTP); return the answer posted to response_url."""
    url = fake.new_response_url(channel_id=channel_id, user_id=user)
    body, headers = slash_command(SIGNING_SECRET, text, user_id=user, channel_id=channel_id, response_url=url,
                                  trigger_id=fake.new_trigger_id())
    response = httpx.post(f"{server_url}/slack/events", content=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    answers = wait_for(lambda: fake.responses(url), timeout, what=f"an answer to /incident {text}")
    return dict(answers[0])
