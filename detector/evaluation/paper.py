"""The paper's own figures (Zhao et al., Tables 2-7), to print beside ours.

Only LeNet-MNIST has figures in the paper; other models get none.
"""

from __future__ import annotations

import pandas as pd

# LeNet (MNIST), per-class weighted TNR at 95 % TPR and AUROC, from Tables 2-7 of
# Zhao et al. Columns: anomaly | methods | TNR values | AUROC values ("+oe" tables after).
_PAPER_TEXT = """
fashion-mnist | msp odin mahalanobis elo ours | 97.90 99.59 95.60 99.15 99.72 | 99.26 99.81 98.81 99.77 99.83
omniglot      | msp odin mahalanobis elo ours | 97.03 99.86 93.62 100.0 100.0 | 98.82 99.81 98.48 100.0 99.99
fgsm          | kd-bu lid mahalanobis elo ours | 83.91 94.65 83.11 100.0 100.0 | 86.86 89.03 96.66 99.97 99.98
bim-a         | kd-bu lid mahalanobis elo ours | 96.29 51.29 70.82 54.25 95.57 | 98.88 89.04 95.81 87.82 99.04
bim-b         | kd-bu lid mahalanobis elo ours | 28.51 34.70 23.63 99.28 99.32 | 74.07 73.32 77.29 99.57 99.64
jsma          | kd-bu lid mahalanobis elo ours | 96.78 81.24 89.72 16.77 89.70 | 98.90 94.60 97.78 57.40 98.16
cw            | kd-bu lid mahalanobis elo ours | 97.23 60.30 66.33 6.77 79.73 | 99.07 90.60 95.12 50.81 97.12
gaussian      | msp odin mahalanobis ours | 100.0 100.0 100.0 100.0 | 99.58 100.0 99.77 100.0
uniform       | msp odin mahalanobis ours | 99.27 100.0 99.25 100.0 | 98.31 99.92 98.85 100.0
fooling       | msp odin mahalanobis ours | 0.0 0.0 2.07 100.0 | 75.56 86.73 68.61 99.74
fashion-mnist | msp+oe odin+oe mahalanobis+oe elo+oe ours+oe | 98.98 99.49 94.85 99.13 99.73 | 99.58 99.84 98.53 99.76 99.87
omniglot      | msp+oe odin+oe mahalanobis+oe elo+oe ours+oe | 99.91 99.97 98.82 100.0 100.0 | 99.75 99.92 99.27 100.0 100.0
fgsm          | kd-bu+oe lid+oe mahalanobis+oe elo+oe ours+oe | 78.21 95.85 86.18 99.99 99.99 | 93.91 95.93 97.23 99.93 99.98
bim-a         | kd-bu+oe lid+oe mahalanobis+oe elo+oe ours+oe | 51.58 52.72 49.85 43.53 97.09 | 88.31 87.49 91.59 84.01 99.29
bim-b         | kd-bu+oe lid+oe mahalanobis+oe elo+oe ours+oe | 28.95 34.98 18.33 96.99 96.69 | 78.28 77.90 72.48 99.10 99.22
jsma          | kd-bu+oe lid+oe mahalanobis+oe elo+oe ours+oe | 79.40 81.08 80.64 17.19 91.84 | 95.12 92.89 96.69 58.80 98.42
cw            | kd-bu+oe lid+oe mahalanobis+oe elo+oe ours+oe | 46.74 37.65 37.62 6.21 92.46 | 84.28 75.22 88.08 49.57 98.44
gaussian      | msp+oe odin+oe mahalanobis+oe ours+oe | 100.0 100.0 100.0 100.0 | 99.99 100.0 99.63 100.0
uniform       | msp+oe odin+oe mahalanobis+oe ours+oe | 100.0 100.0 100.0 100.0 | 99.95 99.99 99.59 100.0
fooling       | msp+oe odin+oe mahalanobis+oe ours+oe | 30.57 51.29 30.44 100.0 | 90.65 93.20 83.78 99.95
"""


def _parse_paper(text: str) -> dict[tuple[str, str], tuple[float, float]]:
    figures = {}
    for line in text.strip().splitlines():
        anomaly, methods, tnrs, aurocs = (part.split() for part in line.split("|"))
        for method, tnr, auc in zip(methods, tnrs, aurocs, strict=True):
            figures[(anomaly[0], method)] = (float(tnr), float(auc))
    return figures


#: model name -> {(anomaly, method): (TNR at 95 % TPR, AUROC)} as printed in the paper
PAPER: dict[str, dict[tuple[str, str], tuple[float, float]]] = {"lenet-mnist": _parse_paper(_PAPER_TEXT)}


def paper_figure(model: str, anomaly: str, method: str) -> tuple[float, float] | None:
    return PAPER.get(model, {}).get((anomaly, method))


def paper_table(model: str, anomalies: list[str], methods: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """The paper's figures as wide tables (method x anomaly set), one per metric.

    Rows are limited to ``methods`` when the paper has any of them; empty when the paper
    has no figure for this model and these sets.
    """
    rows = [{"method": method, "anomaly set": anomaly, "TNR@95TPR": tnr, "AUROC": auc}
            for (anomaly, method), (tnr, auc) in PAPER.get(model, {}).items() if anomaly in anomalies]
    if methods and any(r["method"] in methods for r in rows):
        rows = [r for r in rows if r["method"] in methods]
    if not rows:
        return {}
    frame = pd.DataFrame(rows)
    return {metric: frame.pivot_table(index="method", columns="anomaly set", values=metric, aggfunc="first").astype(float)
            for metric in ("TNR@95TPR", "AUROC")}
