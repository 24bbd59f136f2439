"""Folders of pictures, read lazily: an anomaly set (every PNG / JPEG under a folder), and the splits of
an in-distribution dataset in torchvision's ``ImageFolder`` layout (:mod:`detector.data.id_folders`).

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
from ..inputs.images import MAX_VALUES, to_input_shape
from ..inputs.uploads import IMAGE_SUFFIXES, MAX_BYTES, read_picture
from ..runtime import BATCH_SIZE, Progress

log = logging.getLogger(__name__)
WORKERS_FROM = 256  # fewer pictures than this are read in this process: starting workers costs more

def picture_files(folder: str | Path) -> list[Path]:
    """Every PNG / JPEG under ``folder`` (sub-folders included), in a fixed (sorted) order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"image folder not found: {folder}")
    files = pictures_under(folder)
    if not files:
        raise DataError(f"{folder}: no PNG or JPEG files in it or its sub-folders")
    return files


def pictures_under(folder: Path) -> list[Path]:
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
                # a name's own bytes: a name that is not UTF-8 cannot be encoded as text
                digest.update(os.fsencode(os.path.abspath(path)) + f"\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
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
