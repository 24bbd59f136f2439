"""The first view, loaded by the server before anybody asks (``python -m dashboard``).

Streamlit runs app.py only when a browser connects; the first visitor of Explore used to wait
for everything behind it: the imports (torch, the detector), the default model and its
detector read from the disk cache, the anomaly sets, the points and their features, and the
two UMAP projections (read from disk, or fitted). :func:`preload` does that work in a daemon
thread of the server, through the very loaders the pages call (``st.cache_resource`` and
``st.cache_data`` are one per server process), so the first Explore request only draws.

Nothing half-done is ever shown: every loader computes a value under Streamlit's per-key lock
(a session asking for it meanwhile waits for the same value, behind its usual loading box), and
a projection is fitted under a per-key lock too (:mod:`detector.evaluation.projection`). The preload loads
what a new session's sidebar chooses (:func:`first_view`), the default model only: a session
that picks another model loads it itself, as before. ``DASHBOARD_PRELOAD=0`` switches it off.
"""

from __future__ import annotations

import importlib
import os
import time

from streamlit.logger import get_logger

from .app_files import app_dir

log = get_logger(__name__)  # Streamlit's handler: the line shows in the server's output
ENV = "DASHBOARD_PRELOAD"


def enabled() -> bool:
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def page_modules() -> list[str]:
    """The modules app.py and the pages import at their top (altair, plotly and the dashboard's figures:
    seconds on a first page run), read from their source so that a new page import is not missed."""
    import ast
    import importlib.util

    names: list[str] = []
    root = app_dir()
    for path in [root / "app.py", *sorted((root / "pages").glob("*.py"))]:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.append(node.module)
                spec = importlib.util.find_spec(node.module)
                if spec and spec.submodule_search_locations:  # a package: its names may be modules
                    names += [f"{node.module}.{alias.name}" for alias in node.names
                              if importlib.util.find_spec(f"{node.module}.{alias.name}")]
    return list(dict.fromkeys(names))


def first_view():
    """(ids, layers, points): what a new session's Explore page shows first."""
    from detector.method.features import LOGITS

    from . import loaders
    from .model_loading import default_model
    from .pickers import default_anomalies

    model = default_model()
    ids = model._replace(anomalies=tuple(default_anomalies(model.id_dataset)))
    return ids, (loaders.detector(ids).mdl_, LOGITS), loaders.POINTS


def _first_chart() -> None:
    """What a first chart loads lazily: Vega-Lite's schema (altair), the pandas path of narwhals
    (altair reads DataFrames through it) and Streamlit's icon names (st.Page icons)."""
    import altair as alt
    import pandas as pd

    alt.Chart(pd.DataFrame({"x": [0.0], "set": ["a"]})).mark_point().encode(x="x:Q", color="set:N").to_dict()
    try:
        importlib.import_module("streamlit.material_icon_names")
    except ImportError:  # another Streamlit: nothing to warm
        pass


def preload() -> dict[str, float]:
    """Load the default experiment, detector, anomaly sets, Explore points and projections into the
    server's caches, then import what the pages import; returns the seconds of each step (logged). Errors
    are logged, not raised: the session that asks then shows them as it always did."""
    steps: dict[str, float] = {}
    start = last = time.perf_counter()

    def step(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        steps[name] = now - last
        last = now

    try:
        from detector.evaluation import projection
        from detector.evaluation.judging import DEFAULT_METHOD
        from detector.models.classifiers import BUILTIN, builtin_is_trained, shipped_problem

        from . import loaders
        from .model_loading import TRAINING_ENV, default_model, training_allowed
        from .progress import mark_ready

        model = default_model()
        if model.model in BUILTIN and not builtin_is_trained(model.model):
            # a first use trains under the loaders' lock (a session waits, never trains twice); damaged shipped
            # weights, or training forbidden, wait for the page to say so (and for a visitor's click)
            if shipped_problem(model.model) is not None or not training_allowed():
                log.warning("preload: %s is not trained (%s); nothing preloaded", model.model,
                            shipped_problem(model.model) or f"{TRAINING_ENV}=0")
                return steps
            loaders.train_builtin(model.model, on_step=None)
        loaders.experiment(model)
        step("experiment")
        loaders.detector(model)
        step("detector")
        loaders.accuracy_check(model)
        # loaded in this server: a session's sidebar takes them from memory, without the first load's steps (and
        # their timed estimate, a second of compute for each of a class's sessions that arrive together)
        mark_ready(*((kind, *model[:3]) for kind in ("experiment", "detector", "accuracy")))
        ids, layers, per_set = first_view()
        for name in ids.anomalies:
            loaders.anomaly(ids, name)
        step("anomaly sets")
        points = loaders.explore_points(ids, layers, per_set)
        loaders.explore_image_urls(ids, layers, per_set)
        step("points and features")
        for layer in layers:  # the Explore page's defaults (n_neighbors, min_dist)
            projection.project(points.features[layer], points.key, layer)
        step("projections")
        for name in page_modules():
            importlib.import_module(name)
        _first_chart()
        step("page imports")
        loaders.judging_detector(ids, DEFAULT_METHOD)  # Inspect's detector: its fit chooses β on generated anomalies
        step("Inspect's detector")
    except Exception:  # noqa: BLE001 - a daemon thread: the first session shows the error itself
        log.exception("preloading the first view failed; the first session will load it")
    else:
        log.info("first view preloaded in %.1f s (%s)", time.perf_counter() - start,
                 ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()))
    return steps
