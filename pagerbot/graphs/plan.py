"""What a graph shows, decided before anything is drawn: legend values, the capacity, the markers' labels in
the lane above the plot, the shaded spans. Pure (numpy, no matplotlib), so tests read the renderer's decisions
rather than guess them from pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from pagerbot.graphs.markers import Marker
from pagerbot.graphs.palette import marker_color


@dataclass(frozen=True, slots=True)
class LegendRow:
    """One series in the legend: its host, colour, and its last, average and maximum value over the window."""

    host: str
    color: str
    last: float
    avg: float
    max: float


def stats(values: np.ndarray) -> tuple[float, float, float]:
    """Last, average and maximum of the finite values (gaps skipped); NaN for a series without any."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return math.nan, math.nan, math.nan
    return float(finite[-1]), float(finite.mean()), float(finite.max())


def legend_rows(hosts: Sequence[str], colors: Mapping[str, str], values: np.ndarray) -> list[LegendRow]:
    """Rows of ``values`` (hosts x times, NaN for gaps), in the order of ``hosts``."""
    return [LegendRow(host, colors[host], *stats(values[i])) for i, host in enumerate(hosts)]


def fmt_value(value: float) -> str:
    """One number style for loads and percentages: one decimal below 100, none above; "–" for no data."""
    if not math.isfinite(value):
        return "\u2013"
    return f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"


@dataclass(frozen=True, slots=True)
class LaneMark:
    """Markers told as one: one thin line through the plot at ``x`` (pixels), one label in the lane."""

    x: float
    label: str
    color: str
    markers: tuple[Marker, ...]


def _group_label(group: Sequence[Marker]) -> str:
    if len(group) == 1:
        return group[0].label
    alerts = [m for m in group if m.kind == "alert"]
    events = [m for m in group if m.kind != "alert"]
    parts = [m.label for m in events[:1]]
    if len(events) > 1:
        parts = [f"{len(events)} events"]
    if len(alerts) == 1:
        parts.append(alerts[0].label)
    elif alerts:
        parts.append(f"{len(alerts)} alerts")
    return " · ".join(parts)


def lane_marks(markers: Sequence[Marker], x_of: Callable[[datetime], float], x0: float, x1: float,
               min_gap: float) -> list[LaneMark]:
    """Markers inside [x0, x1] (pixels), those closer than ``min_gap`` pixels to the previous told as one."""
    inside = sorted((m for m in markers if x0 <= x_of(m.at) <= x1), key=lambda m: m.at)
    groups: list[list[Marker]] = []
    for marker in inside:
        if groups and x_of(marker.at) - x_of(groups[-1][-1].at) < min_gap:
            groups[-1].append(marker)
        else:
            groups.append([marker])
    return [_mark(group, x_of) for group in groups]


def _mark(group: Sequence[Marker], x_of: Callable[[datetime], float]) -> LaneMark:
    first = group[0]
    alert = next((m for m in group if m.kind == "alert"), None)
    color = marker_color(first.color, first.kind) if len(group) == 1 else marker_color(None, (alert or first).kind)
    return LaneMark(x_of(first.at), _group_label(group), color, tuple(group))


@dataclass(frozen=True, slots=True)
class LaneLabel:
    """A label placed in the lane: ``left``/``right`` in pixels, on ``row`` (0 is the row nearest the plot)."""

    mark: LaneMark
    text: str
    left: float
    right: float
    row: int


def place_lane(marks: Sequence[LaneMark], measure: Callable[[str], float], left: float, right: float,
               rows: int, pad: float) -> list[LaneLabel]:
    """Put each mark's label in the lane, to the right of its line (shifted left near the right edge), on rows
    chosen so that no two labels overlap and no line crosses a label: a mark's line runs from its label's row
    down to the plot. Lower rows are preferred. When no choice of rows works, the two marks closest in time
    are told as one ("3 alerts") and the lane is tried again."""
    marks = list(marks)
    while True:
        spans = [_extent(mark, measure, left, right, pad) for mark in marks]
        rows_of = _choose_rows(marks, spans, rows, pad)
        if rows_of is not None:
            return [LaneLabel(mark, mark.label, start, end, row)
                    for mark, (start, end), row in zip(marks, spans, rows_of, strict=True)]
        i = min(range(len(marks) - 1), key=lambda k: marks[k + 1].x - marks[k].x)
        joined = (*marks[i].markers, *marks[i + 1].markers)
        color = marks[i].color if marks[i].color == marks[i + 1].color else marker_color(None, "alert")
        marks[i:i + 2] = [LaneMark(marks[i].x, _group_label(joined), color, joined)]


def _extent(mark: LaneMark, measure: Callable[[str], float], left: float, right: float,
            pad: float) -> tuple[float, float]:
    width = measure(mark.label)
    start = max(left, min(mark.x + pad, right - width))  # near the right edge, shifted left just enough
    return start, start + width


def _choose_rows(marks: Sequence[LaneMark], spans: Sequence[tuple[float, float]], rows: int,
                 pad: float) -> list[int] | None:
    """A row for each label such that no two clash (a depth-first search, lower rows first), or None."""
    chosen: list[int] = []

    def clash(i: int, row_i: int, j: int, row_j: int) -> bool:
        (a0, a1), (b0, b1) = spans[i], spans[j]
        if row_i == row_j:
            return a0 < b1 + pad and b0 < a1 + pad
        if row_i < row_j:  # j's line runs down through row i
            return a0 - pad <= marks[j].x <= a1 + pad
        return b0 - pad <= marks[i].x <= b1 + pad

    def search(i: int) -> bool:
        if i == len(marks):
            return True
        for row in range(rows):
            if not any(clash(i, row, j, chosen[j]) for j in range(i)):
                chosen.append(row)
                if search(i + 1):
                    return True
                chosen.pop()
        return False

    return chosen if search(0) else None
