"""What each benchmarked method is, in one line with its reference, and why our figure may be far
from the paper's (no Streamlit). The Benchmark page shows both; the numbers come from detector/."""

from __future__ import annotations

import pandas as pd

from detector.evaluation.benchmark import MethodName

README = "README, section *Comparison with other detectors*"
FAR = 5.0  # points between our figure and the paper's beyond which a note says why

#: method -> (what it scores, reference)
METHODS = {
    "ours": ("per-class SVDDs on the MDL and the logits, min-max normalised, g = β₁·MDL + β₂·logit; τ_i per class",
             "Zhao et al., A Uniform Framework for Anomaly Detection in DNNs"),
    "ours+conf": ("ours plus a third term, the classifier's confidence normalised per class; β picked on generated "
                  "anomalies only (mix set and boundary blends)", "this project (README, Results)"),
    "ours+conf-equal": ("ours+conf with equal weights β = (1/3, 1/3, 1/3)", "this project (README, Results)"),
    "msp": ("the largest softmax probability", "Hendrycks & Gimpel, ICLR 2017"),
    "odin": ("softmax with temperature T (tuned on the mix set)", "Liang et al., ICLR 2018"),
    "odin+pre": ("ODIN with its input perturbation ε", "Liang et al., ICLR 2018"),
    "odin+orig": ("ODIN with the original paper's T = 1000, ε = 0.0014", "Liang et al., ICLR 2018"),
    "mahalanobis": ("Mahalanobis distance to the closest class mean of the penultimate features",
                    "Lee et al., NeurIPS 2018"),
    "mahalanobis+pre": ("Mahalanobis with input pre-processing", "Lee et al., NeurIPS 2018"),
    "mahalanobis+ens": ("Mahalanobis on every layer, combined by a logistic regression (feature ensemble)",
                        "Lee et al., NeurIPS 2018"),
    "elo": ("one class-agnostic one-class SVM on an early layer", "Abdelzad et al., 2019"),
    "kd-bu": ("kernel density plus MC-dropout uncertainty, combined by a logistic regression trained on FGSM",
              "Feinman et al., 2017"),
    "lid": ("local intrinsic dimensionality of every layer, logistic regression trained on FGSM",
            "Ma et al., ICLR 2018"),
    "energy": ("the free energy of the logits, −T·logsumexp(f/T)", "Liu et al., NeurIPS 2020 (pytorch-ood)"),
    "maxlogit": ("the largest logit", "Hendrycks et al., ICML 2022 (pytorch-ood)"),
    "gen": ("generalised entropy of the softmax", "Liu et al., CVPR 2023 (pytorch-ood)"),
    "knn": ("distance to the k-th nearest training feature", "Sun et al., ICML 2022 (pytorch-ood)"),
    "vim": ("virtual logit from the residual of the principal feature space", "Wang et al., CVPR 2022 (pytorch-ood)"),
    "react": ("energy after clipping high activations", "Sun et al., NeurIPS 2021 (pytorch-ood)"),
    "ash": ("energy after pruning and rescaling activations", "Djurisic et al., ICLR 2023 (pytorch-ood)"),
    "dice": ("energy with sparsified last-layer weights", "Sun & Li, ECCV 2022 (pytorch-ood)"),
    "fs": ("Feature Squeezing: the largest L1 change of the softmax under bit-depth reduction and median smoothing",
           "Xu et al., NDSS 2018 (ART's squeezers)"),
    "godin": ("Generalized ODIN: max h(x) of a decomposed-confidence (cosine) head fine-tuned on ID data",
              "Hsu et al., CVPR 2020"),
    "nnif": ("nearest neighbours among the most helpful / harmful training inputs (TracIn influence), "
             "logistic regression trained on FGSM", "Cohen et al., CVPR 2020 (Captum)"),
}

#: why a method's figure may differ from the paper's (the README has the measurements)
WHY = {
    "msp": "our LeNet saw 3,500 MNIST training images, not 60,000: it is unsure of more of its own test images, so "
           "the threshold keeping 95 % of them (MSP ≥ 0.914) lets many anomalies through",
    "odin": "as MSP (our smaller training set); its tuning on the mix set chose T = 1, ε = 0, i.e. MSP",
}
DEFAULT_WHY = ("our protocol fits thresholds on held-out ID data only and our LeNet saw 3,500 training images, "
               "not 60,000; the paper's own protocol is loose here")


def describe(method: str) -> str:
    """``method``: what it scores (reference)."""
    name = MethodName.parse(method)
    what, ref = METHODS.get(name.base, ("(no description)", ""))
    suffix = ", trained on the evaluated attack" if name.known else ""
    suffix += ", on the classifier fine-tuned with Outlier Exposure" if name.oe else ""
    return f"**{method}**: {what}{suffix} ({ref})" if ref else f"**{method}**: {what}{suffix}"


def far_from_paper(ours: pd.DataFrame, paper: pd.DataFrame, far: float = FAR) -> list[str]:
    """Notes for every cell where our figure and the paper's differ by more than ``far`` points."""
    notes = []
    for method in ours.index.intersection(paper.index):
        for anomaly in ours.columns.intersection(paper.columns):
            mine, theirs = ours.at[method, anomaly], paper.at[method, anomaly]
            if pd.notna(mine) and pd.notna(theirs) and abs(mine - theirs) > far:
                why = WHY.get(method.split("+")[0], DEFAULT_WHY)
                notes.append(f"**{method} × {anomaly}**: {mine:.1f} here vs {theirs:.1f} in the paper; {why} "
                             f"({README}).")
    return notes
