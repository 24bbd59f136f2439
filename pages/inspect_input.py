"""Inspect: one input (from a set, drawn or uploaded) -> prediction, verdict, both layer scores against tau_i."""

import streamlit as st

from dashboard import figures, inputs, loaders, projection_charts, views
from dashboard.messages import chart_text, literal
from dashboard.page_helpers import enlarge_tooltip_images
from dashboard.sidebar import context
from detector.evaluation import evaluate as ev, projection
from detector.evaluation.judging import DEFAULT_METHOD

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

method = st.selectbox("Detector", loaders.INSPECT_METHODS, key="inspect_method", format_func=lambda m: {
    DEFAULT_METHOD: f"{m} (the default: the best here on drawn and look-alike inputs)",
    "ours": "ours (the paper's detector, with β from Tune)"}.get(m, m))

if image is not None:
    beta = ctx.beta if method == "ours" else None  # the others judge with their own β
    detector = loaders.judging_detector(ctx.ids, method)
    why = loaders.explainer(ctx.ids, method).explain(image, ctx.class_names, beta)[0]
    verdict = why.verdict
    beta = verdict.beta
    left, right = st.columns([1, 2])
    shown = [views.display_images(image)[0]]
    captions = ["model input" + ("; " + "; ".join(notes) if notes else "")]
    if picked.original is not None:  # the drawing or picture beside what the model sees
        shown, captions = [picked.original, *shown], ["as drawn / uploaded", *captions]
    left.image(shown, width=196 if len(shown) == 1 else 140, caption=captions)
    label = ctx.class_names[verdict.predicted]
    shown_label = literal(label)  # a class is a folder's name: shown as it is, never as Markdown
    right.metric("Prediction", f"{label}", f"{100 * verdict.probability:.2f} % softmax", delta_color="off", delta_arrow="off")
    if verdict.is_anomaly:
        right.error(f"**Anomaly** ({method}): g = {verdict.score:.3f} < τ\\_{shown_label} = {verdict.tau:.3f}")
    else:
        right.success(f"**Normal** ({method}): g = {verdict.score:.3f} ≥ τ\\_{shown_label} = {verdict.tau:.3f}")
    helps = {"MDL": f"the SVDD score on {literal(detector.mdl_)}, normalised per class",
             "logit": "the SVDD score on the logits, normalised per class",
             "confidence": "the softmax probability, normalised per class",
             "kNN": "minus the distance to the k-th nearest training input in the penultimate features, normalised per class"}
    cols = right.columns(len(verdict.terms) + 1)  # short labels (a long one was cut); the formula is in the help and the caption
    for col, (name, value, weight) in zip(cols, verdict.terms):
        col.metric(name, f"{value:.3f}", help=helps[name] + ("" if weight else "; weight 0: does not count"))
    formula = "g = " + " + ".join(f"{weight:.2f}·{name}" for name, _, weight in verdict.terms)
    cols[-1].metric("g", f"{verdict.score:.3f}", help=formula)
    right.caption(f"{formula} = {verdict.score:.3f}; g − τ = {verdict.score - verdict.tau:+.3f} "
                  "(how far past the threshold, negative = anomaly)")
    scores = ev.scores_frame(loaders.score_data(ctx.ids, method), beta, ctx.class_names)
    scores = scores[scores["predicted"] == verdict.predicted]
    st.plotly_chart(figures.score_plane(scores, views.decision_line(verdict.tau, beta, verdict.conf, verdict.knn),
                                       f"Where it lands among inputs predicted as {chart_text(label)} (below the line: anomaly)",
                                       (verdict.mdl, verdict.logit)), key="inspect_plane")

    st.subheader("Why this verdict")
    head, *details = why.notes
    (st.warning if verdict.is_anomaly else st.success)(literal(head))
    for note in details:
        st.text(f"• {note}")  # literal: class names are the user's
    if why.ink is not None:
        (area, width), ((area_lo, area_hi), (width_lo, width_hi)) = why.ink, why.ink_range
        st.caption(f"Ink area {100 * area:.1f} % of the pixels (training {shown_label}s, middle 98 %: {100 * area_lo:.1f}–"
                   f"{100 * area_hi:.1f} %); stroke width {width:.1f} px ({width_lo:.1f}–{width_hi:.1f} px).")
    names = [f"{name} ({detector.mdl_})" if name == "MDL" else name for name, _, _ in verdict.terms]
    st.plotly_chart(figures.term_bars([*(value for _, value, _ in verdict.terms), verdict.score], [*why.term_taus, verdict.tau],
                                      [*names, "g (combined)"], [*(weight for _, _, weight in verdict.terms), 1.0]),
                    key="inspect_terms")
    train = ctx.experiment.train
    for near in why.neighbours:
        st.markdown(f"**Nearest training inputs predicted as {shown_label}, in {literal(near.layer)}** (distance on the "
                    f"standardised features; 99 % of training {shown_label}s have a neighbour within {near.usual:.2f})")
        st.image(views.display_images(train.images[near.indices]), width=84,
                 caption=[literal(f"{d:.2f} (a {ctx.class_names[train.labels[i]]})")
                          for i, d in zip(near.indices, near.distances)])

    if st.toggle("Show where it lands in the UMAP of the MDL (refits the projection with this input; seconds)",
                 key="inspect_umap"):
        points = loaders.explore_points(ctx.ids, (ctx.detector.mdl_,), ctx.points)
        slot = st.empty()
        with slot.status("Projecting the shown points and this input together…"):
            frame = views.place_input(points, ctx.experiment.extractor, image, ctx.detector.mdl_, projection.DEFAULT_NEIGHBORS,
                                   projection.DEFAULT_MIN_DIST)
        slot.empty()
        enlarge_tooltip_images()
        frame = views.with_scores(frame, points, ctx.beta, ctx.detector.thresholds_for(ctx.beta))  # the points: ours
        frame["image"] = [*loaders.explore_image_urls(ctx.ids, (ctx.detector.mdl_,), ctx.points), ""]
        st.altair_chart(projection_charts.placed(frame, ctx.class_names, f"{ctx.detector.mdl_}: this input among {ctx.points} "
                                      "inputs of each set (hover to see them)"), key="inspect_umap_chart", width="stretch")
