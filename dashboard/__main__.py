"""``python -m dashboard [streamlit options]``: the dashboard's server, its first view loading from the start.

Streamlit runs app.py only when a browser connects, and numba compiles UMAP's functions on
their first use: 20-30 s here (a few seconds once numba's disk cache holds them), which the
first visitor of Explore used to wait for, after the imports and the default model, detector
and points (26-29 s for Explore requested 15 s after a fresh server was healthy). Two daemon
threads of the server process do that work while nobody is looking: one warms UMAP's JIT
(app.py's own call then finds it under way), one loads the first view into the caches the
pages read (:mod:`dashboard.preload`; ``DASHBOARD_PRELOAD=0`` skips it).
"""

from __future__ import annotations

import gc
import importlib
import sys
import threading
import time

from .app_files import app_dir, config_flags


def _preload(timeout: float = 120.0) -> None:
    """Once Streamlit's runtime exists (its caches warn when called without): import what app.py
    imports (torch, the detector: about 10 s here) and load the first view into the server's caches
    (:mod:`dashboard.preload`), before the first session needs them."""
    from streamlit import runtime

    deadline = time.monotonic() + timeout
    while not runtime.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not runtime.exists():  # streamlit did not start
        return
    importlib.import_module("dashboard.sidebar")
    preload = importlib.import_module("dashboard.preload")
    if preload.enabled():
        preload.preload()
    # What is loaded by now lives as long as the server: Python's full collections (each scanned half a
    # million objects, a third of a second holding its lock) skip it from here on
    gc.freeze()


#: Imported by the main thread before any other thread starts: scikit-learn's svm and linear_model import
#: each other, and two threads importing them at once (the UMAP warm-up and the preload, or a session) can
#: each get the other's half-initialised module: both background threads once died of it, with a traceback
#: in the server's log and a first view that was not preloaded. About 2 s; the rest stays in the background.
SHARED_LIBRARIES = ("torch", "sklearn.svm", "sklearn.linear_model", "sklearn.neighbors", "sklearn.decomposition")


def main(argv: list[str] | None = None) -> None:
    from streamlit.web import cli

    from detector.evaluation.projection import warm_up_in_background

    for name in SHARED_LIBRARIES:
        importlib.import_module(name)
    warm_up_in_background()
    threading.Thread(target=_preload, name="preload", daemon=True).start()
    folder = app_dir()
    sys.argv = ["streamlit", "run", str(folder / "app.py"), *config_flags(folder),
                *(sys.argv[1:] if argv is None else argv)]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
