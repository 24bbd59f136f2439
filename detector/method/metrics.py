"""TNR at 95 % TPR and AUROC, the global way and the paper's per-class way (Sec. 5.1).

In-distribution inputs are the positives and scores are "higher = more normal"
throughout. Results are in percent.

``global``     one ranking of all scores; TNR uses the one threshold that keeps
               ``tpr`` of the ID inputs.
``per-class``  every input is judged by the threshold of its predicted class
               (thresholds fitted on held-out ID data); TNR = anomalies rejected /
               all anomalies. AUROC = sum_i gamma_i * AUROC_i, gamma_i = the share of
               all evaluated inputs (ID and anomalies) predicted as class i. Classes
               without ID or without anomaly inputs have no AUROC_i: they are left
               out and the weights renormalised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata


def threshold_at_tpr(id_scores: np.ndarray, tpr: float = 0.95) -> float:
    """The largest threshold that keeps at least ``tpr`` of ``id_scores`` (score >= tau)."""
    ordered = np.sort(np.asarray(id_scores, dtype=np.float64))
    allowed_below = int(np.floor(len(ordered) * (1 - tpr) + 1e-9))
    return float(ordered[min(allowed_below, len(ordered) - 1)])


def per_class_thresholds(scores, classes, n_classes: int, tpr: float = 0.95, min_samples: int = 10) -> np.ndarray:
    """tau_i per predicted class; a class with fewer than ``min_samples`` inputs gets the pooled tau."""
    scores, classes = np.asarray(scores), np.asarray(classes)
    pooled = threshold_at_tpr(scores, tpr)
    return np.array([
        threshold_at_tpr(scores[classes == i], tpr) if np.sum(classes == i) >= min_samples else pooled
        for i in range(n_classes)
    ])


def auroc(id_scores, anomaly_scores) -> float:
    """P(ID score > anomaly score) + P(tie) / 2, in percent: scikit-learn's ``roc_auc_score``,
    computed from the ranks (the Mann-Whitney U statistic) because ``roc_auc_score`` spends about
    10 ms per call checking its input, and choosing beta calls it thousands of times."""
    n_id, n_anomaly = len(id_scores), len(anomaly_scores)
    if n_id == 0 or n_anomaly == 0:
        raise ValueError("AUROC needs at least one ID and one anomaly score")
    scores = np.r_[np.asarray(id_scores, dtype=np.float64), np.asarray(anomaly_scores, dtype=np.float64)]
    if np.isnan(scores).any():
        raise ValueError("AUROC of NaN scores")
    ranks = rankdata(scores)
    return 100.0 * float(ranks[:n_id].sum() - n_id * (n_id + 1) / 2) / (n_id * n_anomaly)


def tnr_at_tpr(id_scores, anomaly_scores, tpr: float = 0.95) -> float:
    tau = threshold_at_tpr(id_scores, tpr)
    return 100.0 * float(np.mean(np.asarray(anomaly_scores) < tau))


@dataclass
class Result:
    weighting: str
    tnr_at_95_tpr: float
    auroc: float
    tpr: float  # the TPR actually reached on the evaluated ID inputs, in percent
    classes_left_out: int = 0


def global_metrics(id_scores, anomaly_scores, tpr: float = 0.95) -> Result:
    return Result("global", tnr_at_tpr(id_scores, anomaly_scores, tpr), auroc(id_scores, anomaly_scores), 100.0 * tpr)


def per_class_auroc(id_scores, id_classes, anomaly_scores, anomaly_classes) -> tuple[float, int]:
    """sum_i gamma_i AUROC_i over the classes that have both ID and anomaly inputs, and how
    many classes were left out for lacking one of them."""
    id_scores, anomaly_scores = np.asarray(id_scores), np.asarray(anomaly_scores)
    id_classes, anomaly_classes = np.asarray(id_classes), np.asarray(anomaly_classes)
    total = len(id_scores) + len(anomaly_scores)
    weighted, weight, left_out = 0.0, 0.0, 0
    for i in np.union1d(id_classes, anomaly_classes):
        id_i, an_i = id_scores[id_classes == i], anomaly_scores[anomaly_classes == i]
        if len(id_i) == 0 or len(an_i) == 0:
            left_out += 1
            continue
        gamma = (len(id_i) + len(an_i)) / total
        weighted += gamma * auroc(id_i, an_i)
        weight += gamma
    return (weighted / weight if weight > 0 else float("nan")), left_out


def per_class_metrics(id_scores, id_classes, anomaly_scores, anomaly_classes, thresholds) -> Result:
    """The paper's per-class weighted metrics, with thresholds fitted beforehand."""
    id_scores, anomaly_scores = np.asarray(id_scores), np.asarray(anomaly_scores)
    id_classes, anomaly_classes = np.asarray(id_classes), np.asarray(anomaly_classes)
    thresholds = np.asarray(thresholds)
    tnr = 100.0 * float(np.mean(anomaly_scores < thresholds[anomaly_classes]))
    tpr = 100.0 * float(np.mean(id_scores >= thresholds[id_classes]))
    value, left_out = per_class_auroc(id_scores, id_classes, anomaly_scores, anomaly_classes)
    return Result("per-class", tnr, value, tpr, left_out)
