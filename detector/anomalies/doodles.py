"""Drawings as a visitor makes them with a mouse: non-digit doodles and digits, at MNIST's 28x28.

Every drawing is a list of strokes (polylines in a unit square, y pointing down), made from a
shape's template with its own random variant (proportions, rotation, slant, how many points or
teeth...), then drawn as a mouse draws it: resampled every few pixels of a 280x280 canvas (the
Inspect page's), with a slow wobble and a small jitter on each point, in a round pen of the
given width; then fitted into 28x28 as MNIST's digits were
(:func:`detector.inputs.drawing.mnist_style`), exactly what a drawing on the canvas becomes.

:func:`drawn_set` makes a seeded set of both. The ``"tuning"`` and ``"held-out"`` parts differ in
their seeds and in the variants their templates take (each template draws its variant from the
part's own generator), so that nothing chosen on one part has seen a drawing of the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .glyphs import DIGITS, SHAPES, Strokes

CANVAS = 280  # the Inspect page's canvas
#: pen widths on the 280x280 canvas for doodles: from a thin pen to a felt tip
DOODLE_PENS = (10, 16, 22, 28, 34)
#: pen widths that give a drawn digit MNIST's stroke width: on LeNet-MNIST's training digits the
#: stroke width (:func:`~detector.inputs.drawing.ink_measures`) has quartiles 2.0 / 2.4 / 2.9 px, and a
#: digit about 200 px tall drawn with these pens reads 1.9-3.2 px once fitted into 28x28
DIGIT_PENS = (22, 25, 28, 31)
PARTS = {"tuning": 1, "held-out": 2}  # the seed offset of each part


@dataclass
class DrawnSet:
    """Drawings fitted to 28x28 and what each one is."""

    images: np.ndarray  # (N, 1, 28, 28) float32 in [0, 1], white ink on black
    names: np.ndarray  # (N,) the shape ("star", "letter A", ...) or the digit ("digit 7")
    digit: np.ndarray  # (N,) the digit drawn, -1 for a doodle
    pen: np.ndarray  # (N,) pen width on the 280x280 canvas

    @property
    def is_doodle(self) -> np.ndarray:
        return self.digit < 0

    def __len__(self) -> int:
        return len(self.images)


def _resample(points: np.ndarray, step: float) -> np.ndarray:
    """Points along the polyline every ``step`` (a mouse reports its position every few pixels)."""
    lengths = np.r_[0, np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))]
    if lengths[-1] < 1e-9:
        return points[:1]
    at = np.linspace(0, lengths[-1], max(2, int(np.ceil(lengths[-1] / step)) + 1))
    return np.stack([np.interp(at, lengths, points[:, 0]), np.interp(at, lengths, points[:, 1])], 1)


def mouse_strokes(strokes: Strokes, rng: np.random.Generator, size: float, centre: tuple[float, float],
                  angle: float, wobble: float = 2.5, jitter: float = 0.8) -> list[np.ndarray]:
    """``strokes`` (unit square) placed on the canvas (``size`` px wide, turned by ``angle`` radians
    about ``centre``) as a mouse draws them: points every 4-7 px, a slow wobble of about ``wobble`` px
    and an independent jitter of about ``jitter`` px on each point."""
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    placed = []
    for stroke in strokes:
        points = (np.asarray(stroke, dtype=float) - 0.5) * size @ rotation.T + centre
        points = _resample(points, rng.uniform(4, 7))
        n = len(points)
        slow = np.cumsum(rng.normal(0, 1, (n, 2)), axis=0)  # a random walk, then its drift removed: the hand wanders
        slow -= np.linspace(0, 1, n)[:, None] * slow[-1]
        slow *= wobble / max(1.0, np.abs(slow).max())
        placed.append(points + slow + rng.normal(0, jitter, (n, 2)))
    return placed


def render(strokes: list[np.ndarray], pen: int, side: int = CANVAS) -> np.ndarray:
    """(side, side) float32 in [0, 1]: white strokes, ``pen`` px wide with round ends and joints, on black."""
    from PIL import Image, ImageDraw

    picture = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(picture)
    radius = pen / 2
    for points in strokes:
        flat = [(float(x), float(y)) for x, y in points]
        if len(flat) > 1:
            draw.line(flat, fill=255, width=pen, joint="curve")
        for x, y in (flat[0], flat[-1]):  # round caps, as the canvas's pen
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(picture, dtype=np.float32) / 255


def draw(template: Callable[[np.random.Generator], Strokes], rng: np.random.Generator, pen: int) -> np.ndarray:
    """One drawing of ``template`` at 280x280 (white on black) with its own variant and placement."""
    size = rng.uniform(150, 220)
    centre = (CANVAS / 2 + rng.uniform(-20, 20), CANVAS / 2 + rng.uniform(-20, 20))
    strokes = mouse_strokes(template(rng), rng, size, centre, rng.uniform(-0.2, 0.2))
    return render(strokes, pen)


def drawn_set(part: str = "held-out", per_shape: int = 5, per_digit: int = 10, seed: int = 0) -> DrawnSet:
    """``per_shape`` drawings of every doodle of :data:`~.glyphs.SHAPES` (pens cycling through
    :data:`DOODLE_PENS`) and ``per_digit`` of every digit (pens cycling through :data:`DIGIT_PENS`),
    fitted to 28x28 as MNIST's digits; the same ``part`` and ``seed`` give the same set."""
    from ..inputs.drawing import mnist_style

    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; valid parts: {', '.join(PARTS)}")
    rng = np.random.default_rng([seed, PARTS[part]])
    pictures, names, digits, pens = [], [], [], []
    jobs = [(name, -1, template, DOODLE_PENS) for name, template in SHAPES.items() for _ in range(per_shape)]
    jobs += [(f"digit {d}", d, template, DIGIT_PENS) for d, template in DIGITS.items() for _ in range(per_digit)]
    for k, (name, digit, template, choices) in enumerate(jobs):
        pen = int(choices[k % len(choices)])
        pictures.append(draw(template, rng, pen))
        names.append(name), digits.append(digit), pens.append(pen)
    images = mnist_style(np.stack(pictures)[:, None])
    return DrawnSet(images, np.array(names), np.array(digits), np.array(pens))
