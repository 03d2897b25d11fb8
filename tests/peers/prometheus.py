"""Real Prometheus and node_exporter on loopback for integration tests (Debian's packages).

History without waiting hours: samples are written as OpenMetrics text and turned into TSDB blocks with
``promtool tsdb create-blocks-from openmetrics`` before Prometheus starts on that directory.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.peers.ports import free_port, need, stop_process


@dataclass
class OpenMetrics:
    """Collects samples by family and writes them as one OpenMetrics file (families contiguous)."""

    families: dict[str, tuple[str, dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]]] = field(
        default_factory=dict)

    def add(self, name: str, kind: str, labels: Mapping[str, str], t: float, value: float) -> None:
        """``name`` is the sample name (``node_cpu_seconds_total`` for a counter)."""
        family = name.removesuffix("_total") if kind == "counter" else name
        _, series = self.families.setdefault(family, (kind, {}))
        series.setdefault(tuple(sorted(labels.items())), []).append((t, value))

    def text(self) -> str:
        lines: list[str] = []
        for family, (kind, series) in self.families.items():
            lines.append(f"# TYPE {family} {kind}")
            sample = f"{family}_total" if kind == "counter" else family
            for labels, points in series.items():
                lab = ",".join(f'{k}="{v}"' for k, v in labels)
                for t, v in sorted(points):
                    lines.append(f"{sample}{{{lab}}} {v!r} {int(t)}")
        lines.append("# EOF")
        return "\n".join(lines) + "\n"


def create_blocks(openmetrics: str, tsdb: Path, tmp: Path) -> None:
    promtool = need("promtool")
    src = tmp / "history.om"
    src.write_text(openmetrics)
    tsdb.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(src), str(tsdb)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"promtool could not create blocks: {done.stderr or done.stdout}")


def _get_json(url: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            body = json.loads(resp.read())
            return body if isinstance(body, dict) else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


@dataclass
class NodeExporter:
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def start_node_exporter(tmp: Path) -> Iterator[NodeExporter]:
    binary = need("prometheus-node-exporter")
    port = free_port()
    log = tmp / "node_exporter.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}"], stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"node_exporter exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"node_exporter did not answer on 127.0.0.1:{port}")
            time.sleep(0.2)
        yield NodeExporter(port)
    finally:
        stop_process(proc)


@dataclass
class Prometheus:
    port: int
    tsdb: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def query(self, q: str) -> list[dict[str, object]]:
        body = _get_json(f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': q})}")
        if not body or body.get("status") != "success":
            return []
        data = body["data"]
        assert isinstance(data, dict)
        result = data.get("result")
        return result if isinstance(result, list) else []


@contextmanager
def start_prometheus(
    tmp: Path, *, history: str | None = None, targets: Sequence[tuple[str, str]] = (),
    wait_for: Iterable[str] = ("up",), port: int | None = None,
) -> Iterator[Prometheus]:
    """Start Prometheus on ``port`` (a free one by default); ``history`` (OpenMetrics text) becomes its TSDB
    blocks first; ``targets`` are ``(address, instance name)`` pairs scraped every second. Ready when every
    query of ``wait_for`` answers with a result (without targets, ``up`` has none and is not waited for)."""
    binary = need("prometheus")
    tsdb = tmp / "tsdb"
    if history is not None:
        create_blocks(history, tsdb, tmp)
    tsdb.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    jobs = []
    for i, (address, instance) in enumerate(targets):
        jobs.append(
            f"  - job_name: node{i}\n"
            f"    static_configs: [{{targets: ['{address}']}}]\n"
            f"    relabel_configs: [{{target_label: instance, replacement: '{instance}'}}]\n")
    config = tmp / "prometheus.yml"
    scrape = "scrape_configs:\n" + "".join(jobs) if jobs else "scrape_configs: []\n"
    config.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n" + scrape)
    log = tmp / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tsdb}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=30d"],
            stdout=out, stderr=subprocess.STDOUT)
    prom = Prometheus(port, tsdb)
    try:
        deadline = time.monotonic() + 60
        pending = list(wait_for) if jobs else [q for q in wait_for if q != "up"]  # no targets: no up
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {log.read_text(errors='replace')[-3000:]}")
            ready = _get_json(f"{prom.url}/api/v1/status/buildinfo") is not None
            if ready:
                pending = [q for q in pending if not prom.query(q)]
                if not pending:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"prometheus on 127.0.0.1:{port} was not ready (waiting for {pending}); "
                                   f"log: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.3)
        yield prom
    finally:
        stop_process(proc)
