"""Cached loaders of the dashboard, all keyed by :class:`Ids` (no maths here).

Models, experiments and fitted detectors are ``st.cache_resource`` (one per server, shared
by all sessions and never mutated: another beta is a copy, ``detector.with_beta``); arrays
and tables are ``st.cache_data`` keyed by small ids, never by hashing big arrays. Every
session keeps its own choices (beta, nu, sets) in its own ``st.session_state``.
"""

from __future__ import annotations

import os
import threading
from typing import NamedTuple

import streamlit as st

from detector import cache
from detector.data.loading import dataset_available as _dataset_available
from detector.evaluation import evaluate as evaluation, projection
from detector.evaluation.experiment import (
    AccuracyCheck,
    check_accuracy,
    fit_plan as plan_fit,
    fit_uniform,
    fit_uniform_conf,
    load_experiment,
)
from detector.evaluation.first_use import estimate_first_use, estimate_fit, estimate_layer_table
from detector.evaluation.judging import DEFAULT_METHOD
from detector.method.verdicts import Explainer
from detector.models.classifiers import builtin_is_trained, load_builtin

from . import views
from .model_folder import dashboard_id_dataset, dashboard_model
from .progress import report_folder_pass

DEFAULT_NU = 0.1
POINTS = int(os.environ.get("DASHBOARD_POINTS", "300"))  # inputs per set in projections (tests use fewer)


class Ids(NamedTuple):
    """What identifies every cached result: hashable and small."""

    model: str
    weights: str
    id_dataset: str
    layer: str = "auto"  # "auto" or a layer name
    nu: float = DEFAULT_NU
    anomalies: tuple[str, ...] = ()
    anomaly_files: tuple[tuple[str, str], ...] = ()  # (name, folder) of the chosen image folders, already allowed

    def with_layer(self, layer: str, nu: float = DEFAULT_NU) -> "Ids":
        return self._replace(layer=layer, nu=nu)


@st.cache_resource(show_spinner=False)
def _experiment(model: str, weights: str, id_dataset: str):
    # user files: inside the folders chosen by whoever started the server only
    return load_experiment(*dashboard_model(model, weights or None), dashboard_id_dataset(id_dataset or None),
                           progress=report_folder_pass)


def experiment(ids: Ids):
    return _experiment(ids.model, ids.weights, ids.id_dataset)


_TRAINING = threading.Lock()


@st.cache_resource(show_spinner=False)
def first_use_estimate(model: str):
    """What the first use of the built-in ``model`` does and how long it takes here."""
    return estimate_first_use(model)


def train_builtin(model: str, on_step) -> None:
    """Train the built-in ``model`` unless cached; sessions that ask at once train it once."""
    with _TRAINING:
        if not builtin_is_trained(model):
            load_builtin(model, progress=False, on_step=on_step)


@st.cache_resource(show_spinner=False)
def _detector(model: str, weights: str, id_dataset: str, layer: str, nu: float):
    return fit_uniform(_experiment(model, weights, id_dataset), layer=layer, nu=nu)


def detector(ids: Ids):
    """The detector of ``ids.layer`` and ``ids.nu`` (shared by every session: never mutate it)."""
    return _detector(ids.model, ids.weights, ids.id_dataset, ids.layer, ids.nu)


def fit_plan(ids: Ids):
    """What loading the default detector of ``ids`` will do here (shipped MDL, on disk, shipped accuracy)."""
    return plan_fit(experiment(ids), ids.nu)


def fit_estimate(ids: Ids, plan):
    """The steps of that load with their estimated seconds (timed runs of about a second)."""
    return estimate_fit(experiment(ids), plan)


def mdl_features(ids: Ids, mdl: str, progress) -> None:
    """Features of the training and validation splits at ``mdl`` and the logits into the disk cache, with
    ``progress(done, total, what)`` after each batch; the detector's fit then reads them from there."""
    from detector.method.features import LOGITS, FeatureExtractor

    data = experiment(ids)
    extractor = FeatureExtractor(data.model, progress=progress)
    for split in (data.train, data.val):
        extractor.features(split.images, [mdl, LOGITS])


@st.cache_resource(show_spinner="Fitting ours+knn: the k-NN term, then k and β on generated anomalies (first time: "
                                 "a minute)…")
def _knn_detector(model: str, weights: str, id_dataset: str, layer: str, nu: float):
    from detector.evaluation.ours import fit_uniform_knn

    return fit_uniform_knn(_experiment(model, weights, id_dataset), layer=layer, nu=nu)


def knn_detector(ids: Ids):
    """ours+knn's four-term detector on the same MDL and SVDDs (shared: never mutate it)."""
    return _knn_detector(ids.model, ids.weights, ids.id_dataset, ids.layer, ids.nu)


@st.cache_resource(show_spinner="Fitting ours+conf: β on generated anomalies (first time: seconds)…")
def _conf_detector(model: str, weights: str, id_dataset: str, layer: str, nu: float):
    return fit_uniform_conf(_experiment(model, weights, id_dataset), layer=layer, nu=nu)


def judging_detector(ids: Ids, method: str):
    """The fitted detector of ``method`` (one of :data:`INSPECT_METHODS`) on ``ids`` (shared: never mutate it);
    ``ours`` is the paper's detector, judged with the β set on Tune."""
    fit = {"ours": _detector, "ours+conf": _conf_detector, "ours+knn": _knn_detector}[method]
    return fit(ids.model, ids.weights, ids.id_dataset, ids.layer, ids.nu)


#: the detectors Inspect offers: the default first, then the paper's and ours+conf (their verdicts come term by term)
INSPECT_METHODS = tuple(dict.fromkeys((DEFAULT_METHOD, "ours", "ours+conf", "ours+knn")))
NEIGHBOURS = 5  # training inputs shown per space on Inspect


@st.cache_resource(show_spinner="Indexing the training inputs for “why this verdict” (first time: seconds)…")
def _explainer(model: str, weights: str, id_dataset: str, layer: str, nu: float, method: str):
    ids = Ids(model, weights, id_dataset, layer, nu)
    return Explainer(judging_detector(ids, method), n_neighbors=NEIGHBOURS).fit(
        _experiment(model, weights, id_dataset).train.images)


def explainer(ids: Ids, method: str = "ours"):
    """The nearest training inputs and ink ranges of ``method``'s detector (shared; never mutate it)."""
    return _explainer(ids.model, ids.weights, ids.id_dataset, ids.layer, ids.nu, method)


@st.cache_resource(show_spinner=False)
def _anomaly(model: str, weights: str, id_dataset: str, name: str, folder: str = ""):
    return _experiment(model, weights, id_dataset).anomaly(name, folder or None)


def anomaly(ids: Ids, name: str):
    """A named set, or an image folder of ``ids.anomaly_files``."""
    return _anomaly(ids.model, ids.weights, ids.id_dataset, name, dict(ids.anomaly_files).get(name, ""))


def anomalies(ids: Ids) -> dict:
    return {name: anomaly(ids, name) for name in ids.anomalies}


@st.cache_resource(show_spinner=False)
def warm_numba() -> bool:
    projection.warm_up_in_background()
    return True


@st.cache_data(show_spinner=False, max_entries=16)
def accuracy_check(ids: Ids) -> AccuracyCheck:  # keyed by the whole ids: cheap, once the experiment is loaded
    return check_accuracy(experiment(ids))


@st.cache_data(show_spinner=False, max_entries=16)
def dataset_available(name: str) -> bool:
    return _dataset_available(name)


@st.cache_data(show_spinner="Scoring every set with the detector…", max_entries=32)
def score_data(ids: Ids, method: str = "ours") -> evaluation.ScoreData:
    return evaluation.score_data(experiment(ids), judging_detector(ids, method), anomalies(ids))


@st.cache_data(show_spinner=False, max_entries=32)
def auroc_curve(ids: Ids, steps: int = 21):
    return evaluation.auroc_vs_beta(score_data(ids), steps)


@st.cache_data(show_spinner="AUROC over the β simplex…", max_entries=32)
def auroc_simplex(ids: Ids, steps: int = 11):
    return evaluation.auroc_over_simplex(score_data(ids), steps)


@st.cache_data(show_spinner=False, max_entries=32)  # a class's sets: kept, not evicted
def explore_points(ids: Ids, layers: tuple[str, ...], per_set: int) -> views.Points:
    return views.explore_points(experiment(ids), detector(ids), anomalies(ids), list(layers), per_set)


@st.cache_data(show_spinner=False, max_entries=32)  # a class's sets: kept, not evicted
def explore_image_urls(ids: Ids, layers: tuple[str, ...], per_set: int) -> list[str]:
    """The projected inputs as PNG data URLs, for hover tooltips; each set's are encoded once per server,
    whatever other sets it is shown with (the ID inputs are in every choice)."""
    points = explore_points(ids, layers, per_set)
    urls = []
    for rows in points.meta.groupby("set", sort=False).indices.values():  # each set's rows, in order
        images = points.images[rows]
        urls += _image_urls(cache.hash_array(images), images)
    return urls


@st.cache_data(show_spinner=False, max_entries=64)
def _image_urls(digest: str, _images) -> list[str]:
    """PNG data URLs of ``_images`` (``digest``: their hash, the key)."""
    return views.image_urls(_images)


@st.cache_resource(show_spinner=False)
def layer_table_estimate(ids: Ids):
    """How long :func:`layer_table` takes from scratch here (timed runs of a second)."""
    return estimate_layer_table(experiment(ids), views.layers_to_fit(experiment(ids), detector(ids.with_layer("auto"))),
                                len(experiment(ids).test.images) + sum(len(a.images) for a in anomalies(ids).values()))


@st.cache_data(show_spinner=False, max_entries=16)
def layer_table(ids: Ids):
    auto = ids.with_layer("auto")
    return views.layer_table(experiment(ids), detector(auto), anomalies(ids),
                             lambda layer: detector(ids.with_layer(layer)))
