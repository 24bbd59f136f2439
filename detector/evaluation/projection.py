"""2-D UMAP projections of layer features (the paper's Figs 2-6), cached on disk.

As in the paper's figures, a projection is fitted on *all* the points it shows (ID and
anomalies together): UMAP's ``transform`` misplaces points far from its training data.
The per-class views fit one projection per predicted class on that class's points only.
Features are not standardised (as the authors did); their ``min_dist`` was 0.8.

Every projection is stored under ``cache/projections`` keyed by the model's fingerprint,
the hashes of the shown inputs, the layer, the UMAP parameters and the features' hash.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import sys
import threading
from typing import Callable

import numpy as np

from .. import cache

log = logging.getLogger(__name__)

DEFAULT_NEIGHBORS = 15
DEFAULT_MIN_DIST = 0.8  # the authors' value for the paper's figures
_warm = threading.Event()
_warming: threading.Thread | None = None  # the one warm-up thread of this process
_warming_lock = threading.Lock()
_import_lock = threading.Lock()  # one thread at a time swaps numba's decorators
_key_locks: dict[str, threading.Lock] = {}  # one per projection: two threads asking for it fit it once
_key_locks_lock = threading.Lock()


@contextlib.contextmanager
def _numba_disk_cache():
    """``numba.njit`` and ``numba.vectorize`` with ``cache=True`` by default, while inside.

    UMAP compiles its functions anew in every process (about 20 s on 2 cores, before its first
    projection); pynndescent already caches most of its own. Declared with ``cache=True``, they
    are compiled once and then read from numba's cache: ``__pycache__`` beside UMAP's sources
    when writable, else the user's cache folder, or ``$NUMBA_CACHE_DIR`` when set (numba's own
    rules; its cache is keyed by source file, signature and CPU, and refreshed when a source
    changes). Functions numba cannot cache are compiled as before.
    """
    import numba

    originals = {name: getattr(numba, name) for name in ("njit", "vectorize")}

    def ours(func) -> bool:
        """UMAP's and pynndescent's own functions only: another thread may import another library
        meanwhile (ART's jitclasses make functions from strings, which numba refuses to cache)."""
        return (getattr(func, "__module__", None) or "").split(".")[0] in ("umap", "pynndescent")

    def cached(decorator):
        def wrapper(*args, **kwargs):
            if args and inspect.isfunction(args[0]):  # @njit without options
                return decorator(*args, **{"cache": ours(args[0]), **kwargs})

            def apply(func):  # @njit(options): the function comes now
                return decorator(*args, **{"cache": ours(func), **kwargs})(func)
            return apply
        return wrapper

    for name, decorator in originals.items():
        setattr(numba, name, cached(decorator))
    try:
        yield
    finally:
        for name, decorator in originals.items():
            setattr(numba, name, decorator)


def import_umap():
    """``umap``, imported with its numba functions cached on disk (:func:`_numba_disk_cache`)."""
    with _import_lock:
        with contextlib.nullcontext() if "umap" in sys.modules else _numba_disk_cache():
            import umap
    return umap


def warm_up() -> None:
    """Compile UMAP's numba functions on a tiny problem (call once at start-up, off the main path);
    after the first run in this environment they come from numba's disk cache (seconds)."""
    if _warm.is_set():
        return
    umap = import_umap()

    data = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    umap.UMAP(n_neighbors=5, n_epochs=20, random_state=0, n_jobs=1).fit_transform(data)
    _warm.set()


def warm_up_in_background() -> threading.Thread:
    """Start :func:`warm_up` in a daemon thread, once per process: the server's start-up
    (``python -m dashboard``) and the first session both ask, and two compilations at once
    would halve the speed of each on a small machine."""
    global _warming
    with _warming_lock:
        if _warming is None:
            _warming = threading.Thread(target=warm_up, name="umap-warm-up", daemon=True)
            _warming.start()
        return _warming


def _key(what: str, key: dict, layer: str, features: np.ndarray, n_neighbors: int, min_dist: float, seed: int) -> dict:
    return {"what": what, **key, "layer": layer, "features": cache.hash_array(features), "n_neighbors": int(n_neighbors),
            "min_dist": float(min_dist), "seed": int(seed)}


def fit_umap(features: np.ndarray, n_neighbors: int = DEFAULT_NEIGHBORS, min_dist: float = DEFAULT_MIN_DIST,
             seed: int = 0) -> np.ndarray:
    """UMAP embedding (N, 2) of ``features``; tiny sets fall back to a scaled PCA (or zeros)."""
    features = np.asarray(features, dtype=np.float32)
    n = len(features)
    if n < 5:
        out = np.zeros((n, 2), dtype=np.float32)
        if n > 1:
            centred = features - features.mean(0)
            _, _, vt = np.linalg.svd(centred, full_matrices=False)
            out[:, : min(2, len(vt))] = centred @ vt[:2].T
        return out
    umap = import_umap()

    # seeded on purpose (the same points, the same picture), which makes UMAP single-threaded: n_jobs=1
    # says so and spares a warning per projection (22 warning boxes in the tour's exported HTML)
    reducer = umap.UMAP(n_neighbors=int(min(n_neighbors, n - 1)), min_dist=float(min_dist), random_state=seed,
                        n_jobs=1, init="spectral" if n > 20 else "random")
    return reducer.fit_transform(features).astype(np.float32)


def _cached_projection(full: dict, compute, n: int) -> np.ndarray:
    """The projection of ``full`` (``n`` points) from the disk cache, computed by one thread at a time (the
    server's preload, ``dashboard/preload.py``, and a first session may ask for it together)."""
    def valid(arrays: dict) -> bool:
        return "xy" in arrays and arrays["xy"].shape == (n, 2) and arrays["xy"].dtype.kind == "f"

    with _key_locks_lock:
        lock = _key_locks.setdefault(cache.hash_key(full), threading.Lock())
    with lock:
        return cache.cached_arrays("projections", full, compute, code=__name__, valid=valid)["xy"]


def is_cached(key: dict, layer: str, features: np.ndarray, n_neighbors: int, min_dist: float, seed: int = 0,
              per_class: bool = False) -> bool:
    what = "umap-per-class" if per_class else "umap"
    return cache.entry("projections", _key(what, key, layer, features, n_neighbors, min_dist, seed), code=__name__).exists()


def project(features: np.ndarray, key: dict, layer: str, n_neighbors: int = DEFAULT_NEIGHBORS,
            min_dist: float = DEFAULT_MIN_DIST, seed: int = 0) -> np.ndarray:
    """One projection of all points, cached. ``key`` names the inputs (model hash, set hashes)."""
    full = _key("umap", key, layer, features, n_neighbors, min_dist, seed)
    return _cached_projection(full, lambda: {"xy": fit_umap(features, n_neighbors, min_dist, seed)}, len(features))


def project_per_class(features: np.ndarray, classes: np.ndarray, key: dict, layer: str,
                      n_neighbors: int = DEFAULT_NEIGHBORS, min_dist: float = DEFAULT_MIN_DIST, seed: int = 0,
                      progress: Callable[[float, str], None] | None = None) -> np.ndarray:
    """One projection per predicted class, fitted on that class's points only; cached as a whole."""
    full = _key("umap-per-class", key, layer, features, n_neighbors, min_dist, seed)
    classes = np.asarray(classes)

    def compute():
        xy = np.zeros((len(features), 2), dtype=np.float32)
        labels = np.unique(classes)
        for k, c in enumerate(labels):
            if progress:
                progress(k / len(labels), f"{layer}: class {c} ({k + 1}/{len(labels)})")
            rows = classes == c
            xy[rows] = fit_umap(features[rows], n_neighbors, min_dist, seed)
        if progress:
            progress(1.0, f"{layer}: done")
        return {"xy": xy}

    return _cached_projection(full, compute, len(features))
