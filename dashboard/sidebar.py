"""The shared sidebar (model, anomaly sets, MDL) and the per-session context every page reads.

app.py calls :func:`sidebar` once per run and stores the :class:`Context`; a page calls
:func:`context` first. Choices that must survive page changes are kept in session state
(:func:`persistent` / :func:`keep`): each browser session has its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from detector import cache
from detector.data import folders
from detector.data.datasets import DATASET_NAMES
from detector.errors import DataError
from detector.evaluation.evaluate import beta_of
from detector.errors import LayerError
from detector.models.classifiers import BUILTIN, builtin_is_trained, shipped_weights
from detector.errors import ModelError

from . import loaders, views
from .loaders import DEFAULT_NU, POINTS, Ids
from .model_folder import DATA_DIR_ENV, dashboard_data_help, dashboard_folder, dashboard_model_help

DEFAULT_MODEL = "lenet-mnist"
USER_MODEL = "user model (file.py:factory)"
ID_FOLDER = "image folder…"
DEFAULT_SETS = ("fashion-mnist", "mnist", "gaussian")
LOAD_ERRORS = (ModelError, DataError, LayerError, ValueError, RuntimeError)


def navigation_only() -> None:
    """Switch off Streamlit's old "pages directory" layout.

    Our pages live in pages/ (the project's layout), which Streamlit also reads as that old
    layout: until st.navigation is first called in a server, a request for /tune would run
    pages/tune.py on its own, without app.py. Checked with Streamlit 1.67: still so. This is
    called when this module is imported (by app.py and every page), and by the AppTest tests,
    whose runner resets the flag before every run.
    """
    PagesManager.uses_pages_directory = False


navigation_only()


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
        """beta_2, the weight of the logit score (set on the Tune page)."""
        return float(st.session_state.get("beta_weight", 0.5))

    @property
    def conf_weight(self) -> float:
        """beta_3, the weight of the confidence score (0: the paper's detector)."""
        return float(st.session_state.get("conf_weight", 0.0))

    @property
    def beta(self) -> tuple[float, float, float]:
        return beta_of(self.beta_weight, self.conf_weight)


# --------------------------------------------------------------------------- session state
def keep(widget_key: str, state_key: str) -> None:
    """Widget callback: copy the widget's value to a key that survives page changes."""
    st.session_state[state_key] = st.session_state[widget_key]


def persistent(state_key: str, default):
    """The value kept under ``state_key``, initialised to ``default``; use with :func:`keep`."""
    if state_key not in st.session_state:
        st.session_state[state_key] = default
    return st.session_state[state_key]


_READY: set = set()  # keys of resources already loaded in this server process


def is_ready(key: tuple) -> bool:
    """Whether this server has loaded ``key`` with :func:`with_status` before (then it comes from memory)."""
    return key in _READY


def with_status(label: str, key: tuple, load):
    """``load()``, shown as an st.status box the first time this server loads ``key``."""
    if key in _READY:
        return load()
    slot = st.empty()
    try:
        with slot.status(label, expanded=False):
            value = load()
    finally:
        slot.empty()  # on an error too: the caller's message takes the box's place
    _READY.add(key)
    return value


# --------------------------------------------------------------------------- the sidebar, step by step
def _pick_model() -> Ids | None:
    """Model, weights and ID dataset from the sidebar; None (with a hint) while a user model is incomplete."""
    bar = st.sidebar
    options = [*BUILTIN, USER_MODEL]
    choice = bar.selectbox("Model", options, index=options.index(persistent("model", DEFAULT_MODEL)),
                           key="_model", on_change=keep, args=("_model", "model"))
    if choice != USER_MODEL:
        origin = "shipped trained weights" if shipped_weights(choice) else "trained here on first use"
        bar.caption(f"ID dataset: **{BUILTIN[choice].dataset}** ({origin})")
        return Ids(choice, "", BUILTIN[choice].dataset)
    model = bar.text_input("Model file and factory", key="user_spec", placeholder="path/to/model.py:make_model",
                           help=dashboard_model_help()).strip()
    weights = bar.text_input("Weights (state_dict .pt, optional)", key="user_weights")
    id_dataset = bar.selectbox("ID dataset", [*DATASET_NAMES, ID_FOLDER], key="user_id_dataset")
    if id_dataset == ID_FOLDER:
        id_dataset = bar.text_input("ID image folder", key="user_id_folder", placeholder="flowers",
                                    help=f"{folders.LAYOUT_HELP}. {dashboard_data_help()}").strip()
    if not model:
        st.info("Give the model as `path/to/file.py:factory` in the sidebar (the factory returns a torch.nn.Module).")
        return None
    if not id_dataset:
        st.info(f"Give the ID image folder in the sidebar: a folder inside ${DATA_DIR_ENV} with one sub-folder of "
                "pictures per class.")
        return None
    return Ids(model, weights, id_dataset)


def _first_use(model: str) -> None:
    """A built-in model's first use: say what will happen and how long it takes, then train it
    with a progress bar (rate and time left); the message stays, with the time it took."""
    notice = st.empty()
    estimate = loaders.first_use_estimate(model)
    notice.info(estimate.describe())
    bar, started, shown = st.progress(0.0), time.monotonic(), [0.0]

    def on_step(done: int, total: int) -> None:
        elapsed = time.monotonic() - started
        if elapsed - shown[0] < 0.5 and done < total:  # a redraw per step would slow training down
            return
        shown[0] = elapsed
        left = elapsed * (total - done) / done
        bar.progress(done / total, text=f"Training {model}: {done:,} of {total:,} images, {done / elapsed:,.0f} images/s, "
                                        f"about {left:.0f} s left")

    loaders.train_builtin(model, on_step)
    bar.empty()
    notice.info(f"{estimate.describe()} Training took {time.monotonic() - started:.0f} s.")


def _load_model(ids: Ids):
    """(experiment, detector with the automatic MDL), or None after showing why they cannot load."""
    try:
        # once loaded in this server, skip the check (it hashes the checkpoint file)
        if ids.model in BUILTIN and ("experiment", *ids[:3]) not in _READY and not builtin_is_trained(ids.model):
            _first_use(ids.model)
        experiment = with_status(f"Loading {ids.model} and {ids.id_dataset}…", ("experiment", *ids[:3]),
                                 lambda: loaders.experiment(ids))
        auto = with_status("Choosing the MDL and fitting the per-class SVDDs (first time only; cached on disk)…",
                           ("detector", *ids[:3]), lambda: loaders.detector(ids))
    except LOAD_ERRORS as error:
        st.error(f"Cannot load this model: {error}{_searched(ids)}")
        return None
    except Exception as error:  # a user's factory can raise anything; show it, not a traceback
        st.error(f"Cannot load this model: {type(error).__name__}: {error}{_searched(ids)}")
        return None
    return experiment, auto


def _searched(ids: Ids) -> str:
    """For a user model: the folder its relative paths were read from."""
    if ids.model in BUILTIN:
        return ""
    return f" (relative paths are read from the folder `{Path.cwd()}`)"


def default_model() -> Ids:
    """What a new session's sidebar starts with: the built-in default model and its ID dataset."""
    return Ids(DEFAULT_MODEL, "", BUILTIN[DEFAULT_MODEL].dataset)


def default_anomalies(id_dataset: str) -> list[str]:
    """The anomaly sets a new session starts with: the first two of DEFAULT_SETS that can load."""
    choices = views.anomaly_choices(id_dataset)
    return [n for n in DEFAULT_SETS if n in choices and (n not in DATASET_NAMES or loaders.dataset_available(n))][:2]


def _folder_sets(choices) -> list[tuple[str, str]]:
    """(name, allowed folder) of the anomaly folders typed in the sidebar; a bad line gets a warning."""
    text = st.sidebar.text_area("Anomaly folders (NAME=FOLDER, one a line)", key="anomaly_folders", height=68,
                                help="Every PNG / JPEG under the folder, resized to the model's input. "
                                     + dashboard_data_help())
    found = []
    for line in filter(None, (line.strip() for line in text.splitlines())):
        name, _, folder = (part.strip() for part in line.partition("="))
        try:
            if not name or not folder:
                raise DataError(f"write NAME=FOLDER, got {line!r}")
            if name in choices or name in dict(found):
                raise DataError(f"the name {name} is taken; give this folder another one")
            found.append((name, dashboard_folder(folder)))
        except DataError as error:
            st.sidebar.warning(f"**{line}**: {error}")
    return found


def _pick_anomalies(ids: Ids) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The chosen anomaly sets that could be loaded, and the image folders among them; the others get a
    sidebar warning."""
    choices = views.anomaly_choices(ids.id_dataset)
    default = default_anomalies(ids.id_dataset)
    key = f"sets:{ids.model}"
    chosen = st.sidebar.multiselect("Anomaly sets", list(choices), default=persistent(key, default),
                                    format_func=lambda n: f"{n} ({choices[n]})", key=f"_{key}", on_change=keep,
                                    args=(f"_{key}", key), help="OOD datasets, noise, fooling images and adversarial "
                                    "attacks. Attacks are computed on first use (minutes) and cached.")
    loaded = []
    for name in chosen:
        try:
            with_status(f"Loading the anomaly set {name} (attacks and fooling images take minutes the first time; "
                        "cached on disk)…", ("anomaly", *ids[:3], name), lambda: loaders.anomaly(ids, name))
            loaded.append(name)
        except DataError as error:
            st.sidebar.warning(f"**{name}**: {error}")
        except Exception as error:  # an anomaly generator that fails must not take the page down
            st.sidebar.warning(f"**{name}** could not be computed: {type(error).__name__}: {error}")
    files = []
    for name, folder in _folder_sets(choices):
        try:
            with_status(f"Reading the folder {name}…", ("anomaly", *ids[:3], name, folder),
                        lambda: loaders.anomaly(ids._replace(anomaly_files=((name, folder),)), name))
            loaded.append(name)
            files.append((name, folder))
        except DataError as error:
            st.sidebar.warning(f"**{name}**: {error}")
    return tuple(loaded), tuple(files)


def _pick_layer(ids: Ids, experiment, auto_mdl: str) -> str:
    layers = views.candidate_layers(experiment)
    key = f"_layer:{ids.model}"
    if st.session_state.get(key) not in layers:
        st.session_state[key] = auto_mdl
    # the box shows the layer's own name (a ResNet's MDL is e.g. layer2.0, which the label "layer 1" contradicted)
    return st.sidebar.selectbox("MDL (Most Discriminative Layer)", layers,
                                format_func=lambda n: f"{n}  ★ MDL" if n == auto_mdl else n, key=key,
                                help="the Most Discriminative Layer, whose SVDD gives the MDL score; ★ marks the layer "
                                     "chosen on the mix set (fewest errors); pick another to compare.")


def _detector(ids: Ids):
    """The detector of ``ids``; its first fit in this session is shown as a status box."""
    fitted = st.session_state.setdefault("_fitted", set())
    if ids.layer == "auto" or (ids.layer, ids.nu) in fitted:
        return loaders.detector(ids)
    slot = st.empty()
    with slot.status(f"Fitting the SVDDs on {ids.layer} and the logits (ν = {ids.nu:g})…", expanded=False):
        detector = loaders.detector(ids)
    slot.empty()
    fitted.add((ids.layer, ids.nu))
    return detector


def _folder_bar(slot):
    """A progress bar in ``slot`` for the passes over image folders of this run (rate and time left)."""
    started = {}

    def report(done: int, total: int, what: str) -> None:
        from streamlit.runtime.caching.cached_message_replay import in_cached_function

        begun = started.setdefault(what, time.perf_counter() - 1e-6)
        rate = done / (time.perf_counter() - begun)
        # the passes run inside cached loaders: a bar drawn there must not be recorded for replay
        token = in_cached_function.set(False)
        try:
            if done >= total:
                started.pop(what, None)
                slot.empty()
            else:
                slot.progress(done / total, text=f"{what}: {done:,} / {total:,} pictures · {rate:,.0f} per second · "
                                                 f"about {(total - done) / rate:,.0f} s left")
        finally:
            in_cached_function.reset(token)

    return report


def sidebar() -> Context | None:
    """The shared pickers; returns the loaded context, or None after showing why it cannot load."""
    folders.report_to(_folder_bar(st.empty()))  # at the top of the page: every pass over a folder in this run
    loaders.warm_numba()
    st.sidebar.header("Experiment")
    model_ids = _pick_model()
    if model_ids and st.session_state.get("_shown_model", model_ids) != model_ids:
        # another model: the old one's charts would stay greyed (stale) for the minutes its load takes
        st.html('<style>[data-testid="stMain"] [data-stale="true"] {display: none !important;}</style>')
    st.session_state["_shown_model"] = model_ids
    loaded = model_ids and _load_model(model_ids)
    if not loaded:
        return None
    experiment, auto = loaded
    anomalies, anomaly_files = _pick_anomalies(model_ids)
    layer = _pick_layer(model_ids, experiment, auto.mdl_)
    points = st.sidebar.slider("Points per set (projections)", 50, 1000, persistent("points", POINTS), 50,
                               key="_points", on_change=keep, args=("_points", "points"))
    nu = float(persistent("nu", DEFAULT_NU))
    same_as_auto = layer == auto.mdl_ and nu == DEFAULT_NU
    ids = model_ids._replace(layer="auto" if same_as_auto else layer, nu=nu, anomalies=anomalies,
                             anomaly_files=anomaly_files)
    detector = _detector(ids)
    persistent("beta_weight", 0.5), persistent("conf_weight", 0.0)
    check = with_status("Classifying the ID test split (first time only)…", ("accuracy", *model_ids[:3]),
                        lambda: loaders.accuracy_check(model_ids))
    st.sidebar.caption(f"ν = {nu:g} · test accuracy {100 * check.accuracy:.1f} % · β is set on the Tune page")
    if warning := check.warning(dashboard=True):  # on every page, above its content
        st.error(f"**{check.title}**: {warning}", icon=":material/warning:")
    return Context(ids, experiment, detector, auto.mdl_, loaders.anomalies(ids), experiment.class_names, points)


def context() -> Context:
    """The context app.py built for this run (pages call this first)."""
    if st.session_state.pop("_app_ran", False):
        ctx = st.session_state.get("_context")
    elif not st.session_state.get("_rerouted"):  # a page run without app.py (see navigation_only):
        st.session_state["_rerouted"] = True  # run again, now through app.py's st.navigation
        st.rerun()
    else:
        ctx = st.session_state["_context"] = sidebar()
    if ctx is None:
        st.stop()
    return ctx


# --------------------------------------------------------------------------- small page helpers
def enlarge_tooltip_images() -> None:
    """Show the inputs in chart tooltips at 4x their pixels, unsmoothed (28x28 is too small to read)."""
    st.html("<style>#vg-tooltip-element img {width: 112px; image-rendering: pixelated;}</style>")


def need_anomalies(ctx: Context) -> None:
    if not ctx.anomalies:
        st.info("Choose at least one anomaly set in the sidebar.")
        st.stop()


def tuned_path(ctx: Context, beta) -> Path:
    name = Path(ctx.ids.model).stem.replace(":", "-")
    weights = "_".join(f"{b:.2f}" for b in beta)
    return cache.cache_root() / "tuned" / f"{name}-{ctx.detector.mdl_}-b{weights}-nu{ctx.ids.nu:g}.skops"


def set_layer(ctx: Context, widget_key: str) -> None:
    """Callback: make the layer picked in ``widget_key`` the sidebar's MDL choice."""
    st.session_state[f"_layer:{ctx.ids.model}"] = st.session_state[widget_key]
