"""PNG graphs with matplotlib's object API (``Figure`` + Agg canvas; never pyplot).

The stacked load graph is drawn often (every refresh of every open incident), so it is built for speed:
one figure per size and process, reused; the stack is a single ``PolyCollection`` without outlines,
its vertices computed with numpy in one go; every text (tick labels, titles, the legend) is drawn once
per process as a sprite and blended into each frame; and the PNG is written unfiltered with light
compression (pagerbot.graphs.png).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import lru_cache
from typing import Any

import numpy as np
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import NullFormatter, NullLocator

from pagerbot.graphs.markers import Marker
from pagerbot.graphs.png import encode_rgb
from pagerbot.metrics import series as m
from pagerbot.metrics.series import Series

DPI = 100
PALETTE = (  # tab20 without its pale halves first, then the pale ones: neighbours stay distinguishable
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
    "#e6550d",
    "#31a354",
    "#756bb1",
    "#636363",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#c7c7c7",
    "#dbdb8d",
    "#9edae5",
)
MARKER_COLORS = ("#d62728", "#ff7f0e", "#9467bd", "#2ca02c")


def _to_num(t: Sequence[float] | np.ndarray) -> np.ndarray:
    """Unix seconds to matplotlib date numbers (days since 1970-01-01)."""
    return np.asarray(t, dtype=float) / 86400.0


def _aligned(series_by_host: Mapping[str, Series]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Hosts (sorted), the common time grid and an (hosts x times) array of values, gaps as 0."""
    hosts = sorted(h for h, s in series_by_host.items() if len(s.times))
    if not hosts:
        return [], np.zeros(0), np.zeros((0, 0))
    ref = max((series_by_host[h] for h in hosts), key=lambda s: len(s.times))
    t = np.asarray(ref.times, dtype=float)
    y = np.zeros((len(hosts), len(t)))
    for i, h in enumerate(hosts):
        s = series_by_host[h]
        v = np.asarray(s.values, dtype=float)
        if len(s.times) == len(t) and (s is ref or np.array_equal(np.asarray(s.times, dtype=float), t)):
            y[i] = v
        else:
            st = np.asarray(s.times, dtype=float)
            ok = ~np.isnan(v)
            if ok.sum() >= 1:
                y[i] = np.interp(t, st[ok], v[ok], left=np.nan, right=np.nan)
    np.nan_to_num(y, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    np.clip(y, 0.0, None, out=y)
    return hosts, t, y


def _encode(canvas: FigureCanvasAgg) -> bytes:
    return encode_rgb(np.asarray(canvas.buffer_rgba()))


class Sprite:
    """Pixels drawn once and composited into frames: straight RGBA, kept ready for alpha blending."""

    def __init__(self, rgba: np.ndarray) -> None:
        alpha = rgba[:, :, 3:4].astype(np.float32) / 255.0
        self.color = rgba[:, :, :3].astype(np.float32) * alpha  # premultiplied
        self.keep = 1.0 - alpha  # how much of the frame shows through
        self.height, self.width = rgba.shape[:2]

    @classmethod
    def of(cls, canvas: FigureCanvasAgg) -> Sprite:
        canvas.draw()
        return cls(np.asarray(canvas.buffer_rgba()))

    def paste(self, frame: np.ndarray, top: float, left: float) -> None:
        """Blend into ``frame`` (an RGBA array, written in place) with the top left corner at (top, left)."""
        top_i, left_i = round(float(top)), round(float(left))
        y0, x0 = max(0, top_i), max(0, left_i)
        y1, x1 = min(frame.shape[0], top_i + self.height), min(frame.shape[1], left_i + self.width)
        if y0 >= y1 or x0 >= x1:
            return
        sy, sx = slice(y0 - top_i, y1 - top_i), slice(x0 - left_i, x1 - left_i)
        region = frame[y0:y1, x0:x1, :3]
        region[:] = region * self.keep[sy, sx] + self.color[sy, sx]


_PAD = 2  # transparent pixels around a text sprite, so antialiased edges are not cut off


@lru_cache(maxsize=256)  # a few MB at most; labels repeat from one refresh to the next
def text_sprite(text: str, fontsize: float, color: str = "#000000", rotation: float = 0, backdrop: float = 0) -> Sprite:
    """``text`` drawn alone on a transparent canvas, cut to its extent (plus a small margin).

    Agg draws text glyph by glyph, in Python since matplotlib 3.11: a graph's thirty-odd labels took
    more time than its fifty filled bands. Tick labels, titles and marker labels repeat from one render
    to the next, so each is drawn once per process and blended in afterwards. ``backdrop`` puts the text
    on a white box of that opacity (marker labels, which sit over the graph).
    """
    fig = Figure(figsize=(1, 1), dpi=DPI, facecolor="none")
    canvas = FigureCanvasAgg(fig)
    t = fig.text(0, 0, text, fontsize=fontsize, color=color, rotation=rotation, ha="left", va="bottom")
    box = t.get_window_extent(renderer=canvas.get_renderer())
    width, height = math.ceil(box.width) + 2 * _PAD, math.ceil(box.height) + 2 * _PAD
    fig.set_size_inches(width / DPI, height / DPI)
    t.set_position((_PAD / width, _PAD / height))
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba()).copy()
    if backdrop:
        ink = rgba[:, :, 3:4].astype(np.float32) / 255.0
        rgba[:, :, :3] = (rgba[:, :, :3] * ink + 255.0 * (1.0 - ink)).astype(np.uint8)
        rgba[:, :, 3:4] = (255.0 * (ink + backdrop * (1.0 - ink))).astype(np.uint8)
    return Sprite(rgba)


@dataclass(frozen=True)
class Label:
    """A text placed on a frame in pixels from its top left corner; ``ha``/``va`` say which point of the
    text lies at (x, y)."""

    text: str
    x: float
    y: float
    fontsize: float
    ha: str = "left"  # left, center, right
    va: str = "top"  # top, center, bottom
    color: str = "#000000"
    rotation: float = 0
    backdrop: float = 0

    def paste(self, frame: np.ndarray) -> None:
        if not self.text:
            return
        sprite = text_sprite(self.text, self.fontsize, self.color, self.rotation, self.backdrop)
        left = self.x - {"left": _PAD, "center": sprite.width / 2, "right": sprite.width - _PAD}[self.ha]
        top = self.y - {"top": _PAD, "center": sprite.height / 2, "bottom": sprite.height - _PAD}[self.va]
        sprite.paste(frame, top, left)


TICK_GAP_PX = 7 * DPI / 72  # tick length plus padding, as matplotlib's defaults (3.5 + 3.5 points)
TITLE_GAP_PX = 6 * DPI / 72


class _StackCanvas:
    """A reusable figure for the stacked load graph of one size.

    matplotlib draws the filled stack, the grid and the lines; every text is a :class:`Label`, blended
    into the frame from pixels drawn once (see :func:`text_sprite`), and the legend is one sprite that is
    redrawn only when the hosts change.
    """

    def __init__(self, width_px: int, height_px: int) -> None:
        self.fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, facecolor="white")
        self.canvas = FigureCanvasAgg(self.fig)
        self.width_px, self.height_px = width_px, height_px
        ax = self.fig.add_axes((0.07, 0.11, 0.75, 0.80))
        ax.grid(True, color="#e0e0e0", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.tick_params(labelbottom=False, labelleft=False)
        ax.xaxis.offsetText.set_visible(False)
        ax.yaxis.offsetText.set_visible(False)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        self.ax: Axes = ax
        self.stack = PolyCollection([], edgecolors="none", linewidths=0, antialiaseds=False, zorder=2)
        ax.add_collection(self.stack)
        self.legend: Sprite | None = None
        self.legend_at = (0, 0)
        self.legend_key: tuple[str, ...] = ()
        self.dynamic: list[Any] = []
        self.labels: list[Label] = []  # the last frame's texts
        self.title = ""
        self.xlabel = ""

    def _set_legend(self, hosts: Sequence[str], colors: Sequence[str]) -> None:
        """Lay out the axes for the legend of ``hosts`` and render the legend once, as a sprite.

        A 50-entry legend costs more to draw than the rest of the graph, and it only changes when the
        hosts do.
        """
        key = tuple(hosts)
        if key == self.legend_key and self.legend is not None:
            return
        self.legend_key = key
        rows = max(1, int((self.height_px * 0.84) / 13))
        ncol = max(1, math.ceil(len(hosts) / rows)) if hosts else 1
        fontsize = 7.5 if ncol <= 2 else 6.5
        col_px = 95 if fontsize > 7 else 80
        legend_w = ncol * col_px + 20
        axes_right = max(0.45, 1.0 - legend_w / self.width_px)
        self.ax.set_position((0.07, 0.11, axes_right - 0.08, 0.80))
        if not hosts:
            self.legend = None
            return
        legend_h = int(self.height_px * 0.92)
        fig = Figure(figsize=(legend_w / DPI, legend_h / DPI), dpi=DPI, facecolor="none")
        # Top of the stack first, as the colours appear on the graph.
        handles = [Patch(facecolor=c, edgecolor="none", label=h) for h, c in zip(hosts, colors, strict=True)][::-1]
        fig.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(0.0, 1.0),
            ncol=ncol,
            fontsize=fontsize,
            frameon=False,
            handlelength=1.0,
            handleheight=0.8,
            columnspacing=0.8,
            labelspacing=0.25,
            borderaxespad=0.0,
            title=f"{len(hosts)} host{'s' if len(hosts) != 1 else ''}",
            title_fontsize=8,
        )
        self.legend = Sprite.of(FigureCanvasAgg(fig))
        self.legend_at = (int(self.height_px * 0.08), int(axes_right * self.width_px))

    def _axes_px(self) -> tuple[float, float, float, float]:
        """The axes' left, top, right and bottom edges in frame pixels (rows count from the top)."""
        box = self.ax.get_position()
        h = self.height_px
        return box.x0 * self.width_px, h - box.y1 * h, box.x1 * self.width_px, h - box.y0 * h

    def _axis_labels(self, x_formatter: Any | None) -> list[Label]:
        """Tick labels, the date offset and the titles, where matplotlib would put them."""
        ax, h = self.ax, self.height_px
        left, top, right, bottom = self._axes_px()
        to_px = ax.transData.transform
        out = [Label(self.title, left, top - TITLE_GAP_PX, 11, va="bottom")]
        out.append(Label("load (1 min), stacked", 4, (top + bottom) / 2, 9, ha="left", va="center", rotation=90))
        y_lo, y_hi = ax.get_ylim()
        y_locs = [v for v in ax.yaxis.get_major_locator()() if y_lo <= v <= y_hi]
        for v, text in zip(y_locs, ax.yaxis.get_major_formatter().format_ticks(y_locs), strict=True):
            out.append(Label(text, left - TICK_GAP_PX, h - to_px((0, v))[1], 8, ha="right", va="center"))
        if x_formatter is None:
            return out
        x_lo, x_hi = ax.get_xlim()
        x_all = list(ax.xaxis.get_major_locator()())
        x_texts = x_formatter.format_ticks(x_all)
        row = bottom + TICK_GAP_PX
        for v, text in zip(x_all, x_texts, strict=True):
            if x_lo <= v <= x_hi:
                out.append(Label(text, to_px((v, 0))[0], row, 8, ha="center"))
        out.append(Label(x_formatter.get_offset(), right, row + 14, 8, ha="right"))
        out.append(Label(self.xlabel, (left + right) / 2, row + 14, 8, ha="center", color="#555555"))
        return out

    def _finish(self, labels: list[Label]) -> bytes:
        self.labels = labels
        self.canvas.draw()
        frame = np.asarray(self.canvas.buffer_rgba())
        if self.legend is not None:
            self.legend.paste(frame, *self.legend_at)
        for label in labels:
            label.paste(frame)
        return encode_rgb(frame)

    def draw(
        self,
        series_by_host: Mapping[str, Series],
        *,
        title: str,
        tz: tzinfo,
        markers: Sequence[Marker],
        capacity: float | None,
    ) -> bytes:
        ax = self.ax
        for artist in self.dynamic:
            artist.remove()
        self.dynamic = []
        hosts, t, y = _aligned(series_by_host)
        colors = [PALETTE[i % len(PALETTE)] for i in range(len(hosts))]
        self.title = title
        self._set_legend(hosts, colors)
        if not hosts or len(t) == 0:
            self.stack.set_verts([])
            self.xlabel = ""
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.xaxis.set_major_locator(NullLocator())
            ax.xaxis.set_major_formatter(NullFormatter())
            left, top, right, bottom = self._axes_px()
            empty = Label("no data", (left + right) / 2, (top + bottom) / 2, 12, "center", "center", "#666666")
            return self._finish([*self._axis_labels(None), empty])
        x = _to_num(t)
        cum = np.cumsum(y, axis=0)
        lower = np.vstack([np.zeros((1, len(x))), cum[:-1]])
        n = len(x)
        verts = np.empty((len(hosts), 2 * n, 2))
        verts[:, :n, 0] = x
        verts[:, :n, 1] = cum
        verts[:, n:, 0] = x[::-1]
        verts[:, n:, 1] = lower[:, ::-1]
        self.stack.set_verts(verts)  # type: ignore[arg-type]  # an (n, m, 2) array is accepted
        self.stack.set_facecolor(colors)
        top = float(cum[-1].max()) if cum.size else 1.0
        if capacity is not None and capacity > 0:
            self.dynamic.append(ax.axhline(capacity, color="#333333", linewidth=1.0, linestyle="--", zorder=3))
            top = max(top, capacity)
        ax.set_xlim(x[0], x[-1] if x[-1] > x[0] else x[0] + 1 / 1440)
        ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)  # room for marker labels
        locator = mdates.AutoDateLocator(tz=tz, minticks=4, maxticks=9)
        formatter = mdates.ConciseDateFormatter(locator, tz=tz)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(formatter)
        self.xlabel = _tz_name(tz, t[-1])
        labels = self._axis_labels(formatter)
        if capacity is not None and capacity > 0:
            at_x, at_y = ax.transData.transform((x[0], capacity))
            labels.append(Label(f" {capacity:g} cores", at_x, self.height_px - at_y, 7.5, va="bottom", color="#333333"))
        marker_lines, marker_labels = _markers(ax, markers, x[0], x[-1], self.height_px)
        self.dynamic += marker_lines
        return self._finish(labels + marker_labels)


def _tz_name(tz: tzinfo, at: float) -> str:
    key = getattr(tz, "key", None)
    if isinstance(key, str):
        return f"time ({key})"
    return f"time ({datetime.fromtimestamp(at, tz).tzname() or 'UTC'})"


@dataclass(frozen=True)
class _Shown:
    """A marker inside the time range: where, in which colour, and where its label goes."""

    x: float  # matplotlib date number
    label: str
    color: str
    right_half: bool  # the label goes to the left of the line, so it stays inside the plot
    height: float  # of the label's top, as a fraction of the axes (labels stagger downwards)


def _shown(markers: Sequence[Marker], x0: float, x1: float) -> list[_Shown]:
    shown = sorted((mk for mk in markers if x0 <= mk.at.timestamp() / 86400 <= x1), key=lambda mk: mk.at)
    out = []
    for i, mk in enumerate(shown):
        xm = mk.at.timestamp() / 86400
        color = mk.color or MARKER_COLORS[i % len(MARKER_COLORS)]
        out.append(_Shown(xm, f" {mk.label} ", color, (xm - x0) > 0.6 * (x1 - x0), 0.98 - 0.07 * (i % 6)))
    return out


def _marker_line(ax: Axes, mk: _Shown, linewidth: float) -> Any:
    return ax.axvline(mk.x, color=mk.color, linewidth=linewidth, linestyle=(0, (4, 2)), zorder=5)


def _markers(
    ax: Axes, markers: Sequence[Marker], x0: float, x1: float, height_px: int
) -> tuple[list[Any], list[Label]]:
    """The stacked graph's markers: matplotlib lines, and labels to blend in."""
    lines, labels = [], []
    to_px = ax.transAxes.transform
    for mk in _shown(markers, x0, x1):
        lines.append(_marker_line(ax, mk, 1.4))
        at_x = ax.transData.transform((mk.x, 0))[0]
        at_y = height_px - to_px((0, mk.height))[1]
        labels.append(Label(mk.label, at_x, at_y, 8, "right" if mk.right_half else "left", "top", mk.color, 0, 0.8))
    return lines, labels


@lru_cache(maxsize=4)
def _stack_canvas(width_px: int, height_px: int) -> _StackCanvas:
    return _StackCanvas(width_px, height_px)


def stacked_load(
    series_by_host: Mapping[str, Series],
    *,
    title: str,
    tz: tzinfo,
    markers: Sequence[Marker] = (),
    width_px: int = 1000,
    height_px: int = 500,
    capacity: float | None = None,
) -> bytes:
    """The cumulative 1-minute load of a pool or cluster, one band per host (as Ganglia's stacked graph).

    ``series_by_host`` maps a host to its load series; hosts are stacked in name order, gaps count as 0.
    ``capacity`` (the pool's cores) draws a dashed line. Returns PNG bytes.
    """
    return _stack_canvas(int(width_px), int(height_px)).draw(
        series_by_host, title=title, tz=tz, markers=markers, capacity=capacity
    )


PANEL_METRICS = ((m.LOAD1, "load (1 min)"), (m.CPU_BUSY, "CPU busy %"), (m.IOWAIT, "iowait %"))


def host_panels(
    series: Sequence[Series],
    *,
    title: str,
    tz: tzinfo,
    markers: Sequence[Marker] = (),
    hosts: Sequence[str] | None = None,
    width_px: int = 1000,
    height_px: int | None = None,
    max_hosts: int = 8,
) -> bytes:
    """Small multiples: one row per host (load with its core count, CPU busy %, iowait %), shared time axis.

    ``hosts`` picks and orders the rows (default: the busiest hosts by recent load, at most ``max_hosts``).
    """
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

        hosts = sorted(by, key=lambda h: (-recent_load(h), h))[:max_hosts]
    else:
        hosts = list(hosts)[:max_hosts]
    rows = max(1, len(hosts))
    height = height_px or min(1200, 90 + 120 * rows)
    fig = Figure(figsize=(width_px / DPI, height / DPI), dpi=DPI, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    fig.suptitle(title, x=0.01, ha="left", fontsize=11)
    if not hosts:
        fig.text(0.5, 0.5, "no data", ha="center", va="center", fontsize=12, color="#666666")
        canvas.draw()
        return _encode(canvas)
    axes = fig.subplots(
        rows,
        3,
        sharex=True,
        squeeze=False,
        gridspec_kw={
            "left": 0.08,
            "right": 0.98,
            "top": 1 - 45 / height,
            "bottom": 40 / height,
            "hspace": 0.25,
            "wspace": 0.18,
        },
    )
    x_lo, x_hi = math.inf, -math.inf
    for r, h in enumerate(hosts):
        for c, (metric, label) in enumerate(PANEL_METRICS):
            ax = axes[r][c]
            ax.tick_params(labelsize=7)
            ax.grid(True, color="#e6e6e6", linewidth=0.5)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            if r == 0:
                ax.set_title(label, fontsize=9)
            if c == 0:
                ax.set_ylabel(h, fontsize=9, rotation=0, ha="right", va="center")
            panel = by.get(h, {}).get(metric)
            if panel is None or not len(panel.times):
                ax.text(
                    0.5,
                    0.5,
                    "no data",
                    transform=ax.transAxes,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="#888888",
                )
                continue
            x = _to_num(panel.times)
            y = np.asarray(panel.values, dtype=float)
            x_lo, x_hi = min(x_lo, float(x[0])), max(x_hi, float(x[-1]))
            color = ("#1f77b4", "#2ca02c", "#d62728")[c]
            ax.plot(x, y, color=color, linewidth=1.0)
            ax.fill_between(x, 0, np.nan_to_num(y), color=color, alpha=0.15, linewidth=0)
            if metric == m.LOAD1:
                cores = by.get(h, {}).get(m.CPUS)
                if cores is not None and len(cores.values):
                    cv = np.asarray(cores.values, dtype=float)
                    if np.isfinite(cv).any():
                        n = float(np.nanmax(cv))
                        ax.axhline(n, color="#555555", linestyle="--", linewidth=0.8)
                        ax.text(
                            0.0,
                            n,
                            f"{n:g} cores",
                            transform=ax.get_yaxis_transform(),
                            fontsize=6.5,
                            va="bottom",
                            color="#555555",
                        )
                ax.set_ylim(bottom=0)
            else:
                ax.set_ylim(0, 100)
    if x_lo < x_hi:
        locator = mdates.AutoDateLocator(tz=tz, minticks=3, maxticks=6)
        for ax in axes[-1]:
            ax.set_xlim(x_lo, x_hi)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=tz))
        shown = _shown(markers, x_lo, x_hi)
        for row in axes:
            for ax in row:
                for mk in shown:
                    _marker_line(ax, mk, 1.0)
        for mk in shown:
            axes[0][0].text(
                mk.x,
                mk.height,
                mk.label,
                transform=axes[0][0].get_xaxis_transform(),
                fontsize=8,
                color=mk.color,
                ha="right" if mk.right_half else "left",
                va="top",
                zorder=6,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.0},
            )
        fig.text(0.98, 0.005, _tz_name(tz, x_hi * 86400), ha="right", va="bottom", fontsize=7, color="#555555")
    canvas.draw()
    return _encode(canvas)


KINDS = ("stacked_load", "host_panels")


def render(kind: str, kwargs: Mapping[str, Any]) -> bytes:
    """Dispatch by name (what the worker process runs)."""
    if kind == "stacked_load":
        return stacked_load(**kwargs)
    if kind == "host_panels":
        return host_panels(**kwargs)
    raise ValueError(f"Unknown graph kind {kind!r}; expected one of {', '.join(KINDS)}.")
