"""Start: what the tool does in three sentences, a three-step path through the pages, the terms."""

import streamlit as st

from dashboard.glossary import TERMS, explain
from dashboard.sidebar import context
from dashboard.state import INSPECT_SOURCE


def draw_on_inspect() -> None:
    """Step 3's button: open Inspect with the drawing canvas chosen."""
    INSPECT_SOURCE.set("draw")


ctx = context()
st.title("Start here")
st.markdown(
    f"This dashboard watches a trained image classifier (here **{ctx.ids.model}**, trained on "
    f"**{ctx.experiment.id_dataset}**) and tells whether an input is *normal*, like its training data, or an "
    "*anomaly*: another dataset, noise or an adversarial example, to which the classifier would still give one of "
    "its classes, often confidently. For each class it learns what normal looks like at an early layer and at the "
    "logits, and combines those two scores (and, when β₃ > 0, the classifier's own confidence) with weights β into "
    "one score g. An input predicted as class i is flagged when g falls below "
    "that class's threshold τ_i (Zhao et al., *A Uniform Framework for Anomaly Detection in Deep Neural Networks*).")

st.subheader("Three steps")
one, two, three = st.columns(3)
with one.container(border=True):
    st.markdown("**1 · Look at the two layers**  \nThe ID test inputs and the anomalies, projected (UMAP) from the "
                "early layer and from the logits. Noise tends to land apart; another dataset may overlap the ID "
                "inputs in the overall view. The per-class view projects each predicted class on its own, as the "
                "detector judges it; colour by verdict to see which inputs it flags.")
    st.page_link("pages/explore.py", label="Explore layers", icon=":material/scatter_plot:")
with two.container(border=True):
    st.markdown("**2 · Move β**  \nShift weight between the early layer, the logits and the classifier's "
                "confidence and watch the detection rates (TNR, AUROC) and the thresholds follow.")
    st.page_link("pages/tune.py", label="Tune", icon=":material/tune:")
with three.container(border=True):
    st.markdown("**3 · Judge your own drawing**  \nDraw a digit, or something that is no digit: the classifier "
                "names a class either way; the detector says whether the input looks like that class's training "
                "data.")
    if st.button("Draw on Inspect", icon=":material/draw:", key="start_draw", on_click=draw_on_inspect):
        st.switch_page("pages/inspect_input.py")

st.subheader("Words used on the pages")
st.markdown(explain(*TERMS))
st.caption("The sidebar picks the model, the anomaly sets and the MDL; every page uses them. *How it works* walks "
           "through the method on the live model; *Benchmark* compares it with other detectors.")
