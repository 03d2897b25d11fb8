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
    names = sorted({m.label for m in alerts})
    if len(names) == 1:
        parts.append(names[0])
    elif names:  # one marker per alert name, not per alert: say so, the channel counts alerts
        parts.append(f"{len(names)} alert names")
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
    """Put each mark's label in the lane next to its own line: to its right, or right-aligned to its left when
    there is no room on the right (near the lane's right edge, or where the right would cover another line).
    Rows are chosen so that no two labels overlap and no label lies over another mark's line in any row (a
    label above a line reads as that line's); lower rows are preferred. When the lane has no room for that, a
    label may pass above the top of a line whose own label sits beside it in a lower row (never across a line
    as drawn) rather than have marks told together. When no choice works, the two marks closest in time are
    told as one ("INC-1 opened · 3 alert names") and the lane is tried again."""
    marks = list(marks)
    while True:
        sides = [_sides(mark, measure(mark.label), left, right, pad) for mark in marks]
        chosen = _choose(marks, sides, rows, pad, strict=True) or _choose(marks, sides, rows, pad, strict=False)
        if chosen is not None:
            return [LaneLabel(mark, mark.label, start, end, row)
                    for mark, ((start, end), row) in zip(marks, chosen, strict=True)]
        i = min(range(len(marks) - 1), key=lambda k: marks[k + 1].x - marks[k].x)
        joined = (*marks[i].markers, *marks[i + 1].markers)
        color = marks[i].color if marks[i].color == marks[i + 1].color else marker_color(None, "alert")
        marks[i:i + 2] = [LaneMark(marks[i].x, _group_label(joined), color, joined)]


Extent = tuple[float, float]


def _sides(mark: LaneMark, width: float, left: float, right: float, pad: float) -> list[Extent]:
    """Where a label may go, best first: right of its line, then ending left of it; a label wider than either
    room is shifted inside the lane (it then lies over its own line, which stops under it)."""
    beside = [(mark.x + pad, mark.x + pad + width), (mark.x - pad - width, mark.x - pad)]
    fits = [(a, b) for a, b in beside if left <= a and b <= right]
    if fits:
        return fits
    start = max(left, min(mark.x + pad, right - width))
    return [(start, start + width)]


def _choose(marks: Sequence[LaneMark], sides: Sequence[Sequence[Extent]], rows: int, pad: float, *,
            strict: bool) -> list[tuple[Extent, int]] | None:
    """An extent and a row for each label such that none clash (a depth-first search, the preferred side
    first, then lower rows first), or None. ``strict``: no label over another mark's x in any row; else only
    not across a line as drawn (from the plot up to its label's row)."""
    chosen: list[tuple[Extent, int]] = []

    def covers(extent: Extent, x: float) -> bool:  # the line passes through the label's box
        return extent[0] <= x <= extent[1]

    def clash(i: int, extent: Extent, row: int, j: int) -> bool:
        (other, other_row) = chosen[j]
        if row == other_row and extent[0] < other[1] + pad and other[0] < extent[1] + pad:
            return True
        if strict or row == other_row:
            return covers(extent, marks[j].x) or covers(other, marks[i].x)
        if row < other_row:  # j's line runs down through this row
            return covers(extent, marks[j].x)
        return covers(other, marks[i].x)  # this line runs down through j's row

    def search(i: int) -> bool:
        if i == len(marks):
            return True
        for extent in sides[i]:
            for row in range(rows):
                if not any(clash(i, extent, row, j) for j in range(i)):
                    chosen.append((extent, row))
                    if search(i + 1):
                        return True
                    chosen.pop()
        return False

    return chosen if search(0) else None
