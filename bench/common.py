"""Helpers the benchmarks share: processes, their CPU and memory, fresh databases, waiting, tables."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fakes.slack_api import BOT_TOKEN  # noqa: E402
from tests.harness import API_TOKEN, SIGNING_SECRET, free_port  # noqa: E402
from tests.harness import database as harness_database  # noqa: E402

__all__ = ["API_TOKEN", "ROOT", "SIGNING_SECRET", "Proc", "database", "free_port", "machine", "print_table", "rss_mb",
           "start_pagerbot", "tree_cpu_seconds", "wait_http"]

_TICK = os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of one process (not its children), in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def tree_pids(pid: int) -> list[int]:
    tree = _children()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, ()))
    return out


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants."""
    total = 0
    for p in tree_pids(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICK


def wait_http(url: str, timeout: float = 60, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


class Proc:
    """A server process started for a benchmark, stopped (SIGTERM, then SIGKILL) by its own id."""

    def __init__(self, args: Sequence[str], *, env: dict[str, str] | None = None, log: Path | None = None,
                 cwd: Path | None = None) -> None:
        self.log = log
        out: Any = open(log, "ab") if log else subprocess.DEVNULL
        self._out = out
        self.popen = subprocess.Popen(list(args), env={**os.environ, **(env or {})}, stdout=out, stderr=out,
                                      cwd=cwd)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, timeout: float = 15) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        if self._out is not subprocess.DEVNULL:
            self._out.close()

    def __enter__(self) -> Proc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """A fresh database: a new SQLite file in a new folder, or a new PostgreSQL database dropped afterwards."""
    with harness_database(kind, Path(tempfile.mkdtemp(dir=tmp, prefix="db-"))) as url:
        yield url


PAGERBOT_CONFIG = """\
timezone: UTC
slack:
  announce_channel: incidents
  responders: [U0ALICE]
grouping:
  labels: [cluster]
"""


def start_pagerbot(database_url: str, slack_api_url: str, tmp: Path, name: str) -> tuple[Proc, str]:
    """``pagerbot serve`` as a subprocess, Slack pointed at ``slack_api_url``; returns it and its base URL."""
    config = tmp / "pagerbot.yaml"
    config.write_text(PAGERBOT_CONFIG)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"PAGERBOT_DATABASE_URL": database_url, "PAGERBOT_API_TOKEN": API_TOKEN, "PAGERBOT_CONFIG": str(config),
           "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack_api_url,
           "PAGERBOT_PUBLIC_URL": url}
    args = [sys.executable, "-m", "pagerbot", "serve", "--port", str(port), "--log-format", "text",
            "--log-level", "WARNING"]
    proc = Proc(args, env=env, log=tmp / f"{name}.log", cwd=ROOT)
    try:
        wait_http(f"{url}/healthz", 90, proc.popen)
    except BaseException:
        proc.stop()
        raise
    return proc, url


def start_floor(database_url: str, tmp: Path, name: str) -> tuple[Proc, str]:
    """The floor (bench/floor.py) as a subprocess on ``database_url``; returns it and its base URL."""
    port = free_port()
    args = [sys.executable, str(ROOT / "bench" / "floor.py"), "--database-url", database_url, "--port", str(port),
            "--token", API_TOKEN]
    proc = Proc(args, log=tmp / f"{name}.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 60, proc.popen)
    except BaseException:
        proc.stop()
        raise
    return proc, f"http://127.0.0.1:{port}"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gb = 0.0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_gb = int(line.split()[1]) / 1024 / 1024
                break
    pg = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        pg = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "SHOW server_version"],
                            capture_output=True, text=True, timeout=10).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gb": round(mem_gb, 1),
            "python": platform.python_version(), "postgresql": pg, "kernel": platform.release(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "loadavg": [round(x, 2) for x in os.getloadavg()]}


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, markdown: bool = False) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    if markdown:
        lines.append("| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
        lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        lines += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    else:
        lines.append("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    text = "\n".join(lines)
    print(text)
    return text
