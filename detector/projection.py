"""2-D UMAP projections of layer features (the paper's Figs 2-6), cached on disk.

As in the paper's figures, a projection is fitted on *all* the points it shows (ID and
anomalies together): UMAP's ``transform`` misplaces points far from its training data.
The per-class views fit one projection per predicted class on that class's points only.
Features are not standardised (as the authors did); their ``min_dist`` was 0.8.

Every projection is stored under ``cache/projections`` keyed by the model's weights hash,
the hashes of the shown inputs, the layer, the UMAP parameters and the features' hash.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

import numpy as np

from . import cache

log = logging.getLogger(__name__)

DEFAULT_NEIGHBORS = 15
DEFAULT_MIN_DIST = 0.8  # the authors' value for the paper's figures
VERSION = 1
_warm = threading.Event()
_warming: threading.Thread | None = None  # the one warm-up thread of this process
_warming_lock = threading.Lock()


def warm_up() -> None:
    """Compile UMAP's numba functions on a tiny problem (call once at start-up, off the main path)."""
    if _warm.is_set():
        return
    import umap

    data = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    umap.UMAP(n_neighbors=5, n_epochs=20, random_state=0).fit_transform(data)
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
    import umap

    return {"what": what, **key, "layer": layer, "features": cache.hash_array(features), "n_neighbors": int(n_neighbors),
            "min_dist": float(min_dist), "seed": int(seed), "umap": umap.__version__, "version": VERSION}


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
    import umap

    reducer = umap.UMAP(n_neighbors=int(min(n_neighbors, n - 1)), min_dist=float(min_dist), random_state=seed,
                        init="spectral" if n > 20 else "random")
    return reducer.fit_transform(features).astype(np.float32)


def is_cached(key: dict, layer: str, features: np.ndarray, n_neighbors: int, min_dist: float, seed: int = 0,
              per_class: bool = False) -> bool:
    what = "umap-per-class" if per_class else "umap"
    return cache.entry_path("projections", _key(what, key, layer, features, n_neighbors, min_dist, seed)).exists()


def project(features: np.ndarray, key: dict, layer: str, n_neighbors: int = DEFAULT_NEIGHBORS,
            min_dist: float = DEFAULT_MIN_DIST, seed: int = 0) -> np.ndarray:
    """One projection of all points, cached. ``key`` names the inputs (model hash, set hashes)."""
    full = _key("umap", key, layer, features, n_neighbors, min_dist, seed)
    return cache.cached_arrays("projections", full, lambda: {"xy": fit_umap(features, n_neighbors, min_dist, seed)})["xy"]


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

    return cache.cached_arrays("projections", full, compute)["xy"]
