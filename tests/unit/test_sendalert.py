from __future__ import annotations

import json

import httpx
import pytest

from pagerbot.core.alerts import Severity
from pagerbot.intake.generic import parse_generic
from pagerbot.sendalert import build_generic_body, parse_severity, send_alert

URL = "http://pagerbot.test/alerts/generic"


class Recorder:
    def __init__(self, status: int = 202, text: str = '{"status":"accepted"}') -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.text = text

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, text=self.text, headers={"Content-Type": "application/json"})


def test_send_alert_posts_the_generic_form() -> None:
    recorder = Recorder()
    status, text = send_alert(
        URL,
        token="tok",
        title="web1 HTTP is CRITICAL",
        severity="CRITICAL",
        host="web1",
        key="web1/HTTP",
        description="connection refused",
        transport=httpx.MockTransport(recorder),
    )
    assert (status, text) == (202, '{"status":"accepted"}')
    [request] = recorder.requests
    assert request.method == "POST" and str(request.url) == URL
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.content)
    assert body == {
        "title": "web1 HTTP is CRITICAL",
        "status": "firing",
        "severity": "sev1",
        "host": "web1",
        "key": "web1/HTTP",
        "description": "connection refused",
    }
    [alert] = parse_generic(body)  # what the server will make of it
    assert alert.fingerprint == "web1/HTTP" and alert.severity is Severity.SEV1


def test_send_alert_resolve_and_error_answers_are_returned() -> None:
    recorder = Recorder(401, '{"error":"unauthorized"}')
    status, text = send_alert(
        URL, token="bad", title="t", resolve=True, transport=httpx.MockTransport(recorder)
    )
    assert status == 401 and "unauthorized" in text
    assert json.loads(recorder.requests[0].content) == {"title": "t", "status": "resolved"}


def test_bad_severity_fails_before_sending() -> None:
    recorder = Recorder()
    with pytest.raises(ValueError, match="severity"):
        send_alert(URL, token="t", title="t", severity="loud", transport=httpx.MockTransport(recorder))
    assert recorder.requests == []


def test_connection_errors_propagate_as_httpx_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(httpx.ConnectError):
        send_alert(URL, token="t", title="t", transport=httpx.MockTransport(refuse))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("CRITICAL", 1),
        ("DOWN", 1),
        ("UNREACHABLE", 2),
        ("WARNING", 3),
        ("UNKNOWN", 3),
        ("OK", 4),
        ("UP", 4),
        ("2", 2),
        ("sev4", 4),
        (1, 1),
        ("error", 2),
    ],
)
def test_parse_severity(given: str | int, expected: int) -> None:
    assert parse_severity(given) == expected


def test_build_generic_body() -> None:
    assert build_generic_body(title=" t ") == {"title": "t", "status": "firing"}
    assert build_generic_body(title="t", severity="", labels={"cluster": "c"}, url="http://x") == {
        "title": "t",
        "status": "firing",
        "labels": {"cluster": "c"},
        "url": "http://x",
    }
    with pytest.raises(ValueError):
        build_generic_body(title="  ")
