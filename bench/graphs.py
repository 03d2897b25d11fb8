"""Benchmark of the stacked load graph: 50 hosts x 6 hours at 1-minute steps, against ``rrdtool graph``.

The two draw an equal graph: the same hosts and window, one stacked band per host in the same colours, a
legend with each host's last, average and maximum value (rrdtool's GPRINT), the capacity as a dashed line
(HRULE: 50 hosts x 4 cores), two marker lines (VRULE), the title and the caption, both at twice the density
(rrdtool's ``--zoom 2``, pagerbot's 2x rendering) with a 426 x 190 plot. Prints the median render time
in-process and through the worker process, the memory (RSS) of this (the "server") process with the worker
and with in-process rendering, and, when rrdtool is installed, the median time of ``rrdtool graph`` (one
process per graph, and through one ``rrdtool -`` pipe) with the ratio pagerbot / rrdtool (the target: 0.5 or
less). The in-process renders and rrdtool's alternate, one of each in turn, so that whatever else runs on the
machine slows both alike.

    python bench/graphs.py [--runs 15] [--json PATH] [--png PATH] [--rrd-png PATH]

The server process imports matplotlib only for the in-process part, which runs last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pagerbot.core.graph_frame import Window, caption
from pagerbot.graphs.markers import Span
from pagerbot.graphs.palette import host_colors
from pagerbot.graphs.worker import GraphRenderer, Marker
from pagerbot.metrics.series import Series

HOSTS = 50
CORES = 4  # per host: the capacity line is at HOSTS * CORES
POINTS = 6 * 60 + 1
STEP = 60
PLOT_W, PLOT_H = 426, 190  # logical pixels, as pagerbot lays out the stacked graph's plot
TZ = ZoneInfo("America/Los_Angeles")


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
    window = Window(datetime.fromtimestamp(end - (POINTS - 1) * STEP, UTC), datetime.fromtimestamp(end, UTC))
    opened = datetime.fromtimestamp(end - 3600, UTC)
    return {
        "series_by_host": data, "title": "Load, pool web (1-minute load, stacked)", "caption": caption(window, TZ),
        "tz": TZ, "window": window, "capacity": float(HOSTS * CORES),
        "markers": [Marker(opened, "INC-1 opened", kind="event"),
                    Marker(datetime.fromtimestamp(end - 2400, UTC), "HighLoad")],
        "spans": [Span(opened, window.end, "INC-1", "incident")],
    }


def png_size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


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
    """The equal graph drawn by ``rrdtool graph`` from RRD files holding the same series."""

    def __init__(self, rrdtool: str, data: dict[str, Series], end: float, tmp: Path, kwargs: dict[str, Any]) -> None:
        start = end - (POINTS - 1) * STEP
        colors = host_colors(sorted(data), {})
        defs: list[str] = []
        for i, (name, s) in enumerate(sorted(data.items())):
            path = tmp / f"{name}.rrd"
            subprocess.run([rrdtool, "create", str(path), "--start", str(int(start - STEP)), "--step", str(STEP),
                            f"DS:load:GAUGE:{2 * STEP}:0:U", f"RRA:AVERAGE:0.5:1:{POINTS + 10}"], check=True)
            updates = [f"{int(t)}:{v:.4f}" for t, v in zip(s.times, s.values, strict=True)]
            subprocess.run([rrdtool, "update", str(path), *updates], check=True)
            defs += [f"DEF:h{i}={path}:load:AVERAGE", f"AREA:h{i}{colors[name]}:{name}" + (":STACK" if i else ""),
                     f"GPRINT:h{i}:LAST:last %5.1lf", f"GPRINT:h{i}:AVERAGE:avg %5.1lf",
                     f"GPRINT:h{i}:MAX:max %5.1lf\\l"]
        marks = [f"VRULE:{int(mk.at.timestamp())}#000000:{mk.label}" for mk in kwargs["markers"]]
        self.args = ["graph", str(tmp / "rrd.png"), "--start", str(int(start)), "--end", str(int(end)),
                     "--width", str(PLOT_W), "--height", str(PLOT_H), "--zoom", "2", "--title", kwargs["title"],
                     "--lower-limit", "0", f"COMMENT:{kwargs['caption'].replace(':', chr(92) + ':')}\\l", *defs,
                     f"HRULE:{HOSTS * CORES}#1a1a1a:capacity {HOSTS * CORES} cores:dashes", *marks]
        self.png = tmp / "rrd.png"
        self.rrdtool = rrdtool
        self.env = {**os.environ, "TZ": TZ.key}  # its time axis in the same zone
        # The same through one long-running ``rrdtool -`` (pipe mode): no process start in the figure.
        self.pipe = subprocess.Popen([rrdtool, "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=self.env)
        self.spawn()  # warm the file cache
        self.piped()

    def spawn(self) -> float:
        t = time.perf_counter()
        subprocess.run([self.rrdtool, *self.args], check=True, capture_output=True, env=self.env)
        return time.perf_counter() - t

    def piped(self) -> float:
        assert self.pipe.stdin is not None and self.pipe.stdout is not None
        line = " ".join(f"'{a}'" if " " in a or "%" in a else a for a in self.args) + "\n"
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
                                 tmp: Path) -> tuple[float, float, bytes, tuple[float, float, bytes] | None]:
    """matplotlib in this process and rrdtool, one render of each in turn, so that the other work on the
    machine (a shared 2-core box) weighs on both alike and their ratio holds even when the times wander."""
    from pagerbot.graphs.render import stacked_load

    png = stacked_load(**kwargs)
    rrdtool = shutil.which("rrdtool")
    rrd = RrdGraph(rrdtool, data, end, tmp, kwargs) if rrdtool else None
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
    if rrd is None:
        return median_ms(mine), rss_mb(), png, None
    return median_ms(mine), rss_mb(), png, (median_ms(spawned), median_ms(piped), rrd.png.read_bytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="timed renders per figure (default 15)")
    parser.add_argument("--json", dest="json_path", help="also write the figures to this JSON file")
    parser.add_argument("--png", help="write the in-process graph here, to look at it")
    parser.add_argument("--rrd-png", help="write rrdtool's graph here, to compare")
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
    if args.rrd_png and rrd is not None:
        Path(args.rrd_png).write_bytes(rrd[2])

    figures: dict[str, Any] = {
        "hosts": HOSTS, "points_per_host": POINTS, "size_px": list(png_size(png)), "runs": args.runs,
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
        spawned, piped, rrd_png = rrd
        figures.update({"rrdtool_graph_ms": round(spawned, 1), "rrdtool_graph_pipe_ms": round(piped, 1),
                        "rrdtool_size_px": list(png_size(rrd_png)),
                        "ratio_to_rrdtool": round(inproc_ms / spawned, 2),
                        "ratio_to_rrdtool_pipe": round(inproc_ms / piped, 2)})
        rows += [
            ("rrdtool graph, one process per graph (median)", f"{spawned:.1f} ms"),
            ("rrdtool graph, pipe mode (median)", f"{piped:.1f} ms"),
            ("ratio pagerbot / rrdtool (target <= 0.5)", f"{inproc_ms / spawned:.2f} (pipe: {inproc_ms / piped:.2f})"),
        ]
    else:
        rows.append(("rrdtool graph", "rrdtool not installed"))
    png_w, png_h = png_size(png)
    print(f"stacked load graph: {HOSTS} hosts x {POINTS} points, legend with last/avg/max, capacity line, "
          f"{png_w}x{png_h} px (2x), {args.runs} runs")
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value:>14}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
