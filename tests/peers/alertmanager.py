"""A real Prometheus Alertmanager on loopback for integration tests (Debian's prometheus-alertmanager).

It groups by ``group_by`` with ``group_wait: 1s`` and ``group_interval: 2s`` and pushes to one webhook
receiver with ``send_resolved: true`` and ``Authorization: Bearer <token>``, as docs/intake.md tells users
to configure it. Alerts are fed through its own API (``POST /api/v2/alerts``); an ``endsAt`` in the past
resolves one. No gossip port (``--cluster.listen-address=``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from tests.peers.ports import free_port, need, running


@dataclass
class Alertmanager:
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """``alerts``: ``{"labels": {...}, "annotations": {...}, "startsAt"?, "endsAt"?}`` (datetimes allowed)."""
        body = json.dumps([{k: v.isoformat() if isinstance(v, datetime) else v for k, v in a.items()}
                           for a in alerts]).encode()
        request = urllib.request.Request(f"{self.url}/api/v2/alerts", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status != 200:
                raise RuntimeError(f"alertmanager refused the alerts: {response.status} {response.read()!r}")

    def alerts(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=10) as response:
            found = json.loads(response.read())
        return found if isinstance(found, list) else []

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def webhook_receiver(url: str, token: str, **extra: Any) -> dict[str, Any]:
    """A ``webhook_configs`` receiver as docs/intake.md configures it (``extra``: e.g. ``max_alerts``)."""
    return {"webhook_configs": [{"url": url, "send_resolved": True,
                                 "http_config": {"authorization": {"credentials": token}}, **extra}]}


def pagerduty_receiver(url: str, token: str, **extra: Any) -> dict[str, Any]:
    """A ``pagerduty_configs`` receiver (Events API v2) sending to ``url`` instead of PagerDuty, with the
    token as its bearer credentials, as docs/intake.md configures it."""
    return {"pagerduty_configs": [{"url": url, "routing_key": "R0PAGERBOT0000000000000000000000", "send_resolved": True,
                                   "http_config": {"authorization": {"credentials": token}}, **extra}]}


@contextmanager
def start_alertmanager(tmp: Path, *, webhook_url: str | None = None, token: str,
                       group_by: Sequence[str] = ("cluster",),
                       receivers: Mapping[str, dict[str, Any]] | None = None) -> Iterator[Alertmanager]:
    """Alertmanager with one webhook receiver at ``webhook_url``, or with ``receivers`` (by name), each of
    which gets every notification (routes with ``continue: true``)."""
    binary = need("prometheus-alertmanager")
    port = free_port()
    if receivers is None:
        assert webhook_url is not None
        receivers = {"pagerbot": webhook_receiver(webhook_url, token)}
    names = list(receivers)
    config = {
        "route": {"receiver": names[0], "group_by": list(group_by), "group_wait": "1s",
                  "group_interval": "2s", "repeat_interval": "1h",
                  "routes": [{"receiver": name, "continue": True} for name in names]},
        "receivers": [{"name": name, **receiver} for name, receiver in receivers.items()],
    }
    path = tmp / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    storage = tmp / "alertmanager-data"
    storage.mkdir(parents=True, exist_ok=True)
    peer = Alertmanager(port, tmp / "alertmanager.log")
    argv = [binary, f"--config.file={path}", f"--storage.path={storage}", f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address="]
    with running(argv, peer.log, lambda: _ready(peer.url), what=f"alertmanager on 127.0.0.1:{port}"):
        yield peer
