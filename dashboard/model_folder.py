"""Which models a browser session may load: the built-ins, or files inside one folder chosen by
whoever starts the server (``$DASHBOARD_MODEL_DIR``). The command line is not limited."""

from __future__ import annotations

import os
from pathlib import Path

from detector.models import BUILTIN, ModelError

MODEL_DIR_ENV = "DASHBOARD_MODEL_DIR"


def _inside(folder: Path, name: str) -> Path:
    """``name`` (relative to ``folder``, or absolute) resolved, when it lies inside ``folder``."""
    if ".." in Path(name).parts:
        raise ModelError(f"{name}: '..' is not allowed in a model path")
    path = (folder / name).resolve()  # follows symbolic links, so that one pointing out is caught below
    if not path.is_relative_to(folder):
        raise ModelError(f"{name} is outside the model folder {folder}; only files inside it may be loaded")
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
