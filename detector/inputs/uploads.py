"""A user's own inputs: a file (PNG / JPEG / .npy) read into model inputs.

Every file problem becomes a :class:`~detector.errors.DataError` whose message says what is
wrong and what is accepted; nothing else escapes, so the dashboard never shows a traceback.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..errors import DataError
from .drawing import applies_to, mnist_style as fit_like_mnist
from .images import (
    LAYOUT_CHANNELS,
    picture_values,
    read_array_header,
    require_numpy_format,
    standardise_layout,
    to_input_shape,
)

MAX_BYTES = 20 * 1024 * 1024
MIN_SIDE, MAX_SIDE = 8, 4096
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
INVERT = {"auto": None, "yes": True, "no": False}  # the user's choice -> read_upload's ``invert``
ACCEPTED = "a PNG or JPEG picture, or a .npy array of shape (H,W), (C,H,W), (H,W,C) or (N,C,H,W)"


def _check_side(height: int, width: int, name: str) -> None:
    if min(height, width) < MIN_SIDE:
        raise DataError(f"{name}: the image is {width}x{height} pixels; it must be at least {MIN_SIDE}x{MIN_SIDE}")
    if max(height, width) > MAX_SIDE:
        raise DataError(f"{name}: the image is {width}x{height} pixels; the largest accepted side is {MAX_SIDE}")
    if max(height, width) > 4 * min(height, width):
        raise DataError(f"{name}: the image is {width}x{height} pixels, far from square; crop it around the object first")


def read_picture(data: bytes, name: str) -> np.ndarray:
    """One PNG / JPEG as an image (1, C, H, W) in [0, 1] at its true bit depth (C = 1 for grey pictures,
    3 for colour; transparency becomes white paper: :func:`detector.inputs.images.picture_values`).
    Its size is checked from the header before it is decoded."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as picture:  # reads the header only
            _check_side(picture.height, picture.width, name)  # before decoding: 13,300 px a side took 560 MB
            picture.load()
            values = picture_values(picture, name)
    except DataError:
        raise
    except Exception as error:  # PIL raises many kinds on crafted files (OSError, SyntaxError, struct.error...)
        raise DataError(f"{name}: not a readable picture ({error.__class__.__name__}); accepted: {ACCEPTED}") from None
    return values[None]  # (1, C, H, W)


def _read_npy(data: bytes, name: str) -> np.ndarray:
    require_numpy_format(data[:8], ".npy", name)  # np.load calls any other bytes "pickled data"
    read_array_header(io.BytesIO(data), name)  # size and dtype before anything is decoded
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as error:  # bad header, pickled objects, truncated data...
        raise DataError(f"{name}: not a readable .npy array ({str(error).splitlines()[0][:120]})") from None
    if not isinstance(array, np.ndarray):
        raise DataError(f"{name}: expected a single array, found {type(array).__name__}")
    if array.ndim == 2:
        array = array[None]
    if array.ndim == 3 and (array.shape[0] in LAYOUT_CHANNELS or array.shape[-1] in LAYOUT_CHANNELS):
        array = array[None]  # one (C,H,W) or (H,W,C) image
    if array.ndim not in (3, 4):
        raise DataError(f"{name}: array of shape {array.shape}; expected {ACCEPTED}")
    images = standardise_layout(array, name)
    _check_side(images.shape[2], images.shape[3], name)
    return images


def read_upload(name: str, data: bytes, input_shape: tuple[int, int, int], invert: bool | None = None,
                max_bytes: int | None = MAX_BYTES, mnist_style: bool = True) -> tuple[np.ndarray, list[str]]:
    """Images in the model's input shape from an uploaded file, and notes on what was changed.

    ``invert``: None = automatic (a picture whose border is light is taken as dark ink on
    paper and inverted, to match MNIST-like white-on-black data); True / False force it.
    ``max_bytes`` guards the dashboard's uploads; None (the command line) has no limit.
    ``mnist_style``: for 28x28 grey models, fit the ink of a picture (or of an array of another
    size) into 20x20 and centre it as MNIST did (:mod:`detector.inputs.drawing`), instead of shrinking
    the whole picture; arrays already 28x28 are taken as model inputs and left alone.
    """
    notes: list[str] = []
    if not data:
        raise DataError(f"{name}: the file is empty")
    if max_bytes is not None and len(data) > max_bytes:
        raise DataError(f"{name}: the file is {len(data) / 2**20:.1f} MB; the limit is {max_bytes // 2**20} MB")
    suffix = Path(name).suffix.lower()
    if suffix == ".npy":
        images = _read_npy(data, name)
    elif suffix in IMAGE_SUFFIXES:
        images = read_picture(data, name)
    else:
        raise DataError(f"{name}: unsupported file type {suffix or '(none)'}; accepted: {ACCEPTED}")
    height, width = images.shape[2:]
    if invert is None and suffix in IMAGE_SUFFIXES:
        border = np.concatenate([images[0, :, 0, :].ravel(), images[0, :, -1, :].ravel(),
                                 images[0, :, :, 0].ravel(), images[0, :, :, -1].ravel()])
        invert = bool(border.mean() > 0.5)
    if invert:
        images = 1.0 - images
        notes.append("inverted (dark on light -> light on dark, like the training data)")
    if mnist_style and applies_to(input_shape) and (suffix != ".npy" or (height, width) != (28, 28)):
        images = fit_like_mnist(images)
        notes.append("MNIST-style: ink fitted into 20x20 and centred by its centre of mass")
    try:
        converted = to_input_shape(images, input_shape, name)
    except DataError:
        raise
    except Exception as error:
        raise DataError(f"{name}: cannot convert to the model's input shape {input_shape} ({error})") from None
    if (height, width) != tuple(input_shape[1:]):
        notes.append(f"resized from {width}x{height} to {input_shape[2]}x{input_shape[1]}")
    if images.shape[1] != input_shape[0]:
        notes.append(f"converted from {images.shape[1]} to {input_shape[0]} channel(s)")
    return converted, notes
