"""Layers: why the MDL was chosen (mix-set error) and how well each layer alone separates each set."""

import streamlit as st

from dashboard import figures, loaders, views
from dashboard.page_helpers import need_anomalies
from dashboard.pickers import set_layer
from dashboard.progress import is_ready, with_status
from dashboard.sidebar import context

ctx = context()
need_anomalies(ctx)
st.title("Layers")
st.caption("Step 1 of the method: a per-class SVDD on every candidate layer, thresholds at 95 % TPR of held-out ID "
           "data; the **MDL** is the layer with the fewest errors on held-out ID plus a generated *mix* set "
           "(shuffled, blurred, inverted, tiled and blended ID images; no evaluated set). The AUROCs show each "
           "layer's SVDD alone on your anomaly sets (per-class weighted, %); the logit row is the second detector. "
           "*reduction* says how a layer's output became one vector per input: each channel's mean over the "
           "image (the paper's), with its spread (std) too for a block whose output is signed (a MobileNet's "
           "linear bottleneck), a transformer's class token or token mean.")

key = ("layer_table", ctx.ids)
notice = st.empty()
if not is_ready(key):  # say how long before a long computation, as the first use of a model does
    notice.info(loaders.layer_table_estimate(ctx.ids).describe())
table = with_status("Fitting an SVDD on every layer and scoring every set with each…", key,
                    lambda: loaders.layer_table(ctx.ids))
notice.empty()
st.plotly_chart(figures.layer_bars(table), key="layer_errors")
st.plotly_chart(figures.layer_aurocs(table), key="layer_aurocs")
st.dataframe(figures.best_marked(table, columns=[c for c in table.columns if c.startswith("AUROC ")]),
             hide_index=True, key="layer_table")

candidates = views.candidate_layers(ctx.experiment)
left, right = st.columns([2, 1])
left.selectbox("Use another layer as MDL", candidates, index=candidates.index(ctx.detector.mdl_), key="layers_pick",
               format_func=lambda n: f"{n}  ★ MDL" if n == ctx.auto_mdl else n)
right.button("Use this layer", key="layers_use", on_click=set_layer, args=(ctx, "layers_pick"), width="stretch")
