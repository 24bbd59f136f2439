"""The sidebar's pickers once a model is loaded: anomaly sets (named sets and image folders) and the MDL."""

from __future__ import annotations

import streamlit as st

from detector.data.datasets import DATASET_NAMES
from detector.errors import DataError

from . import loaders, state, views
from .loaders import Ids
from .messages import literal, show_warning
from .model_folder import dashboard_data_help, dashboard_folder
from .progress import with_status

DEFAULT_SETS = ("fashion-mnist", "mnist", "gaussian")


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
        except Exception as error:  # a loop of links, a name too long for the system...: one line each
            show_warning(error, "checking an anomaly folder", f"**{literal(line)}**: ", st.sidebar)
    return found


def pick_anomalies(ids: Ids) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The chosen anomaly sets that could be loaded, and the image folders among them; the others get a
    sidebar warning."""
    choices = views.anomaly_choices(ids.id_dataset)
    default = default_anomalies(ids.id_dataset)
    kept = state.anomaly_choice(ids.model, default)
    chosen = st.sidebar.multiselect("Anomaly sets", list(choices), default=kept.value(),
                                    format_func=lambda n: f"{n} ({choices[n]})", **kept.widget_args(),
                                    help="OOD datasets, noise, fooling images and adversarial "
                                    "attacks. Attacks are computed on first use (minutes) and cached.")
    loaded = []
    for name in chosen:
        try:
            with_status(f"Loading the anomaly set {literal(name)} (attacks and fooling images take minutes the first time; "
                        "cached on disk)…", ("anomaly", *ids[:3], name), lambda: loaders.anomaly(ids, name))
            loaded.append(name)
        except Exception as error:  # an anomaly generator that fails must not take the page down
            show_warning(error, f"computing the anomaly set {name}", f"**{literal(name)}**: ", st.sidebar)
    files = []
    for name, folder in _folder_sets(choices):
        try:
            with_status(f"Reading the folder {literal(name)}…", ("anomaly", *ids[:3], name, folder),
                        lambda: loaders.anomaly(ids._replace(anomaly_files=((name, folder),)), name))
            loaded.append(name)
            files.append((name, folder))
        except Exception as error:  # a broken picture in it, a file removed since it was listed...
            show_warning(error, f"reading the anomaly folder {name}", f"**{literal(name)}**: ", st.sidebar)
    return tuple(loaded), tuple(files)


def pick_layer(ids: Ids, experiment, auto_mdl: str) -> str:
    layers = views.candidate_layers(experiment)
    choice = state.layer_choice(ids.model)
    if choice.value() not in layers:
        choice.kept.set(auto_mdl)
    # the box shows the layer's own name (a ResNet's MDL is e.g. layer2.0, which the label "layer 1" contradicted);
    # it starts from the kept choice, also when Streamlit has dropped the box's own state
    return st.sidebar.selectbox("MDL (Most Discriminative Layer)", layers, index=layers.index(choice.value()),
                                format_func=lambda n: f"{n}  ★ MDL" if n == auto_mdl else n, **choice.widget_args(),
                                help="the Most Discriminative Layer, whose SVDD gives the MDL score; ★ marks the layer "
                                     "chosen on the mix set (fewest errors); pick another to compare.")


def set_layer(ctx, widget_key: str) -> None:
    """Callback: make the layer picked in ``widget_key`` the sidebar's MDL choice."""
    choice = state.layer_choice(ctx.ids.model)
    choice.kept.set(state.widget_value(widget_key))
    st.session_state.pop(choice.widget, None)  # the box starts again from the kept choice
