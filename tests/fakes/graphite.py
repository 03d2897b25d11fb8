"""A small fake of Graphite's render API (``/render?format=json``) with load averages of a few hosts.

Enough for a server that draws live graphs in a test without numpy in its own process (the recorded
source loads numpy) and without starting a real metrics stack: the load target (``servers.*.loadavg.01``)
answers one series per host over the asked window, one point a minute; every other target answers ``[]``,
as Graphite does for a pattern that matches nothing.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


class FakeGraphite:
    def __init__(self, hosts: Sequence[str] = ("web1", "web2", "web3")) -> None:
        self.hosts = list(hosts)
        self.requests: list[dict[str, list[str]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path != "/render":
                    self.send_error(404)
                    return
                params = parse_qs(url.query)
                fake.requests.append(params)
                body = json.dumps(fake.render(params)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-graphite", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def render(self, params: dict[str, list[str]]) -> list[dict[str, Any]]:
        target = (params.get("target") or [""])[0]
        if "loadavg.01" not in target:
            return []
        start, end = int(params["from"][0]), int(params["until"][0])
        start -= start % 60
        return [{"target": f"servers.{host}.loadavg.01", "tags": {},
                 "datapoints": [[round(2 + i + math.sin(t / 600), 2), t] for t in range(start, end + 1, 60)]}
                for i, host in enumerate(self.hosts)]

    def start(self) -> FakeGraphite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeGraphite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
