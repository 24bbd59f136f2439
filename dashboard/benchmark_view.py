"""What the Benchmark page shows before anything is computed: the committed report's cells of a built-in model."""

from __future__ import annotations

import streamlit as st

from detector.evaluation.committed import CommittedReport, committed_report
from detector.models.classifiers import BUILTIN, shipped_manifest, shipped_weights

from .loaders import Ids


@st.cache_data(show_spinner=False)
def _report(model: str, weights_hash: str | None) -> CommittedReport | None:
    return committed_report(model, weights_hash=weights_hash)


def builtin_report(ids: Ids) -> CommittedReport | None:
    """The committed report of a built-in model on its own dataset with its shipped weights (whose cells it
    holds), else None."""
    if ids.model not in BUILTIN or ids.weights or ids.id_dataset != BUILTIN[ids.model].dataset:
        return None
    if shipped_weights(ids.model) is None:  # trained here: another network than the report's
        return None
    return _report(ids.model, shipped_manifest()[ids.model].get("weights_hash"))  # cells of these weights only
