"""Which models and image folders a browser session may read: the built-ins, or files inside the
folders chosen by whoever starts the server (``$DASHBOARD_MODEL_DIR`` for models,
``$DASHBOARD_DATA_DIR`` for folders of pictures). The command line is not limited."""

from __future__ import annotations

import os
from pathlib import Path

from detector.data.datasets import DATASET_NAMES
from detector.errors import DataError, ModelError
from detector.models.classifiers import BUILTIN

MODEL_DIR_ENV = "DASHBOARD_MODEL_DIR"
DATA_DIR_ENV = "DASHBOARD_DATA_DIR"


def _inside(folder: Path, name: str, what: str = "model", error: type[Exception] = ModelError) -> Path:
    """``name`` (relative to ``folder``, or absolute) resolved, when it lies inside ``folder``."""
    if ".." in Path(name).parts:
        raise error(f"{name}: '..' is not allowed in a {what} path")
    path = (folder / name).resolve()  # follows symbolic links, so that one pointing out is caught below
    if not path.is_relative_to(folder):
        raise error(f"{name} is outside the {what} folder {folder}; only files inside it may be loaded")
    return path


def dashboard_model(spec: str, weights: str | None) -> tuple[str, str | None]:
    """The model spec and weights a browser session may load: a built-in, or files inside the
    folder ``$DASHBOARD_MODEL_DIR`` chosen by whoever starts the server (none when unset).

    Loading a user model runs its Python file, so the dashboard must not take any path typed
    into it. Relative paths are taken inside the folder.
    """
    if spec in BUILTIN:
        return spec, weights
    root = os.environ.get(MODEL_DIR_ENV)
    if not root:
        raise ModelError(f"user models are off in this dashboard; whoever starts the server can allow the files of one "
                         f"folder with {MODEL_DIR_ENV}=/path/to/models")
    if ":" not in spec:
        raise ModelError(f"a user model is given as file.py:factory, got {spec!r}")
    folder = Path(root).resolve()
    file, factory = spec.rsplit(":", 1)
    return f"{_inside(folder, file)}:{factory}", str(_inside(folder, weights)) if weights else None


def dashboard_model_help() -> str:
    """The sidebar's help on where user models may come from."""
    root = os.environ.get(MODEL_DIR_ENV)
    if not root:
        return (f"User models are off: loading one runs its Python file on the server. Start the server with "
                f"{MODEL_DIR_ENV}=/path/to/models to allow the files in that folder.")
    return (f"A file.py:factory inside {Path(root).resolve()} (set by whoever started the server with {MODEL_DIR_ENV}); "
            "paths are relative to it; '..' and symbolic links out of it are refused.")


def dashboard_folder(name: str) -> str:
    """A folder of pictures a browser session may read (an ID dataset or an anomaly set): inside
    ``$DASHBOARD_DATA_DIR``, chosen by whoever starts the server (none when unset), so that a
    browser cannot make the server read any folder. Relative paths are taken inside it."""
    root = os.environ.get(DATA_DIR_ENV)
    if not root:
        raise DataError(f"image folders are off in this dashboard; whoever starts the server can allow the folders "
                        f"inside one folder with {DATA_DIR_ENV}=/path/to/pictures")
    folder = Path(root).resolve()
    name = name.strip()
    try:
        path = _inside(folder, name, "picture", DataError)
        if not path.is_dir():
            raise DataError(f"image folder not found: {name} (inside {folder})")
        _no_links_out(path, folder, name)
    except ValueError as error:  # DataError, or a NUL in the name
        if isinstance(error, DataError):
            raise
        raise DataError(f"{name}: not a usable folder name ({error})") from None
    except (OSError, RuntimeError) as error:  # a loop of symbolic links, a name longer than the system allows...
        # never the message itself: it names the server's path
        reason = error.strerror if isinstance(error, OSError) and error.strerror else "a loop of symbolic links"
        raise DataError(f"{name}: cannot be opened ({reason})") from None
    return str(path)


def _no_links_out(path: Path, root: Path, name: str) -> None:
    """Refuse the folder ``path`` when a symbolic link anywhere under it (a class folder, a sub-folder, a
    picture) points outside ``root``: the readers follow a class folder that is a link and open a picture
    that is one, so checking the top folder alone let a nested link read any folder on the server.

    Every link is resolved, whether or not the readers would follow it (a link out is refused even where
    nothing is read through it: one rule, easy to state); links that stay inside are followed and their
    targets checked in turn, each real folder once (links that loop are fine).
    """
    seen, todo = set(), [path]
    while todo:
        folder = todo.pop()
        if folder in seen:
            continue
        seen.add(folder)
        try:
            entries = list(os.scandir(folder))
        except OSError:  # unreadable: the reader says so when it lists the folder
            continue
        for entry in entries:
            if entry.is_symlink():
                target = Path(entry.path).resolve()
                if not target.is_relative_to(root):
                    shown = os.path.relpath(entry.path, root)
                    raise DataError(f"{name}: {shown} is a symbolic link to {target}, outside the picture folder {root}; "
                                    "only files inside it may be read")
                if target.is_dir():
                    todo.append(target)
            elif entry.is_dir(follow_symlinks=False):
                todo.append(Path(entry.path))


def dashboard_id_dataset(name: str | None) -> str | None:
    """A built-in dataset name as it is; anything else is an image folder, checked by :func:`dashboard_folder`."""
    return name if not name or name in DATASET_NAMES else dashboard_folder(name)


def dashboard_data_help() -> str:
    """The sidebar's help on where image folders may come from."""
    root = os.environ.get(DATA_DIR_ENV)
    if not root:
        return (f"Image folders are off: start the server with {DATA_DIR_ENV}=/path/to/pictures to allow the folders "
                "inside that folder.")
    return (f"A folder inside {Path(root).resolve()} (set by whoever started the server with {DATA_DIR_ENV}); paths "
            "are relative to it; '..' and symbolic links out of it, at any depth, are refused.")
