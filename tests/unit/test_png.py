"""The graphs' PNG writer: what it writes decodes to the same pixels (Pillow reads it back)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pagerbot.graphs.png import encode_rgb


@pytest.mark.parametrize("channels", [3, 4])
def test_round_trip(channels: int) -> None:
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, size=(37, 53, channels), dtype=np.uint8)
    png = encode_rgb(pixels)
    decoded = Image.open(io.BytesIO(png))
    decoded.load()  # verifies every chunk's CRC and the zlib stream
    assert decoded.mode == "RGB" and decoded.size == (53, 37)
    assert np.array_equal(np.asarray(decoded), pixels[:, :, :3])


def test_flat_areas_compress() -> None:
    pixels = np.full((500, 1000, 3), 255, dtype=np.uint8)
    pixels[100:400, 200:800] = (31, 119, 180)
    assert len(encode_rgb(pixels)) < 10_000  # 1.5 MB of raw pixels


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 2), np.uint8),
                                 np.zeros((4, 4, 3), np.float32)])
def test_rejects_what_it_cannot_write(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="expected an"):
        encode_rgb(bad)
