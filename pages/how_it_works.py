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

st.header("3 · Combine the scores")
beta = ctx.beta  # the weights in force, set on the Tune page
tau = data.thresholds(beta)
conf = float(scores.loc[scores["set"] == data.test.name, "confidence score"].median()) if len(scores) else 1.0
terms = [f"{beta[0]:.2f} × MDL score", f"{beta[1]:.2f} × logit score", f"{beta[2]:.2f} × confidence score"]
st.markdown(f"g = {' + '.join(terms)} (β = ({beta[0]:.2f}, {beta[1]:.2f}, {beta[2]:.2f}), set on the Tune page; "
            "β₃ = 0 is the paper's detector). An input predicted as "
            f"{names[pick]} is called an anomaly when g falls below that class's threshold τ = {tau[pick]:.3f}. "
            "The MDL catches inputs that look wrong, the logits and the confidence catch inputs the model is unsure about.")
if beta[2] > 0:
    st.caption(f"The plane shows two of the three scores: the dashed line is g = τ for an input whose confidence score "
               f"is {conf:.2f} (the median of the ID test inputs predicted as {names[pick]}); a less confident "
               "input needs higher MDL and logit scores to pass.")
else:
    st.caption("The dashed line is g = τ: inputs below it are called anomalies. Move β on the Tune page to tilt it.")
st.plotly_chart(figures.score_plane(scores, views.decision_line(tau[pick], beta, conf), "The decision line g = τ"),
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
val = ev.split_pass_rate(data.val, beta, tau, pick)
table = ev.per_class_table(data, beta, list(data.anomalies)[0], names).iloc[[pick]]
test_tpr = float(table["ID TPR %"].iloc[0])
st.markdown(f"τ for each class is set on the **validation split**, held-out normal inputs that neither the SVDDs nor "
            f"the evaluation see, so that 95 % of them pass: here {val[1]:,} validation inputs are predicted as "
            f"{names[pick]} and {val[0]:.1f} % of them pass. The table below measures on the **test split**, other "
            f"normal inputs: {test_tpr:.1f} % of the test inputs predicted as {names[pick]} pass. The two differ because "
            "τ is fitted on a sample of a few hundred inputs; fitting it on the test split would make 95 % exact there "
            "and the figures flattering. How many anomalies fall below τ is the TNR at 95 % TPR; the AUROC measures "
            "the separation over all thresholds.")
st.dataframe(table.style.format(precision=3), hide_index=True, key="walk_table")
