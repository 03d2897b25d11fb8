"""A host's load (with its core count), CPU busy % and iowait %, one panel under another, drawn with
matplotlib's object API (``Figure`` + Agg, never pyplot): lines need its antialiasing, and these graphs are
drawn on demand, not at every refresh."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from functools import lru_cache

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from pagerbot.core import series as m
from pagerbot.core.graph_frame import Window, axis_zone, capacity_of
from pagerbot.core.series import Series
from pagerbot.graphs.layout import (
    HEADER_PX,
    Drawn,
    Frame,
    Overlay,
    axis_time_ticks,
    date_num,
    header,
    lane,
    legend_block,
    limits,
    marker_lines,
    style_axes,
    time_ticks,
    utc_of,
    value_ticks,
)
from pagerbot.graphs.markers import Marker, Span
from pagerbot.graphs.palette import host_colors, ordered_hosts
from pagerbot.graphs.plan import LegendRow, lane_marks, legend_rows
from pagerbot.graphs.png import encode_rgb
from pagerbot.graphs.style import DPI, LANE_ROWS, MARGIN, MUTED, PANEL_GAP, PANEL_PX, ROW, TEXT_PX, WIDTH_PX, px
from pagerbot.graphs.text import Label

PANEL_METRICS = ((m.LOAD1, "load (1 min)"), (m.CPU_BUSY, "CPU busy %"), (m.IOWAIT, "iowait %"))


class _PanelCanvas:
    """Three panels, one under another, sharing the time axis; each with its legend rows above it."""

    def __init__(self, rows_per_legend: int) -> None:
        self.rows = rows_per_legend
        self.panel_tops: list[float] = []
        y = HEADER_PX + ROW * LANE_ROWS
        self.lane_top = HEADER_PX
        for i in range(len(PANEL_METRICS)):
            y += ROW * (1 + rows_per_legend) + PANEL_GAP + (6 if i else 0)
            self.panel_tops.append(y)
            y += PANEL_PX
        self.plots_bottom = y
        self.height = y + ROW + ROW + 6 + MARGIN
        self.fig = Figure(figsize=(WIDTH_PX / 72, self.height / 72), dpi=DPI, facecolor="white")
        self.canvas = FigureCanvasAgg(self.fig)
        self.left, self.right = 44.0, WIDTH_PX - 14.0
        self.axes: list[Axes] = []
        self.lines: list[list[Line2D]] = []
        self.overlays: list[Overlay] = []
        for top in self.panel_tops:
            ax = self.fig.add_axes((self.left / WIDTH_PX, 1 - (top + PANEL_PX) / self.height,
                                    (self.right - self.left) / WIDTH_PX, PANEL_PX / self.height))
            style_axes(ax)
            ax.yaxis.set_major_locator(MaxNLocator(nbins=4, min_n_ticks=3))
            self.axes.append(ax)
            self.lines.append([])
            self.overlays.append(Overlay(ax))
        self.drawn = Drawn()

    def draw(self, by: Mapping[str, Mapping[str, Series]], hosts: Sequence[str], *, title: str, caption: str,
             tz: tzinfo, markers: Sequence[Marker], spans: Sequence[Span], pools: Mapping[str, Sequence[str]],
             window: Window | None) -> bytes:
        colors = host_colors(hosts, pools)
        h_px = px(self.height)
        drawn = Drawn(size=(int(px(WIDTH_PX)), int(h_px)), hosts=list(hosts), colors=colors, caption=caption)
        labels = header(title, caption)
        drawn.lane = (px(self.lane_top), px(self.panel_tops[0] - ROW * (1 + self.rows) - PANEL_GAP))
        times = [s.times for h in hosts for s in by.get(h, {}).values() if len(s.times) > 1]
        t_lo = min((float(t[0]) for t in times), default=0.0)
        t_hi = max((float(t[-1]) for t in times), default=1.0)
        x_lo, x_hi = limits(t_lo, t_hi, window)
        cores = {h: _last(by.get(h, {}).get(m.CPUS)) for h in hosts}
        drawn.capacity = capacity_of(cores)
        panel_legends: list[tuple[float, list[LegendRow], str, dict[str, str]]] = []
        for i, ((metric, name), ax) in enumerate(zip(PANEL_METRICS, self.axes, strict=True)):
            for line in self.lines[i]:
                line.remove()
            self.lines[i] = []
            rows: list[LegendRow] = []
            peak = 0.0
            for h in hosts:
                s = by.get(h, {}).get(metric)
                if s is None or not len(s.times):
                    rows.append(LegendRow(h, colors[h], math.nan, math.nan, math.nan))
                    continue
                v = np.asarray(s.values, dtype=float)
                (line,) = ax.plot(date_num(np.asarray(s.times, dtype=float)), v, color=colors[h], linewidth=1.4,
                                  zorder=3)
                self.lines[i].append(line)
                rows.append(legend_rows([h], colors, v[None, :])[0])
                if np.isfinite(v).any():
                    peak = max(peak, float(np.nanmax(v)))
            ax.set_xlim(x_lo, x_hi)
            capacities: list[float] = []
            notes: dict[str, str] = {}
            if metric == m.LOAD1:
                # every host's own core count: one dashed line per distinct count, and with several hosts
                # each legend row says its host's, so no host is read against another's cores
                capacities = sorted({c for c in cores.values() if math.isfinite(c) and c > 0})
                if len(hosts) > 1:
                    notes = {h: f" · {c:g} cores" for h, c in cores.items() if math.isfinite(c) and c > 0}
                peak = max([peak, *capacities])
                ax.set_ylim(0, peak * 1.1 if peak > 0 else 1.0)
            else:
                ax.set_ylim(0, 100)
            spans_x = [(date_num(s.start.timestamp()), date_num(s.end.timestamp()), s.kind) for s in spans]
            self.overlays[i].set(spans_x, [], capacities, x_lo, x_hi)
            drawn.capacity_y += sorted({float(v) for v in np.asarray(self.overlays[i].capacity.get_ydata(),
                                                                       dtype=float) if math.isfinite(v)})
            panel_legends.append((self.panel_tops[i], rows, name + _cores_suffix(capacities), notes))
            if i == 0:
                drawn.legend = rows
        plots = []
        for top in self.panel_tops:
            plots.append((px(self.left), px(top), px(self.right), px(top + PANEL_PX)))
        drawn.plots = plots
        to_px = self.axes[0].transData.transform

        def x_of(at: datetime) -> float:
            return float(to_px((date_num(at.timestamp()), 0))[0])

        marks = lane_marks(markers, x_of, plots[0][0], plots[0][2], px(6))
        for ax, overlay in zip(self.axes, self.overlays, strict=True):
            marker_lines(ax, overlay, marks)
        for ax in self.axes:
            labels += value_ticks(ax, h_px, plots[0][0])
        bottom = plots[-1]
        for ax in self.axes[:-1]:
            ax.set_xticks([date_num(t) for t in time_ticks(x_lo * 86400, x_hi * 86400, tz)])
            ax.tick_params(labelbottom=False)
        labels += axis_time_ticks(self.axes[-1], tz, bottom[0], bottom[2], bottom[3], h_px)
        drawn.zone = f"time, {axis_zone(window or Window(utc_of(t_lo), utc_of(t_hi)), tz)}"
        labels.append(Label(drawn.zone, (bottom[0] + bottom[2]) / 2, bottom[3] + px(4 + ROW), TEXT_PX, "center",
                            color=MUTED))
        self.canvas.draw()
        pixels = np.asarray(self.canvas.buffer_rgba())
        frame = Frame(pixels)
        drawn.spans = [(x_of(s.start), x_of(s.end), s.kind) for s in spans]
        labels += lane(frame, drawn, marks, plots[0][0], plots[0][2])
        for top, rows, name, notes in panel_legends:
            labels += _panel_legend(frame, rows, px(top - ROW * (1 + self.rows) - PANEL_GAP), name, notes)
        if not hosts:
            labels.append(Label("no data", px(WIDTH_PX / 2), px(self.height / 2), TEXT_PX, "center", "center",
                                MUTED))
        for label in labels:
            label.paste(pixels)
        drawn.labels = labels
        self.drawn = drawn
        return encode_rgb(pixels)


def _panel_legend(frame: Frame, rows: Sequence[LegendRow], top: float, name: str,
                  notes: Mapping[str, str]) -> list[Label]:
    """The panel's name, then one row per host: its swatch, name (and note), last, average and maximum."""
    return legend_block(frame, rows, top, px(MARGIN), px(WIDTH_PX - MARGIN), name, notes)


def _cores_suffix(capacities: Sequence[float]) -> str:
    """What the load panel's dashed lines are: ", 8 cores (dashed)", ", 4 and 8 cores (dashed)"."""
    if not capacities:
        return ""
    counts = [f"{c:g}" for c in capacities]
    told = counts[0] if len(counts) == 1 else ", ".join(counts[:-1]) + " and " + counts[-1]
    return f", {told} cores (dashed)"


def _last(s: Series | None) -> float:
    if s is None or not len(s.values):
        return math.nan
    v = np.asarray(s.values, dtype=float)
    finite = v[np.isfinite(v)]
    return float(finite[-1]) if finite.size else math.nan


@lru_cache(maxsize=4)
def _panel_canvas(rows_per_legend: int) -> _PanelCanvas:
    return _PanelCanvas(rows_per_legend)


def panel_canvas_for(hosts: int) -> _PanelCanvas:
    return _panel_canvas(max(1, hosts))


def host_panels(
    series: Sequence[Series],
    *,
    title: str,
    tz: tzinfo,
    caption: str = "",
    markers: Sequence[Marker] = (),
    spans: Sequence[Span] = (),
    pools: Mapping[str, Sequence[str]] | None = None,
    hosts: Sequence[str] | None = None,
    window: Window | None = None,
    max_hosts: int = 4,
) -> bytes:
    """Load (with the core count), CPU busy % and iowait %, one panel under another, one line per host in the
    host's own colour. ``hosts`` picks and orders the hosts (default: the busiest by recent load, at most
    ``max_hosts``, in pool order). The load panel has a dashed line at each distinct core count; with several
    hosts each legend row names its host's cores."""
    by: dict[str, dict[str, Series]] = {}
    for s in series:
        by.setdefault(s.host, {})[s.metric] = s
    if hosts is None:

        def recent_load(h: str) -> float:
            s = by[h].get(m.LOAD1)
            if s is None or not len(s.values):
                return -1.0
            v = np.asarray(s.values[-10:], dtype=float)
            return float(np.nanmean(v)) if np.isfinite(v).any() else -1.0

        hosts = ordered_hosts(sorted(by, key=lambda h: (-recent_load(h), h))[:max_hosts], pools or {})
    else:
        hosts = list(hosts)[:max_hosts]
    canvas = panel_canvas_for(len(hosts))
    return canvas.draw(by, hosts, title=title, caption=caption, tz=tz, markers=markers, spans=spans,
                       pools=pools or {}, window=window)
