"""Near-OOD sets that look like the ID data: made here, so that no download is needed.

- :func:`distorted_images`: ID *training* images bent by a strong elastic distortion
  (torchvision's ``ElasticTransform``): the same strokes and ink, in shapes the classes do not take.
- :func:`rendered_letters`: Latin letters drawn with PIL's default font and fitted into a
  28x28 frame as MNIST's digits were (:func:`detector.inputs.drawing.mnist_style`): glyphs
  of another alphabet, the classic look-alike of handwritten digits.

Both are evaluated sets (kind ``near-ood``): nothing of the detectors is chosen on them.
"""

from __future__ import annotations

import string

import numpy as np
import torch

#: strong enough that most distorted MNIST digits no longer read as their digit (checked by eye on a
#: grid: ``python -m detector anomalies show distorted``); torchvision's default (50, 5) mostly keeps them
ELASTIC_ALPHA, ELASTIC_SIGMA = 120.0, 4.0
LETTERS = string.ascii_letters


def distorted_images(images: np.ndarray, n: int, seed: int = 0, alpha: float = ELASTIC_ALPHA,
                     sigma: float = ELASTIC_SIGMA) -> np.ndarray:
    """``n`` images drawn (seeded) from ``images`` (N, C, H, W) in [0, 1], each with its own
    random elastic displacement field (alpha: its strength in pixels, sigma: its smoothness)."""
    from torchvision.transforms import v2

    if len(images) == 0:
        raise ValueError("no images to distort")
    rng = np.random.default_rng(seed)
    picked = np.asarray(images[np.sort(rng.choice(len(images), n, replace=n > len(images)))], dtype=np.float32)
    transform = v2.ElasticTransform(alpha=alpha, sigma=sigma)
    with torch.random.fork_rng(devices=[]):  # the transform draws from torch's global generator
        torch.manual_seed(seed)
        # one call per image: a call draws one displacement field for its whole batch
        out = [transform(torch.from_numpy(image)) for image in picked]
    return torch.stack(out).clamp(0, 1).numpy()


def rendered_letters(n: int, seed: int = 0, size: int = 48) -> np.ndarray:
    """``n`` letters (upper and lower case, drawn at random) as (n, 1, 28, 28) MNIST-style images:
    white on black, PIL's default font at ``size`` points, turned by up to 15 degrees, every other
    one with a thicker stroke, fitted into MNIST's 20x20 box."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    from ..inputs.drawing import mnist_style

    rng = np.random.default_rng(seed)
    font = ImageFont.load_default(size=size)
    canvas = 2 * size
    images = []
    for i in range(n):
        picture = Image.new("L", (canvas, canvas))
        ImageDraw.Draw(picture).text((canvas // 2, canvas // 2), str(rng.choice(list(LETTERS))), fill=255, font=font,
                                     anchor="mm")
        picture = picture.rotate(float(rng.uniform(-15, 15)), resample=Image.Resampling.BILINEAR)
        if i % 2:
            picture = picture.filter(ImageFilter.MaxFilter(3))
        images.append(np.asarray(picture, dtype=np.float32)[None] / 255)
    return mnist_style(np.stack(images))


def generated_lookalikes(id_images: np.ndarray, id_labels: np.ndarray, seed: int = 3) -> dict[str, np.ndarray]:
    """Look-alikes for *choosing* (beta), from held-out ID images, unlike either evaluated set above:

    - ``mirrored``: each image flipped left to right (the same strokes, a glyph the classes do not
      draw: a mirrored 2, 3, 4, 7 or 9);
    - ``chimeras``: the top half of one image over the bottom half of an image of another class.
    """
    rng = np.random.default_rng(seed)
    id_images, id_labels = np.asarray(id_images, dtype=np.float32), np.asarray(id_labels)
    n, half = len(id_images), id_images.shape[2] // 2
    mirrored = id_images[rng.choice(n, n // 2, replace=False)][..., ::-1]
    first = rng.choice(n, n // 2)
    other = np.array([rng.choice(np.flatnonzero(id_labels != id_labels[i]) if np.any(id_labels != id_labels[i])
                                 else np.arange(n)) for i in first])
    chimeras = id_images[first].copy()
    chimeras[:, :, half:] = id_images[other][:, :, half:]
    return {"mirrored": np.ascontiguousarray(mirrored), "chimeras": chimeras}
