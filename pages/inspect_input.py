"""Inspect: one input (from a set, drawn or uploaded) -> prediction, verdict, both layer scores against tau_i."""

import streamlit as st

from dashboard import figures, inputs, loaders, projection_charts, views
from dashboard.sidebar import context, enlarge_tooltip_images
from detector.evaluation import evaluate as ev
from detector.evaluation import projection
from detector.method.verdicts import judge

ctx = context()
st.title("Inspect an input")
st.caption("Pick an input from any set, draw one, or upload a picture (PNG / JPEG) or a .npy array. Dark ink on light "
           "paper is inverted to match the white-on-black training digits.")

sets = {f"{ctx.experiment.id_dataset} (ID test)": ctx.experiment.test.images}
sets.update({name: a.images for name, a in ctx.anomalies.items()})
source = st.radio("Input", ["from a set", "draw", "upload"], horizontal=True, key="inspect_source")
shape = ctx.experiment.model.input_shape
if source == "from a set":
    picked = inputs.from_set(sets)
else:
    mnist_style = inputs.mnist_style_toggle(shape)
    picked = (inputs.from_canvas if source == "draw" else inputs.from_upload)(shape, mnist_style)
image, notes = picked.image, picked.notes

if image is not None:
    beta = ctx.beta
    verdict = judge(ctx.detector.with_beta(beta), image)[0]
    left, right = st.columns([1, 2])
    shown = [views.display_images(image)[0]]
    captions = ["model input" + ("; " + "; ".join(notes) if notes else "")]
    if picked.original is not None:  # the drawing or picture beside what the model sees
        shown, captions = [picked.original, *shown], ["as drawn / uploaded", *captions]
    left.image(shown, width=196 if len(shown) == 1 else 140, caption=captions)
    label = ctx.class_names[verdict.predicted]
    right.metric("Prediction", f"{label}", f"{100 * verdict.probability:.2f} % softmax", delta_color="off", delta_arrow="off")
    if verdict.is_anomaly:
        right.error(f"**Anomaly**: g = {verdict.score:.3f} < τ_{label} = {verdict.tau:.3f}")
    else:
        right.success(f"**Normal**: g = {verdict.score:.3f} ≥ τ_{label} = {verdict.tau:.3f}")
    cols = right.columns(4)
    cols[0].metric(f"MDL score ({ctx.detector.mdl_})", f"{verdict.mdl:.3f}")
    cols[1].metric("logit score", f"{verdict.logit:.3f}")
    cols[2].metric("confidence score", f"{verdict.conf:.3f}", help="the softmax probability, normalised per class")
    cols[3].metric(f"g = {beta[0]:.2f}·MDL + {beta[1]:.2f}·logit + {beta[2]:.2f}·conf.", f"{verdict.score:.3f}")
    scores = ev.scores_frame(loaders.score_data(ctx.ids), beta, ctx.class_names)
    scores = scores[scores["predicted"] == verdict.predicted]
    st.plotly_chart(figures.score_plane(scores, views.decision_line(verdict.tau, beta, verdict.conf),
                                       f"Where it lands among inputs predicted as {label} (below the line: anomaly)",
                                       (verdict.mdl, verdict.logit)), key="inspect_plane")

    if st.toggle("Show where it lands in the UMAP of the MDL (refits the projection with this input; seconds)",
                 key="inspect_umap"):
        points = loaders.explore_points(ctx.ids, (ctx.detector.mdl_,), ctx.points)
        slot = st.empty()
        with slot.status("Projecting the shown points and this input together…"):
            frame = views.place_input(points, ctx.experiment.extractor, image, ctx.detector.mdl_, projection.DEFAULT_NEIGHBORS,
                                   projection.DEFAULT_MIN_DIST)
        slot.empty()
        enlarge_tooltip_images()
        frame = views.with_scores(frame, points, beta, ctx.detector.thresholds_for(beta))
        frame["image"] = [*loaders.explore_image_urls(ctx.ids, (ctx.detector.mdl_,), ctx.points), ""]
        st.altair_chart(projection_charts.placed(frame, ctx.class_names, f"{ctx.detector.mdl_}: this input among {ctx.points} "
                                      "inputs of each set (hover to see them)"), key="inspect_umap_chart", width="stretch")
