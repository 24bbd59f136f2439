"""A folder of pictures as an anomaly set: every PNG / JPEG under it, in the model's input shape.

The files are decoded and resized in a torch ``DataLoader`` (worker processes for large
folders), one picture at a time; each goes through the same checks as an upload
(:func:`detector.inspect.read_picture`: size from the header before decoding) and the same
conversion as every other set (:func:`detector.images.to_input_shape`: grey <-> RGB, resize).
Pictures are taken as they are: no inversion, no MNIST-style fitting.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .data import DataError
from .images import MAX_VALUES, to_input_shape
from .inspect import IMAGE_SUFFIXES, MAX_BYTES, read_picture

WORKERS_FROM = 256  # fewer pictures than this are read in this process: starting workers costs more


def picture_files(folder: str | Path) -> list[Path]:
    """Every PNG / JPEG under ``folder`` (sub-folders included), in a fixed (sorted) order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"image folder not found: {folder}")
    files = sorted(path for path in folder.rglob("*") if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{folder}: no PNG or JPEG files in it or its sub-folders")
    return files


class Pictures(Dataset):
    """The pictures of ``files``, each as a float32 tensor of ``shape`` (C, H, W) in [0, 1]."""

    def __init__(self, files: list[Path], shape: tuple[int, int, int]):
        self.files, self.shape = files, tuple(shape)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        """(picture, "") or (zeros, what is wrong with the file): an error raised in a worker
        process would reach the user wrapped in the worker's traceback."""
        path = self.files[index]
        try:
            if path.stat().st_size > MAX_BYTES:
                raise DataError(f"{path}: the file is {path.stat().st_size / 2**20:.1f} MB; the limit is {MAX_BYTES // 2**20} MB")
            image = read_picture(path.read_bytes(), str(path))
            return torch.from_numpy(to_input_shape(image, self.shape, str(path))[0]), ""
        except DataError as error:
            return torch.zeros(self.shape), str(error)


def load_image_folder(folder: str | Path, shape: tuple[int, int, int], workers: int | None = None,
                      progress: bool = False) -> np.ndarray:
    """All pictures under ``folder`` as one array (N, C, H, W) of the model's input shape."""
    files = picture_files(folder)
    if len(files) * int(np.prod(shape)) > MAX_VALUES:
        raise DataError(f"{folder}: {len(files):,} pictures of {shape} are more than the {MAX_VALUES:,} values "
                        "read at once (detector.images.MAX_VALUES); split the folder")
    if workers is None:
        workers = min(4, os.cpu_count() or 1) if len(files) >= WORKERS_FROM else 0
    loader = DataLoader(Pictures(files, shape), batch_size=64, num_workers=workers)
    batches = []
    for images, errors in tqdm(loader, desc=f"reading {Path(folder).name}", unit="batch", disable=not progress):
        if problems := [error for error in errors if error]:
            raise DataError(problems[0] + (f" (and {len(problems) - 1} more in this batch)" if len(problems) > 1 else ""))
        batches.append(images.numpy())
    return np.concatenate(batches).astype(np.float32)
