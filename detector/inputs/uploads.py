"""A user's own inputs: a file (PNG / JPEG / .npy) read into model inputs.

What a file is comes from its first bytes, never from its name: a TIFF, GIF, WebP, BMP or an
animated PNG is refused whatever it is called, and Pillow is asked for its PNG and JPEG
decoders only. Sizes are checked from the file's size and header before anything is decoded;
a picture's EXIF orientation is applied, as a phone's viewer shows it. Every file problem
becomes a :class:`~detector.errors.DataError` whose message says what is wrong and what is
accepted; nothing else escapes, so the dashboard never shows a traceback.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from ..errors import DataError, printable
from .drawing import applies_to, mnist_style as fit_like_mnist
from .images import (
    LAYOUT_CHANNELS,
    picture_values,
    read_array_header,
    require_file,
    require_numpy_format,
    standardise_layout,
    to_input_shape,
)

MAX_BYTES = 20 * 1024 * 1024  # an upload (also .streamlit/config.toml's server.maxUploadSize, in MB)
MIN_SIDE, MAX_SIDE = 8, 4096
MAX_PIXELS = MAX_SIDE * MAX_SIDE  # 16.8 megapixels: the most that MAX_SIDE (checked from the header) lets through
# a file from the command line or a folder: twice the raw size of the largest picture accepted (four
# 16-bit channels); no PNG or JPEG of at most MAX_PIXELS is larger, so a bigger file is refused unread
MAX_PICTURE_BYTES = 2 * MAX_PIXELS * 4 * 2
PICTURE_FORMATS = ("PNG", "JPEG")  # the Pillow decoders a picture may reach
# first bytes of the formats we recognise to name them in the refusal (Pillow would decode them all)
SIGNATURES = [(b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"\x93NUMPY", ".npy"),
              (b"PK\x03\x04", "zip / .npz"), (b"PK\x05\x06", "zip / .npz"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
              (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"BM", "BMP"), (b"\x00\x00\x01\x00", "ICO"),
              (b"8BPS", "Photoshop"), (b"%PDF", "PDF"), (b"\x00\x00\x00\x0cjP  ", "JPEG 2000")]
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


def file_format(head: bytes) -> str | None:
    """What a file is from its first 16 bytes: "PNG", "JPEG", ".npy", or the name of a format that is
    refused ("TIFF", "GIF", "WebP"...); None when they begin no format we know."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((kind for signature, kind in SIGNATURES if head.startswith(signature)), None)


def _refuse_format(found: str | None, name: str) -> None:
    what = f"a {found} file" if found else "not a readable picture or .npy array (its first bytes are no PNG's, JPEG's or .npy's)"
    raise DataError(f"{name}: {what}; accepted: {ACCEPTED} (decided by the content, not the name)")


def read_picture(data: bytes, name: str) -> np.ndarray:
    """One PNG / JPEG as an image (1, C, H, W) in [0, 1] at its true bit depth (C = 1 for grey pictures,
    3 for colour; transparency becomes white paper: :func:`detector.inputs.images.picture_values`),
    turned upright as its EXIF orientation says. The format comes from the content; the size is
    checked from the header before it is decoded."""
    from PIL import Image, ImageOps

    name = printable(name)
    found = file_format(data[:16])
    if found not in PICTURE_FORMATS:
        _refuse_format(found, name)
    try:
        with Image.open(io.BytesIO(data), formats=PICTURE_FORMATS) as picture:  # reads the header only
            if getattr(picture, "is_animated", False) and picture.format == "PNG":
                raise DataError(f"{name}: an animated PNG ({picture.n_frames} frames); accepted: {ACCEPTED}")
            _check_side(picture.height, picture.width, name)  # before decoding: 13,300 px a side took 560 MB
            picture.load()
            # a phone stores a portrait photo sideways with Orientation = 6; judged sideways, a 7 was an anomaly
            upright = ImageOps.exif_transpose(picture)
            values = picture_values(upright, name)
    except DataError:
        raise
    except Image.DecompressionBombError:  # Pillow's own limit, met at open before ours can be checked
        raise DataError(f"{name}: the picture has more than {MAX_PIXELS:,} pixels; the largest accepted side is "
                        f"{MAX_SIDE}") from None
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
    name = printable(name)
    if not data:
        raise DataError(f"{name}: the file is empty")
    if max_bytes is not None and len(data) > max_bytes:
        raise DataError(f"{name}: the file is {len(data) / 2**20:.1f} MB; the limit is {max_bytes // 2**20} MB")
    found = file_format(data[:16])
    if found == ".npy":
        images = _read_npy(data, name)
    elif found in PICTURE_FORMATS:
        images = read_picture(data, name)
    else:
        _refuse_format(found, name)
    picture = found != ".npy"
    height, width = images.shape[2:]
    if invert is None and picture:
        border = np.concatenate([images[0, :, 0, :].ravel(), images[0, :, -1, :].ravel(),
                                 images[0, :, :, 0].ravel(), images[0, :, :, -1].ravel()])
        invert = bool(border.mean() > 0.5)
    if invert:
        images = 1.0 - images
        notes.append("inverted (dark on light -> light on dark, like the training data)")
    if mnist_style and applies_to(input_shape) and (picture or (height, width) != (28, 28)):
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


def read_file(path: str | Path) -> bytes:
    """The bytes of an input file on disk for :func:`read_upload`, refused from its size and header before
    it is read: a .npy's header is read first (its shape against MAX_VALUES) and only the bytes it
    announces are read; a picture larger than MAX_PICTURE_BYTES is refused unread. A 1 TB sparse file
    was read whole and ended in a MemoryError."""
    path = require_file(path)
    shown = printable(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
            size = os.fstat(handle.fileno()).st_size
            found = file_format(head)
            if found == ".npy":
                handle.seek(0)
                shape, dtype = read_array_header(handle, shown)
                need = handle.tell() + int(np.prod(shape, dtype=object)) * dtype.itemsize
                if size < need:
                    raise DataError(f"{shown}: the .npy file is {size:,} bytes, shorter than the {need:,} its header "
                                    "announces (truncated)")
            elif found in PICTURE_FORMATS:
                if size > MAX_PICTURE_BYTES:
                    raise DataError(f"{shown}: the file is {size / 2**20:,.0f} MB; no picture of at most {MAX_SIDE}x"
                                    f"{MAX_SIDE} pixels is larger than {MAX_PICTURE_BYTES // 2**20} MB")
                need = size
            else:
                return head  # read_upload names what it is
            handle.seek(0)
            return handle.read(need)
    except OSError as error:
        raise DataError(f"{shown}: cannot read it ({error.strerror or error})") from None
