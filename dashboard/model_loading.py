"""The sidebar's first step: which model and ID dataset, and loading them (a built-in's first use trained
with a progress bar, never without saying why and how long, and only where the server allows it; a user
model's errors shown, not raised).

``DASHBOARD_ALLOW_TRAINING=0`` (set by whoever starts the server) forbids training from the dashboard: a
built-in that is not trained yet, or whose shipped weights are damaged, then shows how to fix it instead."""

from __future__ import annotations

import os
import time
from pathlib import Path

import streamlit as st

from detector.data import id_folders
from detector.data.datasets import DATASET_NAMES
from detector.models import classifiers
from detector.models.classifiers import BUILTIN, builtin_is_trained, shipped_manifest, shipped_problem

from . import loaders, state
from .loaders import Ids
from .messages import literal, show_error
from .model_folder import DATA_DIR_ENV, dashboard_data_help, dashboard_model_help
from .progress import is_ready, mark_ready, train_with_bar

DEFAULT_MODEL = "lenet-mnist"
USER_MODEL = "user model (file.py:factory)"
ID_FOLDER = "image folder…"
# a user model's own mistakes (a forward that does not fit the input shape) come as these: their first
# line is shown, for the model's author to read
QUOTED = (ValueError, RuntimeError, TypeError)
TRAINING_ENV = "DASHBOARD_ALLOW_TRAINING"


def training_allowed() -> bool:
    """Whether a visitor may train a built-in model here (``DASHBOARD_ALLOW_TRAINING=0`` forbids it)."""
    return os.environ.get(TRAINING_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def default_model() -> Ids:
    """What a new session's sidebar starts with: the built-in default model and its ID dataset."""
    return Ids(DEFAULT_MODEL, "", BUILTIN[DEFAULT_MODEL].dataset)


def pick_model() -> Ids | None:
    """Model, weights and ID dataset from the sidebar; None (with a hint) while a user model is incomplete."""
    bar = st.sidebar
    options = [*BUILTIN, USER_MODEL]
    choice = bar.selectbox("Model", options, index=options.index(state.MODEL.value()), **state.MODEL.widget_args())
    if choice != USER_MODEL:
        if choice not in shipped_manifest():
            origin = "trained here on first use"
        else:
            origin = "shipped trained weights" if shipped_problem(choice) is None else "shipped weights damaged"
        bar.caption(f"ID dataset: **{BUILTIN[choice].dataset}** ({origin})")
        return Ids(choice, "", BUILTIN[choice].dataset)
    model = bar.text_input("Model file and factory", key="user_spec", placeholder="path/to/model.py:make_model",
                           help=dashboard_model_help()).strip()
    weights = bar.text_input("Weights (state_dict .pt, optional)", key="user_weights")
    id_dataset = bar.selectbox("ID dataset", [*DATASET_NAMES, ID_FOLDER], key="user_id_dataset")
    if id_dataset == ID_FOLDER:
        id_dataset = bar.text_input("ID image folder", key="user_id_folder", placeholder="flowers",
                                    help=f"{id_folders.LAYOUT_HELP}. {dashboard_data_help()}").strip()
    if not model:
        st.info("Give the model as `path/to/file.py:factory` in the sidebar (the factory returns a torch.nn.Module).")
        return None
    if not id_dataset:
        st.info(f"Give the ID image folder in the sidebar: a folder inside ${DATA_DIR_ENV} with one sub-folder of "
                "pictures per class.")
        return None
    return Ids(model, weights, id_dataset)


def load_model(ids: Ids):
    """(experiment, detector with the automatic MDL), or None after showing why they cannot load."""
    try:
        # once loaded in this server, skip the check (it hashes the checkpoint file)
        if ids.model in BUILTIN and not is_ready(("experiment", *ids[:3])) and not builtin_is_trained(ids.model):
            if not _may_train(ids.model):
                return None
            train_with_bar(ids.model, loaders.first_use_estimate(ids.model),
                           lambda on_step: loaders.train_builtin(ids.model, on_step))
        if is_ready(("detector", *ids[:3])):  # loaded in this server before: from memory
            experiment, auto = loaders.experiment(ids), loaders.detector(ids)
        else:
            experiment, auto = first_load(ids)
    except Exception as error:  # a user's model can raise anything: one line here, the traceback in the log
        show_error(error, f"loading {ids.model}", "Cannot load this model: ", quoted=QUOTED)
        return None
    return experiment, auto


def _may_train(model: str) -> bool:
    """Whether to train the built-in ``model`` in this run. A first use trains, saying how long; damaged
    shipped weights are named, with how long training takes, and training waits for the visitor's click;
    where the server forbids training, one message says how to fix it."""
    problem = shipped_problem(model)
    restore = ""
    if problem is not None:
        root = Path(classifiers.__file__).resolve().parents[2]  # the project: detector/models/classifiers.py
        file = classifiers.SHIPPED_DIR / shipped_manifest()[model]["file"]
        where = file.relative_to(root) if file.is_relative_to(root) else file
        restore = (f"Whoever runs the server can restore the file from the project's checkout "
                   f"(git checkout -- {where.as_posix()}) or by reinstalling the project, then reload this page.")
    why = f"The shipped weights of {model} cannot be used: {problem}." if problem else ""
    if not training_allowed():
        fix = restore or (f"Whoever runs the server can train it once from the command line "
                          f"(python -m detector layers --model {model}), then reload this page.")
        st.error(literal(f"{why or f'{model} is not trained on this server.'} Training from the dashboard is "
                         f"switched off here ({TRAINING_ENV}=0). {fix}"))
        return False
    if problem is None:
        return True  # a first use: train_with_bar says what it does and how long
    estimate = loaders.first_use_estimate(model)
    st.warning(literal(f"{why} {restore} Or train it here: {estimate.describe()}"))
    return st.button(f"Train {model} here (about {estimate.total_duration})", key=f"_train_{model}")


def first_load(ids: Ids):
    """The first load of a model in this server, step by step in a status box: the network and its data,
    then (with an estimate said before it starts) the detector's features, its SVDDs and the test accuracy."""
    started = time.monotonic()
    slot = st.empty()
    try:
        with slot.status(f"Loading {literal(ids.model)}: the network and {literal(ids.id_dataset)}…", expanded=True) as box:
            experiment = loaders.experiment(ids)
            loaded = time.monotonic() - started
            plan = loaders.fit_plan(ids)
            estimate = loaders.fit_estimate(ids, plan)
            total = loaded + estimate.total_s
            box.update(label=f"Loading {literal(ids.model)}: about {total:.0f} s on this machine (the first time in this server)")
            st.markdown(f"1. ✓ the network and {literal(ids.id_dataset)} ({loaded:.0f} s)")
            lines = [st.empty() for _ in estimate.steps]
            for k, (line, (_, what, seconds)) in enumerate(zip(lines, estimate.steps), start=2):
                line.markdown(f"{k}. {what} (~{seconds:.0f} s)")
            bar = st.empty()
            run = {"features": lambda: loaders.mdl_features(ids, plan.mdl, lambda done, of, _: bar.progress(
                       done / of, text=f"{done:,} / {of:,} images")),
                   "fit": lambda: loaders.detector(ids), "accuracy": lambda: loaders.accuracy_check(ids)}
            for k, (line, (kind, what, _)) in enumerate(zip(lines, estimate.steps), start=2):
                line.markdown(f"{k}. **{what}** …")
                step_started = time.monotonic()
                run[kind]()
                bar.empty()
                line.markdown(f"{k}. ✓ {what} ({time.monotonic() - step_started:.0f} s)")
            auto = loaders.detector(ids)  # from memory now
    finally:
        slot.empty()  # on an error too: the caller's message takes the box's place
    mark_ready(("experiment", *ids[:3]), ("detector", *ids[:3]))
    st.toast(f"{literal(ids.model)} loaded in {time.monotonic() - started:.0f} s (estimated {total:.0f} s)",
             icon=":material/check_circle:")
    return experiment, auto

