"""Templates of drawings: each takes a random generator and returns its strokes, polylines in a unit
square (y down), with a variant of its own (proportions, slant, how many points or teeth, which
way an arrow points...). :data:`SHAPES` are doodles that are no digit: shapes, faces, arrows,
capital letters that resemble no digit and symbols; :data:`DIGITS` are the ten digits in the
ways people write them. :mod:`.doodles` draws them as a mouse does.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

Strokes = list[np.ndarray]
Rng = np.random.Generator


def line(*points) -> np.ndarray:
    return np.array(points, dtype=float)


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 40) -> np.ndarray:
    """Points of an elliptic arc from ``start`` to ``end`` degrees (0 = right, 90 = down: y points down)."""
    t = np.radians(np.linspace(start, end, n))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def _polygon(rng: Rng, corners: int, radius: float = 0.45, inner: float | None = None) -> np.ndarray:
    """A closed regular polygon (or a star with ``inner`` radius ratio), turned at random."""
    turn = rng.uniform(0, 2 * np.pi)
    count = corners * (2 if inner else 1)
    t = turn + np.arange(count + 1) * 2 * np.pi / count
    r = np.where(np.arange(count + 1) % 2, inner or 1.0, 1.0) * radius if inner else np.full(count + 1, radius)
    return np.stack([0.5 + r * np.cos(t), 0.5 + r * np.sin(t)], 1)


# --------------------------------------------------------------------------- doodles
def star(rng: Rng) -> Strokes:
    if rng.random() < 0.5:  # drawn in one go, crossing itself
        points = rng.choice([5, 7])
        step = 2 if points == 5 else 3
        turn = rng.uniform(0, 2 * np.pi)
        t = turn + np.arange(points + 1) * step * 2 * np.pi / points
        return [np.stack([0.5 + 0.45 * np.cos(t), 0.5 + 0.45 * np.sin(t)], 1)]
    return [_polygon(rng, int(rng.integers(5, 8)), 0.47, rng.uniform(0.35, 0.5))]


def zigzag(rng: Rng) -> Strokes:
    teeth = int(rng.integers(3, 7))
    x = np.linspace(0.05, 0.95, 2 * teeth + 1)
    height = rng.uniform(0.25, 0.6)
    y = 0.5 + np.where(np.arange(len(x)) % 2, height / 2, -height / 2)
    points = np.stack([x, y], 1)
    return [points if rng.random() < 0.7 else points[:, ::-1]]  # mostly across, sometimes down


def spiral(rng: Rng) -> Strokes:
    turns = rng.uniform(2, 3.5)
    t = np.linspace(0, turns * 2 * np.pi, int(60 * turns))
    r = 0.45 * t / t[-1]
    sign = rng.choice([-1, 1])
    return [np.stack([0.5 + r * np.cos(sign * t), 0.5 + r * np.sin(sign * t)], 1)]


def circle_with_cross(rng: Rng) -> Strokes:
    r = 0.45
    circle = arc(0.5, 0.5, r, r * rng.uniform(0.85, 1.0), 0, 360, 60)
    if rng.random() < 0.5:
        d = r * 0.75
        return [circle, line((0.5 - d, 0.5 - d), (0.5 + d, 0.5 + d)), line((0.5 + d, 0.5 - d), (0.5 - d, 0.5 + d))]
    return [circle, line((0.05, 0.5), (0.95, 0.5)), line((0.5, 0.05), (0.5, 0.95))]


def squares(rng: Rng) -> Strokes:
    kind = rng.integers(3)
    box = lambda x0, y0, x1, y1: line((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))  # noqa: E731
    if kind == 0:
        return [box(0.05, 0.05 + rng.uniform(0, 0.2), 0.95, 0.95 - rng.uniform(0, 0.2))]
    if kind == 1:  # nested
        return [box(0.05, 0.05, 0.95, 0.95), box(0.3, 0.3, 0.7, 0.7)]
    return [box(0.05, 0.05, 0.6, 0.6), box(0.4, 0.4, 0.95, 0.95)]  # overlapping


def triangle(rng: Rng) -> Strokes:
    top = (rng.uniform(0.2, 0.8), 0.05)
    points = line(top, (0.95, rng.uniform(0.8, 0.95)), (0.05, rng.uniform(0.8, 0.95)), top)
    return [points if rng.random() < 0.7 else points * [1, -1] + [0, 1]]  # upside down at times


def arrow(rng: Rng) -> Strokes:
    head = rng.uniform(0.25, 0.35)
    shaft = line((0.05, 0.5), (0.95, 0.5))
    tip = line((0.95 - head, 0.5 - head), (0.95, 0.5), (0.95 - head, 0.5 + head))
    turn = rng.integers(8) * np.pi / 4
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    return [(s - 0.5) @ rotation.T + 0.5 for s in (shaft, tip)]


def face(rng: Rng) -> Strokes:
    eye_y, eye_dx = rng.uniform(0.33, 0.42), rng.uniform(0.13, 0.2)
    dot = lambda x, y: line((x, y), (x + 0.01, y + 0.01))  # noqa: E731
    mouth = rng.integers(3)
    if mouth == 0:
        lips = arc(0.5, 0.55, 0.22, 0.15, 20, 160, 20)  # smile
    elif mouth == 1:
        lips = arc(0.5, 0.75, 0.2, 0.1, 200, 340, 20)  # frown
    else:
        lips = line((0.32, 0.68), (0.68, 0.68))
    strokes = [arc(0.5, 0.5, 0.45, 0.45, 0, 360, 60), dot(0.5 - eye_dx, eye_y), dot(0.5 + eye_dx, eye_y), lips]
    if rng.random() < 0.3:  # a nose
        strokes.append(line((0.5, 0.45), (0.47, 0.55), (0.52, 0.56)))
    return strokes


LETTERS = {
    "A": lambda r, w: [line((0.5 - w, 1), (0.5, 0), (0.5 + w, 1)), line((0.5 - w / 2, 0.6), (0.5 + w / 2, 0.6))],
    "K": lambda r, w: [line((0.5 - w, 0), (0.5 - w, 1)), line((0.5 + w, 0), (0.5 - w, 0.55), (0.5 + w, 1))],
    "M": lambda r, w: [line((0.5 - w, 1), (0.5 - w, 0), (0.5, r.uniform(0.45, 0.7)), (0.5 + w, 0), (0.5 + w, 1))],
    "W": lambda r, w: [line((0.5 - w, 0), (0.5 - w / 2, 1), (0.5, r.uniform(0.3, 0.55)), (0.5 + w / 2, 1), (0.5 + w, 0))],
    "X": lambda r, w: [line((0.5 - w, 0), (0.5 + w, 1)), line((0.5 + w, 0), (0.5 - w, 1))],
    "H": lambda r, w: [line((0.5 - w, 0), (0.5 - w, 1)), line((0.5 + w, 0), (0.5 + w, 1)),
                       line((0.5 - w, 0.5), (0.5 + w, 0.5))],
    "E": lambda r, w: [line((0.5 + w, 0), (0.5 - w, 0), (0.5 - w, 1), (0.5 + w, 1)), line((0.5 - w, 0.5), (0.5 + w * 0.6, 0.5))],
    "F": lambda r, w: [line((0.5 + w, 0), (0.5 - w, 0), (0.5 - w, 1)), line((0.5 - w, 0.48), (0.5 + w * 0.6, 0.48))],
    "R": lambda r, w: [line((0.5 - w, 1), (0.5 - w, 0), (0.5 + w * 0.3, 0)),
                       arc(0.5 + w * 0.3, 0.25, w * 0.7, 0.25, 270, 450, 20),
                       line((0.5 + w * 0.3, 0.5), (0.5 - w, 0.5), (0.5 + w, 1))],
}


def _letter(name: str) -> Callable[[Rng], Strokes]:
    def template(rng: Rng) -> Strokes:
        return LETTERS[name](rng, rng.uniform(0.3, 0.48))

    return template


def hash_sign(rng: Rng) -> Strokes:
    lean = rng.uniform(0, 0.12)
    return [line((0.35 + lean, 0.05), (0.3 - lean, 0.95)), line((0.7 + lean, 0.05), (0.65 - lean, 0.95)),
            line((0.05, 0.35), (0.95, 0.35)), line((0.05, 0.65), (0.95, 0.65))]


def at_sign(rng: Rng) -> Strokes:
    inner = arc(0.5, 0.5, 0.15, 0.17, 0, 360, 30)
    outer = np.r_[line((0.65, 0.35), (0.65, 0.62), (0.78, 0.68)), arc(0.5, 0.5, 0.42, 0.45, 20, 330, 50)]
    return [inner, outer]


def ampersand(rng: Rng) -> Strokes:
    lean = rng.uniform(-0.08, 0.08)
    body = line((0.95, 0.95), (0.35, 0.38), (0.28, 0.22), (0.35, 0.06), (0.5, 0.03), (0.62, 0.14), (0.55, 0.3),
                (0.2, 0.6), (0.12, 0.78), (0.25, 0.95), (0.5, 0.96), (0.75, 0.75), (0.88, 0.55))
    return [body + np.c_[lean * (0.5 - body[:, 1]), np.zeros(len(body))]]


def percent(rng: Rng) -> Strokes:
    r = rng.uniform(0.1, 0.15)
    return [line((0.85, 0.05), (0.15, 0.95)), arc(0.25, 0.22, r, r * 1.2, 0, 360, 20), arc(0.75, 0.78, r, r * 1.2, 0, 360, 20)]


def plus(rng: Rng) -> Strokes:
    arm = rng.uniform(0.35, 0.45)
    return [line((0.5 - arm, 0.5), (0.5 + arm, 0.5)), line((0.5, 0.5 - arm), (0.5, 0.5 + arm))]


def equals(rng: Rng) -> Strokes:
    gap = rng.uniform(0.1, 0.2)
    return [line((0.05, 0.5 - gap), (0.95, 0.5 - gap)), line((0.05, 0.5 + gap), (0.95, 0.5 + gap))]


SHAPES: dict[str, Callable[[Rng], Strokes]] = {
    "star": star, "zigzag": zigzag, "spiral": spiral, "circle with cross": circle_with_cross, "squares": squares,
    "triangle": triangle, "arrow": arrow, "face": face,
    **{f"letter {name}": _letter(name) for name in LETTERS},
    "#": hash_sign, "@": at_sign, "&": ampersand, "%": percent, "+": plus, "=": equals,
}


# --------------------------------------------------------------------------- digits
def _digit(strokes: Callable[[Rng], Strokes]) -> Callable[[Rng], Strokes]:
    """A digit template: narrower than tall, as handwriting, and slanted at random."""
    def template(rng: Rng) -> Strokes:
        width, slant = rng.uniform(0.5, 0.75), rng.uniform(-0.05, 0.25)
        out = []
        for stroke in strokes(rng):
            stroke = np.asarray(stroke, dtype=float)
            x = 0.5 + (stroke[:, 0] - 0.5) * width + slant * (0.5 - stroke[:, 1])
            out.append(np.stack([x, stroke[:, 1]], 1))
        return out

    return template


def _zero(rng: Rng) -> Strokes:
    start = rng.uniform(240, 300)
    return [arc(0.5, 0.5, 0.45, 0.5, start, start + rng.uniform(350, 380), 50)]


def _one(rng: Rng) -> Strokes:
    if rng.random() < 0.5:
        return [line((0.5, 0), (0.5, 1))]
    return [line((0.25, 0.2), (0.55, 0), (0.55, 1))]


def _two(rng: Rng) -> Strokes:
    return [np.r_[arc(0.5, 0.28, 0.4, 0.28, 190, 380, 25), line((0.85, 0.45), (0.1, 1), (0.95, 1))]]


def _three(rng: Rng) -> Strokes:
    return [np.r_[arc(0.5, 0.25, 0.38, 0.25, 200, 450, 25), arc(0.5, 0.73, 0.42, 0.27, 270, 520, 25)]]


def _four(rng: Rng) -> Strokes:
    if rng.random() < 0.5:
        return [line((0.55, 0), (0.05, 0.65), (0.95, 0.65)), line((0.7, 0.3), (0.7, 1))]
    return [line((0.2, 0), (0.1, 0.55), (0.9, 0.55)), line((0.75, 0), (0.75, 1))]


def _five(rng: Rng) -> Strokes:
    return [line((0.9, 0), (0.2, 0), (0.15, 0.45)), arc(0.48, 0.7, 0.42, 0.3, 235, 505, 25)]


def _six(rng: Rng) -> Strokes:
    return [np.r_[arc(0.75, 0.55, 0.65, 0.55, 265, 180, 20), arc(0.5, 0.72, 0.4, 0.28, 180, 540, 30)]]


def _seven(rng: Rng) -> Strokes:
    strokes = [line((0.05, 0), (0.95, 0), (0.35, 1))]
    if rng.random() < 0.3:
        strokes.append(line((0.4, 0.5), (0.85, 0.5)))
    return strokes


def _eight(rng: Rng) -> Strokes:
    return [np.r_[arc(0.5, 0.25, 0.32, 0.25, 90, 450, 30), arc(0.5, 0.75, 0.4, 0.25, 270, 630, 30)]]


def _nine(rng: Rng) -> Strokes:
    loop = arc(0.5, 0.3, 0.4, 0.3, 0, 360, 35)
    tail = line((0.9, 0.3), (0.8, 1)) if rng.random() < 0.6 else arc(0.2, 0.3, 0.7, 0.7, 0, 90, 20)
    return [np.r_[loop, tail]]


DIGITS: dict[int, Callable[[Rng], Strokes]] = {d: _digit(f) for d, f in enumerate(
    (_zero, _one, _two, _three, _four, _five, _six, _seven, _eight, _nine))}
