"""Grafana's HMAC signature through a running server, signed by Grafana's own rule (grafana/alerting,
``http/hmac.go``: the lowercase hex HMAC-SHA256, keyed with the secret, of ``<unix seconds>:<body>`` when a
timestamp header is configured, else of the body, in headers the contact point names): accepted when fresh,
refused when stale, replayed or tampered with, with header names of the user's choosing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.slack_api import FakeSlack
from tests.harness import ServerThread, make_settings
from tests.payloads import am_alert, am_notification

SECRET = "grafana-hmac-secret"
SIGNATURE, TIMESTAMP = "X-Pagerbot-Sig", "X-Pagerbot-Time"


def grafana_sign(body: bytes, timestamp: int | None) -> str:
    """What Grafana's HMAC round tripper computes."""
    signer = hmac.new(SECRET.encode(), digestmod=hashlib.sha256)
    if timestamp is not None:
        signer.update(str(timestamp).encode() + b":")
    signer.update(body)
    return signer.hexdigest()


@pytest.fixture
def server(sqlite_url: str, fake_slack: FakeSlack, tmp_path: Path) -> Iterator[ServerThread]:
    settings = make_settings(sqlite_url, slack_api_url=fake_slack.api_url, config={"intake": {
        "grafana_secret": SECRET, "grafana_signature_header": SIGNATURE, "grafana_timestamp_header": TIMESTAMP}})
    with ServerThread(settings) as running:
        yield running


def post(server: ServerThread, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{server.url}/alerts/grafana", content=body, timeout=30,
                      headers={"Content-Type": "application/json", **headers})


def test_grafana_signatures(server: ServerThread) -> None:
    body = json.dumps(am_notification([am_alert("HighLoad")]) | {"version": "1", "state": "alerting"}).encode()
    now = int(time.time())
    fresh = {SIGNATURE: grafana_sign(body, now), TIMESTAMP: str(now)}
    assert post(server, body, fresh).status_code == 202
    replay = post(server, body, fresh)
    assert replay.status_code == 401 and replay.json()["error"] == "replayed request"
    # Grafana signs each attempt anew: a retry a second later is a new signature, and accepted
    retry = {SIGNATURE: grafana_sign(body, now + 1), TIMESTAMP: str(now + 1)}
    assert post(server, body, retry).status_code == 202
    stale = now - 3600
    refused = post(server, body, {SIGNATURE: grafana_sign(body, stale), TIMESTAMP: str(stale)})
    assert refused.status_code == 401 and TIMESTAMP in refused.json()["detail"]
    assert post(server, body + b" ", {SIGNATURE: grafana_sign(body, now + 2), TIMESTAMP: str(now + 2)}
                ).status_code == 401  # tampered
    assert post(server, body, {SIGNATURE: grafana_sign(body, None)}).status_code == 401  # no timestamp
    assert post(server, body, {"X-Grafana-Alerting-Signature": grafana_sign(body, now + 3),
                               TIMESTAMP: str(now + 3)}).status_code == 401  # not the configured header
    server.apply_inbox()
    assert len(server.get("/incidents")) == 1
