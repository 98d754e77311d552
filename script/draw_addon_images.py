"""Draw the add-on's icon.png (128x128) and logo.png (250x100) with the standard library only.

A rounded tile with a voice waveform (the bars a speech recogniser hears) leading into a
text cursor. Drawn at 4x and averaged down for smooth edges.

    python script/draw_addon_images.py config/addon
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from pathlib import Path

SCALE = 4
BACKGROUND = (12, 74, 110)
WAVE = (255, 255, 255)
CURSOR = (255, 171, 64)
Pixel = tuple[int, int, int, int]
Colour = tuple[int, int, int]
Shape = tuple[tuple[float, float, float, float], Colour]


def _rounded_tile(x: float, y: float, w: float, h: float, r: float) -> bool:
    dx = max(r - x, 0.0, x - (w - r))
    dy = max(r - y, 0.0, y - (h - r))
    return dx * dx + dy * dy <= r * r


def _bar(x: float, y: float, bar: tuple[float, float, float, float]) -> bool:
    """Whether (x, y) is in a vertical bar with round ends: (cx, cy, half_w, half_h)."""
    cx, cy, half_w, half_h = bar
    if abs(x - cx) > half_w:
        return False
    inner = max(0.0, half_h - half_w)
    dy = max(0.0, abs(y - cy) - inner)
    return (x - cx) ** 2 + dy * dy <= half_w * half_w


def _shapes(w: int, h: int) -> list[Shape]:
    """Bars of a waveform across the tile, then a cursor: (cx, cy, half_w, half_h), colour."""
    count = 7
    unit = min(w, h)
    left, right = w * 0.16, w * 0.70
    step = (right - left) / (count - 1)
    bars: list[Shape] = []
    for i in range(count):
        height = 0.16 + 0.30 * abs(math.sin(1.1 + i * 0.95))
        bars.append(((left + i * step, h / 2, unit * 0.035, unit * height), WAVE))
    bars.append(((w * 0.84, h / 2, unit * 0.03, unit * 0.30), CURSOR))
    return bars


def render(w: int, h: int) -> list[list[Pixel]]:
    """The image, supersampled and averaged down to w x h."""
    big_w, big_h = w * SCALE, h * SCALE
    shapes = [
        ((cx * SCALE, cy * SCALE, hw * SCALE, hh * SCALE), c)
        for (cx, cy, hw, hh), c in _shapes(w, h)
    ]
    radius = min(big_w, big_h) * 0.2
    rows: list[list[Pixel]] = []
    for y in range(h):
        row: list[Pixel] = []
        for x in range(w):
            acc = [0, 0, 0, 0]
            for sy in range(SCALE):
                for sx in range(SCALE):
                    px, py = x * SCALE + sx + 0.5, y * SCALE + sy + 0.5
                    if not _rounded_tile(px, py, big_w, big_h, radius):
                        continue
                    colour = BACKGROUND
                    for bar, shape_colour in shapes:
                        if _bar(px, py, bar):
                            colour = shape_colour
                    for i in range(3):
                        acc[i] += colour[i]
                    acc[3] += 255
            n = SCALE * SCALE
            alpha = acc[3] // n
            covered = max(1, acc[3] // 255)
            row.append((acc[0] // covered, acc[1] // covered, acc[2] // covered, alpha))
        rows.append(row)
    return rows


def png(rows: list[list[Pixel]]) -> bytes:
    """An RGBA PNG of the rows."""
    h, w = len(rows), len(rows[0])
    raw = b"".join(b"\x00" + b"".join(bytes(p) for p in row) for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    """Write icon.png and logo.png into the folder given (default config/addon)."""
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "config/addon")
    (folder / "icon.png").write_bytes(png(render(128, 128)))
    (folder / "logo.png").write_bytes(png(render(250, 100)))


if __name__ == "__main__":
    main()
