"""How graphs look: sizes in logical (CSS) pixels for the sizes people see them at, and colours.

Graphs are laid out for a Slack preview about 360 px wide on a phone and 600 on a laptop, and rendered at
twice that density for HiDPI screens: a point is one logical pixel (``DPI = 72 * SCALE``). The smallest text
is ``TEXT_PX`` logical pixels, 11 px or more once a phone shows the graph 360 px wide.
"""

from __future__ import annotations

import numpy as np

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


def px(logical: float) -> float:
    return logical * SCALE


def rgb(color: str) -> np.ndarray:
    c = color.lstrip("#")
    return np.array([int(c[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.float32)


def preview_text_px(fontsize: float, preview_width: float = PHONE_PREVIEW_PX) -> float:
    """How tall text of ``fontsize`` logical pixels shows when Slack previews the graph ``preview_width`` wide."""
    return fontsize * preview_width / WIDTH_PX
