"""On-disk cache for expensive results (features, scores, attacks, projections, models).

Every entry is keyed by a dictionary describing *everything* that produced it
(model weights hash, data hash, layer, parameters...). The key is hashed into the
file name, so a change in any ingredient gives a new entry. Writes are atomic
(temporary file + ``os.replace``) and a file that cannot be read back is treated
as missing: it is removed, recomputed and a warning is logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

log = logging.getLogger(__name__)

CACHE_ENV = "ANOMALY_CACHE_DIR"


def cache_root() -> Path:
    """The cache directory: ``$ANOMALY_CACHE_DIR`` or ``cache/`` at the project root."""
    root = os.environ.get(CACHE_ENV)
    path = Path(root) if root else Path(__file__).resolve().parent.parent / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def hash_key(key: dict) -> str:
    """A stable short hash of a JSON-serialisable description."""
    blob = json.dumps(key, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def hash_array(array: np.ndarray) -> str:
    """Content hash of an array (dtype, shape and bytes); a folder read lazily gives its own, from
    its files' paths, sizes and times (:meth:`detector.folders.FolderImages.content_hash`)."""
    if hasattr(array, "content_hash"):
        return array.content_hash()
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype}{array.shape}".encode())
    digest.update(array.data)
    return digest.hexdigest()[:20]


def entry_path(kind: str, key: dict, suffix: str = ".npz") -> Path:
    folder = cache_root() / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{hash_key(key)}{suffix}"


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then move the file into place in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = str(path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp")
    # os.open applies the umask to 0o666 (0644 under the usual 022), as open() would; mkstemp's
    # 0600 made cache entries unreadable to anyone else sharing the cache
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_arrays(path: Path, arrays: dict[str, np.ndarray], key: dict | None = None) -> None:
    payload = dict(arrays)
    if key is not None:
        payload["__key__"] = np.array(json.dumps(key, sort_keys=True, default=str))

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **payload)

    atomic_write(path, write)


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays stored at ``path``, or None when missing or unreadable (then removed)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files if name != "__key__"}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as error:
        log.warning("cache file %s is corrupt (%s); recomputing", path, error)
        path.unlink(missing_ok=True)
        return None


def cached_arrays(kind: str, key: dict, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Load the arrays cached under ``key`` or compute, store and return them."""
    path = entry_path(kind, key)
    arrays = load_arrays(path)
    if arrays is None:
        arrays = {name: np.asarray(value) for name, value in compute().items()}
        save_arrays(path, arrays, key)
    return arrays
