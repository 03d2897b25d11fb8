"""Text drawn once per process and blended into frames: matplotlib's Agg draws text glyph by glyph (in Python
since matplotlib 3.11), about half a millisecond a label, more than a graph's bands; titles, tick labels and
host names repeat from one render to the next, and numbers are assembled from per-glyph sprites."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font

from pagerbot.graphs.style import DPI, INK, SCALE, TEXT_PX


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


PAD = 2  # transparent pixels around a text sprite, so antialiased edges are not cut off


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
    width, height = math.ceil(box.width) + 2 * PAD, height + 2 * PAD
    fig.set_size_inches(width / DPI, height / DPI)
    t.set_position((PAD / width, PAD / height))
    canvas.draw()
    return Sprite.of_rgba(np.asarray(canvas.buffer_rgba()))


@lru_cache(maxsize=64)
def _glyph(char: str, fontsize: float, color: str) -> tuple[Sprite, float]:
    """One character on a line-high canvas, its baseline where :func:`text_sprite` puts it, and its advance."""
    font = get_font(findfont(_font(fontsize, False)))
    font.set_size(fontsize, DPI)
    advance = font.load_char(ord(char)).linearHoriAdvance / 65536
    height, _ = _line_metrics(fontsize, False)
    width = math.ceil(advance) + 2 * PAD
    fig = Figure(figsize=(width / DPI, (height + 2 * PAD) / DPI), dpi=DPI, facecolor="none")
    fig.text(PAD / width, PAD / (height + 2 * PAD), char, fontproperties=_font(fontsize, False), color=color,
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
    return (sprite_for(text, fontsize, INK, bold).width - 2 * PAD) / SCALE


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
        w, h = sprite.width - 2 * PAD, sprite.height - 2 * PAD
        left = self.x - (0 if self.ha == "left" else w / 2 if self.ha == "center" else w)
        top = self.y - (0 if self.va == "top" else h / 2 if self.va == "center" else h)
        return left, top, left + w, top + h

    def paste(self, frame: np.ndarray) -> None:
        if not self.text:
            return
        sprite = sprite_for(self.text, self.fontsize, self.color, self.bold)
        left, top, _, _ = self._box(sprite)
        sprite.paste(frame, top - PAD, left - PAD)
