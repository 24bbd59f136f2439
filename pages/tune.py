"""Tune: beta and nu sliders; metrics, ROC curves, histograms and Fig. 7 update live."""

import streamlit as st

from dashboard import loaders as load, shared, views
from dashboard.glossary import explain
from dashboard.loaders import DEFAULT_NU
from dashboard.messages import code
from dashboard.page_helpers import need_anomalies, tuned_path
from dashboard.sidebar import context
from dashboard.state import BETA_WEIGHT, CONF_WEIGHT, NU, TUNE_BEFORE, TUNE_SHOWN
from detector.evaluation import evaluate as ev
from detector.evaluation.judging import DEFAULT_METHOD

ctx = context()
need_anomalies(ctx)
st.title("Tune β and ν")
st.caption("g_i(x) = β₁·MDL score + β₂·logit score + β₃·confidence score (β₃ = 0 is the paper's detector); an "
           "input predicted as class i is an anomaly when g_i(x) < τ_i, "
           "τ_i keeping 95 % of held-out ID inputs of class i. **per-class**: the paper's weighted metrics with τ_i; "
           "**global**: one threshold over all ID test scores. Values in %.")
st.info(f"Inspect and `check` judge with **{DEFAULT_METHOD}** by default (its own weights, picked on generated "
        "anomalies); the β set here is the paper's detector's (`ours`), one choice away on Inspect.")
with st.expander("What do β, τ, ν and the metrics mean?"):
    st.markdown(explain("β", "τ", "ν", "SVDD", "TNR at 95 % TPR", "TPR", "AUROC", "γ"))

nu = NU.value()
st.select_slider("ν — SVDD slack bound (refits the SVDDs of both layers; cached afterwards)", views.NU_CHOICES,
                 value=nu if nu in views.NU_CHOICES else DEFAULT_NU, **NU.widget_args())
data = load.score_data(ctx.ids)
# computed here, behind their loading boxes; the figures below read them from the same cache
load.auroc_curve(ctx.ids)
load.auroc_simplex(ctx.ids)
model = shared.fingerprint(ctx.ids)  # every table and figure below is shared by the sessions that ask for the same
names = tuple(ctx.class_names)


WEIGHTS = (BETA_WEIGHT, CONF_WEIGHT)  # the two sliders, kept across pages
#: Tune's charts, one group drawn at a time: with all four redrawn, a β move cost a browser 0.78 s
#: of CPU, with one group 0.33 s (the numbers alone about 0.2 s)
CHARTS = ("Fig. 7 and the ternary map", "ROC curves", "Score histograms")


def weights_moved(moved, other) -> None:
    """The slider just moved keeps its value and the other gives way, so that β₂ + β₃ ≤ 1: the
    sliders always read the β in force (0.50 and 1.00 once stood for β = (0, 0.33, 0.67))."""
    if moved.widget_value() + other.widget_value() > 1:
        other.set_widget(round(1.0 - moved.widget_value(), 2))
    for weight in WEIGHTS:
        weight.keep()


@st.fragment
def beta_view():
    if any(not weight.kept_in_widget() for weight in WEIGHTS):  # seeded here, not by value=: the callback moves them
        _, weight, conf = ev.beta_of(BETA_WEIGHT.value(), CONF_WEIGHT.value())
        BETA_WEIGHT.set_widget(weight)
        CONF_WEIGHT.set_widget(conf)
    left, right = st.columns(2)
    weight = left.slider("β₂ — weight of the logit score (0 = no logits)", 0.0, 1.0, step=0.05,
                         key=BETA_WEIGHT.widget, on_change=weights_moved, args=(BETA_WEIGHT, CONF_WEIGHT))
    conf = right.slider("β₃ — weight of the classifier's confidence (0 = the paper's detector)", 0.0, 1.0, step=0.05,
                        key=CONF_WEIGHT.widget, on_change=weights_moved, args=(CONF_WEIGHT, BETA_WEIGHT))
    beta = ev.beta_of(weight, conf)
    st.caption(f"β = ({beta[0]:.2f}, {beta[1]:.2f}, {beta[2]:.2f}): β₁ = 1 − β₂ − β₃ weighs the MDL score; moving one "
               "slider past the other lowers the other, so that the three sum to 1")
    table, heads = shared.tune_metrics(ctx.ids, model, beta)
    # deltas against the last other setting shown (beta, or nu and the sets): a rerun with the same one keeps them
    shown = TUNE_SHOWN.get()
    if shown and shown[0] != (ctx.ids, beta):
        TUNE_BEFORE.set(shown)
    TUNE_SHOWN.set(((ctx.ids, beta), heads))
    before = TUNE_BEFORE.get()
    since = f"change since β = ({', '.join(f'{b:.2f}' for b in before[0][1])})" if before else ""
    cols = st.columns(4)
    for col, (weighting, head) in zip((cols[:2], cols[2:]), heads.items()):
        for box, metric in zip(col, ev.METRIC_COLUMNS):
            delta = f"{head[metric] - before[1][weighting][metric]:+.2f}" if before else None
            box.metric(f"{weighting} {metric}", f"{head[metric]:.2f}", delta=delta,
                       help=f"mean over the anomaly sets, %; {since}" if before else "mean over the anomaly sets, %")
    st.dataframe(table.style.format(precision=2), hide_index=True, key="metrics_table")

    charts = st.segmented_control("Charts", CHARTS, default=CHARTS[0], key="tune_charts",
                                  help="One group at a time: a β move redraws only the charts shown") or CHARTS[0]
    if charts == CHARTS[0]:
        left, right = st.columns(2)
        weighting = left.radio("Weighting of the maps", ["per-class", "global"], horizontal=True, key="fig7_weighting")
        shown = right.selectbox("Ternary map of", ["mean over the sets", *data.anomalies], key="ternary_set")
        left.plotly_chart(shared.figure(shared.beta_curve(ctx.ids, model, weight, weighting)), key="fig7")
        anomaly = None if shown == "mean over the sets" else shown
        right.plotly_chart(shared.figure(shared.ternary(ctx.ids, model, beta, anomaly, weighting)), key="ternary")
    elif charts == CHARTS[1]:
        st.plotly_chart(shared.figure(shared.roc(ctx.ids, model, beta)), key="roc")
    else:
        st.plotly_chart(shared.figure(shared.histograms(ctx.ids, model, beta, names)), key="histograms")

    chosen = st.selectbox("Per-class detail for", list(data.anomalies), key="tune_set")
    st.dataframe(shared.per_class(ctx.ids, model, beta, chosen, names).style.format(precision=3), hide_index=True)

    with st.expander("Save the tuned detector"):
        if st.button("Save", key="save_tuned"):
            path = views.save_tuned(ctx.detector, beta, tuned_path(ctx, beta))
            st.success(f"Saved to {code(path)} (load with `UniformDetector.load(path, model)`).")
            st.download_button("Download", path.read_bytes(), file_name=path.name, key="download_tuned",
                               on_click="ignore")


beta_view()

with st.expander("ours+knn's weights (four terms)"):
    st.caption("ours+knn adds a fourth term, the distance to the k-th nearest training input in the penultimate "
               "features; k and β are picked on generated anomalies only. Its β is fixed: the sliders above move the "
               "three-term detector.")
    if st.button("Show ours+knn's weights", key="knn_weights"):
        knn = load.knn_detector(ctx.ids)
        st.dataframe(views.term_weights(knn).style.format({"β": "{:.2f}"}), hide_index=True)
