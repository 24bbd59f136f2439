"""What every session of a server shares: the tables and figures of Tune and the points of Explore.

A class on one server asks for the same things: the same model, sets, β (the sliders' 0.05 steps),
ν, points and UMAP settings. Each result here is computed once per server, ``st.cache_data`` keyed by
:class:`~dashboard.loaders.Ids` (model, weights, ID dataset, MDL, ν, sets), the model's fingerprint (a
changed model never meets an old entry) and the setting; every session gets its own copy, so nothing one
session does reaches another. A figure is shared as its plain parts (``fig.to_dict()``) and rebuilt
without validation for each session: unpickling a Plotly figure validates it again (ten times the cost
of building it).

What stays per session (``st.session_state``, :mod:`dashboard.state`): the widgets' values, the
Explore selection and the Tune deltas (against the setting this session showed before).
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from detector.evaluation import evaluate as ev, projection

from . import figures, loaders, views
from .loaders import Ids

#: entries per cached builder: a class's sets, β steps and views (each entry is a few tables or a figure)
ENTRIES = 512


def fingerprint(ids: Ids) -> str:
    """What the model computes (its weights and code): a part of every key below."""
    return loaders.experiment(ids).model.fingerprint


def figure(parts: dict) -> go.Figure:
    """A figure from its shared parts, without Plotly's validation (they were built by dashboard.figures)."""
    return go.Figure(data=parts.get("data", []), layout=parts.get("layout", {}), _validate=False)


# --------------------------------------------------------------------------- Tune
@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def tune_metrics(ids: Ids, model: str, beta: tuple[float, ...]) -> tuple[pd.DataFrame, dict]:
    """The metrics table at ``beta`` and its headline figures per weighting (``model``: the fingerprint)."""
    table = ev.metrics_table(loaders.score_data(ids), beta)
    return table, {weighting: ev.summary(table, weighting) for weighting in ("per-class", "global")}


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def roc(ids: Ids, model: str, beta: tuple[float, ...]) -> dict:
    data = loaders.score_data(ids)
    curves = {name: ev.roc_points(data, beta, name) for name in data.anomalies}
    points = {name: ev.operating_point(data, beta, name) for name in data.anomalies}
    return figures.roc(curves, points).to_dict()


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def histograms(ids: Ids, model: str, beta: tuple[float, ...], names: tuple[str, ...]) -> dict:
    data = loaders.score_data(ids)
    return figures.histograms(ev.scores_frame(data, beta, list(names)), data.thresholds(beta), list(names)).to_dict()


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def beta_curve(ids: Ids, model: str, weight: float, weighting: str) -> dict:
    return figures.beta_curve(loaders.auroc_curve(ids), weight, weighting).to_dict()


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def ternary(ids: Ids, model: str, beta: tuple[float, ...], anomaly: str | None, weighting: str) -> dict:
    return figures.ternary(loaders.auroc_simplex(ids), beta, anomaly, weighting).to_dict()


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def per_class(ids: Ids, model: str, beta: tuple[float, ...], anomaly: str, names: tuple[str, ...]) -> pd.DataFrame:
    return ev.per_class_table(loaders.score_data(ids), beta, anomaly, list(names))


# --------------------------------------------------------------------------- Explore
@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def explore_scores(ids: Ids, model: str, layers: tuple[str, ...], per_set: int, beta: tuple[float, ...]) -> pd.DataFrame:
    """The Explore points' metadata with the detector's view of each at ``beta`` (score, τ, g − τ, verdict)."""
    points = loaders.explore_points(ids, layers, per_set)
    detector = loaders.detector(ids)
    return views.with_scores(points.meta, points, beta, detector.thresholds_for(beta))


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def explore_frame(ids: Ids, model: str, layers: tuple[str, ...], per_set: int, beta: tuple[float, ...], layer: str,
                  n_neighbors: int, min_dist: float, by_class: bool) -> pd.DataFrame:
    """:func:`explore_scores` with the points' place (x, y) in the UMAP of ``layer`` (read from the
    projection cache; the page fits a missing projection first, with its progress shown)."""
    points = loaders.explore_points(ids, layers, per_set)
    meta = explore_scores(ids, model, layers, per_set, beta)
    feats, args = points.features[layer], (points.key, layer, n_neighbors, min_dist)
    xy = (projection.project_per_class(feats, meta["predicted"].to_numpy(), *args) if by_class
          else projection.project(feats, *args))
    return meta.assign(x=xy[:, 0], y=xy[:, 1])
