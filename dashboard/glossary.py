"""One line of help per term the dashboard uses (no Streamlit): the Start page lists them all,
and each page puts the line where the term first appears (a caption or a widget's ``help``)."""

from __future__ import annotations

TERMS = {
    "ID": "in-distribution: inputs like the model's training data (here its test split); the detector must let "
          "95 % of them pass",
    "OOD": "out-of-distribution: inputs from another source (another dataset, noise) that the model was never "
           "trained on, yet it still predicts a class for them",
    "MDL": "Most Discriminative Layer: the early layer whose per-class detector makes the fewest mistakes on a "
           "generated mix of odd inputs; it sees strokes and textures",
    "UMAP": "a projection of many-dimensional layer features onto a plane that keeps near points near; far "
            "distances and axes carry no meaning",
    "τ": "τ_i, the threshold of class i: an input predicted as i is an anomaly when its score g falls below τ_i; "
         "set so that 95 % of held-out ID inputs of class i pass",
    "β": "the weights of the scores: g = β₁·MDL score + β₂·logit score + β₃·confidence score, β₁ + β₂ + β₃ = 1",
    "ν": "the SVDD's slack: an upper bound on the share of training inputs left outside the sphere it fits "
         "around each class (0.1 by default)",
    "SVDD": "Support Vector Data Description: the smallest sphere (in a kernel space) around a class's features; "
            "its score is 1 for the most typical input and falls below 0 far outside",
}


def explain(*terms: str) -> str:
    """Markdown lines ``**term**: help`` for the given terms, in order."""
    unknown = [term for term in terms if term not in TERMS]
    if unknown:
        raise KeyError(f"no help for {unknown}; known terms: {', '.join(TERMS)}")
    return "  \n".join(f"**{term}**: {TERMS[term]}" for term in terms)
