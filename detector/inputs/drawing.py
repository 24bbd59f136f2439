"""MNIST-style preprocessing of a drawing: what LeCun et al. did to NIST's digits, done to ours.

MNIST's digits were (1) cut to the bounding box of their ink, (2) scaled to fit a 20x20 box
keeping the aspect ratio, anti-aliased into grey levels, and (3) pasted into 28x28 so that
their centre of mass sits at the centre. A digit drawn on a 280x280 canvas and merely shrunk
to 28x28 keeps its own margins, position and crisp edges; the early layers (the MDL) then see
an input unlike every training digit, and the detector calls a clean "7" an anomaly (30 of 30
mouse-drawn digits were flagged without this step; 23 of 30 passed with it).

:func:`mnist_style` is a pure function on arrays; :func:`applies_to` says for which models it
is meant (28x28 grey inputs, i.e. MNIST-like training data).
"""

from __future__ import annotations

import numpy as np

BOX = 20  # side of the box the ink is fitted into
SIDE = 28  # side of the output
INK = 0.1  # a pixel belongs to the bounding box above this fraction of the brightest pixel


def applies_to(input_shape) -> bool:
    """True for models with (1, 28, 28) inputs, the shape of MNIST and Fashion-MNIST."""
    return tuple(input_shape) == (1, SIDE, SIDE)


def mnist_style(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) images in [0, 1], light ink on dark ground -> (N, 1, 28, 28) as MNIST made them.

    Colour is averaged to grey; the ground (the median of the border) is subtracted and the ink
    stretched to a peak of 1, as MNIST's strokes reach 1. A blank image comes back black.

    >>> image = np.zeros((1, 1, 200, 100), np.float32); image[0, 0, 20:180, 40:60] = 1
    >>> out = mnist_style(image)
    >>> out.shape, float(out.max()) > 0.9, [int(v) for v in np.nonzero(out[0, 0].sum(1))[0][[0, -1]]]
    ((1, 1, 28, 28), True, [4, 23])
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W); got {images.shape}")
    return np.stack([_one(image.mean(0))[None] for image in images])


def _one(grey: np.ndarray) -> np.ndarray:
    from PIL import Image

    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    ink = np.clip(grey - np.median(border), 0, None)
    if ink.max() <= 1e-3:
        return np.zeros((SIDE, SIDE), np.float32)
    ink /= ink.max()
    rows, cols = np.nonzero(ink > INK)
    ink = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    height, width = ink.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    box = np.asarray(Image.fromarray(ink).resize(size, Image.Resampling.LANCZOS), dtype=np.float32).clip(0, 1)
    return _paste_centred(box)


def _paste_centred(box: np.ndarray) -> np.ndarray:
    """``box`` pasted into a black 28x28 with its centre of mass at the centre (kept inside the frame)."""
    height, width = box.shape
    total = box.sum()
    rows, cols = np.indices(box.shape)
    centre_y = (rows * box).sum() / total if total > 0 else (height - 1) / 2
    centre_x = (cols * box).sum() / total if total > 0 else (width - 1) / 2
    top = int(np.clip(round((SIDE - 1) / 2 - centre_y), 0, SIDE - height))
    left = int(np.clip(round((SIDE - 1) / 2 - centre_x), 0, SIDE - width))
    out = np.zeros((SIDE, SIDE), np.float32)
    out[top:top + height, left:left + width] = box
    return out


UPSAMPLE = 4  # stroke widths are measured on a 4x bilinear upsampling: at 28x28 every thin stroke reads 1 px


def ink_measures(images: np.ndarray) -> np.ndarray:
    """(N, 2): each grey image's ink area and stroke width, what makes a drawing look unlike MNIST.

    Ink area is the fraction of pixels above 0.5. Stroke width (in pixels of the image) is
    ``2 * d - 1`` for the mean Euclidean distance ``d`` from the stroke's ridge (its local maxima of
    the distance to the ground) to the ground, on a 4x upsampling: a stroke of w pixels has
    its ridge w / 2 + 1/2 from the ground. Measured on LeNet-MNIST's training digits, the 1st-99th
    percentiles are 1.2-4.8 px; the test drawings (``tests/drawn_digits.py``) read 0.26 px with a
    6 px pen on the 280x280 canvas, 1.2 px with 12 px and 2.6 px with 26 px. Colour is averaged;
    a blank image reads 0 and 0.

    >>> image = np.zeros((1, 1, 28, 28), np.float32); image[0, 0, 4:24, 12:15] = 1   # a bar 3 px wide
    >>> area, width = ink_measures(image)[0]
    >>> round(float(area), 3), round(float(width), 2)   # a hard edge loses a quarter pixel to the upsampling
    (0.077, 2.75)
    """
    from scipy import ndimage

    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W); got {images.shape}")
    out = np.zeros((len(images), 2))
    for row, image in enumerate(images):
        grey = image.mean(0)
        out[row, 0] = np.mean(grey > 0.5)
        ink = ndimage.zoom(grey, UPSAMPLE, order=1) > 0.5
        if ink.any():
            depth = ndimage.distance_transform_edt(ink)
            ridge = ink & (depth >= ndimage.maximum_filter(depth, 3))
            out[row, 1] = (2 * depth[ridge].mean() - 1) / UPSAMPLE
    return out
