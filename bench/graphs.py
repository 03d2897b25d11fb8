"""Benchmark of the stacked load graph: 50 hosts x 6 hours at 1-minute steps.

Prints the median render time in-process and through the worker process, the memory (RSS) of this
(the "server") process with the worker and with in-process rendering, and, when rrdtool is installed,
the median time of ``rrdtool graph`` drawing the same stacked graph (AREA + STACK) from the same data
written into RRD files, with the ratio. The in-process renders and rrdtool's alternate, one of each in
turn, so that whatever else runs on the machine slows both alike.

    python bench/graphs.py [--runs 15] [--json PATH]

The server process imports matplotlib only for the in-process part, which runs last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pagerbot.graphs.worker import GraphRenderer, Marker
from pagerbot.metrics.series import Series

HOSTS = 50
POINTS = 6 * 60 + 1
STEP = 60
WIDTH, HEIGHT = 1000, 500
COLORS = ("1f77b4", "ff7f0e", "2ca02c", "d62728", "9467bd", "8c564b", "e377c2", "7f7f7f", "bcbd22", "17becf")


def rss_mb(pid: int | str = "self") -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_data(end: float) -> dict[str, Series]:
    rnd = random.Random(42)
    times = [end - (POINTS - 1 - i) * STEP for i in range(POINTS)]
    out = {}
    for h in range(HOSTS):
        name = f"web{h:02d}"
        base = 1.5 + rnd.random() * 2
        out[name] = Series(name, "load1", times, [
            max(0.0, base + math.sin(i / 25 + h) * 0.8 + rnd.gauss(0, 0.2) + (2.0 if i > 300 else 0.0))
            for i in range(POINTS)
        ])
    return out


def kwargs_for(data: dict[str, Series], end: float) -> dict[str, Any]:
    return {
        "series_by_host": data, "title": "web: stacked load (50 hosts)", "tz": ZoneInfo("America/Los_Angeles"),
        "markers": [Marker(datetime.fromtimestamp(end - 3600, UTC), "incident start"),
                    Marker(datetime.fromtimestamp(end - 2400, UTC), "alert: HighLoad")],
        "width_px": WIDTH, "height_px": HEIGHT,
    }


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def bench_worker(kwargs: dict[str, Any], runs: int) -> tuple[float, float, float, float]:
    renderer = GraphRenderer()
    try:
        t = time.perf_counter()
        await renderer.render("stacked_load", **kwargs)  # starts the worker, warms the figure
        first = time.perf_counter() - t
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            await renderer.render("stacked_load", **kwargs)
            times.append(time.perf_counter() - t)
        pid = await renderer.worker_pid()
        return median_ms(times), first * 1000, rss_mb(), rss_mb(pid)
    finally:
        await renderer.close()


class RrdGraph:
    """The same stacked graph drawn by ``rrdtool graph`` from RRD files holding the same series."""

    def __init__(self, rrdtool: str, data: dict[str, Series], end: float, tmp: Path) -> None:
        start = end - (POINTS - 1) * STEP
        defs: list[str] = []
        for i, (name, s) in enumerate(sorted(data.items())):
            path = tmp / f"{name}.rrd"
            subprocess.run([rrdtool, "create", str(path), "--start", str(int(start - STEP)), "--step", str(STEP),
                            f"DS:load:GAUGE:{2 * STEP}:0:U", f"RRA:AVERAGE:0.5:1:{POINTS + 10}"], check=True)
            updates = [f"{int(t)}:{v:.4f}" for t, v in zip(s.times, s.values, strict=True)]
            subprocess.run([rrdtool, "update", str(path), *updates], check=True)
            defs.append(f"DEF:h{i}={path}:load:AVERAGE")
            defs.append(f"AREA:h{i}#{COLORS[i % len(COLORS)]}:{name}" + (":STACK" if i else ""))
        self.args = ["graph", str(tmp / "rrd.png"), "--start", str(int(start)), "--end", str(int(end)), "--width",
                     str(WIDTH), "--height", str(HEIGHT), "--full-size-mode", "--title", "web stacked load",
                     "--vertical-label", "load", "--lower-limit", "0", *defs,
                     f"VRULE:{int(end - 3600)}#d62728:incident start", f"VRULE:{int(end - 2400)}#ff7f0e:alert"]
        self.rrdtool = rrdtool
        # The same through one long-running ``rrdtool -`` (pipe mode): no process start in the figure.
        self.pipe = subprocess.Popen([rrdtool, "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.spawn()  # warm the file cache
        self.piped()

    def spawn(self) -> float:
        t = time.perf_counter()
        subprocess.run([self.rrdtool, *self.args], check=True, capture_output=True)
        return time.perf_counter() - t

    def piped(self) -> float:
        assert self.pipe.stdin is not None and self.pipe.stdout is not None
        line = " ".join(f'"{a}"' if " " in a else a for a in self.args) + "\n"
        t = time.perf_counter()
        self.pipe.stdin.write(line)
        self.pipe.stdin.flush()
        while True:
            answer = self.pipe.stdout.readline()
            if not answer or answer.startswith(("OK", "ERROR")):
                break
        elapsed = time.perf_counter() - t
        if not answer.startswith("OK"):
            raise RuntimeError(f"rrdtool graph failed: {answer.strip()}")
        return elapsed

    def close(self) -> None:
        assert self.pipe.stdin is not None
        self.pipe.stdin.write("quit\n")
        self.pipe.stdin.flush()
        self.pipe.wait(10)


def bench_in_process_and_rrdtool(kwargs: dict[str, Any], data: dict[str, Series], end: float, runs: int,
                                 tmp: Path) -> tuple[float, float, bytes, tuple[float, float] | None]:
    """matplotlib in this process and rrdtool, one render of each in turn, so that the other work on the
    machine (a shared 2-core box) weighs on both alike and their ratio holds even when the times wander."""
    from pagerbot.graphs.render import stacked_load

    png = stacked_load(**kwargs)
    rrdtool = shutil.which("rrdtool")
    rrd = RrdGraph(rrdtool, data, end, tmp) if rrdtool else None
    mine, spawned, piped = [], [], []
    try:
        for _ in range(runs):
            t = time.perf_counter()
            png = stacked_load(**kwargs)
            mine.append(time.perf_counter() - t)
            if rrd is not None:
                spawned.append(rrd.spawn())
                piped.append(rrd.piped())
    finally:
        if rrd is not None:
            rrd.close()
    return median_ms(mine), rss_mb(), png, (median_ms(spawned), median_ms(piped)) if rrd else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="timed renders per figure (default 15)")
    parser.add_argument("--json", dest="json_path", help="also write the figures to this JSON file")
    parser.add_argument("--png", help="write the in-process graph here, to look at it")
    args = parser.parse_args(argv)

    end = float(math.floor(time.time() / STEP) * STEP)
    data = make_data(end)
    kwargs = kwargs_for(data, end)
    rss_start = rss_mb()
    worker_ms, worker_first_ms, rss_with_worker, worker_rss = asyncio.run(bench_worker(kwargs, args.runs))
    matplotlib_in_parent = "matplotlib" in sys.modules
    with tempfile.TemporaryDirectory(prefix="pagerbot-bench-") as tmp:
        inproc_ms, rss_in_process, png, rrd = bench_in_process_and_rrdtool(kwargs, data, end, args.runs, Path(tmp))
    if args.png:
        Path(args.png).write_bytes(png)

    figures: dict[str, Any] = {
        "hosts": HOSTS, "points_per_host": POINTS, "size_px": [WIDTH, HEIGHT], "runs": args.runs,
        "in_process_ms": round(inproc_ms, 1),
        "worker_ms": round(worker_ms, 1),
        "worker_first_render_ms": round(worker_first_ms, 1),
        "png_bytes": len(png),
        "server_rss_start_mb": round(rss_start, 1),
        "server_rss_with_worker_mb": round(rss_with_worker, 1),
        "worker_rss_mb": round(worker_rss, 1),
        "server_rss_in_process_mb": round(rss_in_process, 1),
        "matplotlib_loaded_in_server_with_worker": matplotlib_in_parent,
    }
    rows = [
        ("stacked load, in-process (median)", f"{inproc_ms:.1f} ms"),
        ("stacked load, through the worker (median)", f"{worker_ms:.1f} ms"),
        ("  first render, starting the worker", f"{worker_first_ms:.0f} ms"),
        ("server RSS at start", f"{rss_start:.1f} MB"),
        ("server RSS, rendering in the worker", f"{rss_with_worker:.1f} MB"),
        ("  the worker's own RSS", f"{worker_rss:.1f} MB"),
        ("server RSS, rendering in-process", f"{rss_in_process:.1f} MB"),
    ]
    if rrd is not None:
        spawned, piped = rrd
        figures.update({"rrdtool_graph_ms": round(spawned, 1), "rrdtool_graph_pipe_ms": round(piped, 1),
                        "rrdtool_over_matplotlib": round(spawned / inproc_ms, 2),
                        "rrdtool_pipe_over_matplotlib": round(piped / inproc_ms, 2)})
        rows += [
            ("rrdtool graph, one process per graph (median)", f"{spawned:.1f} ms"),
            ("rrdtool graph, pipe mode (median)", f"{piped:.1f} ms"),
            ("ratio rrdtool / matplotlib in-process", f"{spawned / inproc_ms:.2f}x (pipe: {piped / inproc_ms:.2f}x)"),
        ]
    else:
        rows.append(("rrdtool graph", "rrdtool not installed"))
    width = max(len(r[0]) for r in rows)
    print(f"stacked load graph: {HOSTS} hosts x {POINTS} points ({WIDTH}x{HEIGHT} px), {args.runs} runs")
    for label, value in rows:
        print(f"  {label:<{width}}  {value:>14}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
