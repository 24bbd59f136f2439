"""The shared sidebar, step by step (model, anomaly sets, MDL, points), and the per-session
:class:`~dashboard.state.Context` every page reads.

app.py calls :func:`sidebar` once per run and stores the context; a page calls :func:`context` first.
The steps live by concern: :mod:`~dashboard.model_loading`, :mod:`~dashboard.pickers`,
:mod:`~dashboard.progress` and :mod:`~dashboard.state`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from . import loaders, state
from .loaders import DEFAULT_NU, Ids
from .messages import literal
from .model_loading import load_model, pick_model
from .pickers import pick_anomalies, pick_layer
from .progress import start_folder_bar, with_status
from .state import Context


def navigation_only() -> None:
    """Switch off Streamlit's old "pages directory" layout: the one use of a Streamlit internal for it.

    Our pages live in pages/ (the project's layout), which Streamlit also reads as that old
    layout: until st.navigation is first called in a server, a request for /tune would run
    pages/tune.py on its own, without app.py. Checked with Streamlit 1.67: still so, and no public
    option switches it off. This is called when this module is imported (by app.py and every page);
    :func:`context` reruns a page that ran before it through app.py, and AppTest runs go through
    :func:`navigation_only_in_apptest`.
    """
    PagesManager.uses_pages_directory = False


@contextmanager
def navigation_only_in_apptest() -> Iterator[None]:
    """While it lasts, AppTest runs the app as a server does once st.navigation has been called: its runner
    makes a new PagesManager before every run, which turns the old layout on again."""
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        navigation_only()

    PagesManager.__init__ = init
    try:
        yield
    finally:
        PagesManager.__init__ = original


navigation_only()


#: What a model switch hides while the new model loads: every element the run has not drawn again yet
HIDE_STALE = ('[data-testid="stMain"] [data-stale="true"], [data-testid="stSidebar"] [data-stale="true"] '
              "{display: none !important;}")


def _detector(ids: Ids):
    """The detector of ``ids``; its first fit in this session is shown as a status box."""
    fitted = state.FITTED.setdefault()
    if ids.layer == "auto" or (ids.layer, ids.nu) in fitted:
        return loaders.detector(ids)
    slot = st.empty()
    with slot.status(f"Fitting the SVDDs on {literal(ids.layer)} and the logits (ν = {ids.nu:g})…", expanded=False):
        detector = loaders.detector(ids)
    slot.empty()
    fitted.add((ids.layer, ids.nu))
    return detector


def sidebar() -> Context | None:
    """The shared pickers; returns the loaded context, or None after showing why it cannot load."""
    start_folder_bar()  # at the top of the page: every pass over an image folder in this run draws here
    loaders.warm_numba()
    st.sidebar.header("Experiment")
    model_ids = pick_model()
    if model_ids and state.SHOWN_MODEL.present and state.SHOWN_MODEL.get() != model_ids:
        # another model: the old one's charts, and in the sidebar its sets, MDL and accuracy, would stay greyed
        # (stale) while the new one loads, and no public API hides a previous run's elements before this run
        # reaches them: CSS on Streamlit's markup
        st.html(f"<style>{HIDE_STALE}</style>")
    state.SHOWN_MODEL.set(model_ids)
    loaded = model_ids and load_model(model_ids)
    if not loaded:
        return None
    experiment, auto = loaded
    anomalies, anomaly_files = pick_anomalies(model_ids)
    layer = pick_layer(model_ids, experiment, auto.mdl_)
    points = st.sidebar.slider("Points per set (projections)", 50, 1000, state.POINTS.value(), 50,
                               **state.POINTS.widget_args())
    nu = float(state.NU.value())
    same_as_auto = layer == auto.mdl_ and nu == DEFAULT_NU
    ids = model_ids._replace(layer="auto" if same_as_auto else layer, nu=nu, anomalies=anomalies,
                             anomaly_files=anomaly_files)
    detector = _detector(ids)
    state.BETA_WEIGHT.value(), state.CONF_WEIGHT.value()
    check = with_status("Classifying the ID test split (first time only)…", ("accuracy", *model_ids[:3]),
                        lambda: loaders.accuracy_check(model_ids))
    st.sidebar.caption(f"ν = {nu:g} · test accuracy {100 * check.accuracy:.1f} % · β is set on the Tune page")
    if warning := check.warning(dashboard=True):  # on every page, above its content
        st.error(f"**{check.title}**: {literal(warning)}", icon=":material/warning:")
    return Context(ids, experiment, detector, auto.mdl_, loaders.anomalies(ids), experiment.class_names, points)


def context() -> Context:
    """The context app.py built for this run (pages call this first)."""
    if state.APP_RAN.pop():
        ctx = state.CONTEXT.get()
    elif not state.REROUTED.get():  # a page run without app.py (see navigation_only):
        state.REROUTED.set(True)  # run again, now through app.py's st.navigation
        st.rerun()
    else:
        ctx = state.CONTEXT.set(sidebar())
    if ctx is None:
        st.stop()
    return ctx
