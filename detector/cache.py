"""On-disk cache for expensive results (features, scores, attacks, projections, models).

Every entry is keyed by a dictionary describing *everything* that produced it (the model's
fingerprint: its weights and its outputs on a fixed probe batch, so its code too; data hash, layer,
parameters...) plus the version of the code that computed it:
:func:`code_hash` of the module that made it, found from its source and the sources it imports
from this package, with the versions of the libraries they import. The key is hashed into the
file name and stored inside the entry, and checked on every read: an entry whose stored key is
not the one asked for (a file copied over another, an entry of older code) is a miss. Writes are
atomic (temporary file + ``os.replace``); a file that cannot be read back is treated as missing:
it is removed, recomputed and a warning is logged. Temporary files a killed writer left behind
are removed once they are a day old.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import logging
import os
import secrets
import sys
import time
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np

log = logging.getLogger(__name__)

CACHE_ENV = "ANOMALY_CACHE_DIR"
PACKAGE_DIR = Path(__file__).resolve().parent  # detector/
DISTRIBUTION = "uniform-anomaly-detection"  # pyproject.toml's name, also the user cache folder's
ORPHAN_SECONDS = 24 * 3600  # a temporary file this old has lost its writer


def default_cache_dir() -> Path:
    """``cache/`` at the root of a checkout (a folder with pyproject.toml beside this package);
    installed elsewhere, the user's cache folder (platformdirs: ``~/.cache/uniform-anomaly-detection``
    on Linux), never inside the package, which may be read-only or shared by several users."""
    root = PACKAGE_DIR.parent
    if (root / "pyproject.toml").is_file():
        return root / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(DISTRIBUTION))


def cache_root() -> Path:
    """The cache directory: ``$ANOMALY_CACHE_DIR``, else :func:`default_cache_dir`."""
    root = os.environ.get(CACHE_ENV)
    path = Path(root) if root else default_cache_dir()
    path.mkdir(parents=True, exist_ok=True)
    _remove_orphans(str(path.resolve()))
    return path


@functools.lru_cache(maxsize=None)
def _remove_orphans(root: str) -> None:
    """Remove the temporary files of writes killed over a day ago (once per folder and process)."""
    now = time.time()
    for tmp in Path(root).rglob(".*.tmp"):
        try:
            if now - tmp.lstat().st_mtime > ORPHAN_SECONDS:
                tmp.unlink()
        except OSError:  # another process removed or replaced it meanwhile
            pass


# --------------------------------------------------------------------------- code versions
@functools.lru_cache(maxsize=1)
def _package_sources() -> dict[str, Path]:
    """Every module of this package by its dotted name (``detector.method.features``)."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


@functools.lru_cache(maxsize=None)
def _imports(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """(modules of this package, top-level names of other packages) that ``module``'s source imports,
    anywhere in the file. ``from . import x`` names the submodule ``x`` when there is one, else the
    package; a package's ``__init__`` is not read when only its submodules are imported."""
    modules = _package_sources()
    path = modules[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    own, other = set(), set()

    def add(name: str) -> None:
        if name in modules:
            own.add(name)
        elif name.partition(".")[0] != PACKAGE_DIR.name:
            other.add(name.partition(".")[0])

    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules]
            for name in submodules:
                own.add(name)
            if len(submodules) < len(node.names):
                add(base)
    return frozenset(own), frozenset(other)


@functools.lru_cache(maxsize=None)
def _library_version(top_level: str) -> str | None:
    """The installed version of the distribution that provides the import name ``top_level``
    (None for the standard library)."""
    if top_level in sys.stdlib_module_names:
        return None
    for distribution in _distributions().get(top_level, []):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return None


@functools.lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    return metadata.packages_distributions()


@functools.lru_cache(maxsize=None)
def code_hash(module: str) -> str:
    """Version of the code behind ``module`` (a dotted name in this package, e.g. ``__name__``):
    the hash of its source and of every module of the package it imports, directly or through
    others, with the versions of the libraries they import. Nothing is listed by hand, so a new,
    moved or renamed module is counted where it is imported; a change in any of them gives every
    entry made by ``module`` a new key."""
    if module not in _package_sources():
        raise ValueError(f"{module!r} is not a module of the {PACKAGE_DIR.name} package")
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_imports(name)[0])
    digest = hashlib.sha256()
    libraries = set()
    for name in sorted(seen):
        digest.update(f"{name}\n".encode() + _package_sources()[name].read_bytes())
        libraries |= _imports(name)[1]
    for library in sorted(libraries):
        digest.update(f"{library}=={_library_version(library)}\n".encode())
    return digest.hexdigest()[:16]


def canonical(key: dict) -> str:
    """The JSON text a key is hashed and stored as."""
    return json.dumps(key, sort_keys=True, default=str)


def hash_key(key: dict) -> str:
    """A stable short hash of a JSON-serialisable description."""
    return hashlib.sha256(canonical(key).encode()).hexdigest()[:20]


def hash_array(array: np.ndarray) -> str:
    """Content hash of an array (dtype, shape and bytes); a folder read lazily gives its own, from
    its files' paths, sizes and times (:meth:`detector.data.folders.FolderImages.content_hash`)."""
    if hasattr(array, "content_hash"):
        return array.content_hash()
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype}{array.shape}".encode())
    digest.update(array.data)
    return digest.hexdigest()[:20]


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


@dataclass(frozen=True)
class Entry:
    """One cache entry: its file and the whole key it is stored and checked under."""

    path: Path
    key: dict

    def load(self) -> dict[str, np.ndarray] | None:
        """The arrays stored here, or None when missing, unreadable (then removed), or stored under
        another key or without all of its arrays (a miss: the next save replaces it)."""
        if not self.path.exists():
            return None
        try:
            with open(self.path, "rb") as handle:
                if handle.read(4) != b"PK\x03\x04":  # np.load calls any other bytes "pickled data"
                    raise ValueError("not a NumPy .npz file")
            with np.load(self.path, allow_pickle=False) as data:
                stored = json.loads(str(data["__key__"])) if "__key__" in data.files else None
                if not isinstance(stored, dict) or canonical(stored.get("key", {})) != canonical(self.key) \
                        or not set(stored.get("arrays", [])) <= set(data.files):
                    _warn_once(self.path, "holds another entry (its stored key differs from the one asked for)")
                    return None
                return {name: data[name] for name in stored["arrays"]}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as error:
            _warn_once(self.path, f"is corrupt ({error})")
            self.path.unlink(missing_ok=True)
            return None

    def save(self, arrays: dict[str, np.ndarray]) -> None:
        """Store ``arrays`` with the key, atomically."""
        payload = {name: np.asarray(value) for name, value in arrays.items()}
        payload["__key__"] = np.array(canonical({"key": self.key, "arrays": sorted(arrays)}))

        def write(tmp: str) -> None:
            with open(tmp, "wb") as handle:
                np.savez(handle, **payload)

        atomic_write(self.path, write)

    def exists(self) -> bool:
        return self.path.exists()


_warned: set[Path] = set()


def _warn_once(path: Path, problem: str) -> None:
    if path not in _warned:
        _warned.add(path)
        log.warning("cache file %s %s; recomputing", path, problem)


def entry(kind: str, key: dict, *, code: str | None, suffix: str = ".npz") -> Entry:
    """The entry of ``kind`` under ``key``, versioned by the code of the module ``code`` (the caller's
    ``__name__``: see :func:`code_hash`). ``code=None`` only for what must outlive code changes on
    purpose (the seconds a benchmark cell took when it was first computed)."""
    full = {**key, "code": code_hash(code)} if code else dict(key)
    folder = cache_root() / kind
    folder.mkdir(parents=True, exist_ok=True)
    return Entry(folder / f"{hash_key(full)}{suffix}", full)


def entry_path(kind: str, key: dict, *, code: str | None, suffix: str = ".npz") -> Path:
    """Where an entry in a format of its own (a checkpoint, a saved detector) lies; see :func:`entry`."""
    return entry(kind, key, code=code, suffix=suffix).path


def cached_arrays(kind: str, key: dict, compute: Callable[[], dict[str, np.ndarray]], *,
                  code: str | None, valid: Callable[[dict], bool] | None = None) -> dict[str, np.ndarray]:
    """Load the arrays cached under ``key`` (and ``code``'s version) or compute, store and return them.
    ``valid`` says whether loaded arrays are what ``compute`` makes (names, shapes); when they are not
    (an entry crafted or written by other code under the right key), they are recomputed."""
    found = entry(kind, key, code=code)
    arrays = found.load()
    if arrays is not None and valid is not None and not valid(arrays):
        _warn_once(found.path, "does not hold the arrays asked for; recomputed")
        arrays = None
    if arrays is None:
        arrays = {name: np.asarray(value) for name, value in compute().items()}
        found.save(arrays)
    return arrays
