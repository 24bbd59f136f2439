"""Shared by app.py and every page: cached loaders and the sidebar (no maths here).

Models, experiments and fitted detectors are ``st.cache_resource`` (one per server, shared
by all sessions and never mutated); arrays and tables are ``st.cache_data`` keyed by small
ids (model name, dataset, layer, nu, set names), never by hashing big arrays. Every
session keeps its own choices (beta weight, nu, sets) in its own ``st.session_state``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from detector import cache
from detector import dashboard_data as dd
from detector import projection
from detector.data import DATASET_NAMES, DataError
from detector.experiment import fit_uniform, load_experiment
from detector.features import LayerError
from detector.models import BUILTIN, ModelError, dashboard_model, dashboard_model_help

# This folder is named pages/, which Streamlit also reads as the old "pages directory" app
# layout: until st.navigation is first called in a server, a request for /tune would run
# pages/tune.py on its own. app.py uses st.navigation, so switch the old behaviour off as
# soon as any page imports this module (context() below also builds the sidebar when a page
# was started without app.py).
PagesManager.uses_pages_directory = False

DEFAULT_MODEL = "lenet-mnist"
USER_MODEL = "user model (file.py:factory)"
DEFAULT_SETS = ("fashion-mnist", "mnist", "gaussian")
DEFAULT_NU = 0.1
POINTS = int(os.environ.get("DASHBOARD_POINTS", "300"))  # inputs per set in projections (tests use fewer)


class Ids(NamedTuple):
    """What identifies every cached result: hashable and small."""

    model: str
    weights: str
    id_dataset: str
    layer: str  # "auto" or a layer name
    nu: float
    anomalies: tuple[str, ...]


@dataclass
class Context:
    ids: Ids
    experiment: object
    detector: object
    auto_mdl: str
    anomalies: dict  # name -> AnomalySet
    class_names: list[str]
    points: int

    @property
    def beta_weight(self) -> float:
        return float(st.session_state.get("beta_weight", 0.5))

    @property
    def beta(self) -> tuple[float, float]:
        return dd.beta_of(self.beta_weight)


# --------------------------------------------------------------------------- cached loaders
_READY: set = set()  # keys of resources already loaded in this server process


def with_status(label: str, key: tuple, load):
    """``load()``, shown as an st.status box the first time this server loads ``key``."""
    if key in _READY:
        return load()
    slot = st.empty()
    with slot.status(label, expanded=False):
        value = load()
    slot.empty()
    _READY.add(key)
    return value


@st.cache_resource(show_spinner=False)
def get_experiment(model: str, weights: str, id_dataset: str):
    return load_experiment(*dashboard_model(model, weights or None), id_dataset or None)  # user files: one folder only


@st.cache_resource(show_spinner=False)
def get_detector(model: str, weights: str, id_dataset: str, layer: str, nu: float):
    return fit_uniform(get_experiment(model, weights, id_dataset), layer=layer, nu=nu)


@st.cache_resource(show_spinner=False)
def get_anomaly(model: str, weights: str, id_dataset: str, name: str):
    return get_experiment(model, weights, id_dataset).anomaly(name)


@st.cache_resource(show_spinner=False)
def warm_numba() -> bool:
    projection.warm_up_in_background()
    return True


@st.cache_data(show_spinner=False, max_entries=16)
def test_accuracy(model: str, weights: str, id_dataset: str) -> float:
    return get_experiment(model, weights, id_dataset).test_accuracy


@st.cache_data(show_spinner=False, max_entries=16)
def dataset_available(name: str) -> bool:
    return dd.dataset_available(name)


def detector_for(ids: Ids, layer: str | None = None):
    return get_detector(ids.model, ids.weights, ids.id_dataset, ids.layer if layer is None else layer, ids.nu)


def anomalies_for(ids: Ids) -> dict:
    return {name: get_anomaly(ids.model, ids.weights, ids.id_dataset, name) for name in ids.anomalies}


@st.cache_data(show_spinner="Scoring every set with the detector…", max_entries=32)
def score_data(ids: Ids) -> dd.ScoreData:
    experiment = get_experiment(ids.model, ids.weights, ids.id_dataset)
    return dd.score_data(experiment, detector_for(ids), anomalies_for(ids))


@st.cache_data(show_spinner=False, max_entries=32)
def auroc_curve(ids: Ids, steps: int = 21):
    return dd.auroc_vs_beta(score_data(ids), steps)


@st.cache_data(show_spinner=False, max_entries=8)
def explore_points(ids: Ids, layers: tuple[str, ...], per_set: int) -> dd.Points:
    experiment = get_experiment(ids.model, ids.weights, ids.id_dataset)
    return dd.explore_points(experiment, detector_for(ids), anomalies_for(ids), list(layers), per_set)


@st.cache_data(show_spinner=False, max_entries=8)
def explore_image_urls(ids: Ids, layers: tuple[str, ...], per_set: int) -> list[str]:
    """The projected inputs as PNG data URLs, for hover tooltips."""
    return dd.image_urls(explore_points(ids, layers, per_set).images)


# --------------------------------------------------------------------------- sidebar
def _keep(widget_key: str, state_key: str) -> None:
    """Copy a widget's value to a key that survives page changes."""
    st.session_state[state_key] = st.session_state[widget_key]


def persistent(state_key: str, default):
    """The value kept under ``state_key``, initialised to ``default``; use with ``_keep``."""
    if state_key not in st.session_state:
        st.session_state[state_key] = default
    return st.session_state[state_key]


def sidebar() -> Context | None:
    """The shared pickers; returns the loaded context, or None after showing why it cannot load."""
    warm_numba()
    bar = st.sidebar
    bar.header("Experiment")
    options = [*BUILTIN, USER_MODEL]
    choice = bar.selectbox("Model", options, index=options.index(persistent("model", DEFAULT_MODEL)),
                           key="_model", on_change=_keep, args=("_model", "model"))
    weights = ""
    if choice == USER_MODEL:
        model = bar.text_input("Model file and factory", key="user_spec", placeholder="path/to/model.py:make_model",
                               help=dashboard_model_help()).strip()
        weights = bar.text_input("Weights (state_dict .pt, optional)", key="user_weights")
        id_dataset = bar.selectbox("ID dataset", DATASET_NAMES, key="user_id_dataset")
        if not model:
            st.info("Give the model as `path/to/file.py:factory` in the sidebar (the factory returns a torch.nn.Module).")
            return None
    else:
        model, id_dataset = choice, BUILTIN[choice][1]
        bar.caption(f"ID dataset: **{id_dataset}** (trained here on first use)")

    try:
        experiment = with_status(f"Loading {model} and {id_dataset} (a built-in model is trained on first use: a minute "
                                 "or more)…", ("experiment", model, weights, id_dataset),
                                 lambda: get_experiment(model, weights, id_dataset))
        auto = with_status("Choosing the MDL and fitting the per-class SVDDs (first time only; cached on disk)…",
                           ("detector", model, weights, id_dataset),
                           lambda: get_detector(model, weights, id_dataset, "auto", DEFAULT_NU))
    except (ModelError, DataError, LayerError, ValueError, RuntimeError) as error:
        st.error(f"Cannot load this model: {error}")
        return None
    except Exception as error:  # a user's factory can raise anything; show it, not a traceback
        st.error(f"Cannot load this model: {type(error).__name__}: {error}")
        return None

    choices = dd.anomaly_choices(id_dataset)
    default = [n for n in DEFAULT_SETS if n in choices and (n not in DATASET_NAMES or dataset_available(n))][:2]
    chosen = bar.multiselect("Anomaly sets", list(choices), default=persistent(f"sets:{model}", default),
                             format_func=lambda n: f"{n} ({choices[n]})", key=f"_sets:{model}",
                             on_change=_keep, args=(f"_sets:{model}", f"sets:{model}"),
                             help="OOD datasets, noise, fooling images and adversarial attacks. "
                                  "Attacks are computed on first use (minutes) and cached.")
    layers = dd.candidate_layers(experiment)
    layer_key = f"_layer:{model}"
    if st.session_state.get(layer_key) not in layers:
        st.session_state[layer_key] = auto.mdl_
    layer = bar.selectbox("MDL (layer 1)", layers, format_func=lambda n: f"{n}  ★ MDL" if n == auto.mdl_ else n,
                          key=layer_key, help="★ marks the layer chosen on the mix set (fewest errors); "
                                              "pick another to compare.")
    points = bar.slider("Points per set (projections)", 50, 1000, persistent("points", POINTS), 50, key="_points",
                        on_change=_keep, args=("_points", "points"))
    nu = float(persistent("nu", DEFAULT_NU))

    loaded, missing = [], []
    for name in chosen:
        try:
            with_status(f"Loading the anomaly set {name} (attacks and fooling images take minutes the first time; "
                        "cached on disk)…", ("anomaly", model, weights, id_dataset, name),
                        lambda: get_anomaly(model, weights, id_dataset, name))
            loaded.append(name)
        except DataError as error:
            missing.append(f"**{name}**: {error}")
        except Exception as error:  # an anomaly generator that fails must not take the page down
            missing.append(f"**{name}** could not be computed: {type(error).__name__}: {error}")
    for note in missing:
        bar.warning(note)
    layer_id = "auto" if layer == auto.mdl_ and nu == DEFAULT_NU else layer
    ids = Ids(model, weights, id_dataset, layer_id, nu, tuple(loaded))
    if layer_id == "auto":
        detector = auto
    elif (layer_id, nu) in st.session_state.setdefault("_fitted", set()):
        detector = detector_for(ids)
    else:
        slot = st.empty()
        with slot.status(f"Fitting the SVDDs on {layer_id} and the logits (ν = {nu:g})…", expanded=False):
            detector = detector_for(ids)
        slot.empty()
        st.session_state["_fitted"].add((layer_id, nu))
    persistent("beta_weight", 0.5)
    accuracy = test_accuracy(model, weights, id_dataset)
    bar.caption(f"ν = {nu:g} · test accuracy {100 * accuracy:.1f} % · β is set on the Tune page")
    return Context(ids, experiment, detector, auto.mdl_, {n: get_anomaly(model, weights, id_dataset, n) for n in loaded},
                   dd.class_names(id_dataset, experiment.model.n_classes), points)


def context() -> Context:
    """The context app.py built for this run (pages call this first)."""
    if st.session_state.pop("_app_ran", False):
        ctx = st.session_state.get("_context")
    elif not st.session_state.get("_rerouted"):  # a page run without app.py (see the note at the top):
        st.session_state["_rerouted"] = True  # run again, now through app.py's st.navigation
        st.rerun()
    else:
        ctx = st.session_state["_context"] = sidebar()
    if ctx is None:
        st.stop()
    return ctx


def enlarge_tooltip_images() -> None:
    """Show the inputs in chart tooltips at 4x their pixels, unsmoothed (28x28 is too small to read)."""
    st.html("<style>#vg-tooltip-element img {width: 112px; image-rendering: pixelated;}</style>")


def need_anomalies(ctx: Context) -> None:
    if not ctx.anomalies:
        st.info("Choose at least one anomaly set in the sidebar.")
        st.stop()


def tuned_path(ctx: Context, beta) -> Path:
    name = Path(ctx.ids.model).stem.replace(":", "-")
    return cache.cache_root() / "tuned" / f"{name}-{ctx.detector.mdl_}-b{beta[0]:.2f}_{beta[1]:.2f}-nu{ctx.ids.nu:g}.skops"


@st.cache_data(show_spinner="Fitting an SVDD on every layer (first time: about a minute; cached on disk)…", max_entries=16)
def layer_table(ids: Ids):
    experiment = get_experiment(ids.model, ids.weights, ids.id_dataset)
    auto = get_detector(ids.model, ids.weights, ids.id_dataset, "auto", DEFAULT_NU)
    fit = lambda layer: get_detector(ids.model, ids.weights, ids.id_dataset, layer, DEFAULT_NU)  # noqa: E731
    return dd.layer_table(experiment, auto, anomalies_for(ids), fit)


def set_layer(ctx: Context, widget_key: str) -> None:
    """Callback: make the layer picked in ``widget_key`` the sidebar's MDL choice."""
    st.session_state[f"_layer:{ctx.ids.model}"] = st.session_state[widget_key]
