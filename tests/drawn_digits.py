"""Digits drawn the way a visitor draws them with a mouse: PIL strokes, dark ink on white paper.

Ten simple shapes on a 280x280 canvas (the Inspect page's canvas size), each at any stroke
width; used by the drawing tests and by ``check`` trials (``python -m tests.drawn_digits DIR``).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw

SIDE = 280
WIDTHS = (12, 18, 26)  # thin, medium and thick mouse strokes on the 280x280 canvas


def _strokes(digit: int, draw: ImageDraw.ImageDraw, width: int) -> None:
    line = lambda *points: draw.line(points, fill=0, width=width, joint="curve")  # noqa: E731
    arc = lambda box, start, end: draw.arc(box, start, end, fill=0, width=width)  # noqa: E731
    if digit == 0:
        draw.ellipse((85, 45, 195, 235), outline=0, width=width)
    elif digit == 1:
        line((120, 75), (150, 45), (150, 235))
    elif digit == 2:
        arc((85, 45, 195, 145), 180, 30), line((190, 120), (90, 230), (200, 230))
    elif digit == 3:
        arc((90, 45, 190, 140), 200, 90), arc((90, 135, 195, 235), 270, 160)
    elif digit == 4:
        line((165, 235), (165, 45), (80, 170), (205, 170))
    elif digit == 5:
        line((195, 50), (105, 50), (98, 130)), arc((90, 115, 195, 235), 220, 150)
    elif digit == 6:
        arc((85, 45, 215, 260), 190, 280), draw.ellipse((85, 135, 190, 235), outline=0, width=width)
    elif digit == 7:
        line((85, 55), (195, 55), (125, 235))
    elif digit == 8:
        draw.ellipse((100, 45, 180, 135), outline=0, width=width)
        draw.ellipse((90, 135, 190, 235), outline=0, width=width)
    elif digit == 9:
        draw.ellipse((90, 45, 190, 140), outline=0, width=width), line((188, 95), (180, 235))


def draw_digit(digit: int, width: int) -> bytes:
    """PNG bytes of ``digit`` (0-9) drawn with strokes ``width`` pixels wide."""
    picture = Image.new("L", (SIDE, SIDE), 255)
    draw = ImageDraw.Draw(picture)
    _strokes(digit, draw, width)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def drawn_digits(widths=WIDTHS) -> list[tuple[int, int, bytes]]:
    """(digit, width, PNG bytes) of every digit at every width."""
    return [(digit, width, draw_digit(digit, width)) for width in widths for digit in range(10)]


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    for digit, width, data in drawn_digits():
        (folder / f"digit{digit}-w{width}.png").write_bytes(data)
