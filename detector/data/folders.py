"""Folders of pictures: an anomaly set (every PNG / JPEG under a folder) or an in-distribution
dataset in torchvision's ``ImageFolder`` layout, read lazily.

The files are decoded and resized in a torch ``DataLoader`` (worker processes for large
folders), one picture at a time; each goes through the same checks as an upload
(:func:`detector.inputs.uploads.read_picture`: size from the header before decoding) and the same
conversion as every other set (:func:`detector.inputs.images.to_input_shape`: grey <-> RGB, resize).
Pictures are taken as they are: no inversion, no MNIST-style fitting.

An ID folder's big splits stay on disk (:class:`FolderImages`): a pass over them streams
batches through the model, so only their features stay in memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import logging
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset as TorchDataset
from tqdm.auto import tqdm

from ..cache import code_hash
from ..errors import DataError
from ..inputs.images import GREY_MODES, MAX_VALUES, to_input_shape
from ..inputs.uploads import IMAGE_SUFFIXES, MAX_BYTES, read_picture
from ..runtime import BATCH_SIZE, Progress, subsample
from .datasets import SEED, SPLITS, Dataset, _stratified_split

log = logging.getLogger(__name__)
WORKERS_FROM = 256  # fewer pictures than this are read in this process: starting workers costs more
# one ImageFolder folder without train/ and test/ inside is split seeded and stratified:
TEST_SHARE, VAL_SHARE, VAL_MAX = 0.1, 0.1, 5000
SPLIT_HELP = "10 % test, 10 % validation (at most 5,000 pictures), the rest train"
CLASS_ORDER_FILE = "classes.txt"  # in an ID folder: its class sub-folders in the model's output order, one a line
LAYOUT_HELP = ("one sub-folder of PNG / JPEG pictures per class (torchvision's ImageFolder layout; class names "
               "are the sub-folder names, in sorted order unless the folder holds a classes.txt with one name a "
               "line in the model's output order), either inside train/ and test/ (and val/; without it the "
               f"validation split is taken from train/) or split seeded and stratified: {SPLIT_HELP}")

def picture_files(folder: str | Path) -> list[Path]:
    """Every PNG / JPEG under ``folder`` (sub-folders included), in a fixed (sorted) order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"image folder not found: {folder}")
    files = _pictures_under(folder)
    if not files:
        raise DataError(f"{folder}: no PNG or JPEG files in it or its sub-folders")
    return files


def _pictures_under(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES)


class Pictures(TorchDataset):
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
        except OSError as error:  # removed or unreadable since it was listed
            return torch.zeros(self.shape), f"{path}: cannot read it ({error.strerror or error})"


def _libc_trim():
    """glibc's ``malloc_trim``, or None elsewhere."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _libc_trim()


def _stream(files: list[Path], shape: tuple[int, int, int], batch_size: int, workers: int | None,
            what: str = "", progress: Progress = False) -> Iterator[np.ndarray]:
    """The pictures of ``files`` batch after batch, shown as ``progress`` says under the label ``what``."""
    if workers is None:
        workers = min(4, os.cpu_count() or 1) if len(files) >= WORKERS_FROM else 0
    loader = DataLoader(Pictures(files, shape), batch_size=batch_size, num_workers=workers)
    report = progress if callable(progress) else None
    done = 0
    with tqdm(total=len(files), desc=what, unit="img", disable=progress is not True, smoothing=0.1) as bar:
        for images, errors in loader:
            if problems := [error for error in errors if error]:
                raise DataError(problems[0] + (f" (and {len(problems) - 1} more in this batch)" if len(problems) > 1 else ""))
            done += len(images)
            bar.update(len(images))
            if report:
                report(done, len(files), what)
            yield images.numpy()
            if _TRIM is not None:
                # the model's activations of a batch (tens of MB) are freed into glibc's heap, between
                # small blocks that stay: without giving the free pages back, peak memory grew with the
                # number of batches (+365 MB scoring 20,000 pictures); this costs about a millisecond
                _TRIM(0)


class FolderImages:
    """Pictures on disk as a read-only float32 array (N, C, H, W) in [0, 1] of a model's input shape, read lazily.

    Nothing is decoded until asked: ``len``, ``shape`` and the cache key (:meth:`content_hash`: the
    files' paths, sizes and modification times, not their pixels) come from the file list;
    ``images[a:b]`` or ``images[rows]`` decodes just those pictures; :meth:`batches` is one streaming
    pass (worker processes, a progress bar with rate and ETA), which is how features are extracted.
    ``np.asarray(images)`` reads them all, refused above :data:`MAX_VALUES` values: for the code that
    needs every pixel at once (attacks on the test split, baselines that fine-tune the classifier).
    """

    ndim = 4
    dtype = np.dtype(np.float32)

    def __init__(self, files: list[Path], shape: tuple[int, int, int], name: str = "pictures",
                 progress: Progress = False, workers: int | None = None):
        self.files, self.image_shape, self.name = list(files), tuple(int(s) for s in shape), name
        self.progress, self.workers = progress, workers
        self._hash: str | None = None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.files), *self.image_shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return f"FolderImages({self.name!r}, shape={self.shape})"

    def content_hash(self) -> str:
        """The cache key of these pictures in this shape, from the files' paths, sizes and modification
        times: hashing the pixels would mean decoding every picture before the cache can answer."""
        if self._hash is None:
            # the reader's code (decoding, resizing) is part of the key: a change there is new data
            digest = hashlib.sha256(f"folder-images/{code_hash(__name__)}{self.shape}".encode())
            for path in self.files:
                stat = path.stat()
                digest.update(f"{os.path.abspath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
            self._hash = digest.hexdigest()[:20]
        return self._hash

    def subset(self, index) -> "FolderImages":
        """The pictures at ``index`` (as numpy indexes rows), still on disk."""
        rows = np.arange(len(self))[index]
        return FolderImages([self.files[i] for i in rows], self.image_shape, self.name, self.progress, self.workers)

    def batches(self, batch_size: int = BATCH_SIZE, what: str = "reading") -> Iterator[np.ndarray]:
        """One pass over every picture in order, ``batch_size`` at a time, shown as :attr:`progress` says."""
        yield from _stream(self.files, self.image_shape, batch_size, self.workers, f"{what} {self.name}", self.progress)

    def read(self, what: str = "reading") -> np.ndarray:
        """Every picture in memory, as one array (refused above MAX_VALUES values)."""
        if self.size > MAX_VALUES:
            raise DataError(f"{self.name}: {len(self):,} pictures of {self.image_shape} are more than the {MAX_VALUES:,} "
                            "values read at once (detector.inputs.images.MAX_VALUES); split the folder")
        parts = list(self.batches(64, what))  # small batches: the peak is the result plus one batch
        return np.concatenate(parts) if parts else np.zeros(self.shape, np.float32)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        images = self.read()
        return images if dtype is None else images.astype(dtype, copy=False)

    def __getitem__(self, index):
        rest = ()
        if isinstance(index, tuple):
            index, rest = index[0], index[1:]
        if isinstance(index, (int, np.integer)):
            picked, rest = self.subset([index]), (0, *rest)
        else:
            picked, rest = self.subset(index), (slice(None), *rest)
        parts = list(_stream(picked.files, self.image_shape, 64, 0 if len(picked) < WORKERS_FROM else self.workers))
        images = np.concatenate(parts) if parts else np.zeros(picked.shape, np.float32)
        return images[rest]


def load_image_folder(folder: str | Path, shape: tuple[int, int, int], workers: int | None = None,
                      progress: Progress = False) -> np.ndarray:
    """All pictures under ``folder`` as one array (N, C, H, W) of the model's input shape."""
    files = picture_files(folder)
    return FolderImages(files, shape, Path(folder).name, progress, workers).read()


# --------------------------------------------------------------------------- an ID dataset in a folder
def class_folders(folder: str | Path, classes: list[str] | None = None) -> tuple[list[str], list[Path], np.ndarray]:
    """ImageFolder layout: (class names = the sub-folder names, sorted; picture files; their labels).

    With ``classes`` (those of train/), the folder's class folders must be among them and the
    labels are their positions there.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"image folder not found: {folder}")
    found = _sub_folders(folder)
    if not found:
        raise DataError(f"{folder}: no class sub-folders; an ID image folder holds one sub-folder of PNG / JPEG "
                        "pictures per class (or train/ and test/ folders in that layout)")
    if classes is not None and (unknown := [name for name in found if name not in classes]):
        raise DataError(f"{folder}: class folder(s) {', '.join(unknown)} are not in train/ ({', '.join(classes)})")
    classes = found if classes is None else classes
    files, labels, empty = [], [], []
    for name in found:
        pictures = _pictures_under(folder / name)
        if not pictures:
            empty.append(name)
        files += pictures
        labels += [classes.index(name)] * len(pictures)
    if not files:
        raise DataError(f"{folder}: no PNG or JPEG files in its class folders ({', '.join(found[:5])}"
                        f"{', ...' if len(found) > 5 else ''})")
    if empty:  # as torchvision's ImageFolder: a class without pictures is a mistake, not a class to skip
        raise DataError(f"{folder}: class folder(s) {', '.join(empty)} hold no PNG or JPEG pictures")
    return classes, files, np.asarray(labels, dtype=np.int64)


def _sub_folders(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.is_dir() and not path.name.startswith("."))


def class_order(folder: str | Path, class_names: list[str] | None = None) -> list[str] | None:
    """The model's class order for an ID folder: ``class_names`` when given, else the names in the folder's
    ``classes.txt`` (one sub-folder name a line), else None (sorted names, torchvision's ImageFolder order).

    A model trained with another order (Fashion-MNIST's labels: T-shirt, trouser, pullover, ...) scored
    38 % on its own pictures read in sorted order. Every class sub-folder is named once."""
    folder = Path(folder)
    source = "class names"
    if class_names is None:
        path = folder / CLASS_ORDER_FILE
        if not path.is_file():
            return None
        class_names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        source = str(path)
    names = [str(name) for name in class_names]
    found = _sub_folders(folder / "train" if has_split_folders(folder) else folder)
    problems = [f"{label}: {', '.join(items)}" for label, items in (
        ("named twice", sorted({name for name in names if names.count(name) > 1})),
        ("no such class sub-folder", [name for name in names if name not in found]),
        ("sub-folder(s) not named", [name for name in found if name not in names])) if items]
    if problems:
        raise DataError(f"{source} ({', '.join(names)}): {'; '.join(problems)}; name each class sub-folder once, in "
                        f"the model's output order (sub-folders: {', '.join(found)})")
    return names


def has_split_folders(folder: str | Path) -> bool:
    """Whether ``folder`` holds train/ and test/ (each in ImageFolder layout) rather than class folders."""
    return (Path(folder) / "train").is_dir() and (Path(folder) / "test").is_dir()


def _val_sizes(n: int, n_classes: int) -> dict[str, int]:
    return {"test": max(n_classes, round(TEST_SHARE * n)), "val": min(VAL_MAX, max(n_classes, round(VAL_SHARE * n)))}


def _split(folder: Path, labels: np.ndarray, sizes: dict[str, int], what: str) -> dict[str, np.ndarray]:
    try:
        return _stratified_split(labels, sizes) if "test" in sizes else _train_val(labels, sizes["val"])
    except ValueError as error:  # scikit-learn: too few pictures of a class for a stratified split
        counts = np.bincount(labels)
        raise DataError(f"{folder}: {len(labels)} pictures ({counts.min()} in the smallest class) are too few to split "
                        f"{what} with every class in each part ({error})") from None


def _train_val(labels: np.ndarray, n_val: int) -> dict[str, np.ndarray]:
    from sklearn.model_selection import train_test_split

    train, val = train_test_split(np.arange(len(labels)), test_size=n_val, stratify=labels, random_state=SEED)
    return {"train": np.sort(train), "val": np.sort(val)}


def folder_splits(folder: str | Path, shape: tuple[int, int, int], progress: Progress = False,
                  class_names: list[str] | None = None) -> dict[str, Dataset]:
    """The train / val / test splits of an ID image folder (see :data:`LAYOUT_HELP`) in the model's
    input ``shape``, labelled in the class order of :func:`class_order` (``class_names``, classes.txt or
    sorted names). train and test stay on disk (:class:`FolderImages`); the validation split is
    read into memory: the mix set, the generated anomalies and the attacks of the baselines are made
    from its pixels. It is at most 5,000 pictures when split here, and cut to a seeded subset of
    :data:`MAX_VALUES` values (with a warning) when a val/ folder is larger."""
    folder = Path(folder)
    name = str(folder)
    order = class_order(folder, class_names)
    if has_split_folders(folder):
        classes, train_files, train_labels = class_folders(folder / "train")
        parts = {"train": (train_files, train_labels), "test": class_folders(folder / "test", classes)[1:]}
        if (folder / "val").is_dir():
            parts["val"] = class_folders(folder / "val", classes)[1:]
        else:  # the validation split comes from train/, as for the built-in datasets
            sizes = {"val": _val_sizes(len(train_labels), len(classes))["val"]}
            index = _split(folder / "train", train_labels, sizes, "into train / validation")
            for split in ("train", "val"):
                parts[split] = ([train_files[i] for i in index[split]], train_labels[index[split]])
    else:
        classes, files, labels = class_folders(folder)
        index = _split(folder, labels, _val_sizes(len(labels), len(classes)), f"into train / val / test ({SPLIT_HELP})")
        parts = {split: ([files[i] for i in index[split]], labels[index[split]]) for split in SPLITS}
    limit = MAX_VALUES // int(np.prod(shape))
    if len(parts["val"][1]) > limit:
        keep = subsample(len(parts["val"][1]), limit, SEED)
        log.warning("%s: the validation split is cut from %d to a seeded %d pictures, the most that are held in memory "
                    "(detector.inputs.images.MAX_VALUES)", name, len(parts["val"][1]), limit)
        parts["val"] = ([parts["val"][0][i] for i in keep], parts["val"][1][keep])
    # split on the sorted names' labels, then relabelled: the same pictures in each split whatever the order
    relabel = np.array([order.index(name) for name in classes]) if order else np.arange(len(classes))
    splits = {}
    for split in SPLITS:
        files, labels = parts[split]
        images = FolderImages(files, shape, f"{name} ({split})", progress)
        splits[split] = Dataset(name, split, images.read() if split == "val" else images, relabel[labels],
                                list(order or classes))
    return splits


def folder_input_shape(folder: str | Path) -> tuple[int, int, int]:
    """(C, H, W) of the first picture of an ID folder (sorted paths; grey pictures give C = 1): the input
    shape of a user model that declares none."""
    from PIL import Image

    folder = Path(folder)
    first = class_folders(folder / "train" if has_split_folders(folder) else folder)[1][0]
    try:
        with Image.open(first) as picture:  # the header only
            channels = 1 if picture.mode in GREY_MODES else 3  # as picture_values reads it
            return channels, picture.height, picture.width
    except Exception as error:
        raise DataError(f"{first}: not a readable picture ({error.__class__.__name__})") from None
