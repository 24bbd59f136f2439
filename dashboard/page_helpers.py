"""Small helpers the pages share (no maths here)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from detector import cache

from .state import Context


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
