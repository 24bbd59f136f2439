"""Per-session state: the :class:`Context` every page reads, and every key of ``st.session_state``, typed.

Each browser session has its own ``st.session_state``. Pages and the sidebar read and write it only
through the :class:`Key` and :class:`Kept` objects declared here, never by raw strings: a key's
name, type and default live in one place. A widget's own key is dropped when its page is left, so a
choice that must survive page changes is a :class:`Kept`: the widget's key, and the key its value is
copied to by the widget's callback.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

import streamlit as st

from detector.evaluation.evaluate import beta_of

if TYPE_CHECKING:
    from .loaders import Ids

T = TypeVar("T")


@dataclass(frozen=True)
class Key(Generic[T]):
    """One entry of the session's state: its name, and the default a new session starts from."""

    name: str
    default: Callable[[], T]

    def get(self) -> T:
        return st.session_state[self.name] if self.name in st.session_state else self.default()

    def set(self, value: T) -> T:
        st.session_state[self.name] = value
        return value

    def setdefault(self) -> T:
        """The value, stored as the default first when the session has none."""
        if self.name not in st.session_state:
            st.session_state[self.name] = self.default()
        return st.session_state[self.name]

    def pop(self) -> T:
        return st.session_state.pop(self.name, self.default())

    @property
    def present(self) -> bool:
        return self.name in st.session_state


@dataclass(frozen=True)
class Kept(Generic[T]):
    """A widget whose value survives page changes: give the widget ``**kept.widget_args()``."""

    widget: str  # the widget's own key, dropped by Streamlit when its page is left
    kept: Key[T]  # where its value lives across pages

    def value(self) -> T:
        """The kept value (its default in a new session)."""
        return self.kept.setdefault()

    def keep(self) -> None:
        """Widget callback: copy the widget's value to the key that survives page changes."""
        self.kept.set(st.session_state[self.widget])

    def widget_args(self) -> dict[str, Any]:
        return {"key": self.widget, "on_change": self.keep}

    def kept_in_widget(self) -> bool:
        """Whether the widget holds a value in this session (it is dropped when its page is left)."""
        return self.widget in st.session_state

    def widget_value(self) -> T:
        """The widget's value in this run (its kept value before the widget is first drawn)."""
        return st.session_state[self.widget] if self.widget in st.session_state else self.value()

    def set_widget(self, value: T) -> None:
        """Move the widget (from a callback, before it is drawn again)."""
        st.session_state[self.widget] = value


def _constant(value):
    return lambda: value


def _default_of(module: str, name: str):
    """A default defined in another dashboard module, read when first needed (those modules import this one)."""
    return lambda: getattr(importlib.import_module(module), name)


# ------------------------------------------------------------------ what app.py and the sidebar keep
#: the context app.py built for this run; None when the sidebar could not load it
CONTEXT: Key[Context | None] = Key("_context", _constant(None))
#: set by app.py before it runs the page: the page was reached through st.navigation
APP_RAN: Key[bool] = Key("_app_ran", _constant(False))
#: a page run without app.py has been run again once (see dashboard.sidebar.context)
REROUTED: Key[bool] = Key("_rerouted", _constant(False))
#: (layer, nu) pairs whose SVDDs this session has seen fitted (the first fit gets a status box)
FITTED: Key[set] = Key("_fitted", set)
#: the model of the last run, to hide the previous model's stale charts while another loads
SHOWN_MODEL: Key[Ids | None] = Key("_shown_model", _constant(None))
#: this run's progress bar for passes over image folders (dashboard.progress.FolderBar)
FOLDER_BAR: Key[Any] = Key("_folder_bar", _constant(None))


def layer_choice(model: str) -> Kept[str | None]:
    """The sidebar's MDL choice for ``model`` (kept per model). Kept outside the selectbox's own state:
    Streamlit may drop that state between runs, and the selectbox then fell back to its first option
    (the network's first layer) for the rest of the session, under a class's load."""
    return Kept(f"_layer:{model}", Key(f"layer:{model}", _constant(None)))


def anomaly_choice(model: str, default: list[str]) -> Kept[list[str]]:
    """The anomaly sets chosen for ``model``."""
    return Kept(f"_sets:{model}", Key(f"sets:{model}", _constant(list(default))))


# ------------------------------------------------------------------ choices kept across pages
def kept(widget: str, name: str, default) -> Kept:
    return Kept(widget, Key(name, default if callable(default) else _constant(default)))


MODEL: Kept[str] = kept("_model", "model", _default_of("dashboard.model_loading", "DEFAULT_MODEL"))
POINTS: Kept[int] = kept("_points", "points", _default_of("dashboard.loaders", "POINTS"))  # per set, projections
NU: Kept[float] = kept("_nu", "nu", _default_of("dashboard.loaders", "DEFAULT_NU"))  # set on the Tune page


# ------------------------------------------------------------------ pages
#: the Inspect page's input source (a radio's key; the Start page's button sets it to "draw")
INSPECT_SOURCE: Key[str] = Key("inspect_source", _constant("from a set"))
#: the Explore page's selection: {"points": which points, "rows": selected rows}
EXPLORE_SELECTION: Key[dict] = Key("explore_selection", dict)
#: how many times "Clear selection" started new Explore charts (a part of their keys: a chart keeps its own box)
EXPLORE_CHARTS: Key[int] = Key("explore_charts", _constant(0))
#: the rows each Explore chart showed selected in its last run
EXPLORE_SEEN: Key[dict] = Key("_explore_seen", dict)
#: the Tune page's headline figures shown last, and those of the setting before (for the deltas)
TUNE_SHOWN: Key[tuple | None] = Key("_tune_shown", _constant(None))
TUNE_BEFORE: Key[tuple | None] = Key("_tune_before", _constant(None))


def chart_selection(key: str) -> dict:
    """The selection state of the chart drawn with ``key`` (empty before it is drawn)."""
    return st.session_state.get(key) or {}


def widget_value(key: str):
    """The value of the widget drawn with ``key`` in this run."""
    return st.session_state[key]


# ------------------------------------------------------------------ beta (set on the Tune page)
BETA_WEIGHT: Kept[float] = kept("_beta", "beta_weight", 0.5)  # beta_2, the weight of the logit score
CONF_WEIGHT: Kept[float] = kept("_beta_conf", "conf_weight", 0.0)  # beta_3, of the confidence (0: the paper's)


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
        return float(BETA_WEIGHT.kept.get())

    @property
    def conf_weight(self) -> float:
        """beta_3, the weight of the confidence score (0: the paper's detector)."""
        return float(CONF_WEIGHT.kept.get())

    @property
    def beta(self) -> tuple[float, float, float]:
        return beta_of(self.beta_weight, self.conf_weight)
