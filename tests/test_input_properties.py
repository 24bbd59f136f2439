"""Property tests of the input gate (issue 12): any array or file either becomes float32
(N, C, H, W) in [0, 1] of the model's input shape, or raises DataError; never another exception."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, example, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from detector.errors import DataError
from detector.inputs.images import check_images, load_image_file, standardise_layout, to_input_shape
from detector.inputs.uploads import read_upload

PROPERTY = settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
MODEL_SHAPES = st.sampled_from([(1, 28, 28), (3, 32, 32)])
DTYPES = st.sampled_from([np.uint8, np.int16, np.int64, np.uint64, np.float16, np.float32, np.float64, np.bool_,
                          np.complex64, ">f4", "<m8[s]", "U3"])


def _arrays(min_dims: int = 0, max_dims: int = 5, max_side: int = 12):
    """Any dtype and shape with any values, or floats in [0, 1] (so that many arrays pass);
    half of the shapes have the rank of images, (N, C, H, W), sides 0 included."""
    shapes = st.one_of(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side),
                       hnp.array_shapes(min_dims=4, max_dims=4, min_side=0, max_side=max_side))
    anything = DTYPES.flatmap(lambda dtype: hnp.arrays(dtype, shapes))
    unit = st.sampled_from([np.float32, np.float64]).flatmap(
        lambda dtype: hnp.arrays(dtype, shapes, elements=st.floats(0, 1, width=32)))
    pixels = hnp.arrays(np.uint8, shapes)
    return st.one_of(anything, unit, pixels)


def assert_model_input(images: np.ndarray, shape: tuple[int, int, int] | None) -> None:
    assert isinstance(images, np.ndarray) and images.dtype == np.float32 and images.ndim == 4
    assert images.flags.c_contiguous and len(images) >= 1
    if shape is not None:
        assert images.shape[1:] == shape
    assert np.isfinite(images).all() and images.min() >= 0 and images.max() <= 1


def gate(function, *args, shape=None):
    """Call ``function``; a DataError is a fine answer, any other exception fails the property."""
    try:
        result = function(*args)
    except DataError:
        return None
    images = result[0] if isinstance(result, tuple) else result
    assert_model_input(images, shape)
    return images


@PROPERTY
@given(array=_arrays(), shape=MODEL_SHAPES)
@example(array=np.zeros((1, 1, 0, 5), np.float32), shape=(1, 28, 28))  # no pixels: numpy's min() raised ValueError
@example(array=np.zeros((2, 4, 1, 1), ">f4")[:, :, ::-1], shape=(3, 32, 32))
def test_check_images_and_to_input_shape(array, shape):
    gate(check_images, array)
    gate(to_input_shape, array, shape, shape=shape)


@PROPERTY
@given(array=_arrays(min_dims=2, max_dims=5), shape=MODEL_SHAPES)
def test_standardise_layout_then_to_input_shape(array, shape):
    images = gate(standardise_layout, array, "x.npy")
    if images is not None:
        assert images.shape[1] in (1, 3)
        gate(to_input_shape, images, shape, shape=shape)


@PROPERTY
@given(content=st.one_of(_arrays(max_side=40), st.binary(max_size=300)), shape=MODEL_SHAPES)
def test_load_image_file(content, shape):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "set.npz"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            np.savez(path, images=content)
        gate(load_image_file, path, shape, shape=shape)


def _picture_bytes(pixels: np.ndarray, mode: str, fmt: str) -> bytes:
    from PIL import Image

    picture = Image.fromarray(pixels[..., 0] if mode in ("L", "P") else pixels[..., : len(mode)],
                              mode="L" if mode == "P" else None)
    if mode == "P":
        picture = picture.convert("P")
    if fmt == "JPEG" and mode in ("RGBA", "P"):
        picture = picture.convert("RGB")
    handle = io.BytesIO()
    picture.save(handle, fmt)
    return handle.getvalue()


@st.composite
def uploads(draw):
    """(file name, bytes): real pictures and arrays, damaged ones, and noise under any name."""
    kind = draw(st.sampled_from(["picture", "npy", "noise"]))
    if kind == "picture":
        fmt = draw(st.sampled_from(["PNG", "JPEG"]))
        side = st.integers(1, 48)
        pixels = draw(hnp.arrays(np.uint8, (draw(side), draw(side), 4)))
        data = _picture_bytes(pixels, draw(st.sampled_from(["L", "RGB", "RGBA", "P"])), fmt)
        name = "x.png" if fmt == "PNG" else "x.jpg"
    elif kind == "npy":
        handle = io.BytesIO()
        np.save(handle, draw(_arrays(max_side=40)))
        data, name = handle.getvalue(), "x.npy"
    else:
        data = draw(st.binary(max_size=400))
        name = draw(st.sampled_from(["x.png", "x.jpeg", "x.npy", "x.txt", "x"]))
    if data and draw(st.booleans()):  # damage a few bytes
        damaged = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            damaged[draw(st.integers(0, len(damaged) - 1))] = draw(st.integers(0, 255))
        data = bytes(damaged)
    return name, data


@PROPERTY
@given(upload=uploads(), shape=MODEL_SHAPES, invert=st.sampled_from([None, True, False]))
def test_read_upload(upload, shape, invert):
    name, data = upload
    gate(read_upload, name, data, shape, invert, shape=shape)


# Valid inputs must be accepted: without these, the properties above would pass if every input were refused.
VALID_UNIT = st.floats(0, 1, width=32)


@st.composite
def valid_images(draw):
    """(images in the model's own shape, float32 in [0, 1] or uint8, N >= 1; that shape)."""
    shape = draw(MODEL_SHAPES)
    n = draw(st.integers(1, 3))
    if draw(st.booleans()):
        return draw(hnp.arrays(np.float32, (n, *shape), elements=VALID_UNIT)), shape
    return draw(hnp.arrays(np.uint8, (n, *shape))), shape


def _as_unit(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255 if images.dtype == np.uint8 else images


@PROPERTY
@given(valid=valid_images())
def test_valid_arrays_are_accepted_unchanged(valid):
    images, shape = valid
    if images.dtype == np.uint8:  # the Python API takes [0, 1] only (files may hold 0-255 bytes)
        images = images.astype(np.float32) / 255
    np.testing.assert_allclose(check_images(images), _as_unit(images), atol=1e-6)
    np.testing.assert_allclose(to_input_shape(images, shape), _as_unit(images), atol=1e-6)


@PROPERTY
@given(valid=valid_images())
def test_valid_array_files_are_accepted(valid):
    images, shape = valid
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "set.npz"
        np.savez(path, images=images)
        loaded = load_image_file(path, shape)
        loaded = loaded[0] if isinstance(loaded, tuple) else loaded
    assert_model_input(loaded, shape)
    np.testing.assert_allclose(loaded, _as_unit(images), atol=1e-6)


@PROPERTY
@given(pixels=st.tuples(st.integers(8, 48), st.floats(0.25, 4)).flatmap(  # sides >= 8, at most 4:1 (the limits), so
           # the width lies in [max(8, ceil(h / 4)), 4 h]
           lambda side: hnp.arrays(np.uint8, (side[0], min(4 * side[0], max(8, -(-side[0] // 4), round(side[0] * side[1]))), 4))),
       mode=st.sampled_from(["L", "RGB", "RGBA"]), fmt=st.sampled_from(["PNG", "JPEG"]), shape=MODEL_SHAPES)
@example(pixels=np.zeros((37, 10, 4), np.uint8), mode="L", fmt="PNG", shape=(1, 28, 28))  # 1:3.7, the rounding edge
@example(pixels=np.zeros((8, 32, 4), np.uint8), mode="RGB", fmt="JPEG", shape=(3, 32, 32))  # 4:1 exactly
def test_undamaged_pictures_are_accepted(pixels, mode, fmt, shape):
    name = "x.png" if fmt == "PNG" else "x.jpg"
    images = read_upload(name, _picture_bytes(pixels, mode, fmt), shape, False)
    assert_model_input(images[0] if isinstance(images, tuple) else images, shape)


def test_0_255_pixels_given_to_the_python_api_are_refused_with_how_to_scale_them():
    import pytest

    with pytest.raises(DataError, match="divide 0-255 pixels by 255"):
        check_images(np.full((1, 1, 28, 28), 200, np.uint8))
