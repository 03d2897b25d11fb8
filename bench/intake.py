"""Alert intake throughput and latency: pagerbot against a bare-receiver floor and against Alerta.

The same load for every target, from the same generator (wrk, with bench/wrk/alerts.lua):

- ``single``: single-alert posts (pagerbot's generic form; Alerta's ``POST /alert``), every alert new;
- ``am``: Alertmanager v4 notifications of 100 alerts, 10 of them repeats of the previous post
  (Alertmanager resends whole groups), to pagerbot's ``/alerts/alertmanager``, the floor's, and
  Alerta's ``/webhooks/prometheus``;

8 clients (wrk -t8 -c8: one connection per thread, each waiting for its answer), ``--duration`` seconds
per target after a short warm-up, each target on a fresh database. All targets run at once and the
load goes to one at a time, in slices of ``--slice`` seconds taken in turn: the machine's other work
(a shared 2-core box) then weighs on every target alike, and the ratios hold when the figures wander.

- ``pagerbot-sqlite``, ``pagerbot-pg``: ``pagerbot serve`` (a real subprocess, one uvicorn process as
  shipped), with Slack pointed at the fake Slack Web API of the tests (running in this process);
- ``floor``, ``floor-sqlite``: bench/floor.py, FastAPI on uvicorn, parse + one INSERT per alert + commit,
  asyncpg on PostgreSQL, aiosqlite on SQLite (pagerbot on each database is compared with the floor on it);
- ``alerta``: alerta-server from PyPI in its own virtualenv (``--alerta-venv``), under gunicorn with
  2 x cores + 1 sync workers (gunicorn's advice), on PostgreSQL, plugins off, no authentication.

Each alert carries a unique key (its fingerprint; Alerta's resource), so afterwards every alert of every
answered 2xx post is looked up in the target's database: a missing one fails the run. Rows beyond those
come only from the posts in flight when wrk stopped (at most one per client).

Latency is measured in the Lua script (request written to response read, monotonic clock, 1 % buckets):
wrk's own figures add "coordinated omission" corrections that assume an open-loop load.

The generator shares the 2 cores with the server and the database: it is the same for every target, so
the ratios compare like with like, and its CPU use is reported with each run (wrk spends a few
microseconds per request, well under a tenth of a core here).

    python bench/intake.py [--duration 30] [--targets pagerbot-sqlite,floor-sqlite,pagerbot-pg,floor,alerta]
                           [--modes single,am] [--alerta-venv DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    API_TOKEN,
    Proc,
    database,
    free_port,
    print_table,
    rss_mb,
    start_floor,
    start_pagerbot,
    tree_cpu_seconds,
    wait_http,
)

from pagerbot.store.inbox_file import pending_in_file
from tests.fakes.slack_api import FakeSlack

LUA = Path(__file__).resolve().parent / "wrk" / "alerts.lua"
CLIENTS = 8
PER_POST = 100
REPEATS = 10
TARGETS = ("pagerbot-sqlite", "floor-sqlite", "pagerbot-pg", "floor", "alerta")
MODES = ("single", "am")
DEFAULT_ALERTA_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pagerbot-bench" / "alerta-venv"

# --- the load ------------------------------------------------------------------------------------------

@dataclass
class Load:
    """One wrk run against one target."""

    mode: str
    run: str
    duration_s: float
    requests: int
    accepted_requests: int
    statuses: dict[str, int]
    socket_errors: dict[str, int]
    buckets: dict[int, int] = field(repr=False)
    step: float
    generator_cpu_s: float
    threads: list[dict[str, Any]] = field(repr=False)

    @property
    def alerts_per_request(self) -> int:
        return PER_POST if self.mode == "am" else 1

    @property
    def accepted_alerts(self) -> int:
        return self.accepted_requests * self.alerts_per_request

    @property
    def alerts_per_s(self) -> float:
        return self.accepted_alerts / self.duration_s

    def percentile_ms(self, q: float) -> float:
        return _percentile(self.buckets, self.step, q)

    def keys(self, counter: int, tid: int) -> list[str]:
        """The alert keys (fingerprints) that request number ``counter`` of client ``tid`` carried."""
        if self.mode == "single":
            return [f"{self.run}-{tid}-{counter}"]
        prev = counter - 1 if counter > 0 else counter
        return ([f"{self.run}-{tid}-{counter}-{j}" for j in range(PER_POST - REPEATS)]
                + [f"{self.run}-{tid}-{prev}-{j}" for j in range(REPEATS)])

    def accepted_keys(self) -> set[str]:
        keys: set[str] = set()
        for t in self.threads:
            for lo, hi in t["accepted_ranges"]:
                for c in range(lo, hi + 1):
                    keys.update(self.keys(c, t["tid"]))
        return keys

    def possible_keys(self) -> set[str]:
        """Every key any request of the run may have carried (sent, or prepared and never sent)."""
        keys: set[str] = set()
        for t in self.threads:
            for c in range(t["requested"]):
                keys.update(self.keys(c, t["tid"]))
        return keys


def merge(loads: list[Load]) -> Load:
    """Slices of one target's load as one run (the keys stay those of each slice)."""
    first = loads[0]
    buckets: dict[int, int] = {}
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    for load in loads:
        for k, n in load.buckets.items():
            buckets[k] = buckets.get(k, 0) + n
        for name, n in load.statuses.items():
            statuses[name] = statuses.get(name, 0) + n
        for name, n in load.socket_errors.items():
            errors[name] = errors.get(name, 0) + n
    return Load(mode=first.mode, run=first.run, duration_s=sum(x.duration_s for x in loads),
                requests=sum(x.requests for x in loads), accepted_requests=sum(x.accepted_requests for x in loads),
                statuses=statuses, socket_errors=errors, buckets=buckets, step=first.step,
                generator_cpu_s=sum(x.generator_cpu_s for x in loads), threads=[])


def _percentile(buckets: dict[int, int], step: float, q: float) -> float:
    total = sum(buckets.values())
    if not total:
        return math.nan
    rank, seen = q * total, 0
    for k in sorted(buckets):
        seen += buckets[k]
        if seen >= rank:
            return math.exp((k + 0.5) * step) / 1000
    return math.exp((max(buckets) + 0.5) * step) / 1000


def run_wrk(url: str, mode: str, flavor: str, run: str, token: str, duration: float, out_dir: Path) -> Load:
    out = out_dir / f"wrk-{run}.json"
    args = ["wrk", f"-t{CLIENTS}", f"-c{CLIENTS}", f"-d{max(1, round(duration))}s", "--timeout", "30s",
            "-s", str(LUA), url, "--", mode, flavor, run, token]
    proc = subprocess.Popen(args, env={**os.environ, "WRK_OUT": str(out)}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"wrk failed ({proc.returncode}): {text.strip()}")
    data = json.loads(out.read_text())
    step = float(data["log_step"])
    buckets: dict[int, int] = {}
    statuses: dict[str, int] = {}
    for t in data["threads"]:
        for k, n in t["latency_log_buckets"].items():
            buckets[int(k)] = buckets.get(int(k), 0) + n
        for s, n in t["statuses"].items():
            statuses[s] = statuses.get(s, 0) + n
    return Load(
        mode=mode, run=run, duration_s=data["duration_us"] / 1e6, requests=data["requests"],
        accepted_requests=sum(t["accepted"] for t in data["threads"]), statuses=statuses,
        socket_errors={k: v for k, v in data["errors"].items() if k != "status" and v}, buckets=buckets, step=step,
        generator_cpu_s=usage.ru_utime + usage.ru_stime, threads=data["threads"])


# --- the targets -----------------------------------------------------------------------------------------

@dataclass
class Running:
    url: str
    pid: int
    token: str
    flavor: str  # generic | alerta
    stored_keys: Callable[[], list[str]]
    # pagerbot answers once a delivery is in its inbox and applies it after: the deliveries not yet applied
    backlog: Callable[[], int] | None = None


def _pg_keys(url: str, sql: str) -> list[str]:
    import asyncpg

    async def query() -> list[str]:
        connection = await asyncpg.connect(url)
        try:
            return [r[0] for r in await connection.fetch(sql)]
        finally:
            await connection.close()

    return asyncio.run(query())


def wait_applied(server: Running, timeout: float = 300.0) -> float:
    """Seconds until the server has applied every delivery it answered (0 for servers that apply first)."""
    if server.backlog is None:
        return 0.0
    started = time.monotonic()
    while server.backlog() and time.monotonic() - started < timeout:
        time.sleep(0.05)
    return time.monotonic() - started


def _sqlite_keys(url: str, sql: str) -> list[str]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
        return [r[0] for r in connection.execute(sql)]


@contextmanager
def pagerbot(kind: str, tmp: Path, slack: FakeSlack) -> Iterator[Running]:
    with database(kind, tmp) as url:
        proc, base = start_pagerbot(url, slack.api_url, tmp, f"pagerbot-{kind}")
        with proc:
            sql = "SELECT fingerprint FROM alerts"
            waiting = "SELECT count(*) FROM inbox WHERE failed_at IS NULL"
            read = _sqlite_keys if kind == "sqlite" else _pg_keys

            def backlog() -> int:
                in_file = pending_in_file(url.removeprefix("sqlite:///")) if kind == "sqlite" else 0
                return int(read(url, waiting)[0]) + in_file

            yield Running(base, proc.pid, API_TOKEN, "generic", lambda: read(url, sql), backlog)


@contextmanager
def floor(tmp: Path, kind: str) -> Iterator[Running]:
    with database(kind, tmp) as url:
        proc, base = start_floor(url, tmp, "floor")
        with proc:
            read = _sqlite_keys if kind == "sqlite" else _pg_keys
            yield Running(base, proc.pid, API_TOKEN, "generic", lambda: read(url, "SELECT fingerprint FROM alerts"))


def alerta_missing(venv: Path) -> str | None:
    for tool in ("python", "gunicorn"):
        if not (venv / "bin" / tool).exists():
            return f"no {venv / 'bin' / tool} (bench/run installs alerta-server there)"
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import alerta, psycopg2"], capture_output=True,
                           text=True)
    if probe.returncode:
        return f"alerta-server does not import in {venv}: {probe.stderr.strip().splitlines()[-1:]}"
    return None


@contextmanager
def alerta(tmp: Path, venv: Path) -> Iterator[Running]:
    with database("postgresql", tmp) as url:
        conf = tmp / "alertad.conf"
        # Read off alerta/settings.py and alerta/utils/config.py of alerta-server 9: ALERTA_SVR_CONF_FILE is a
        # Python file of settings; PLUGINS=[] turns off the default reject/heartbeat/blackout/... plugins.
        conf.write_text(f"DATABASE_URL = {url!r}\nAUTH_REQUIRED = False\nPLUGINS = []\nDEBUG = False\n"
                        "LOG_LEVEL = 'ERROR'\nALLOWED_ENVIRONMENTS = ['Production', 'Development']\n"
                        "DEFAULT_ENVIRONMENT = 'Production'\n")
        env = {"ALERTA_SVR_CONF_FILE": str(conf)}
        # The schema first, in one process: gunicorn's workers each create it on start and race otherwise.
        subprocess.run([str(venv / "bin" / "python"), "-c", "from alerta import create_app; create_app()"],
                       env={**os.environ, **env}, check=True, capture_output=True, cwd=tmp)
        port = free_port()
        workers = 2 * (os.cpu_count() or 1) + 1
        args = [str(venv / "bin" / "gunicorn"), "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
                "--log-level", "warning", "alerta:create_app()"]
        with Proc(args, env=env, log=tmp / "alerta.log", cwd=tmp) as proc:
            wait_http(f"http://127.0.0.1:{port}/management/healthcheck", 60, proc.popen)
            yield Running(f"http://127.0.0.1:{port}", proc.pid, "", "alerta",
                          lambda: _pg_keys(url, "SELECT resource FROM alerts"))


# --- one run ---------------------------------------------------------------------------------------------

def start(target: str, tmp: Path, slack: FakeSlack, alerta_venv: Path) -> AbstractContextManager[Running]:
    if target.startswith("pagerbot"):
        return pagerbot("sqlite" if target.endswith("sqlite") else "postgresql", tmp, slack)
    if target.startswith("floor"):
        return floor(tmp, "sqlite" if target.endswith("sqlite") else "postgresql")
    return alerta(tmp, alerta_venv)


def measure_mode(targets: list[str], mode: str, *, duration: float, slice_s: float, warmup: float, tmp: Path,
                 slack: FakeSlack, alerta_venv: Path, failed: dict[str, str]) -> list[dict[str, Any]]:
    """Every target up at once, each on a fresh database; the load goes to one target at a time, in slices
    taken in turn (the order rotating), so that other work on the machine weighs on all of them alike."""
    slices = max(1, round(duration / slice_s))
    prefix = f"{mode[:2]}{int(time.time()) % 100000}"
    with ExitStack() as stack:
        servers: dict[str, Running] = {}
        for target in targets:
            try:
                servers[target] = stack.enter_context(start(target, tmp, slack, alerta_venv))
                if warmup:
                    server = servers[target]
                    run_wrk(server.url, mode, server.flavor, f"w{target[:2]}{prefix}", server.token, warmup, tmp)
                    wait_applied(server)
            except Exception as exc:  # one target failing leaves the others' figures
                print(f"{target:<16} {mode:<6} FAILED to start: {exc}", flush=True)
                failed[f"{target}/{mode}"] = f"{type(exc).__name__}: {exc}"
                servers.pop(target, None)
        loads: dict[str, list[Load]] = {t: [] for t in servers}
        cpu: dict[str, float] = dict.fromkeys(servers, 0.0)
        lag: dict[str, float] = dict.fromkeys(servers, 0.0)
        order = list(servers)
        for k in range(slices):
            for target in order[k % len(order):] + order[:k % len(order)]:
                server = servers[target]
                run = f"{target[:2]}{prefix}s{k}"
                cpu0 = tree_cpu_seconds(server.pid)
                try:
                    load = run_wrk(server.url, mode, server.flavor, run, server.token, duration / slices, tmp)
                except Exception as exc:
                    failed[f"{target}/{mode}"] = f"{type(exc).__name__}: {exc}"
                    continue
                loads[target].append(load)
                # The posts in flight when wrk stopped are still being handled: let them finish before the
                # next target's slice (and count their CPU here).
                time.sleep(min(5.0, 0.2 + 1.5 * load.percentile_ms(0.99) / 1000))
                # pagerbot's answered deliveries not yet applied: applied before the next slice, on its CPU.
                lag[target] += wait_applied(server)
                cpu[target] += tree_cpu_seconds(server.pid) - cpu0
        results = []
        for target, server in servers.items():
            if not loads[target] or f"{target}/{mode}" in failed:
                continue
            results.append(check(target, mode, loads[target], server, cpu[target], lag[target]))
            print(describe(results[-1]), flush=True)
        return results


def check(target: str, mode: str, slices: list[Load], server: Running, server_cpu: float,
          lag: float) -> dict[str, Any]:
    """Figures of one target, and whether every alert it answered 2xx for is in its database."""
    stored = [k for k in server.stored_keys() if not k.startswith("w")]  # less the warm-up's
    mine = set(stored)
    accepted: set[str] = set()
    possible: set[str] = set()
    for load in slices:
        accepted |= load.accepted_keys()
        possible |= load.possible_keys()
    missing = accepted - mine
    unexpected = mine - possible
    load = merge(slices)
    return {
        "target": target, "mode": mode, "duration_s": round(load.duration_s, 2), "slices": len(slices),
        "requests": load.requests, "accepted_requests": load.accepted_requests, "statuses": load.statuses,
        "socket_errors": load.socket_errors, "accepted_alerts": load.accepted_alerts,
        "alerts_per_s": round(load.alerts_per_s, 1),
        # The load's alerts over the load's time plus the time taken to apply what was still waiting after it.
        "applied_alerts_per_s": round(load.accepted_alerts / (load.duration_s + lag), 1),
        "apply_lag_s": round(lag / len(slices), 2),
        "requests_per_s": round(load.accepted_requests / load.duration_s, 1),
        "p50_ms": round(load.percentile_ms(0.50), 2), "p90_ms": round(load.percentile_ms(0.90), 2),
        "p99_ms": round(load.percentile_ms(0.99), 2), "max_ms": round(load.percentile_ms(1.0), 1),
        "distinct_alerts_answered": len(accepted), "distinct_alerts_stored": len(mine),
        "missing": len(missing), "unexpected": len(unexpected), "stored_twice": len(stored) - len(mine),
        "stored_beyond_answered": len(mine - accepted),
        "all_stored": not missing and not unexpected and len(stored) == len(mine),
        "server_cpu_pct": round(100 * server_cpu / load.duration_s, 1),
        "server_cpu_ms_per_alert": round(1000 * server_cpu / max(1, load.accepted_alerts), 3),
        "generator_cpu_pct": round(100 * load.generator_cpu_s / load.duration_s, 1),
        "server_rss_mb": round(rss_mb(server.pid), 1),
    }


def describe(r: dict[str, Any]) -> str:
    check = "all stored" if r["all_stored"] else (f"MISSING {r['missing']}, unexpected {r['unexpected']}, "
                                                 f"twice {r['stored_twice']}")
    bad = {s: n for s, n in r["statuses"].items() if not s.startswith("2")}
    if bad:
        check += f"; non-2xx {bad}"
    if r["socket_errors"]:
        check += f"; socket errors {r['socket_errors']}"
    applied = (f" (applied: {r['applied_alerts_per_s']:.0f}/s, {r['apply_lag_s']:.2f} s after a slice)"
               if r["apply_lag_s"] else "")
    return (f"{r['target']:<16} {r['mode']:<6} {r['alerts_per_s']:>9.0f} alerts/s{applied}  p50 {r['p50_ms']:7.1f} ms  "
            f"p99 {r['p99_ms']:7.1f} ms  ({r['accepted_requests']} posts, {r['distinct_alerts_stored']} rows: "
            f"{check}; server CPU {r['server_cpu_pct']:.0f} % = {r['server_cpu_ms_per_alert']:.2f} ms an alert, "
            f"wrk CPU {r['generator_cpu_pct']:.0f} %)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per run (default 30)")
    parser.add_argument("--slice", type=float, default=10.0,
                        help="the load goes to the targets in turn, this many seconds at a time (default 10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before each run (default 3)")
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated, of {', '.join(TARGETS)}")
    parser.add_argument("--modes", default=",".join(MODES), help="single, am or both (default)")
    parser.add_argument("--alerta-venv", type=Path, default=DEFAULT_ALERTA_VENV)
    parser.add_argument("--json", dest="json_path", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    targets = [t for t in args.targets.split(",") if t]
    modes = [m for m in args.modes.split(",") if m]
    for name in [*targets, *modes]:
        if name not in (*TARGETS, *MODES):
            parser.error(f"unknown target or mode {name!r}")
    if shutil.which("wrk") is None:
        print("intake: wrk is not installed (Debian: apt-get install wrk); bench/run installs it", file=sys.stderr)
        return 2

    results: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    if "alerta" in targets and (why := alerta_missing(args.alerta_venv)):
        skipped["alerta"] = why
        targets.remove("alerta")
    slack = FakeSlack().start()
    slack.add_channel("incidents", members=["U0ALICE"])
    try:
        with tempfile.TemporaryDirectory(prefix="pagerbot-bench-intake-") as tmp:
            for mode in modes:
                results += measure_mode(targets, mode, duration=args.duration, slice_s=args.slice,
                                        warmup=args.warmup, tmp=Path(tmp), slack=slack,
                                        alerta_venv=args.alerta_venv, failed=skipped)
    finally:
        slack.stop()

    floor_rate = {(r["target"], r["mode"]): r["alerts_per_s"] for r in results if r["target"].startswith("floor")}
    rows = []
    for r in results:
        # Each database has its own floor; Alerta runs on PostgreSQL.
        base = floor_rate.get(("floor-sqlite" if r["target"].endswith("sqlite") else "floor", r["mode"]))
        r["ratio_to_floor"] = round(r["alerts_per_s"] / base, 2) if base else None
        r["applied_ratio_to_floor"] = round(r["applied_alerts_per_s"] / base, 2) if base else None
        rows.append([r["target"], "single posts" if r["mode"] == "single" else "100-alert AM posts",
                     f"{r['alerts_per_s']:.0f}", f"{r['applied_alerts_per_s']:.0f}", f"{r['p50_ms']:.1f}",
                     f"{r['p99_ms']:.1f}",
                     f"{r['ratio_to_floor']:.2f}" if r["ratio_to_floor"] is not None else "-",
                     "yes" if r["all_stored"] else f"NO ({r['missing']} missing)"])
    print()
    print(f"intake: {CLIENTS} clients, {args.duration:.0f} s per run; applied/s counts the time to apply the "
          "deliveries still waiting when the load stopped")
    print_table(["target", "load", "alerts/s", "applied/s", "p50 ms", "p99 ms", "/ floor", "all stored"], rows)
    for name, why in skipped.items():
        print(f"  {name}: not measured: {why}")
    ok = all(r["all_stored"] for r in results)
    if args.json_path:
        args.json_path.write_text(json.dumps({"clients": CLIENTS, "duration_s": args.duration, "runs": results,
                                              "skipped": skipped}, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
