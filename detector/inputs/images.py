"""The input gate: user image arrays and files checked, read and converted to a model's input.

Everything that reaches a model goes through :func:`check_images` (float32, (N, C, H, W), in
[0, 1], finite) or :func:`to_input_shape` (the same, resized and grey<->RGB converted). Sizes
are read from file headers before anything is decoded; every problem is a DataError.
"""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DataError
from ..runtime import is_lazy

# Largest image array read from a user's file, counted from its header before anything is
# decoded: 2**27 values are 512 MiB as float32 (Fashion-MNIST's 70,000 images are 55 M values).
# A 204 KB .npz of zeros once expanded to 2.6 GB here.
MAX_VALUES = 2**27
IMAGE_CHANNELS = (1, 3)  # grey or RGB
LAYOUT_CHANNELS = (*IMAGE_CHANNELS, 4)  # sizes that mark a channel axis: RGBA is recognised only to be refused clearly


def _file_kind(mode: int) -> str:
    """What a file that is neither a regular file nor a folder is, from its ``st_mode``."""
    kinds = [(stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]
    return next((kind for test, kind in kinds if test(mode)), "a special file")


def require_file(path: str | Path, what: str = "file", error: type[Exception] = DataError) -> Path:
    """``path`` as a Path when it is an existing regular file; else ``error`` saying what it is instead
    (reading a FIFO or a device such as /dev/zero would wait or never end)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode  # follows symbolic links
    except FileNotFoundError:
        broken = path.is_symlink()
        raise error(f"{what} not found: {path}" + (" (a symbolic link to a missing file)" if broken else "")) from None
    except OSError as problem:  # permission denied on a folder above it, a loop of links, a name too long...
        raise error(f"{what} {path} cannot be read ({problem.strerror or problem})") from None
    if stat.S_ISDIR(mode):
        raise error(f"{what} {path} is a folder; give a file")
    if not stat.S_ISREG(mode):
        raise error(f"{what} {path} is not a regular file: it is {_file_kind(mode)}; give a file")
    return path


# PIL modes of grey pictures (one channel); every other mode is read as RGB. "I;16*" are 16-bit grey
# (how Pillow opens a 16-bit grey PNG), "I" 32-bit integers, "F" 32-bit floats, "1" one bit a pixel.
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


def picture_values(picture, source: str = "picture") -> np.ndarray:
    """A decoded PIL picture as float32 (C, H, W) in [0, 1] at its true bit depth: the one reader of pictures.

    Grey modes give C = 1, all others C = 3. 8-bit values are divided by 255, 16-bit ones (I;16,
    I;16B...) by 65535 (PIL's ``convert("L")`` clips them: a 0.4 grey read as 1.0); "I" (32-bit
    integers: how older Pillows hold 16-bit PNGs) must lie in 0-65535 and is divided by 65535; "F"
    (32-bit floats) must already lie in [0, 1]; "1" is 0 or 1. A palette is looked up (its
    transparency kept); CMYK, YCbCr and other colour modes become RGB. Transparent pixels (alpha,
    a palette's or a tRNS transparent colour) are composited on white paper: the dark ink of a
    drawing on a transparent ground stays visible, and :func:`detector.inputs.uploads.read_upload` inverts
    light grounds for MNIST-like models (a drawing of white ink on a transparent ground is lost).
    """
    mode, info = picture.mode, picture.info
    transparent = info.get("transparency")
    if mode in ("P", "PA"):
        picture = picture.convert("RGBA" if mode == "PA" or transparent is not None else "RGB")
    elif mode in ("La", "RGBa"):  # premultiplied alpha
        picture = picture.convert(mode[:-1] + "A")
    elif mode in ("L", "RGB") and transparent is not None:  # a PNG's tRNS: one colour is transparent
        picture = picture.convert(mode + "A")
    elif mode not in GREY_MODES | {"RGB", "RGBA"}:  # CMYK, YCbCr, LAB, HSV, RGBX...
        picture = picture.convert("RGB")
    mode = picture.mode
    values = np.asarray(picture)
    alpha = None
    if mode in SIXTEEN_BIT_MODES or mode == "I":
        if mode == "I" and values.size and (values.min() < 0 or values.max() > 65535):
            raise DataError(f"{source}: 32-bit integer pixels from {values.min()} to {values.max()}; only 0-65535 "
                            "(16 bits) are read: save it as an 8- or 16-bit picture")
        if isinstance(transparent, int):
            alpha = (values != transparent).astype(np.float32)
        values = values.astype(np.float32) / 65535.0
    elif mode == "F":
        values = values.astype(np.float32)
        if values.size and not (np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1):
            raise DataError(f"{source}: 32-bit float pixels must lie in [0, 1], found [{values.min():.3g}, "
                            f"{values.max():.3g}]")
    elif mode == "1":
        values = values.astype(np.float32)
    else:  # L, LA, RGB, RGBA: 8 bits a channel
        values = values.astype(np.float32) / 255.0
        if mode in ("LA", "RGBA"):
            values, alpha = values[..., :-1], values[..., -1]
    if alpha is not None:  # composited on white paper
        opacity = alpha if values.ndim == 2 else alpha[..., None]
        values = values * opacity + (1.0 - opacity)
    values = values[None] if values.ndim == 2 else values.transpose(2, 0, 1)
    return np.ascontiguousarray(np.clip(values, 0.0, 1.0), dtype=np.float32)


def _check_real(images: np.ndarray, source: str) -> None:
    if images.dtype.kind not in "iuf":  # ints, unsigned ints, floats: not bool, complex, timedelta, text...
        raise DataError(f"{source}: images must hold real numbers (uint8 0-255 or floats in [0, 1]), got dtype {images.dtype}")


def check_images(images: np.ndarray, source: str = "images") -> np.ndarray:
    """Reject arrays that no model can take: wrong rank, empty, NaN/inf, out of [0, 1].

    Returns a C-contiguous float32 copy when needed (torch takes no negative strides).
    A set read lazily from a folder is returned as it is: each picture is checked and
    converted as it is decoded.
    """
    if is_lazy(images):
        if len(images) == 0:
            raise DataError(f"{source}: no images (shape {images.shape})")
        return images
    images = np.asarray(images)
    if images.ndim != 4:
        raise DataError(f"{source}: expected images of shape (N, C, H, W), got shape {images.shape}")
    if images.size == 0:
        raise DataError(f"{source}: no images (shape {images.shape})")
    _check_real(images, source)
    low, high = images.min(), images.max()  # NaN propagates into both: no third pass over the images
    if not (np.isfinite(low) and np.isfinite(high)):
        raise DataError(f"{source}: images contain NaN or infinite values")
    if low < 0 or high > 1:
        raise DataError(f"{source}: pixel values of a {images.dtype} array must lie in [0, 1] (divide 0-255 pixels by "
                        f"255 first; files and uploads of 0-255 bytes are scaled when read), "
                        f"found [{low:.3g}, {high:.3g}]")
    return np.ascontiguousarray(images, dtype=np.float32)


def to_input_shape(images: np.ndarray, shape: tuple[int, int, int], source: str = "images") -> np.ndarray:
    """Convert (N, C, H, W) images in [0, 1] to a model's (C, H, W): grey<->RGB, bilinear resize."""
    images = check_images(images, source)
    if is_lazy(images):
        if tuple(images.shape[1:]) == tuple(shape):  # already read in this shape
            return images
        images = np.asarray(images)
    channels, height, width = shape
    tensor = torch.from_numpy(images)
    if tensor.shape[1] != channels:
        if tensor.shape[1] == 3 and channels == 1:
            grey = (tensor * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
            tensor = grey.clamp(0, 1)  # the weights sum to 1 only up to float32 rounding
        elif tensor.shape[1] == 1:
            tensor = tensor.expand(-1, channels, -1, -1)
        else:
            raise DataError(f"{source}: cannot convert {tensor.shape[1]} channels to {channels}")
    if tuple(tensor.shape[2:]) != (height, width):
        # antialias: shrinking a crisp drawing without it keeps jagged strokes that look foreign to
        # the early layers (a hard-edged 200x200 "7" scored g = -0.90 < tau = 0.55; blurred first, 0.87)
        shrink = height < tensor.shape[2] or width < tensor.shape[3]
        tensor = F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False,
                               antialias=shrink).clamp(0, 1)
    return np.ascontiguousarray(tensor.numpy(), dtype=np.float32)


def _check_channels(shape: tuple[int, ...], source: str) -> None:
    channels = shape[1]
    if channels == 4:
        raise DataError(f"{source}: images of shape {shape} have 4 channels (RGBA); give grey (1) or RGB (3) "
                        "channels, e.g. drop the alpha channel with array[..., :3]")
    if channels not in IMAGE_CHANNELS:
        raise DataError(f"{source}: images of shape {shape} read as (N, C, H, W) have {channels} channels; "
                        "give grey (1) or RGB (3) images as (N,H,W), (N,H,W,C) or (N,C,H,W)")


def standardise_layout(array: np.ndarray, source: str) -> np.ndarray:
    """(N,H,W), (N,H,W,C) or (N,C,H,W), uint8 0-255 or float 0-1 -> float32 (N,C,H,W) in [0, 1]."""
    array = np.asarray(array)
    if array.size == 0:
        raise DataError(f"{source}: the image array is empty (shape {array.shape})")
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4:
        if array.shape[1] not in LAYOUT_CHANNELS and array.shape[-1] in LAYOUT_CHANNELS:
            array = np.transpose(array, (0, 3, 1, 2))
    else:
        raise DataError(f"{source}: images must have shape (N,H,W), (N,H,W,C) or (N,C,H,W); got {array.shape}")
    _check_channels(array.shape, source)
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    return check_images(array, source)


NUMPY_SIGNATURES = {".npy": (b"\x93NUMPY",), ".npz": (b"PK\x03\x04", b"PK\x05\x06")}  # .npz: a zip archive
NUMPY_KINDS = {".npy": ("a .npy array", "an array saved with numpy.save"),
               ".npz": ("a zip archive (.npz)", "an archive saved with numpy.savez(path, images=...)")}


def numpy_format(head: bytes) -> str | None:
    """".npy" or ".npz" from a file's first bytes, None when they begin neither: ``np.load`` (allow_pickle
    False) calls any such file "pickled data", which random bytes are not."""
    return next((kind for kind, signatures in NUMPY_SIGNATURES.items() if head.startswith(signatures)), None)


def require_numpy_format(head: bytes, expected: str, source: str) -> None:
    """DataError unless ``head``, a file's first bytes, begins a NumPy file of the ``expected`` kind (".npy" / ".npz")."""
    found = numpy_format(head)
    if found != expected:
        what = "neither a .npy nor a .npz: its first bytes are no NumPy file's" if found is None else NUMPY_KINDS[found][0]
        raise DataError(f"{source}: not a NumPy {expected} file ({what}); expected {NUMPY_KINDS[expected][1]}")


def read_array_header(handle, source: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a .npy header (nothing else is read); refuses objects and arrays over MAX_VALUES."""
    from numpy.lib import format as npy

    readers = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
    try:
        version = npy.read_magic(handle)
        if version not in readers:
            raise ValueError(f".npy format version {version} is not supported")
        shape, _fortran, dtype = readers[version](handle)
    except Exception as error:  # bad magic, bad header, truncated file...
        raise DataError(f"{source}: not a readable .npy array ({str(error).splitlines()[0][:120]})") from None
    if dtype.hasobject:
        raise DataError(f"{source}: the array holds Python objects, not pixel values")
    if dtype.kind not in "iuf":  # before its bytes are read: a void dtype's item can be gigabytes
        raise DataError(f"{source}: images must hold real numbers (uint8 0-255 or floats in [0, 1]), got dtype {dtype}")
    values = int(np.prod(shape, dtype=object))
    if values > MAX_VALUES:
        raise DataError(f"{source}: the array of shape {shape} has {values:,} values; "
                        f"the limit is {MAX_VALUES:,} (detector.inputs.images.MAX_VALUES)")
    return shape, dtype


def _check_npz_images(path: Path) -> None:
    """The member ``images.npy`` exists and its header passes :func:`read_array_header`."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "images.npy" not in names:
                found = ", ".join(name.removesuffix(".npy") for name in names) or "none"
                raise DataError(f"{path}: the .npz must hold an array named 'images' (found: {found})")
            with archive.open("images.npy") as member:
                read_array_header(member, str(path))
    except DataError:
        raise
    except Exception as error:  # not a zip, bad zip directory, unsupported compression...
        raise DataError(f"{path}: not a readable .npz file ({error})") from None


def image_file_bytes(images: np.ndarray) -> bytes:
    """An image file's bytes: an ``.npz`` with one array ``images`` (N, C, H, W) float32 in [0, 1],
    what :func:`load_image_file` reads (``check --images``, ``evaluate --anomaly-files``)."""
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=check_images(images))
    return buffer.getvalue()


def load_image_file(path: str | Path, shape: tuple[int, int, int] | None = None) -> np.ndarray:
    """Load a user's anomaly set: an ``.npz`` holding an array ``images`` (size checked from its header first)."""
    path = require_file(path)
    with open(path, "rb") as handle:
        require_numpy_format(handle.read(8), ".npz", str(path))
    _check_npz_images(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            array = data["images"]
    except Exception as error:  # zip CRC, truncated data...
        raise DataError(f"{path}: not a readable .npz file ({error})") from None
    images = standardise_layout(array, str(path))
    return to_input_shape(images, shape, str(path)) if shape else images
