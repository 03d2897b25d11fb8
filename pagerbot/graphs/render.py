"""PNG graphs with matplotlib's object API (``Figure`` + Agg canvas; never pyplot).

The stacked load graph is drawn often (every refresh of every open incident), so it is built for speed:
one figure per size and process, reused; the stack is a single ``PolyCollection`` without outlines,
its vertices computed with numpy in one go; the legend is rebuilt only when the hosts change; and the
PNG is encoded by Pillow straight from the Agg buffer with light compression.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
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
from PIL import Image

from pagerbot.graphs.markers import Marker
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
    buf = canvas.buffer_rgba()
    w, h = canvas.get_width_height()
    img = Image.frombuffer("RGBA", (w, h), buf, "raw", "RGBA", 0, 1).convert("RGB")
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _text_pixels(text: str, *, fontsize: float, rotation: float = 0) -> tuple[np.ndarray, np.ndarray]:
    """``text`` drawn once on its own small canvas: its RGBA pixels and the mask of its ink."""
    fig = Figure(figsize=(1, 1), dpi=DPI, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    t = fig.text(0, 0, text, fontsize=fontsize, rotation=rotation, ha="left", va="bottom")
    box = t.get_window_extent(renderer=canvas.get_renderer())
    fig.set_size_inches((box.width + 4) / DPI, (box.height + 4) / DPI)
    t.set_position((2 / (box.width + 4), 2 / (box.height + 4)))
    canvas.draw()
    px = np.asarray(canvas.buffer_rgba()).copy()
    return px, (px[:, :, :3] != 255).any(axis=2)


def _paste(frame: np.ndarray, px: np.ndarray, mask: np.ndarray, top: int, left: int) -> None:
    h = min(px.shape[0], frame.shape[0] - top)
    w = min(px.shape[1], frame.shape[1] - left)
    if h > 0 and w > 0:
        m_ = mask[:h, :w]
        frame[top : top + h, left : left + w][m_] = px[:h, :w][m_]


class _StackCanvas:
    """A reusable figure for the stacked load graph of one size."""

    def __init__(self, width_px: int, height_px: int) -> None:
        self.fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, facecolor="white")
        self.canvas = FigureCanvasAgg(self.fig)
        self.width_px, self.height_px = width_px, height_px
        ax = self.fig.add_axes((0.07, 0.11, 0.75, 0.80))
        ax.grid(True, color="#e0e0e0", linewidth=0.6)
        ax.set_axisbelow(True)
        # The y label is rotated text, which Agg draws slowly: drawn once as pixels (see _finish).
        self.ylabel = _text_pixels("load (1 min), stacked", fontsize=9, rotation=90)
        ax.tick_params(labelsize=8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        self.ax: Axes = ax
        self.stack = PolyCollection([], edgecolors="none", linewidths=0, antialiaseds=False, zorder=2)
        ax.add_collection(self.stack)
        self.legend_pixels: np.ndarray | None = None
        self.legend_mask: np.ndarray = np.zeros((0, 0), dtype=bool)
        self.legend_at = (0, 0)
        self.legend_key: tuple[str, ...] = ()
        self.dynamic: list[Any] = []
        self.title = ax.set_title("", fontsize=11, loc="left")
        self.empty = ax.text(
            0.5, 0.5, "", transform=ax.transAxes, ha="center", va="center", fontsize=12, color="#666666"
        )

    def _set_legend(self, hosts: Sequence[str], colors: Sequence[str]) -> None:
        """Lay out the axes for the legend of ``hosts`` and render the legend once, as pixels.

        A 50-entry legend costs more to draw than the rest of the graph, and it only changes when the
        hosts do; so it is drawn on its own small canvas and pasted into each new frame.
        """
        key = tuple(hosts)
        if key == self.legend_key and self.legend_pixels is not None:
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
            self.legend_pixels = np.zeros((0, 0, 4), dtype=np.uint8)
            return
        legend_h = int(self.height_px * 0.92)
        fig = Figure(figsize=(legend_w / DPI, legend_h / DPI), dpi=DPI, facecolor="white")
        canvas = FigureCanvasAgg(fig)
        # Top of the stack first, as the colours appear on the graph.
        handles = [Patch(facecolor=c, edgecolor="none", label=h) for h, c in zip(hosts, colors, strict=True)][
            ::-1
        ]
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
        canvas.draw()
        self.legend_pixels = np.asarray(canvas.buffer_rgba()).copy()
        # Only the legend's own (non-white) pixels are pasted: tick labels may reach under its area.
        self.legend_mask = (self.legend_pixels[:, :, :3] != 255).any(axis=2)
        self.legend_at = (int(self.height_px * 0.08), int(axes_right * self.width_px))

    def _finish(self) -> bytes:
        self.canvas.draw()
        frame = np.asarray(self.canvas.buffer_rgba())
        if self.legend_pixels is not None and self.legend_pixels.size:
            _paste(frame, self.legend_pixels, self.legend_mask, *self.legend_at)
        ypx, ymask = self.ylabel
        _paste(frame, ypx, ymask, (self.height_px - ypx.shape[0]) // 2, 4)
        return _encode(self.canvas)

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
        self.title.set_text(title)
        self._set_legend(hosts, colors)
        if not hosts or len(t) == 0:
            self.stack.set_verts([])
            self.empty.set_text("no data")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.xaxis.set_major_locator(NullLocator())
            ax.xaxis.set_major_formatter(NullFormatter())
            ax.set_xlabel("")
            return self._finish()
        self.empty.set_text("")
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
            line = ax.axhline(capacity, color="#333333", linewidth=1.0, linestyle="--", zorder=3)
            label = ax.text(
                x[0],
                capacity,
                f" {capacity:g} cores",
                fontsize=7.5,
                va="bottom",
                ha="left",
                color="#333333",
                zorder=4,
            )
            self.dynamic += [line, label]
            top = max(top, capacity)
        ax.set_xlim(x[0], x[-1] if x[-1] > x[0] else x[0] + 1 / 1440)
        ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)  # room for marker labels
        locator = mdates.AutoDateLocator(tz=tz, minticks=4, maxticks=9)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=tz))
        ax.set_xlabel(_tz_name(tz, t[-1]), fontsize=8, color="#555555")
        self.dynamic += _draw_markers(ax, markers, x[0], x[-1])
        return self._finish()


def _tz_name(tz: tzinfo, at: float) -> str:
    key = getattr(tz, "key", None)
    if isinstance(key, str):
        return f"time ({key})"
    return f"time ({datetime.fromtimestamp(at, tz).tzname() or 'UTC'})"


def _draw_markers(ax: Axes, markers: Sequence[Marker], x0: float, x1: float) -> list[Any]:
    out: list[Any] = []
    shown = sorted((mk for mk in markers if x0 <= mk.at.timestamp() / 86400 <= x1), key=lambda mk: mk.at)
    for i, mk in enumerate(shown):
        xm = mk.at.timestamp() / 86400
        color = mk.color or MARKER_COLORS[i % len(MARKER_COLORS)]
        out.append(ax.axvline(xm, color=color, linewidth=1.4, linestyle=(0, (4, 2)), zorder=5))
        # Labels stagger downwards so close markers do not overwrite each other.
        right_half = (xm - x0) > 0.6 * (x1 - x0)
        out.append(
            ax.text(
                xm,
                0.98 - 0.07 * (i % 6),
                f" {mk.label} ",
                transform=ax.get_xaxis_transform(),
                fontsize=8,
                color=color,
                ha="right" if right_half else "left",
                va="top",
                zorder=6,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.0},
            )
        )
    return out


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
        for row in axes:
            for ax in row:
                _draw_markers_lines_only(ax, markers, x_lo, x_hi)
        _draw_markers(axes[0][0], markers, x_lo, x_hi)
        fig.text(
            0.98, 0.005, _tz_name(tz, x_hi * 86400), ha="right", va="bottom", fontsize=7, color="#555555"
        )
    canvas.draw()
    return _encode(canvas)


def _draw_markers_lines_only(ax: Axes, markers: Sequence[Marker], x0: float, x1: float) -> None:
    shown = sorted((mk for mk in markers if x0 <= mk.at.timestamp() / 86400 <= x1), key=lambda mk: mk.at)
    for i, mk in enumerate(shown):
        ax.axvline(
            mk.at.timestamp() / 86400,
            color=mk.color or MARKER_COLORS[i % len(MARKER_COLORS)],
            linewidth=1.0,
            linestyle=(0, (4, 2)),
        )


KINDS = ("stacked_load", "host_panels")


def render(kind: str, kwargs: Mapping[str, Any]) -> bytes:
    """Dispatch by name (what the worker process runs)."""
    if kind == "stacked_load":
        return stacked_load(**kwargs)
    if kind == "host_panels":
        return host_panels(**kwargs)
    raise ValueError(f"Unknown graph kind {kind!r}; expected one of {', '.join(KINDS)}.")
