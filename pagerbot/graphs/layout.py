"""What the stacked graph and the host panels share: the record of what a render decided (:class:`Drawn`),
pixel fills, the time axis, the title and caption, the marker lane and the legend."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.lines import Line2D

from pagerbot.core.graph_frame import Window
from pagerbot.core.series import Series
from pagerbot.graphs.plan import LaneLabel, LaneMark, LegendRow, fmt_value, place_lane
from pagerbot.graphs.style import (
    CAPACITY_COLOR,
    GRID,
    INCIDENT_SHADE,
    INK,
    LANE_ROWS,
    MARGIN,
    MUTED,
    ROW,
    SCALE,
    TEXT_PX,
    TITLE_PX,
    WAVE_SHADE,
    WIDTH_PX,
    px,
    rgb,
)
from pagerbot.graphs.text import Label, text_width


@dataclass
class Drawn:
    """The last frame's decisions, in PNG pixels: what the tests read instead of guessing from pixels."""

    size: tuple[int, int] = (0, 0)  # width, height
    hosts: list[str] = field(default_factory=list)  # in stack/legend order
    colors: dict[str, str] = field(default_factory=dict)
    legend: list[LegendRow] = field(default_factory=list)
    capacity: float | None = None
    capacity_y: list[float] = field(default_factory=list)  # the capacity lines' values, as drawn, ascending
    plots: list[tuple[float, float, float, float]] = field(default_factory=list)  # left, top, right, bottom
    lane: tuple[float, float] = (0.0, 0.0)  # its top and bottom
    lane_labels: list[LaneLabel] = field(default_factory=list)
    marker_colors: list[str] = field(default_factory=list)
    spans: list[tuple[float, float, str]] = field(default_factory=list)  # x from, x to (pixels), kind
    labels: list[Label] = field(default_factory=list)
    caption: str = ""
    zone: str = ""


def aligned(series_by_host: Mapping[str, Series], hosts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
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


def date_num(t: Any) -> Any:
    """Unix seconds to matplotlib date numbers (days since 1970-01-01)."""
    return t / 86400.0


def limits(t_lo: float, t_hi: float, window: Window | None) -> tuple[float, float]:
    lo, hi = (window.start.timestamp(), window.end.timestamp()) if window is not None else (t_lo, t_hi)
    return date_num(lo), date_num(hi if hi > lo else lo + 60)


def style_axes(ax: Axes) -> None:
    ax.grid(True, color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    ax.tick_params(labelbottom=False, labelleft=False, length=3, width=0.6, color=MUTED)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(MUTED)
        ax.spines[side].set_linewidth(0.6)


class Overlay:
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
            capacities: Sequence[float], x_lo: float, x_hi: float) -> None:
        self.spans.set_verts([[(a, -1e9), (b, -1e9), (b, 1e9), (a, 1e9)] for a, b, _ in spans])
        self.spans.set_facecolor([INCIDENT_SHADE if kind == "incident" else WAVE_SHADE for _, _, kind in spans])
        segments = [[(x, -1e9), (x, 1e9)] for x, _ in lines]
        self.halo.set_segments(segments)
        self.lines.set_segments(segments)
        self.lines.set_color([c for _, c in lines])
        # one dashed line per value, as one artist: NaN breaks the line between them
        xs, ys = [math.nan], [math.nan]
        for value in capacities:
            xs += [x_lo, x_hi, math.nan]
            ys += [value, value, math.nan]
        self.capacity.set_data(xs, ys)


class Frame:
    """Pixel-level work on one rendered frame: filled rectangles, labels, the lane."""

    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels = pixels

    def fill(self, left: float, top: float, right: float, bottom: float, color: str) -> None:
        y0, y1 = max(0, round(top)), min(self.pixels.shape[0], round(bottom))
        x0, x1 = max(0, round(left)), min(self.pixels.shape[1], round(right))
        if y0 < y1 and x0 < x1:
            self.pixels[y0:y1, x0:x1, :3] = rgb(color).astype(np.uint8)


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


def axis_time_ticks(ax: Axes, tz: tzinfo, left_px: float, right_px: float, bottom_px: float,
                height_px: float) -> list[Label]:
    """The time axis of a matplotlib panel: its ticks set, their labels to paste."""
    x_lo, x_hi = ax.get_xlim()
    ticks = time_ticks(x_lo * 86400, x_hi * 86400, tz)
    ax.set_xticks([date_num(t) for t in ticks])
    return tick_labels(ticks, lambda v: float(ax.transData.transform((date_num(v), 0))[0]), tz, left_px, right_px,
                        bottom_px)


def value_ticks(ax: Axes, height_px: float, left_px: float) -> list[Label]:
    y_lo, y_hi = ax.get_ylim()
    out = []
    for v in ax.yaxis.get_major_locator()():
        if y_lo <= v <= y_hi:
            y = height_px - ax.transData.transform((0, v))[1]
            out.append(Label(f"{v:g}", left_px - px(4), y, TEXT_PX, "right", "center", MUTED))
    return out


def header(title: str, caption: str) -> list[Label]:
    return [Label(title, px(MARGIN), px(6), TITLE_PX, bold=True),
            Label(caption, px(MARGIN), px(6 + ROW + 2), TEXT_PX, color=MUTED)]


HEADER_PX = 6 + ROW + 2 + ROW + 4  # title and caption


def marker_lines(ax: Axes, overlay: Overlay, marks: Sequence[LaneMark]) -> None:
    """One thin line (white halo, marker colour) through the plot per lane mark."""
    inverse = ax.transData.inverted()
    xs = [(float(inverse.transform((mk.x, 0))[0]), mk.color) for mk in marks]
    segments = [[(x, -1e9), (x, 1e9)] for x, _ in xs]
    overlay.halo.set_segments(segments)
    overlay.lines.set_segments(segments)
    overlay.lines.set_color([c for _, c in xs] or [INK])


def lane(frame: Frame, drawn: Drawn, marks: Sequence[LaneMark], plot_left: float, plot_right: float) -> list[Label]:
    """The strip above the plot: the incident and its waves shaded, each marker's tick and its label."""
    lane_top, lane_bottom = drawn.lane
    for kind in ("incident", "wave"):
        for a, b, span_kind in drawn.spans:
            if span_kind == kind:
                frame.fill(max(a, plot_left), lane_top, min(b, plot_right), lane_bottom,
                           WAVE_SHADE if kind == "wave" else INCIDENT_SHADE)
    placed = place_lane(marks, lambda s: px(text_width(s)), px(MARGIN), px(WIDTH_PX - MARGIN), LANE_ROWS,
                        px(3))
    drawn.lane_labels = placed
    drawn.marker_colors = sorted({mk.color for mk in marks} | {p.mark.color for p in placed})
    labels = []
    for mk in marks:
        frame.fill(mk.x - SCALE / 2, lane_bottom - px(5), mk.x + SCALE / 2, lane_bottom, mk.color)
    for p in placed:
        row_bottom = lane_bottom - px(ROW) * p.row
        # beside its line (right or left of it), the line reaches up to the label's row; a label too wide for
        # either side lies over its line's top, and the line stops under it
        beside = p.left >= p.mark.x or p.right <= p.mark.x
        frame.fill(p.mark.x - SCALE / 2, row_bottom - (px(ROW) - px(3) if beside else 0), p.mark.x + SCALE / 2,
                   lane_bottom, p.mark.color)
        labels.append(Label(p.text, p.left, row_bottom - px(ROW) / 2, TEXT_PX, "left", "center", p.mark.color))
    return labels


NUMBER_COLUMN_PX = 46.0  # logical width of a last/avg/max column


def legend_block(frame: Frame, rows: Sequence[LegendRow], top: float, left: float, right: float,
                  title: str = "", notes: Mapping[str, str] | None = None) -> list[Label]:
    """A header line (``title`` at the left, "last avg max" at the right), then one line per series: its
    swatch, host (and its note, e.g. " · 4 cores") and values, the numbers right-aligned under their heading.
    Pixels in, labels out."""
    labels = [Label(title, left, top, TEXT_PX, bold=True)] if title else []
    column = px(NUMBER_COLUMN_PX)
    for k, name in enumerate(("max", "avg", "last")):
        labels.append(Label(name, right - column * k, top, TEXT_PX, "right", color=MUTED))
    for i, row in enumerate(rows):
        y = top + px(ROW) * (i + 1)
        frame.fill(left, y + px(4), left + px(12), y + px(16), row.color)
        labels.append(Label(row.host + (notes or {}).get(row.host, ""), left + px(16), y, TEXT_PX))
        for k, value in enumerate((row.max, row.avg, row.last)):
            labels.append(Label(fmt_value(value), right - column * k, y, TEXT_PX, "right"))
    return labels


def _capacity_key(frame: Frame, top: float, text: str) -> Label:
    """The dashed line's key, under the legend."""
    for dash in range(3):
        frame.fill(px(MARGIN + dash * 5), top + px(9), px(MARGIN + dash * 5 + 3), top + px(11), CAPACITY_COLOR)
    return Label(text, px(MARGIN + 18), top, TEXT_PX)


def legend_table(frame: Frame, rows: Sequence[LegendRow], top: float, columns: int,
                  capacity_text: str | None) -> list[Label]:
    """Each series with its last, average and maximum value, in ``columns`` columns below the plot."""
    labels: list[Label] = []
    col_w = px((WIDTH_PX - 2 * MARGIN) / columns)
    per_col = math.ceil(len(rows) / columns) if rows else 0
    for c in range(columns if rows else 0):
        left = px(MARGIN) + col_w * c
        right = left + col_w - px(10 if c < columns - 1 else 0)
        labels += legend_block(frame, rows[c * per_col:(c + 1) * per_col], top, left, right)
    if capacity_text:
        labels.append(_capacity_key(frame, top + px(ROW) * (per_col + 1), capacity_text))
    return labels


def legend_columns(n: int) -> int:
    return 1 if n <= 3 else 2


def legend_height(n: int, capacity: bool) -> float:
    return ROW * (1 + math.ceil(n / legend_columns(n)) + (1 if capacity else 0)) if n else 0.0


def tick_labels(ticks: Sequence[float], x_of: Any, tz: tzinfo, left_px: float, right_px: float,
                 bottom_px: float) -> list[Label]:
    """"HH:MM" under each tick, at local midnight the date ("03-11"); labels that would touch are dropped."""
    out: list[Label] = []
    last_right = -math.inf
    for v in ticks:
        local = datetime.fromtimestamp(v, tz)
        text = local.strftime("%m-%d") if (local.hour, local.minute) == (0, 0) else local.strftime("%H:%M")
        label = Label(text, x_of(v), bottom_px + px(4), TEXT_PX, "center", color=MUTED)
        box_left, _, box_right, _ = label.box()
        if box_left < last_right + px(6) or box_left < left_px - px(MARGIN) or box_right > right_px + px(MARGIN):
            continue
        out.append(label)
        last_right = box_right
    return out


def utc_of(t: float) -> datetime:
    return datetime.fromtimestamp(float(t), UTC)
