#!/usr/bin/env python3
"""Draws the kernelspec logos (logo-32x32.png, logo-64x64.png) with only the
standard library: a speech bubble (a monologue) holding three bars of rising
height (a model's output, a profile). Run it to redraw them after a change."""
import os
import struct
import zlib

BACKGROUND = (43, 45, 66)
BUBBLE = (237, 242, 244)
BARS = (239, 131, 84)
SUPERSAMPLE = 8


def inside_bubble(x, y):
    # An ellipse with a small triangular tail at the lower left.
    ellipse = ((x - 0.5) / 0.40) ** 2 + ((y - 0.45) / 0.32) ** 2 <= 1
    tail = 0.18 <= x <= 0.38 and 0.62 <= y <= 0.88 and (y - 0.62) <= (0.38 - x) * 1.3
    return ellipse or tail


def colour_at(x, y):
    """The colour at (x, y) in the unit square, y pointing down."""
    for i, height in enumerate([0.16, 0.26, 0.36]):
        left = 0.31 + i * 0.14
        if left <= x <= left + 0.09 and 0.61 - height <= y <= 0.61:
            return BARS
    if inside_bubble(x, y):
        return BUBBLE
    return BACKGROUND


def rounded_square(x, y, r=0.18):
    cx, cy = min(max(x, r), 1 - r), min(max(y, r), 1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def render(size):
    rows = []
    n = SUPERSAMPLE
    for py in range(size):
        row = bytearray([0])  # PNG filter type: none
        for px in range(size):
            acc = [0, 0, 0, 0]
            for sy in range(n):
                for sx in range(n):
                    x, y = (px + (sx + 0.5) / n) / size, (py + (sy + 0.5) / n) / size
                    if rounded_square(x, y):
                        c = colour_at(x, y)
                        acc = [acc[0] + c[0], acc[1] + c[1], acc[2] + c[2], acc[3] + 255]
            covered = acc[3] / 255
            rgb = [round(v / covered) if covered else 0 for v in acc[:3]]
            row += bytes(rgb + [round(acc[3] / (n * n))])
        rows.append(bytes(row))
    return png(size, b"".join(rows))


def png(size, raw):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    for size in (32, 64):
        with open(os.path.join(here, f"logo-{size}x{size}.png"), "wb") as f:
            f.write(render(size))
