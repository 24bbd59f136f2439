"""How it works: the method in four steps, each shown on the live model and data (for teaching)."""

import streamlit as st

from dashboard import figures, loaders, views
from dashboard.messages import literal
from dashboard.page_helpers import need_anomalies
from dashboard.sidebar import context
from detector.evaluation import evaluate as ev

ctx = context()
need_anomalies(ctx)
st.title("How it works")
st.markdown(f"The detector wraps the trained classifier **{literal(ctx.ids.model)}** without changing it. It looks at two "
            "layers: an early one, the *Most Discriminative Layer* (MDL), and the logits. Everything below is "
            "computed from the model and data chosen in the sidebar.")

st.header("1 · Choose the MDL")
st.markdown("Try every layer: fit a small detector on it and count its mistakes on held-out normal inputs plus a "
            "generated *mix* of odd inputs. The layer with the fewest mistakes is the MDL "
            f"(here **{ctx.auto_mdl}**). Early layers see textures and strokes, which is what tells most anomalies apart.")
st.plotly_chart(figures.layer_bars(loaders.layer_table(ctx.ids)), key="walk_layers")

st.header("2 · One SVDD per class")
names = ctx.class_names
pick = st.selectbox("Class", range(len(names)), format_func=lambda i: names[i], key="walk_class")
st.markdown(f"For each class, a one-class SVDD learns a sphere around the features of training inputs the model "
            f"predicts as **{names[pick]}**, once on the MDL and once on the logits. Inputs predicted as "
            f"{names[pick]} are judged only by these two spheres: each class has its own notion of normal. "
            "Below: the ID test and anomaly inputs predicted as this class; the score is 1 for the most typical "
            "held-out ID input and falls below 0 far outside the sphere.")
data = loaders.score_data(ctx.ids)
scores = ev.scores_frame(data, ctx.beta, names)
scores = scores[scores["predicted"] == pick]
st.plotly_chart(figures.score_plane(scores, None, f"Inputs predicted as {names[pick]}: MDL score against logit score"),
                key="walk_plane")
images = {data.test.name: ctx.experiment.test.images} | {name: a.images for name, a in ctx.anomalies.items()}
for title, pictures, captions in views.class_examples(data, images, pick, ctx.beta):
    st.caption(f"{literal(title)} (predicted {literal(names[pick])})")
    st.image(pictures, caption=[literal(caption) for caption in captions], width=72)

st.header("3 · Combine the two scores")
weight = st.slider("β₂ (logit weight)", 0.0, 1.0, ctx.beta_weight, 0.05, key="walk_beta")
beta = ev.beta_of(weight)
tau = data.thresholds(beta)
st.markdown(f"g = {beta[0]:.2f} × MDL score + {beta[1]:.2f} × logit score. The dashed line is where g equals the "
            f"class threshold τ = {tau[pick]:.3f}; inputs below it are called anomalies. Move β₂ to tilt the line: "
            "the MDL catches inputs that look wrong, the logits catch inputs the model is unsure about.")
st.plotly_chart(figures.score_plane(scores, views.decision_line(tau[pick], beta), "The decision line g = τ"),
                key="walk_line")

st.header("3b · A third score: the classifier's own confidence")
minimal = [name for name in data.anomalies if name in ("cw", "jsma", "bim-a", "deepfool")]
st.markdown("Some attacks (CW, JSMA, BIM-a) change an input just enough to cross the decision boundary. The result "
            "sits inside the new class's cluster at every layer, so neither SVDD sees it; but the classifier is "
            "unsure of it. Beyond the paper, a third score, the softmax probability normalised per class like the "
            "other two, catches them (β₃ on the Tune page; `ours+conf` in the benchmark picks β on generated "
            "anomalies, among them blends of two images moved just across the boundary, never on an evaluated set). "
            "Median of each normalised score per set:" + ("" if minimal else " (add **cw** or **jsma** in the sidebar "
                                                          "to see such inputs)"))
st.dataframe(views.term_medians(data).style.format(precision=3), hide_index=True, key="walk_terms")

st.header("4 · Threshold at 95 % of normal inputs")
st.markdown("τ for each class is set on held-out normal inputs so that 95 % of them pass. How many anomalies fall "
            "below it is the TNR at 95 % TPR; the AUROC measures the separation over all thresholds.")
table = ev.per_class_table(data, beta, list(data.anomalies)[0], names).iloc[[pick]]
st.dataframe(table.style.format(precision=3), hide_index=True, key="walk_table")
