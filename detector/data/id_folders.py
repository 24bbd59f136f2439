"""An in-distribution dataset in a folder: torchvision's ``ImageFolder`` layout (:data:`LAYOUT_HELP`),
its class order and its train / validation / test splits, whose pictures :mod:`detector.data.folders` reads."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import DataError, printable
from ..inputs.images import GREY_MODES, MAX_VALUES
from ..runtime import Progress, subsample
from .datasets import SEED, SPLITS, Dataset, _stratified_split
from .folders import FolderImages, pictures_under

log = logging.getLogger(__name__)

# one ImageFolder folder without train/ and test/ inside is split seeded and stratified:
TEST_SHARE, VAL_SHARE, VAL_MAX = 0.1, 0.1, 5000
SPLIT_HELP = "10 % test, 10 % validation (at most 5,000 pictures), the rest train"
CLASS_ORDER_FILE = "classes.txt"  # in an ID folder: its class sub-folders in the model's output order, one a line
LAYOUT_HELP = ("one sub-folder of PNG / JPEG pictures per class (torchvision's ImageFolder layout; class names "
               "are the sub-folder names, in sorted order unless the folder holds a classes.txt with one name a "
               "line in the model's output order), either inside train/ and test/ (and val/; without it the "
               f"validation split is taken from train/) or split seeded and stratified: {SPLIT_HELP}")


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
        pictures = pictures_under(folder / name)
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


def read_text_file(path: str | Path, what: str = "a text file of names, one a line") -> str:
    """A small UTF-8 text file (a classes.txt); DataError naming it when it is not one."""
    path = Path(path)
    try:
        if path.stat().st_size > 1 << 20:
            raise DataError(f"{printable(path)}: {path.stat().st_size:,} bytes is too large for {what}")
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{printable(path)}: not UTF-8 text (byte {error.object[error.start]:#04x} at offset "
                        f"{error.start}); expected {what}") from None
    except OSError as error:
        raise DataError(f"{printable(path)}: cannot read it ({error.strerror or error})") from None


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
        class_names = [line.strip() for line in read_text_file(path).splitlines() if line.strip()]
        source = printable(path)
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
