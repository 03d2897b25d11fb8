"""PNG graphs with matplotlib's object API (``Figure`` + Agg canvas; never pyplot).

Graphs are laid out in logical (CSS) pixels for the sizes people see them at, a Slack preview about 360 px
wide on a phone and 600 on a laptop, and rendered at twice that density for HiDPI screens: a point is one
logical pixel (``DPI = 72 * SCALE``). The smallest text is ``TEXT_PX`` logical pixels, 11 px or more once a
phone shows the graph 360 px wide.

The stacked load graph is drawn often (every refresh of every open incident), so it is built for speed:
one figure per layout and process, reused; the stack is a single ``PolyCollection`` without outlines, its
vertices computed with numpy in one go; matplotlib draws no text at all: every text is drawn once per process
as a sprite and blended into each frame, numbers are assembled from per-glyph sprites; the lane above the plot
and the legend's swatches are filled with numpy; and the PNG is written unfiltered with light compression
(pagerbot.graphs.png).

What each render decided (colours, legend values, the capacity, where the marker labels went) is kept on the
canvas as :class:`Drawn`, which the tests read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from pagerbot.core.graph_frame import Window, axis_zone, capacity_of
from pagerbot.graphs.markers import Marker, Span
from pagerbot.graphs.palette import host_colors, ordered_hosts
from pagerbot.graphs.plan import (
    LaneLabel,
    LaneMark,
    LegendRow,
    fmt_value,
    lane_marks,
    legend_rows,
    place_lane,
)
from pagerbot.graphs.png import encode_rgb
from pagerbot.metrics import series as m
from pagerbot.metrics.series import Series

__all__ = ["Marker", "Span", "host_panels", "render", "stacked_load"]

SCALE = 2  # PNG pixels per logical pixel
DPI = 72 * SCALE  # so that a point is one logical pixel
WIDTH_PX = 480  # logical: a 960-pixel PNG, no wider than Slack's largest thumbnail (1024)
PHONE_PREVIEW_PX = 360  # how wide Slack shows an image on a phone; a laptop shows about 600
TEXT_PX = 15.0  # the smallest text, logical: 11 px or more at a phone's preview of a WIDTH_PX-wide graph
TITLE_PX = 17.0
ROW = 20.0  # logical height of a line of text
MARGIN = 8.0
LANE_ROWS = 2  # rows of marker labels above the plot
STACK_PLOT_PX = 190.0
PANEL_PX = 160.0  # each panel of a host graph
PANEL_GAP = 10.0  # between a panel's legend and its plot, room for the top tick label
GRID = "#e4e4e4"
INK = "#1a1a1a"
MUTED = "#4d4d4d"  # secondary text; 8:1 contrast on white
INCIDENT_SHADE = "#f2f2f2"
WAVE_SHADE = "#e2e2e2"
CAPACITY_COLOR = "#1a1a1a"


def _px(logical: float) -> float:
    return logical * SCALE


def _rgb(color: str) -> np.ndarray:
    c = color.lstrip("#")
    return np.array([int(c[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.float32)


# --- text as sprites -------------------------------------------------------------------------------------


class Sprite:
    """Pixels drawn once and composited into frames: premultiplied colour and how much of the frame shows."""

    def __init__(self, color: np.ndarray, keep: np.ndarray) -> None:
        self.color = color
        self.keep = keep
        self.height, self.width = int(keep.shape[0]), int(keep.shape[1])

    @classmethod
    def of_rgba(cls, rgba: np.ndarray) -> Sprite:
        alpha = rgba[:, :, 3:4].astype(np.float32) / 255.0
        return cls(rgba[:, :, :3].astype(np.float32) * alpha, 1.0 - alpha)

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


def _font(fontsize: float, bold: bool) -> FontProperties:
    return FontProperties(size=fontsize, weight="bold" if bold else "normal")


@lru_cache(maxsize=16)
def _line_metrics(fontsize: float, bold: bool) -> tuple[int, int]:
    """(height, descent) in pixels of one line of text, as matplotlib lays out any single line."""
    canvas = FigureCanvasAgg(Figure(figsize=(1, 1), dpi=DPI))
    _, height, descent = canvas.get_renderer().get_text_width_height_descent("lp", _font(fontsize, bold), False)
    return math.ceil(height), math.ceil(descent)


@lru_cache(maxsize=1024)  # a few MB at most; labels repeat from one refresh to the next
def text_sprite(text: str, fontsize: float, color: str = INK, bold: bool = False) -> Sprite:
    """``text`` drawn alone on a transparent canvas, cut to its line box (plus a small margin).

    Agg draws text glyph by glyph, in Python since matplotlib 3.11, about half a millisecond a label: a
    graph's labels took more time than its filled bands. Titles, tick labels and host names repeat from one
    render to the next, so each is drawn once per process and blended in afterwards.
    """
    fig = Figure(figsize=(1, 1), dpi=DPI, facecolor="none")
    canvas = FigureCanvasAgg(fig)
    t = fig.text(0, 0, text, fontproperties=_font(fontsize, bold), color=color, ha="left", va="bottom")
    box = t.get_window_extent(renderer=canvas.get_renderer())
    height, _ = _line_metrics(fontsize, bold)
    width, height = math.ceil(box.width) + 2 * _PAD, height + 2 * _PAD
    fig.set_size_inches(width / DPI, height / DPI)
    t.set_position((_PAD / width, _PAD / height))
    canvas.draw()
    return Sprite.of_rgba(np.asarray(canvas.buffer_rgba()))


@lru_cache(maxsize=64)
def _glyph(char: str, fontsize: float, color: str) -> tuple[Sprite, float]:
    """One character on a line-high canvas, its baseline where :func:`text_sprite` puts it, and its advance."""
    font = get_font(findfont(_font(fontsize, False)))
    font.set_size(fontsize, DPI)
    advance = font.load_char(ord(char)).linearHoriAdvance / 65536
    height, _ = _line_metrics(fontsize, False)
    width = math.ceil(advance) + 2 * _PAD
    fig = Figure(figsize=(width / DPI, (height + 2 * _PAD) / DPI), dpi=DPI, facecolor="none")
    fig.text(_PAD / width, _PAD / (height + 2 * _PAD), char, fontproperties=_font(fontsize, False), color=color,
             ha="left", va="bottom")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return Sprite.of_rgba(np.asarray(canvas.buffer_rgba())), advance


@lru_cache(maxsize=4096)
def number_sprite(text: str, fontsize: float, color: str = INK) -> Sprite:
    """A number (digits, point, sign, dash) assembled from glyph sprites: legend values change at every
    refresh, and drawing each as text would cost half a millisecond apiece."""
    glyphs = [_glyph(c, fontsize, color) for c in text]
    lefts = np.round(np.cumsum([0.0] + [advance for _, advance in glyphs[:-1]])).astype(int)
    height = glyphs[0][0].height
    width = max(int(left) + sprite.width for left, (sprite, _) in zip(lefts, glyphs, strict=True))
    color_px = np.zeros((height, width, 3), dtype=np.float32)
    keep = np.ones((height, width, 1), dtype=np.float32)
    for left, (sprite, _) in zip(lefts, glyphs, strict=True):
        cols = slice(int(left), int(left) + sprite.width)
        color_px[:, cols] = color_px[:, cols] * sprite.keep + sprite.color
        keep[:, cols] *= sprite.keep
    return Sprite(color_px, keep)


_NUMBER_CHARS = frozenset("0123456789.-\u2013\u2212")


def sprite_for(text: str, fontsize: float, color: str = INK, bold: bool = False) -> Sprite:
    if not bold and text and set(text) <= _NUMBER_CHARS:
        return number_sprite(text, fontsize, color)
    return text_sprite(text, fontsize, color, bold)


def text_width(text: str, fontsize: float = TEXT_PX, bold: bool = False) -> float:
    """Logical width of ``text`` as drawn."""
    return (sprite_for(text, fontsize, INK, bold).width - 2 * _PAD) / SCALE


@dataclass(frozen=True)
class Label:
    """A text on a frame at (x, y) in PNG pixels; ``ha``/``va`` say which point of its box lies there.
    ``fontsize`` is in logical pixels."""

    text: str
    x: float
    y: float
    fontsize: float
    ha: str = "left"  # left, center, right
    va: str = "top"  # top, center, bottom
    color: str = INK
    bold: bool = False

    def box(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) of the text's line box, in PNG pixels."""
        return self._box(sprite_for(self.text, self.fontsize, self.color, self.bold))

    def _box(self, sprite: Sprite) -> tuple[float, float, float, float]:
        w, h = sprite.width - 2 * _PAD, sprite.height - 2 * _PAD
        left = self.x - (0 if self.ha == "left" else w / 2 if self.ha == "center" else w)
        top = self.y - (0 if self.va == "top" else h / 2 if self.va == "center" else h)
        return left, top, left + w, top + h

    def paste(self, frame: np.ndarray) -> None:
        if not self.text:
            return
        sprite = sprite_for(self.text, self.fontsize, self.color, self.bold)
        left, top, _, _ = self._box(sprite)
        sprite.paste(frame, top - _PAD, left - _PAD)


# --- what a render decided ---------------------------------------------------------------------------------


@dataclass
class Drawn:
    """The last frame's decisions, in PNG pixels: what the tests read instead of guessing from pixels."""

    size: tuple[int, int] = (0, 0)  # width, height
    hosts: list[str] = field(default_factory=list)  # in stack/legend order
    colors: dict[str, str] = field(default_factory=dict)
    legend: list[LegendRow] = field(default_factory=list)
    capacity: float | None = None
    capacity_y: list[float] = field(default_factory=list)  # the capacity lines' values, as drawn
    plots: list[tuple[float, float, float, float]] = field(default_factory=list)  # left, top, right, bottom
    lane: tuple[float, float] = (0.0, 0.0)  # its top and bottom
    lane_labels: list[LaneLabel] = field(default_factory=list)
    marker_colors: list[str] = field(default_factory=list)
    spans: list[tuple[float, float, str]] = field(default_factory=list)  # x from, x to (pixels), kind
    labels: list[Label] = field(default_factory=list)
    caption: str = ""
    zone: str = ""


# --- shared pieces ---------------------------------------------------------------------------------------


def _aligned(series_by_host: Mapping[str, Series], hosts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The common time grid and a (hosts x times) array of values, NaN for gaps."""
    ref = max((series_by_host[h] for h in hosts), key=lambda s: len(s.times))
    t = np.asarray(ref.times, dtype=float)
    y = np.full((len(hosts), len(t)), np.nan)
    for i, h in enumerate(hosts):
        s = series_by_host[h]
        v = np.asarray(s.values, dtype=float)
        if s is ref or (len(s.times) == len(t) and np.array_equal(np.asarray(s.times, dtype=float), t)):
            y[i] = v
        else:
            st = np.asarray(s.times, dtype=float)
            ok = np.isfinite(v)
            if ok.any():
                y[i] = np.interp(t, st[ok], v[ok], left=np.nan, right=np.nan)
    y[~np.isfinite(y)] = np.nan
    return t, y


def _num(t: Any) -> Any:
    """Unix seconds to matplotlib date numbers (days since 1970-01-01)."""
    return t / 86400.0


def _limits(t_lo: float, t_hi: float, window: Window | None) -> tuple[float, float]:
    lo, hi = (window.start.timestamp(), window.end.timestamp()) if window is not None else (t_lo, t_hi)
    return _num(lo), _num(hi if hi > lo else lo + 60)


def _style_axes(ax: Axes) -> None:
    ax.grid(True, color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    ax.tick_params(labelbottom=False, labelleft=False, length=3, width=0.6, color=MUTED)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(MUTED)
        ax.spines[side].set_linewidth(0.6)


class _Overlay:
    """The artists a frame changes: shaded spans, marker lines with a white halo, capacity lines."""

    def __init__(self, ax: Axes) -> None:
        self.ax = ax
        self.spans = PolyCollection([], edgecolors="none", linewidths=0, antialiaseds=False, zorder=0.5)
        self.halo = LineCollection([], colors="white", linewidths=2.6, zorder=4)
        self.lines = LineCollection([], linewidths=1.0, zorder=5)
        self.capacity = Line2D([], [], color=CAPACITY_COLOR, linewidth=1.2, linestyle=(0, (4, 2)), zorder=3.5)
        for artist in (self.spans, self.halo, self.lines):
            ax.add_collection(artist)
        ax.add_line(self.capacity)

    def set(self, spans: Sequence[tuple[float, float, str]], lines: Sequence[tuple[float, str]],
            capacity: float | None, x_lo: float, x_hi: float) -> None:
        self.spans.set_verts([[(a, -1e9), (b, -1e9), (b, 1e9), (a, 1e9)] for a, b, _ in spans])
        self.spans.set_facecolor([INCIDENT_SHADE if kind == "incident" else WAVE_SHADE for _, _, kind in spans])
        segments = [[(x, -1e9), (x, 1e9)] for x, _ in lines]
        self.halo.set_segments(segments)
        self.lines.set_segments(segments)
        self.lines.set_color([c for _, c in lines])
        self.capacity.set_data([x_lo, x_hi], [capacity, capacity] if capacity is not None else [math.nan] * 2)


class _Frame:
    """Pixel-level work on one rendered frame: filled rectangles, labels, the lane."""

    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels = pixels

    def fill(self, left: float, top: float, right: float, bottom: float, color: str) -> None:
        y0, y1 = max(0, round(top)), min(self.pixels.shape[0], round(bottom))
        x0, x1 = max(0, round(left)), min(self.pixels.shape[1], round(right))
        if y0 < y1 and x0 < x1:
            self.pixels[y0:y1, x0:x1, :3] = _rgb(color).astype(np.uint8)


TICK_STEPS_MIN = (5, 10, 15, 30, 60, 120, 180, 240, 360, 720, 1440, 2880, 4320, 10080)


def time_ticks(start: float, end: float, tz: tzinfo, most: int = 6) -> list[float]:
    """Unix times of the time axis's ticks: round local times (multiples of a step from local midnight), the
    smallest step that gives at most ``most`` ticks."""
    span_min = max(1.0, (end - start) / 60)
    step = next((s for s in TICK_STEPS_MIN if span_min / s <= most), TICK_STEPS_MIN[-1])
    local = datetime.fromtimestamp(start, tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    first = midnight.timestamp() + math.ceil((start - midnight.timestamp()) / (step * 60)) * step * 60
    ticks: list[float] = []
    t = first
    while t <= end and len(ticks) < 100:
        # around a change of clocks, keep to round local times
        wall = datetime.fromtimestamp(t, tz)
        if step < 1440 or (wall.hour, wall.minute) == (0, 0):
            ticks.append(t)
        t += step * 60
    return ticks


def _time_ticks(ax: Axes, tz: tzinfo, left_px: float, right_px: float, bottom_px: float,
                height_px: float) -> list[Label]:
    """The time axis of a matplotlib panel: its ticks set, their labels to paste."""
    x_lo, x_hi = ax.get_xlim()
    ticks = time_ticks(x_lo * 86400, x_hi * 86400, tz)
    ax.set_xticks([_num(t) for t in ticks])
    return _tick_labels(ticks, lambda v: float(ax.transData.transform((_num(v), 0))[0]), tz, left_px, right_px,
                        bottom_px)


def _value_ticks(ax: Axes, height_px: float, left_px: float) -> list[Label]:
    y_lo, y_hi = ax.get_ylim()
    out = []
    for v in ax.yaxis.get_major_locator()():
        if y_lo <= v <= y_hi:
            y = height_px - ax.transData.transform((0, v))[1]
            out.append(Label(f"{v:g}", left_px - _px(4), y, TEXT_PX, "right", "center", MUTED))
    return out


def _header(title: str, caption: str) -> list[Label]:
    return [Label(title, _px(MARGIN), _px(6), TITLE_PX, bold=True),
            Label(caption, _px(MARGIN), _px(6 + ROW + 2), TEXT_PX, color=MUTED)]


HEADER_PX = 6 + ROW + 2 + ROW + 4  # title and caption


def _marker_lines(ax: Axes, overlay: _Overlay, marks: Sequence[LaneMark]) -> None:
    """One thin line (white halo, marker colour) through the plot per lane mark."""
    inverse = ax.transData.inverted()
    xs = [(float(inverse.transform((mk.x, 0))[0]), mk.color) for mk in marks]
    segments = [[(x, -1e9), (x, 1e9)] for x, _ in xs]
    overlay.halo.set_segments(segments)
    overlay.lines.set_segments(segments)
    overlay.lines.set_color([c for _, c in xs] or [INK])


def _lane(frame: _Frame, drawn: Drawn, marks: Sequence[LaneMark], plot_left: float, plot_right: float) -> list[Label]:
    """The strip above the plot: the incident and its waves shaded, each marker's tick and its label."""
    lane_top, lane_bottom = drawn.lane
    for kind in ("incident", "wave"):
        for a, b, span_kind in drawn.spans:
            if span_kind == kind:
                frame.fill(max(a, plot_left), lane_top, min(b, plot_right), lane_bottom,
                           WAVE_SHADE if kind == "wave" else INCIDENT_SHADE)
    placed = place_lane(marks, lambda s: _px(text_width(s)), _px(MARGIN), _px(WIDTH_PX - MARGIN), LANE_ROWS,
                        _px(3))
    drawn.lane_labels = placed
    drawn.marker_colors = sorted({mk.color for mk in marks} | {p.mark.color for p in placed})
    labels = []
    for mk in marks:
        frame.fill(mk.x - SCALE / 2, lane_bottom - _px(5), mk.x + SCALE / 2, lane_bottom, mk.color)
    for p in placed:
        row_bottom = lane_bottom - _px(ROW) * p.row
        beside = p.left >= p.mark.x  # else the label lies over its line's top: the line stops under it
        frame.fill(p.mark.x - SCALE / 2, row_bottom - (_px(ROW) - _px(3) if beside else 0), p.mark.x + SCALE / 2,
                   lane_bottom, p.mark.color)
        labels.append(Label(p.text, p.left, row_bottom - _px(ROW) / 2, TEXT_PX, "left", "center", p.mark.color))
    return labels


NUMBER_COLUMN_PX = 46.0  # logical width of a last/avg/max column


def _legend_block(frame: _Frame, rows: Sequence[LegendRow], top: float, left: float, right: float,
                  title: str = "") -> list[Label]:
    """A header line (``title`` at the left, "last avg max" at the right), then one line per series: its
    swatch, host and values, the numbers right-aligned under their heading. Pixels in, labels out."""
    labels = [Label(title, left, top, TEXT_PX, bold=True)] if title else []
    column = _px(NUMBER_COLUMN_PX)
    for k, name in enumerate(("max", "avg", "last")):
        labels.append(Label(name, right - column * k, top, TEXT_PX, "right", color=MUTED))
    for i, row in enumerate(rows):
        y = top + _px(ROW) * (i + 1)
        frame.fill(left, y + _px(4), left + _px(12), y + _px(16), row.color)
        labels.append(Label(row.host, left + _px(16), y, TEXT_PX))
        for k, value in enumerate((row.max, row.avg, row.last)):
            labels.append(Label(fmt_value(value), right - column * k, y, TEXT_PX, "right"))
    return labels


def _capacity_key(frame: _Frame, top: float, text: str) -> Label:
    """The dashed line's key, under the legend."""
    for dash in range(3):
        frame.fill(_px(MARGIN + dash * 5), top + _px(9), _px(MARGIN + dash * 5 + 3), top + _px(11), CAPACITY_COLOR)
    return Label(text, _px(MARGIN + 18), top, TEXT_PX)


def _legend_table(frame: _Frame, rows: Sequence[LegendRow], top: float, columns: int,
                  capacity_text: str | None) -> list[Label]:
    """Each series with its last, average and maximum value, in ``columns`` columns below the plot."""
    labels: list[Label] = []
    col_w = _px((WIDTH_PX - 2 * MARGIN) / columns)
    per_col = math.ceil(len(rows) / columns) if rows else 0
    for c in range(columns if rows else 0):
        left = _px(MARGIN) + col_w * c
        right = left + col_w - _px(10 if c < columns - 1 else 0)
        labels += _legend_block(frame, rows[c * per_col:(c + 1) * per_col], top, left, right)
    if capacity_text:
        labels.append(_capacity_key(frame, top + _px(ROW) * (per_col + 1), capacity_text))
    return labels


def _legend_columns(n: int) -> int:
    return 1 if n <= 3 else 2


def _legend_height(n: int, capacity: bool) -> float:
    return ROW * (1 + math.ceil(n / _legend_columns(n)) + (1 if capacity else 0)) if n else 0.0


# --- the stacked load graph ------------------------------------------------------------------------------


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
        self.blank = np.full((round(_px(self.height)), round(_px(WIDTH_PX)), 3), 255, dtype=np.uint8)
        self.drawn = Drawn()

    def draw(self, series_by_host: Mapping[str, Series], *, title: str, caption: str, tz: tzinfo,
             markers: Sequence[Marker], spans: Sequence[Span], pools: Mapping[str, Sequence[str]],
             capacity: float | None, window: Window | None) -> bytes:
        hosts = ordered_hosts((h for h, s in series_by_host.items() if len(s.times)), pools)
        colors = host_colors(hosts, pools)
        pixels = self.blank.copy()
        frame = _Frame(pixels)
        height, width = pixels.shape[:2]
        left, top, right, bottom = (round(_px(v)) for v in (self.left, self.plot_top, self.right, self.plot_bottom))
        drawn = Drawn(size=(width, height), hosts=list(hosts), colors=colors, caption=caption, capacity=capacity,
                      plots=[(left, top, right, bottom)], lane=(_px(HEADER_PX), float(top)))
        labels = _header(title, caption)
        if not hosts:
            _axes_lines(frame, left, top, right, bottom, [], [])
            labels.append(Label("no data", (left + right) / 2, (top + bottom) / 2, TEXT_PX, "center", "center",
                                MUTED))
            return self._finish(pixels, drawn, labels)
        t, raw = _aligned(series_by_host, hosts)
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
        y_max = _nice_top(max(peak, capacity or 0.0) * 1.05)
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
            for x in range(left, right, round(_px(6))):
                frame.fill(x, row - SCALE / 2 - 0.5, min(x + _px(4), right), row + SCALE / 2 + 0.5, CAPACITY_COLOR)
            drawn.capacity_y = [(bottom - row) / plot_h * y_max]
        marks = lane_marks(markers, x_of, left, right, _px(6))
        for mk in marks:
            frame.fill(mk.x - SCALE * 1.5, top, mk.x + SCALE * 1.5, bottom, "#ffffff")
            frame.fill(mk.x - SCALE / 2, top, mk.x + SCALE / 2, bottom, mk.color)
        _axes_lines(frame, left, top, right, bottom, [left + (v - t0) / (t1 - t0) * (right - left) for v in x_ticks],
                    [row_of(v) for v in y_ticks])
        labels += [Label(f"{v:g}", left - _px(6), row_of(v), TEXT_PX, "right", "center", MUTED) for v in y_ticks]
        labels += _tick_labels(x_ticks, lambda v: left + (v - t0) / (t1 - t0) * (right - left), tz, left, right,
                               bottom)
        drawn.zone = f"time, {axis_zone(window or Window(_dt(t0), _dt(t1)), tz)}"
        labels.append(Label(drawn.zone, (left + right) / 2, bottom + _px(4 + ROW), TEXT_PX, "center", color=MUTED))
        labels += _lane(frame, drawn, marks, left, right)
        cap = f"capacity: {capacity:g} cores" if capacity else None
        labels += _legend_table(frame, drawn.legend, _px(self.legend_top), _legend_columns(len(hosts)), cap)
        return self._finish(pixels, drawn, labels)

    def _finish(self, pixels: np.ndarray, drawn: Drawn, labels: list[Label]) -> bytes:
        for label in labels:
            label.paste(pixels)
        drawn.labels = labels
        self.drawn = drawn
        return encode_rgb(pixels)


def _nice_top(value: float) -> float:
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
    lut = np.vstack([np.array([_rgb(c) for c in colors], dtype=np.uint8), np.zeros((1, 3), dtype=np.uint8)])
    region = pixels[bottom - plot_h:bottom, left:left + columns]
    index = index[::-1]  # top row first, as the frame
    inside = index < n
    region[inside] = lut[index[inside]]


def _grid(frame: _Frame, left: int, top: int, right: int, bottom: int, xs: Sequence[float],
          rows: Sequence[int]) -> None:
    for x in xs:
        frame.fill(x - 1, top, x + 1, bottom, GRID)
    for row in rows:
        frame.fill(left, row - 1, right, row + 1, GRID)


def _axes_lines(frame: _Frame, left: int, top: int, right: int, bottom: int, xs: Sequence[float],
                rows: Sequence[int]) -> None:
    """The left and bottom axis lines and their tick marks."""
    frame.fill(left - 1, top, left + 1, bottom + 1, MUTED)
    frame.fill(left - 1, bottom - 1, right, bottom + 1, MUTED)
    for x in xs:
        frame.fill(x - 1, bottom, x + 1, bottom + _px(3), MUTED)
    for row in rows:
        frame.fill(left - _px(3), row - 1, left, row + 1, MUTED)


def _tick_labels(ticks: Sequence[float], x_of: Any, tz: tzinfo, left_px: float, right_px: float,
                 bottom_px: float) -> list[Label]:
    """"HH:MM" under each tick, at local midnight the date ("03-11"); labels that would touch are dropped."""
    out: list[Label] = []
    last_right = -math.inf
    for v in ticks:
        local = datetime.fromtimestamp(v, tz)
        text = local.strftime("%m-%d") if (local.hour, local.minute) == (0, 0) else local.strftime("%H:%M")
        label = Label(text, x_of(v), bottom_px + _px(4), TEXT_PX, "center", color=MUTED)
        box_left, _, box_right, _ = label.box()
        if box_left < last_right + _px(6) or box_left < left_px - _px(MARGIN) or box_right > right_px + _px(MARGIN):
            continue
        out.append(label)
        last_right = box_right
    return out


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(float(t), UTC)


@lru_cache(maxsize=8)
def _stack_canvas(legend_px: float) -> _StackCanvas:
    return _StackCanvas(legend_px)


def stack_canvas_for(hosts: int, capacity: bool) -> _StackCanvas:
    """The canvas a stacked graph of ``hosts`` hosts is drawn on (its ``drawn`` tells what the last render
    decided)."""
    return _stack_canvas(_legend_height(hosts, capacity))


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


# --- one host (or a few): load, CPU and iowait in panels -----------------------------------------------------

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
        self.overlays: list[_Overlay] = []
        for top in self.panel_tops:
            ax = self.fig.add_axes((self.left / WIDTH_PX, 1 - (top + PANEL_PX) / self.height,
                                    (self.right - self.left) / WIDTH_PX, PANEL_PX / self.height))
            _style_axes(ax)
            ax.yaxis.set_major_locator(MaxNLocator(nbins=4, min_n_ticks=3))
            self.axes.append(ax)
            self.lines.append([])
            self.overlays.append(_Overlay(ax))
        self.drawn = Drawn()

    def draw(self, by: Mapping[str, Mapping[str, Series]], hosts: Sequence[str], *, title: str, caption: str,
             tz: tzinfo, markers: Sequence[Marker], spans: Sequence[Span], pools: Mapping[str, Sequence[str]],
             window: Window | None) -> bytes:
        colors = host_colors(hosts, pools)
        h_px = _px(self.height)
        drawn = Drawn(size=(int(_px(WIDTH_PX)), int(h_px)), hosts=list(hosts), colors=colors, caption=caption)
        labels = _header(title, caption)
        drawn.lane = (_px(self.lane_top), _px(self.panel_tops[0] - ROW * (1 + self.rows) - PANEL_GAP))
        times = [s.times for h in hosts for s in by.get(h, {}).values() if len(s.times) > 1]
        t_lo = min((float(t[0]) for t in times), default=0.0)
        t_hi = max((float(t[-1]) for t in times), default=1.0)
        x_lo, x_hi = _limits(t_lo, t_hi, window)
        cores = {h: _last(by.get(h, {}).get(m.CPUS)) for h in hosts}
        drawn.capacity = capacity_of(cores)
        panel_legends: list[tuple[float, list[LegendRow], str]] = []
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
                (line,) = ax.plot(_num(np.asarray(s.times, dtype=float)), v, color=colors[h], linewidth=1.4,
                                  zorder=3)
                self.lines[i].append(line)
                rows.append(legend_rows([h], colors, v[None, :])[0])
                if np.isfinite(v).any():
                    peak = max(peak, float(np.nanmax(v)))
            ax.set_xlim(x_lo, x_hi)
            capacity = None
            if metric == m.LOAD1:
                known = [c for c in cores.values() if math.isfinite(c)]
                capacity = max(known) if known else None
                peak = max(peak, capacity or 0.0)
                ax.set_ylim(0, peak * 1.1 if peak > 0 else 1.0)
            else:
                ax.set_ylim(0, 100)
            spans_x = [(_num(s.start.timestamp()), _num(s.end.timestamp()), s.kind) for s in spans]
            self.overlays[i].set(spans_x, [], capacity, x_lo, x_hi)
            drawn.capacity_y += [float(v) for v in np.asarray(self.overlays[i].capacity.get_ydata(), dtype=float)[:1]
                                 if math.isfinite(v)]
            suffix = f", {capacity:g} cores (dashed)" if capacity is not None else ""
            panel_legends.append((self.panel_tops[i], rows, name + suffix))
            if i == 0:
                drawn.legend = rows
        plots = []
        for top in self.panel_tops:
            plots.append((_px(self.left), _px(top), _px(self.right), _px(top + PANEL_PX)))
        drawn.plots = plots
        to_px = self.axes[0].transData.transform

        def x_of(at: datetime) -> float:
            return float(to_px((_num(at.timestamp()), 0))[0])

        marks = lane_marks(markers, x_of, plots[0][0], plots[0][2], _px(6))
        for ax, overlay in zip(self.axes, self.overlays, strict=True):
            _marker_lines(ax, overlay, marks)
        for ax in self.axes:
            labels += _value_ticks(ax, h_px, plots[0][0])
        bottom = plots[-1]
        for ax in self.axes[:-1]:
            ax.set_xticks([_num(t) for t in time_ticks(x_lo * 86400, x_hi * 86400, tz)])
            ax.tick_params(labelbottom=False)
        labels += _time_ticks(self.axes[-1], tz, bottom[0], bottom[2], bottom[3], h_px)
        drawn.zone = f"time, {axis_zone(window or Window(_dt(t_lo), _dt(t_hi)), tz)}"
        labels.append(Label(drawn.zone, (bottom[0] + bottom[2]) / 2, bottom[3] + _px(4 + ROW), TEXT_PX, "center",
                            color=MUTED))
        self.canvas.draw()
        pixels = np.asarray(self.canvas.buffer_rgba())
        frame = _Frame(pixels)
        drawn.spans = [(x_of(s.start), x_of(s.end), s.kind) for s in spans]
        labels += _lane(frame, drawn, marks, plots[0][0], plots[0][2])
        for top, rows, name in panel_legends:
            labels += _panel_legend(frame, rows, _px(top - ROW * (1 + self.rows) - PANEL_GAP), name)
        if not hosts:
            labels.append(Label("no data", _px(WIDTH_PX / 2), _px(self.height / 2), TEXT_PX, "center", "center",
                                MUTED))
        for label in labels:
            label.paste(pixels)
        drawn.labels = labels
        self.drawn = drawn
        return encode_rgb(pixels)


def _panel_legend(frame: _Frame, rows: Sequence[LegendRow], top: float, name: str) -> list[Label]:
    """The panel's name, then one row per host: its swatch, name, last, average and maximum."""
    return _legend_block(frame, rows, top, _px(MARGIN), _px(WIDTH_PX - MARGIN), name)


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
    ``max_hosts``, in pool order). With several hosts the dashed line is the largest core count."""
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


KINDS = ("stacked_load", "host_panels")


def render(kind: str, kwargs: Mapping[str, Any]) -> bytes:
    """Dispatch by name (what the worker process runs)."""
    if kind == "stacked_load":
        return stacked_load(**kwargs)
    if kind == "host_panels":
        return host_panels(**kwargs)
    raise ValueError(f"Unknown graph kind {kind!r}; expected one of {', '.join(KINDS)}.")


def preview_text_px(fontsize: float, preview_width: float = PHONE_PREVIEW_PX) -> float:
    """How tall text of ``fontsize`` logical pixels shows when Slack previews the graph ``preview_width`` wide."""
    return fontsize * preview_width / WIDTH_PX

