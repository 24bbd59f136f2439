"""One entry for every dataset: a built-in one by name, or a folder of pictures by its path."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from .datasets import DATASET_NAMES, LOADERS, Dataset, _check_split
from .id_folders import folder_input_shape, folder_splits


def is_image_folder(name: str) -> bool:
    """Whether ``name`` is a folder of pictures rather than a built-in dataset."""
    return name not in LOADERS and Path(name).is_dir()


def load_dataset(name: str, split: str, path: str | None = None) -> Dataset:
    """Load split ``train``/``val``/``test`` of a built-in dataset, or of an image folder (in its first
    picture's shape; :func:`detector.evaluation.experiment.load_experiment` reads it in the model's)."""
    _check_split(split)
    if is_image_folder(name):
        return folder_splits(name, folder_input_shape(name))[split]
    if name not in LOADERS:
        if os.sep in name or "/" in name:
            raise DataError(f"image folder not found: {name}")
        raise DataError(f"unknown dataset {name!r}; valid names: {', '.join(DATASET_NAMES)}, or a folder of pictures "
                        "with one sub-folder per class")
    images, labels = LOADERS[name](split, path)
    return Dataset(name, split, np.ascontiguousarray(images, dtype=np.float32), labels)


def dataset_available(name: str) -> bool:
    """Whether a built-in dataset's files can be read here (any other name is taken as available)."""
    if name not in DATASET_NAMES:
        return True
    try:
        load_dataset(name, "test")
        return True
    except DataError:
        return False
