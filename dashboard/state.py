"""Per-session state: the :class:`Context` every page reads, and choices kept across pages.

Each browser session has its own ``st.session_state``; a widget's own key is dropped when its page
is left, so a choice that must survive page changes is copied to a key of its own
(:func:`persistent` with :func:`keep` as the widget's callback).
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from detector.evaluation.evaluate import beta_of

from .loaders import Ids


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


def keep(widget_key: str, state_key: str) -> None:
    """Widget callback: copy the widget's value to a key that survives page changes."""
    st.session_state[state_key] = st.session_state[widget_key]


def persistent(state_key: str, default):
    """The value kept under ``state_key``, initialised to ``default``; use with :func:`keep`."""
    if state_key not in st.session_state:
        st.session_state[state_key] = default
    return st.session_state[state_key]
