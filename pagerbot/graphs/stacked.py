"""The stacked load graph of a pool or the cluster, painted with numpy straight into an RGB frame.

It is drawn often (every refresh of every open incident), so no figure is drawn: the bands are an index
image (which host each pixel shows) built from the stack's cumulative heights and coloured in one step, as
rrdtool paints its AREAs; grid, spans, the capacity line and marker lines are rectangles; every text is a
sprite drawn once per process (pagerbot.graphs.text); the PNG is written unfiltered (pagerbot.graphs.png).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from functools import lru_cache

import numpy as np
from matplotlib.ticker import MaxNLocator

from pagerbot.core.graph_frame import Window, axis_zone
from pagerbot.core.series import Series
from pagerbot.graphs.layout import (
    HEADER_PX,
    Drawn,
    Frame,
    aligned,
    header,
    lane,
    legend_columns,
    legend_height,
    legend_table,
    tick_labels,
    time_ticks,
    utc_of,
)
from pagerbot.graphs.markers import Marker, Span
from pagerbot.graphs.palette import host_colors, ordered_hosts
from pagerbot.graphs.plan import lane_marks, legend_rows
from pagerbot.graphs.png import encode_rgb
from pagerbot.graphs.style import (
    CAPACITY_COLOR,
    GRID,
    INCIDENT_SHADE,
    LANE_ROWS,
    MARGIN,
    MUTED,
    ROW,
    SCALE,
    STACK_PLOT_PX,
    TEXT_PX,
    WAVE_SHADE,
    WIDTH_PX,
    px,
    rgb,
)
from pagerbot.graphs.text import Label


class _StackCanvas:
    """The stacked load graph of one legend height, painted with numpy straight into an RGB frame.

    Everything in it is a rectangle (bands one pixel column wide, grid and marker lines, spans) or a text
    sprite, so no figure is drawn: the bands are an index image (which host each pixel shows) built from the
    stack's cumulative heights, coloured through the hosts' palette in one step, as rrdtool draws its AREAs.
    """

    def __init__(self, legend_px: float) -> None:
        self.plot_top = HEADER_PX + ROW * LANE_ROWS
        self.plot_bottom = self.plot_top + STACK_PLOT_PX
        self.legend_top = self.plot_bottom + ROW + ROW + 6  # time ticks and the zone
        self.height = self.legend_top + legend_px + MARGIN
        self.left, self.right = 44.0, WIDTH_PX - 14.0
        self.blank = np.full((round(px(self.height)), round(px(WIDTH_PX)), 3), 255, dtype=np.uint8)
        self.drawn = Drawn()

    def draw(self, series_by_host: Mapping[str, Series], *, title: str, caption: str, tz: tzinfo,
             markers: Sequence[Marker], spans: Sequence[Span], pools: Mapping[str, Sequence[str]],
             capacity: float | None, window: Window | None) -> bytes:
        hosts = ordered_hosts((h for h, s in series_by_host.items() if len(s.times)), pools)
        colors = host_colors(hosts, pools)
        pixels = self.blank.copy()
        frame = Frame(pixels)
        height, width = pixels.shape[:2]
        left, top, right, bottom = (round(px(v)) for v in (self.left, self.plot_top, self.right, self.plot_bottom))
        drawn = Drawn(size=(width, height), hosts=list(hosts), colors=colors, caption=caption, capacity=capacity,
                      plots=[(left, top, right, bottom)], lane=(px(HEADER_PX), float(top)))
        labels = header(title, caption)
        if not hosts:
            _axes_lines(frame, left, top, right, bottom, [], [])
            labels.append(Label("no data", (left + right) / 2, (top + bottom) / 2, TEXT_PX, "center", "center",
                                MUTED))
            return self._finish(pixels, drawn, labels)
        t, raw = aligned(series_by_host, hosts)
        drawn.legend = legend_rows(hosts, colors, raw)
        y = np.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0)
        np.clip(y, 0.0, None, out=y)
        t0, t1 = (window.start.timestamp(), window.end.timestamp()) if window is not None else (t[0], t[-1])
        t1 = t1 if t1 > t0 else t0 + 60

        def x_of(at: datetime) -> float:
            return left + (at.timestamp() - t0) / (t1 - t0) * (right - left)

        # each pixel column shows the samples at its centre (gaps and times outside the data as 0)
        centres = t0 + (np.arange(left, right) + 0.5 - left) / (right - left) * (t1 - t0)
        cum = np.cumsum(y, axis=0)
        at_columns = np.vstack([np.interp(centres, t, row, left=np.nan, right=np.nan) for row in cum])
        peak = float(np.nanmax(cum)) if cum.size else 0.0
        y_max = nice_top(max(peak, capacity or 0.0) * 1.05)
        y_ticks = [v for v in MaxNLocator(nbins=4, min_n_ticks=3).tick_values(0, y_max) if 0 <= v <= y_max]
        plot_h = bottom - top

        def row_of(value: float) -> int:
            return bottom - round(value / y_max * plot_h)

        drawn.spans = [(x_of(s.start), x_of(s.end), s.kind) for s in spans]
        for kind in ("incident", "wave"):
            for a, b, span_kind in drawn.spans:
                if span_kind == kind:
                    frame.fill(max(a, left), top, min(b, right), bottom,
                               WAVE_SHADE if kind == "wave" else INCIDENT_SHADE)
        x_ticks = time_ticks(t0, t1, tz)
        _grid(frame, left, top, right, bottom, [left + (v - t0) / (t1 - t0) * (right - left) for v in x_ticks],
              [row_of(v) for v in y_ticks])
        _paint_stack(pixels, at_columns, [colors[h] for h in hosts], left, bottom, plot_h, y_max)
        if capacity:
            row = row_of(capacity)
            for x in range(left, right, round(px(6))):
                frame.fill(x, row - SCALE / 2 - 0.5, min(x + px(4), right), row + SCALE / 2 + 0.5, CAPACITY_COLOR)
            drawn.capacity_y = [(bottom - row) / plot_h * y_max]
        marks = lane_marks(markers, x_of, left, right, px(6))
        for mk in marks:
            frame.fill(mk.x - SCALE * 1.5, top, mk.x + SCALE * 1.5, bottom, "#ffffff")
            frame.fill(mk.x - SCALE / 2, top, mk.x + SCALE / 2, bottom, mk.color)
        _axes_lines(frame, left, top, right, bottom, [left + (v - t0) / (t1 - t0) * (right - left) for v in x_ticks],
                    [row_of(v) for v in y_ticks])
        labels += [Label(f"{v:g}", left - px(6), row_of(v), TEXT_PX, "right", "center", MUTED) for v in y_ticks]
        labels += tick_labels(x_ticks, lambda v: left + (v - t0) / (t1 - t0) * (right - left), tz, left, right,
                               bottom)
        drawn.zone = f"time, {axis_zone(window or Window(utc_of(t0), utc_of(t1)), tz)}"
        labels.append(Label(drawn.zone, (left + right) / 2, bottom + px(4 + ROW), TEXT_PX, "center", color=MUTED))
        labels += lane(frame, drawn, marks, left, right)
        cap = f"capacity: {capacity:g} cores" if capacity else None
        labels += legend_table(frame, drawn.legend, px(self.legend_top), legend_columns(len(hosts)), cap)
        return self._finish(pixels, drawn, labels)

    def _finish(self, pixels: np.ndarray, drawn: Drawn, labels: list[Label]) -> bytes:
        for label in labels:
            label.paste(pixels)
        drawn.labels = labels
        self.drawn = drawn
        return encode_rgb(pixels)


def nice_top(value: float) -> float:
    """The y axis's top: the next of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 (times a power of ten) above ``value``."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(float(f * power) for f in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if f * power >= value)


def _paint_stack(pixels: np.ndarray, at_columns: np.ndarray, colors: Sequence[str], left: int, bottom: int,
                 plot_h: int, y_max: float) -> None:
    """Fill each pixel of the plot below the stack's top with the colour of the host whose band it is in.

    ``at_columns`` holds each host's cumulative load at each pixel column (NaN where there is no data). A band
    boundary at height b (pixels from the bottom) makes every pixel from b up belong to the next host, so the
    index image is a running count of boundaries, up each column.
    """
    n, columns = at_columns.shape
    known = np.isfinite(at_columns[-1])
    heights = np.nan_to_num(at_columns / y_max * plot_h, nan=0.0)
    boundary = np.clip(np.round(heights), 0, plot_h).astype(np.int64)
    boundary[:, ~known] = 0  # no data: nothing drawn
    counts = np.bincount((boundary * columns + np.arange(columns)).ravel(), minlength=(plot_h + 1) * columns)
    index = np.cumsum(counts.reshape(plot_h + 1, columns)[:plot_h], axis=0)  # row 0 is the bottom row
    lut = np.vstack([np.array([rgb(c) for c in colors], dtype=np.uint8), np.zeros((1, 3), dtype=np.uint8)])
    region = pixels[bottom - plot_h:bottom, left:left + columns]
    index = index[::-1]  # top row first, as the frame
    inside = index < n
    region[inside] = lut[index[inside]]


def _grid(frame: Frame, left: int, top: int, right: int, bottom: int, xs: Sequence[float],
          rows: Sequence[int]) -> None:
    for x in xs:
        frame.fill(x - 1, top, x + 1, bottom, GRID)
    for row in rows:
        frame.fill(left, row - 1, right, row + 1, GRID)


def _axes_lines(frame: Frame, left: int, top: int, right: int, bottom: int, xs: Sequence[float],
                rows: Sequence[int]) -> None:
    """The left and bottom axis lines and their tick marks."""
    frame.fill(left - 1, top, left + 1, bottom + 1, MUTED)
    frame.fill(left - 1, bottom - 1, right, bottom + 1, MUTED)
    for x in xs:
        frame.fill(x - 1, bottom, x + 1, bottom + px(3), MUTED)
    for row in rows:
        frame.fill(left - px(3), row - 1, left, row + 1, MUTED)


@lru_cache(maxsize=8)
def _stack_canvas(legend_px: float) -> _StackCanvas:
    return _StackCanvas(legend_px)


def stack_canvas_for(hosts: int, capacity: bool) -> _StackCanvas:
    """The canvas a stacked graph of ``hosts`` hosts is drawn on (its ``drawn`` tells what the last render
    decided)."""
    return _stack_canvas(legend_height(hosts, capacity))


def stacked_load(
    series_by_host: Mapping[str, Series],
    *,
    title: str,
    tz: tzinfo,
    caption: str = "",
    markers: Sequence[Marker] = (),
    spans: Sequence[Span] = (),
    pools: Mapping[str, Sequence[str]] | None = None,
    capacity: float | None = None,
    window: Window | None = None,
) -> bytes:
    """The cumulative 1-minute load of a pool or cluster, one band per host (as Ganglia's stacked graph).

    ``series_by_host`` maps a host to its load series; hosts stack in pool order, then by name (``pools``, as
    configured, also fixes their colours); gaps count as 0 in the stack and are skipped in the legend's
    last/avg/max. ``capacity`` (the cores of the hosts shown) draws a dashed line; ``spans`` shade the incident
    and its waves; ``window`` fixes the time axis (default: the data's). Returns PNG bytes.
    """
    hosts = sum(1 for s in series_by_host.values() if len(s.times))
    canvas = stack_canvas_for(hosts, bool(capacity))
    return canvas.draw(series_by_host, title=title, caption=caption, tz=tz, markers=markers, spans=spans,
                       pools=pools or {}, capacity=capacity, window=window)
