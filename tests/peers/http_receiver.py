"""Local HTTP peers on loopback for tests: a push service's webhook, a stand-in of PagerDuty's Events API v2, and a
server of static documents (an iCalendar feed) for GETs.

The stand-in checks each event as the Events API v2 does (PagerDuty's developer docs, "Send an Alert Event"):
``routing_key`` (a 32-character integration key), ``event_action`` one of trigger/acknowledge/resolve,
``dedup_key`` at most 255 characters and required to acknowledge or resolve, and for a trigger a ``payload``
with ``summary`` (at most 1024 characters), ``source`` and ``severity`` (critical, error, warning or info).
A valid event is answered 202 ``{"status": "success", "message": "Event processed", "dedup_key": …}``; an invalid
one 400 ``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SEVERITIES = {"critical", "error", "warning", "info"}
ACTIONS = {"trigger", "acknowledge", "resolve"}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    status: int


def pagerduty_errors(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["Event object must be a JSON object."]
    errors = []
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("'routing_key' is invalid: it must be a 32 character string.")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve).")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters.")
    if action in {"acknowledge", "resolve"} and not dedup:
        errors.append("'dedup_key' is missing and must be specified for this event action.")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or blank.")
        else:
            summary = payload.get("summary")
            if not isinstance(summary, str) or not summary or len(summary) > 1024:
                errors.append("'payload.summary' is missing, blank or longer than 1024 characters.")
            if not isinstance(payload.get("source"), str) or not payload.get("source"):
                errors.append("'payload.source' is missing or blank.")
            if payload.get("severity") not in SEVERITIES:
                errors.append("'payload.severity' is invalid (must be one of: critical, error, warning, info).")
    return errors


@dataclass
class HttpReceiver:
    """Records every POST; ``pagerduty=True`` answers as the Events API v2 does; ``status`` forces an answer.
    A GET of a path in ``documents`` answers its (content type, text); of another path, 404."""

    pagerduty: bool = False
    status: int | None = None
    received: list[Received] = field(default_factory=list)
    documents: dict[str, tuple[str, str]] = field(default_factory=dict)
    gets: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                receiver.gets.append(self.path)
                found = receiver.documents.get(self.path)
                status, content_type, text = (200, *found) if found else (404, "text/plain", "not found")
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                status, answer = receiver._answer(body)
                receiver.received.append(Received(self.path, dict(self.headers), body, status))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-receiver", daemon=True)
        self._thread.start()
        return self

    def _answer(self, body: Any) -> tuple[int, dict[str, Any]]:
        if self.status is not None:
            return self.status, {"error": "forced"}
        if not self.pagerduty:
            return 200, {"ok": True}
        errors = pagerduty_errors(body)
        if errors:
            return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
        return 202, {"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key")}

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> HttpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
