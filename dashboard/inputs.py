"""The Inspect page's inputs: one from a set, a drawing on a canvas, or an uploaded file.

Each picker returns a :class:`Picked`: the model input (1, C, H, W) or None, the notes on how it
was made, and the original (the picture as drawn or uploaded) to show beside it. Drawings and
uploads go through :func:`detector.inputs.uploads.read_upload`, so both get the same MNIST-style
preprocessing (:mod:`detector.inputs.drawing`) as ``python -m detector check``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from detector.inputs.drawing import applies_to
from detector.inputs.uploads import INVERT, MAX_BYTES, PICTURE_FORMATS, file_format, read_picture, read_upload

from .messages import show_error
from .views import display_images

CANVAS = 280  # 10x the 28x28 input, as most MNIST drawing demos
STROKE = 18  # pen width on the canvas; the MNIST-style fit makes the result hardly depend on it


@dataclass
class Picked:
    image: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    original: object = None  # bytes or an array st.image can show; None for inputs from a set


def from_set(sets: dict) -> Picked:
    left, right = st.columns([2, 1])
    name = left.selectbox("Set", list(sets), key="inspect_set")
    index = right.number_input("Index", 0, len(sets[name]) - 1, 0, key="inspect_index")
    return Picked(sets[name][int(index)][None])


def _read(name: str, data: bytes, input_shape, invert, mnist_style: bool) -> Picked:
    try:
        images, notes = read_upload(name, data, input_shape, invert, mnist_style=mnist_style)
        # shown as decoded (upright, 16 bits scaled to 8, transparency on white): st.image cannot write
        # every picture it is given (a 16-bit PNG as JPEG), and the bytes would be shown unturned
        original = display_images(read_picture(data, name))[0] if file_format(data[:16]) in PICTURE_FORMATS else None
    except Exception as error:
        show_error(error, "reading an upload", "Cannot use this file: ")
        return Picked()
    index = 0
    if len(images) > 1:
        index = int(st.number_input(f"Image in the file (it holds {len(images)})", 0, len(images) - 1, 0,
                                    key="inspect_upload_index"))
    return Picked(images[index:index + 1], notes, original)


def mnist_style_toggle(input_shape) -> bool:
    """The MNIST-style switch, shown for 28x28 grey models only (others never get it)."""
    if not applies_to(input_shape):
        return False
    return st.toggle("MNIST-style preprocessing", value=True, key="inspect_mnist_style",
                     help="As MNIST's digits were made: cut to the ink's bounding box, fitted into 20×20 keeping the "
                          "aspect ratio (anti-aliased) and placed in 28×28 with the centre of mass at the centre. "
                          "Off: the whole picture is shrunk to 28×28, and crisp, off-centre strokes look foreign to "
                          "the early layers (the MDL), so most drawings are called anomalies.")


def from_upload(input_shape, mnist_style: bool) -> Picked:
    # the limit is also server.maxUploadSize (.streamlit/config.toml), so a larger file is refused before it is received
    upload = st.file_uploader("Image or array", type=["png", "jpg", "jpeg", "npy"], key="inspect_upload",
                              max_upload_size=MAX_BYTES // 2**20)
    invert = st.radio("Invert colours", list(INVERT), horizontal=True, key="inspect_invert")
    if upload is None:
        return Picked()
    return _read(upload.name, upload.getvalue(), input_shape, INVERT[invert], mnist_style)


def from_canvas(input_shape, mnist_style: bool) -> Picked:
    """A drawing canvas (black pen on white paper); None while it is empty."""
    from streamlit_drawable_canvas import st_canvas

    st.caption("Draw one digit, large, in the middle. To undo or start again, move the pointer over the canvas: "
               "its undo and clear buttons appear at its top right.")
    width = st.slider("Pen width", 6, 40, STROKE, key="inspect_pen")
    result = st_canvas(stroke_width=width, stroke_color="#000000", background_color="#FFFFFF", height=CANVAS,
                       width=CANVAS, drawing_mode="freedraw", return_image_data=True, key="inspect_canvas")
    data = result.image_bytes
    if data is None or not (result.json_data or {}).get("objects"):  # nothing drawn yet
        return Picked()
    return _read("drawing.png", data, input_shape, True, mnist_style)  # a transparent ground reads as white
