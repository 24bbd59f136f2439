"""Noise anomalies (NS-I, paper Sec. 5.2) and the generated "mix" set for choosing the MDL."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..runtime import Progress


def gaussian_noise(n: int, shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """Every pixel ~ N(mu=0.5, sigma=1), clipped to [0, 1] (paper: 'Gaussian noise')."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.5, 1.0, size=(n, *shape)), 0, 1).astype(np.float32)


def uniform_noise(n: int, shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """Every pixel ~ U(0, 1) (paper: 'Uniform noise')."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, size=(n, *shape)).astype(np.float32)


def shuffle_tiles(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image cut into a 4x4 grid of tiles put back in random order (edge remainder black)."""
    n, c, h, w = images.shape
    th, tw = h // 4, w // 4
    grid = images[:, :, : 4 * th, : 4 * tw].reshape(n, c, 4, th, 4, tw).transpose(0, 2, 4, 1, 3, 5).reshape(n, 16, c, th, tw)
    grid = np.take_along_axis(grid, rng.random((n, 16)).argsort(-1)[:, :, None, None, None], 1)
    shuffled = np.zeros_like(images)
    tiles = grid.reshape(n, 4, 4, c, th, tw).transpose(0, 3, 1, 4, 2, 5)
    shuffled[:, :, : 4 * th, : 4 * tw] = tiles.reshape(n, c, 4 * th, 4 * tw)
    return shuffled


MIX_PARTS = ("pixel-shuffled", "blobs", "inverted", "tile-shuffled", "blends")


def mix_set(id_images: np.ndarray, id_labels: np.ndarray, seed: int = 1) -> np.ndarray:
    """Generated anomalies for choosing the MDL (paper Sec. 4, "mix data").

    Built only from held-out ID images and randomness, so that it contains none of
    the sets that are evaluated later (no Gaussian/uniform noise, no other dataset,
    no attack). Five equal parts, from far to near the ID data:

    - pixel-shuffled ID images (same intensities, no structure),
    - smooth random blobs (low-frequency noise),
    - inverted ID images,
    - ID images with their tiles shuffled on a 4x4 grid (local strokes, wrong layout),
    - 50/50 blends of two ID images of different classes (close to class boundaries).
    """
    rng = np.random.default_rng(seed)
    n, (c, h, w) = len(id_images), id_images.shape[1:]
    part = max(1, n // 5)
    pick = lambda: id_images[rng.choice(n, part, replace=True)]  # noqa: E731

    shuffled = pick().reshape(part, c, h * w)
    shuffled = np.take_along_axis(shuffled, rng.random((part, 1, h * w)).argsort(-1).repeat(c, 1), -1).reshape(part, c, h, w)

    coarse = torch.from_numpy(rng.uniform(0, 1, (part, c, 4, 4)).astype(np.float32))
    blobs = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1).numpy()

    inverted = 1.0 - pick()

    tiled = shuffle_tiles(pick(), rng)

    first = rng.choice(n, part)
    other = np.array([rng.choice(np.flatnonzero(id_labels != id_labels[i]) if np.any(id_labels != id_labels[i])
                                 else np.arange(n)) for i in first])
    blends = 0.5 * id_images[first] + 0.5 * id_images[other]

    return np.concatenate([shuffled, blobs, inverted, tiled, blends]).astype(np.float32)


#: At most this many boundary blends per predicted class, each needing 11 forward passes (the bisection):
#: a user's validation folder of 50,000 images would otherwise cost 550,000 passes through a deep network.
#: The built-in models' validation splits (at most 546 inputs predicted as one class) are under it, and
#: sets under it are drawn as before, so their beta is unchanged. Cost on MobileNetV3-small: docs/your-model.md.
BOUNDARY_PER_CLASS = 600


def boundary_firsts(predicted: np.ndarray, rng: np.random.Generator, n: int | None = None,
                    per_class: int | None = BOUNDARY_PER_CLASS) -> np.ndarray:
    """Indices of the images that :func:`boundary_blends` starts from: ``n`` (default: as many as there are
    images) drawn with replacement; when a predicted class holds more than ``per_class`` images, a seeded
    subset instead, ``per_class`` of each class (all of a smaller one) without replacement.

    >>> rng = np.random.default_rng(0)
    >>> np.bincount(np.asarray([0] * 300 + [1] * 50)[boundary_firsts(np.asarray([0] * 300 + [1] * 50), rng, per_class=100)])
    array([100,  50])
    """
    counts = np.bincount(predicted)
    if per_class is None or counts.max() <= per_class:
        return rng.choice(len(predicted), n or len(predicted))
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(predicted == c), min(per_class, count), replace=False)
                                   for c, count in enumerate(counts) if count]))


def boundary_blends(id_images: np.ndarray, predict, n: int | None = None, seed: int = 2, steps: int = 10,
                    per_class: int | None = BOUNDARY_PER_CLASS, predicted: np.ndarray | None = None,
                    progress: Progress = False) -> np.ndarray:
    """Blends of two held-out ID images of different predicted classes, moved by bisection to
    just past the point where the prediction leaves the first image's class.

    Like minimal attacks (CW, JSMA) they sit right across a decision boundary, where the
    classifier is unsure; unlike them they need no gradient and are none of the evaluated
    sets. ``predict`` maps images to predicted classes (``predicted``: those of ``id_images``, when
    known). The first images are :func:`boundary_firsts` (at most ``per_class`` per predicted
    class, seeded). Blends that never leave the first class (the bisection's end point still
    predicts it) are dropped. ``progress``: True for a tqdm bar over the images the bisection passes
    through the model (with its estimate of the time left), or a callback ``progress(done, total, what)``.
    """
    rng = np.random.default_rng(seed)
    predicted = np.asarray(predict(id_images) if predicted is None else predicted)
    if len(np.unique(predicted)) < 2:
        return id_images[:0]
    first = boundary_firsts(predicted, rng, n, per_class)
    other = np.array([rng.choice(np.flatnonzero(predicted != predicted[i])) for i in first])
    a, b = id_images[first].astype(np.float32), id_images[other].astype(np.float32)
    blend = lambda weight: a + weight[:, None, None, None].astype(np.float32) * (b - a)  # noqa: E731
    low, high = np.zeros(len(first)), np.ones(len(first))  # prediction: class of a at low, not at high
    what, total = "boundary blends", (steps + 1) * len(first)  # images through the model: the cost
    with tqdm(total=total, desc=f"{what} ({len(first):,} inputs, {steps + 1} passes)", unit="img",
              disable=progress is not True) as bar:
        done = [0]

        def passed(images: np.ndarray) -> np.ndarray:
            predictions = np.asarray(predict(images))
            done[0] += len(images)
            bar.update(len(images))
            if callable(progress):
                progress(done[0], total, what)
            return predictions

        for _ in range(steps):
            middle = (low + high) / 2
            left = passed(blend(middle)) != predicted[first]
            high, low = np.where(left, middle, high), np.where(left, low, middle)
        crossed = blend(high)
        kept = crossed[passed(crossed) != predicted[first]]
    return kept


def generated_anomalies(id_images: np.ndarray, id_labels: np.ndarray, predict, seed: int = 1,
                        predicted: np.ndarray | None = None, progress: Progress = False) -> dict[str, np.ndarray]:
    """Every kind of generated anomaly, by name: the five parts of :func:`mix_set` (same seed,
    same images) and :func:`boundary_blends` (``predicted``, ``progress``: as there), for choosing
    beta without any evaluated set."""
    parts = dict(zip(MIX_PARTS, np.split(mix_set(id_images, id_labels, seed), len(MIX_PARTS))))
    parts["boundary blends"] = boundary_blends(id_images, predict, seed=seed + 1, predicted=predicted, progress=progress)
    return {name: images for name, images in parts.items() if len(images)}
