from __future__ import annotations

import io
import math
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PIL import Image

from pagerbot.graphs import render as r
from pagerbot.graphs.render import Marker, host_panels, stacked_load
from pagerbot.graphs.worker import GraphRenderer, InProcessRenderer
from pagerbot.metrics import series as m
from pagerbot.metrics.series import Series

LA = ZoneInfo("America/Los_Angeles")
END = datetime(2024, 1, 10, 22, 0, tzinfo=UTC)  # 14:00 in Los Angeles
N = 361  # six hours at one-minute steps
TIMES = [END.timestamp() - (N - 1 - i) * 60 for i in range(N)]


def load_series(hosts: int, times: list[float] = TIMES) -> dict[str, Series]:
    return {f"web{i:02d}": Series(f"web{i:02d}", m.LOAD1, times,
                                  [1.0 + 0.5 * math.sin(j / 20 + i) for j in range(len(times))])
            for i in range(hosts)}


def image(png: bytes) -> np.ndarray:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def magenta_columns(px: np.ndarray) -> np.ndarray:
    """Pixel counts of (antialiased) magenta per column."""
    p = px.astype(int)
    return ((p[:, :, 0] > 200) & (p[:, :, 1] < 120) & (p[:, :, 2] > 200)).sum(axis=0)


def test_stacked_load_png_size_markers_legend() -> None:
    marker_at = END - timedelta(hours=2)
    png = stacked_load(load_series(50), title="web: stacked load", tz=LA,
                       markers=[Marker(marker_at, "incident start", color="#ff00ff")])
    px = image(png)
    assert px.shape == (500, 1000, 3)
    # The marker: a magenta vertical line two thirds of the way along the plot.
    cols = magenta_columns(px)
    canvas = r._stack_canvas(1000, 500)
    x0, x1 = canvas.ax.get_position().x0 * 1000, canvas.ax.get_position().x1 * 1000
    expected = x0 + (x1 - x0) * (4 / 6)
    assert abs(int(np.argmax(cols)) - expected) < 3 and cols.max() > 150
    # The legend: pasted to the right of the plot, with the colours of the stack.
    assert canvas.legend_key == tuple(sorted(load_series(50)))
    right = px[:, int(x1) + 5:, :]
    first_host = tuple(int(c[i:i + 2], 16) for c in [r.PALETTE[0][1:]] for i in (0, 2, 4))
    assert (right == first_host).all(axis=2).sum() > 20
    labels = [label.text for label in canvas.labels]
    assert "time (America/Los_Angeles)" in labels
    assert "09:00" in labels and "12:00" in labels and "20:00" not in labels  # Los Angeles time, not UTC
    assert " incident start " in labels and "web: stacked load" in labels


def test_labels_are_drawn_where_they_belong() -> None:
    """Texts are blended in from sprites: their ink lands next to the axes, in their colour."""
    png = stacked_load(load_series(5), title="web: stacked load", tz=LA,
                       markers=[Marker(END - timedelta(hours=2), "incident start", color="#ff00ff")])
    px = image(png).astype(int)
    canvas = r._stack_canvas(1000, 500)
    left, top, right, bottom = (int(v) for v in canvas._axes_px())
    dark = (px.sum(axis=2) < 200)
    assert dark[:top, left:left + 200].sum() > 100  # the title, above the plot
    assert dark[bottom + 5:bottom + 25, left:right].sum() > 100  # the time tick labels, below it
    assert dark[top:bottom, left - 40:left - 5].sum() > 50  # the load tick labels, left of it
    assert dark[top:bottom, :20].sum() > 50  # the rotated y label
    # The marker label: magenta ink over a white box near the top of the plot, beside its line.
    near_top = magenta_columns(image(png)[top:top + 25])
    assert near_top.sum() > near_top.max() + 30
    first = {label.text: label for label in canvas.labels}["09:00"]
    row = int(first.y) + 6
    assert dark[row - 6:row + 8, int(first.x) - 15:int(first.x) + 15].sum() > 20


def test_text_sprite_blends_over_any_background() -> None:
    sprite = r.text_sprite("Hg", 12, "#ff0000")
    assert r.text_sprite("Hg", 12, "#ff0000") is sprite  # drawn once
    frame = np.zeros((40, 60, 4), dtype=np.uint8)
    frame[:, :, 1] = 200  # green background
    sprite.paste(frame, 5, 5)
    reds = (frame[:, :, 0] > 200) & (frame[:, :, 1] < 60)
    assert reds.sum() > 20
    assert (frame[:5, :, 1] == 200).all() and (frame[:, :5, 1] == 200).all()  # nothing outside the sprite
    sprite.paste(frame, -100, 200)  # entirely outside: ignored
    sprite.paste(frame, 30, 50)  # partly outside: clipped


def test_stack_is_cumulative() -> None:
    flat = {h: Series(h, m.LOAD1, TIMES, [v] * N) for h, v in (("a", 1.0), ("b", 2.0), ("c", 3.0))}
    stacked_load(flat, title="t", tz=UTC)
    canvas = r._stack_canvas(1000, 500)
    tops = [float(np.asarray(p.vertices)[:, 1].max()) for p in canvas.stack.get_paths()]
    assert tops == [1.0, 3.0, 6.0]
    assert canvas.ax.get_ylim()[1] >= 6.0


def test_gaps_misaligned_hosts_and_no_data() -> None:
    series = load_series(3)
    series["web01"] = Series("web01", m.LOAD1, TIMES, [math.nan if i % 7 else 2.0 for i in range(N)])
    series["web09"] = Series("web09", m.LOAD1, TIMES[::5], [1.0] * len(TIMES[::5]))  # coarser steps
    series["web10"] = Series("web10", m.LOAD1, [], [])  # no data: left out
    px = image(stacked_load(series, title="gaps", tz=LA, width_px=800, height_px=400, capacity=8))
    assert px.shape == (400, 800, 3)
    assert r._stack_canvas(800, 400).legend_key == ("web00", "web01", "web02", "web09")
    empty = image(stacked_load({}, title="nothing", tz=LA))
    assert empty.shape == (500, 1000, 3)


def test_figure_is_reused_and_markers_do_not_pile_up() -> None:
    series = load_series(5)
    mk = [Marker(END - timedelta(hours=1), "alert"), Marker(END - timedelta(minutes=30), "ack")]
    stacked_load(series, title="1", tz=LA, markers=mk)
    canvas = r._stack_canvas(1000, 500)
    n = len(canvas.ax.lines)
    assert n == 2 and len(canvas.labels) > 10
    labels = len(canvas.labels)
    for _ in range(3):
        stacked_load(series, title="again", tz=LA, markers=mk)
    assert r._stack_canvas(1000, 500) is canvas
    assert len(canvas.ax.lines) == n and len(canvas.ax.texts) == 0 and len(canvas.labels) == labels
    stacked_load(series, title="fewer", tz=LA, markers=mk[:1])
    assert len(canvas.ax.lines) == 1 and len(canvas.labels) == labels - 1


def test_host_panels() -> None:
    series = []
    for h, load, wio in (("db1", 14.0, 58.0), ("web1", 4.0, 2.0), ("web2", 4.2, 1.0)):
        series += [Series(h, m.LOAD1, TIMES, [load] * N), Series(h, m.CPUS, TIMES[-1:], [8.0]),
                   Series(h, m.CPU_BUSY, TIMES, [80.0] * N), Series(h, m.IOWAIT, TIMES, [wio] * N)]
    png = host_panels(series, title="hosts", tz=LA, markers=[Marker(END - timedelta(hours=1), "start", "#ff00ff")])
    px = image(png)
    assert px.shape[1] == 1000 and px.shape[0] == 90 + 120 * 3
    assert magenta_columns(px).max() > 100
    one = image(host_panels(series, title="db1", tz=LA, hosts=["db1"], height_px=300))
    assert one.shape == (300, 1000, 3)
    assert image(host_panels([], title="none", tz=LA)).shape[0] == 90 + 120


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="Unknown graph kind 'pie'"):
        r.render("pie", {})


async def test_in_process_renderer() -> None:
    renderer = InProcessRenderer()
    png = await renderer.render("stacked_load", series_by_host=load_series(3), title="x", tz=LA)
    assert image(png).shape == (500, 1000, 3)
    await renderer.close()


async def test_worker_process_round_trip() -> None:
    renderer = GraphRenderer()
    assert not renderer.started  # lazily started
    try:
        series = load_series(10)
        png = await renderer.render("stacked_load", series_by_host=series, title="worker", tz=LA,
                                    markers=[Marker(END - timedelta(hours=1), "start", "#ff00ff")])
        assert image(png).shape == (500, 1000, 3)
        assert magenta_columns(image(png)).max() > 150
        pid = await renderer.worker_pid()
        assert pid != os.getpid()
        panels = await renderer.render("host_panels", series=list(series.values()), title="p", tz=LA)
        assert panels.startswith(b"\x89PNG")
        assert await renderer.worker_pid() == pid  # one long-lived worker
        with pytest.raises(ValueError, match="Unknown graph kind"):
            await renderer.render("pie")
    finally:
        await renderer.close()
    assert not renderer.started


def test_worker_module_does_not_load_matplotlib() -> None:
    code = "import sys, pagerbot.graphs.worker as w; w.GraphRenderer(); print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
