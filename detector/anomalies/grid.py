"""A captioned picture grid of example images (``anomalies show`` and the dashboard)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

#: Smallest cell width in pixels; small images are scaled up by an integer factor.
MIN_CELL = 84
CAPTION_HEIGHT = 14
PAD = 4


def to_uint8_hwc(image: np.ndarray) -> np.ndarray:
    """(C, H, W) / (H, W) / (H, W, C) float in [0, 1] (or uint8) -> (H, W, 3) uint8."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
        image = image.transpose(1, 2, 0)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.dtype != np.uint8:
        image = (np.clip(image.astype(np.float32), 0, 1) * 255).round().astype(np.uint8)
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return image


def save_grid(images: np.ndarray | Sequence[np.ndarray], captions: Sequence[str], path: str | Path,
              ncols: int = 10) -> Path:
    """Write a PNG grid of images, each with a caption underneath (e.g. ``"pred 3 (99.9%)"``).

    Parameters
    ----------
    images : array-like
        (N, C, H, W) float in [0, 1] (also accepted: (N, H, W), (N, H, W, C), uint8).
    captions : sequence of str
        One caption per image.
    path : str or Path
        Output PNG; parent folders are created.
    ncols : int
        Images per row.

    Returns
    -------
    Path
        ``path``.
    """
    from PIL import Image, ImageDraw, ImageFont

    images = [to_uint8_hwc(image) for image in images]
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images but {len(captions)} captions")
    if not images:
        raise ValueError("no images to draw")
    height, width = images[0].shape[:2]
    scale = max(1, -(-MIN_CELL // width))  # nearest-neighbour upscaling keeps pixels crisp
    cell_w, cell_h = width * scale, height * scale
    ncols = max(1, min(ncols, len(images)))
    nrows = -(-len(images) // ncols)
    font = ImageFont.load_default()
    canvas = Image.new("RGB", (ncols * (cell_w + PAD) + PAD, nrows * (cell_h + CAPTION_HEIGHT + PAD) + PAD), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (image, caption) in enumerate(zip(images, captions)):
        row, col = divmod(i, ncols)
        x = PAD + col * (cell_w + PAD)
        y = PAD + row * (cell_h + CAPTION_HEIGHT + PAD)
        tile = Image.fromarray(image).resize((cell_w, cell_h), Image.NEAREST)
        canvas.paste(tile, (x, y))
        text = str(caption)
        while text and draw.textlength(text, font=font) > cell_w:  # cut captions wider than the cell
            text = text[:-1]
        draw.text((x, y + cell_h + 1), text, fill="black", font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, format="PNG")
    return path
