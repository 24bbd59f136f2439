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
    "TNR at 95 % TPR": "true negative rate: the share of anomalies caught while the thresholds τ_i let 95 % of "
                       "ID inputs pass; 100 % = every anomaly caught",
    "TPR": "true positive rate: the share of ID inputs that pass (are judged normal); the thresholds aim at 95 %",
    "AUROC": "area under the ROC curve: the chance that a random anomaly scores below a random ID input; 50 % is "
             "a coin toss, 100 % a perfect ordering. Per-class: computed among the inputs predicted as each class "
             "and averaged with weights γ_i (the paper's); global: one ranking of all scores together",
    "γ": "γ_i (gamma %): the share of the evaluated inputs that the model predicts as class i, the weight of that "
         "class in the per-class metrics",
    "g − τ": "how far an input's score g lies above (normal) or below (anomaly) its predicted class's threshold τ_i; "
             "0 is the boundary",
    "normalised score": "a layer's SVDD score rescaled per predicted class so that the held-out ID inputs span 0 "
                        "(least typical) to 1 (most typical); anomalies may fall far below 0",
}


def explain(*terms: str) -> str:
    """Markdown lines ``**term**: help`` for the given terms, in order."""
    unknown = [term for term in terms if term not in TERMS]
    if unknown:
        raise KeyError(f"no help for {unknown}; known terms: {', '.join(TERMS)}")
    return "  \n".join(f"**{term}**: {TERMS[term]}" for term in terms)
