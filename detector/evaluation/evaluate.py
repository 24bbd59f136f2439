"""Evaluation tables: how well a detector separates ID test inputs from each anomaly set.

Two entry points:

- :func:`evaluate_method` scores any detector (ours or a baseline) and gives one
  :class:`Row` per anomaly set and weighting (see :mod:`detector.method.metrics`);
- :class:`ScoreData` keeps the normalised per-layer scores of the validation split, the ID
  test split and every anomaly set, so that the tables for *any* beta (the Tune page, the
  paper's Fig. 7) come from arrays alone: beta is applied by
  :meth:`detector.method.scores.LayerScores.combine` and thresholds by
  :func:`detector.method.scores.thresholds_for`, exactly as the detector itself does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from ..method.metrics import auroc, global_metrics, per_class_metrics, per_class_thresholds
from ..method.scores import LayerScores, thresholds_for

METRIC_COLUMNS = ("TNR@95TPR", "AUROC")


# --------------------------------------------------------------------------- any detector
@dataclass
class Row:
    """One method on one anomaly set under one weighting; metrics in percent."""

    method: str
    anomaly: str
    kind: str
    weighting: str
    tnr_at_95_tpr: float
    auroc: float
    tpr: float
    classes_left_out: int

    def as_json(self) -> dict:
        return {k: getattr(self, k) for k in ("method", "anomaly", "kind", "tnr_at_95_tpr", "auroc", "weighting")}

    def as_record(self) -> dict:
        return asdict(self)

    @classmethod
    def from_report(cls, record: dict) -> "Row":
        """A row of a report's JSON (:func:`detector.evaluation.report.row_records`)."""
        return cls(record["method"], record["anomaly"], record["kind"], record["weighting"],
                   float(record["tnr_at_95_tpr"]), float(record["auroc"]), float(record["tpr"]),
                   int(record["classes_left_out"]))


def metric_rows(method: str, anomaly, id_scores, id_pred, scores, pred, thresholds, tpr: float = 0.95) -> list[Row]:
    """Both weightings for one anomaly set, rounded to two decimals as reported."""
    results = (per_class_metrics(id_scores, id_pred, scores, pred, thresholds), global_metrics(id_scores, scores, tpr))
    return [Row(method, anomaly.name, anomaly.kind, r.weighting, round(r.tnr_at_95_tpr, 2), round(r.auroc, 2),
                round(r.tpr, 2), r.classes_left_out) for r in results]


def named_scores(detector, images: np.ndarray) -> np.ndarray:
    """Scores of a named set (a dataset split, an anomaly set), which is scored again later: what they
    cost is kept on disk (``cached=True``, as every method and ``UniformDetector.score_samples`` take it)."""
    return detector.score_samples(images, cached=True)


def evaluate_method(experiment, method: str, detector, anomalies: list, tpr: float = 0.95) -> list[Row]:
    """Both weightings for every anomaly set. Per-class thresholds come from the
    validation (held-out ID) scores; global thresholds from the ID test scores."""
    val_scores = named_scores(detector, experiment.val.images)
    val_pred = experiment.predictions(experiment.val.images)
    thresholds = per_class_thresholds(val_scores, val_pred, experiment.model.n_classes, tpr)
    id_scores = named_scores(detector, experiment.test.images)
    id_pred = experiment.predictions(experiment.test.images)
    rows = []
    for anomaly in anomalies:
        rows += metric_rows(method, anomaly, id_scores, id_pred, named_scores(detector, anomaly.images),
                            experiment.predictions(anomaly.images), thresholds, tpr)
    return rows


# --------------------------------------------------------------------------- ours, for any beta
@dataclass
class ScoreSet:
    """Normalised per-layer scores of one set of inputs."""

    name: str
    kind: str  # "id" for the ID splits, else the anomaly kind
    scores: LayerScores
    labels: np.ndarray | None = None  # true labels (ID sets only)

    @property
    def predicted(self) -> np.ndarray:
        return self.scores.predicted

    def combine(self, beta) -> np.ndarray:
        return self.scores.combine(beta)

    def __len__(self) -> int:
        return len(self.scores)


@dataclass
class ScoreData:
    """Everything needed to recompute the metrics for any beta without touching the detector."""

    mdl: str
    nu: float
    n_classes: int
    val: ScoreSet  # held-out ID: thresholds
    test: ScoreSet  # ID test: the positives of every metric
    anomalies: dict[str, ScoreSet] = field(default_factory=dict)
    tpr: float = 0.95
    min_samples: int = 10

    def thresholds(self, beta) -> np.ndarray:
        """tau_i for ``beta``: what ``detector.with_beta(beta).thresholds_`` holds."""
        return thresholds_for(self.val.scores, beta, self.n_classes, self.tpr, self.min_samples)


def score_data(experiment, detector, anomalies: dict) -> ScoreData:
    """Per-layer scores of validation, ID test and each anomaly set (``{name: AnomalySet}``)."""
    val = ScoreSet("validation", "id", detector.val_scores_, experiment.val.labels)
    test = ScoreSet(f"{experiment.id_dataset} (ID)", "id", detector.layer_scores(experiment.test.images, cached=True),
                    experiment.test.labels)
    sets = {name: ScoreSet(name, a.kind, detector.layer_scores(a.images, cached=True)) for name, a in anomalies.items()}
    return ScoreData(detector.mdl_, float(detector.nu), detector.n_classes_, val, test, sets, detector.tpr_,
                     detector.min_samples)


def metrics_table(data: ScoreData, beta) -> pd.DataFrame:
    """One row per anomaly set and weighting: TNR@95TPR, AUROC (percent) and the ID TPR reached."""
    tau = data.thresholds(beta)
    id_scores = data.test.combine(beta)
    rows = []
    for name, anomaly in data.anomalies.items():
        scores = anomaly.combine(beta)
        for result in (per_class_metrics(id_scores, data.test.predicted, scores, anomaly.predicted, tau),
                       global_metrics(id_scores, scores, data.tpr)):
            rows.append({"anomaly set": name, "kind": anomaly.kind, "weighting": result.weighting,
                         "TNR@95TPR": result.tnr_at_95_tpr, "AUROC": result.auroc, "ID TPR": result.tpr})
    return pd.DataFrame(rows, columns=["anomaly set", "kind", "weighting", *METRIC_COLUMNS, "ID TPR"])


def summary(table: pd.DataFrame, weighting: str = "per-class") -> dict[str, float]:
    """Mean TNR and AUROC over the anomaly sets for one weighting (the headline numbers)."""
    rows = table[table["weighting"] == weighting]
    return {metric: float(rows[metric].mean()) if len(rows) else float("nan") for metric in METRIC_COLUMNS}


def per_class_table(data: ScoreData, beta, anomaly: str, names: list[str] | None = None) -> pd.DataFrame:
    """Per predicted class: tau_i, share gamma_i, ID TPR_i, anomaly TNR_i and AUROC_i (percent)."""
    tau = data.thresholds(beta)
    id_s, id_p = data.test.combine(beta), data.test.predicted
    an = data.anomalies[anomaly]
    an_s, an_p = an.combine(beta), an.predicted
    total = len(id_s) + len(an_s)
    rows = []
    for i in range(data.n_classes):
        a, b = id_s[id_p == i], an_s[an_p == i]
        rows.append({
            "class": names[i] if names else str(i),
            "tau": tau[i],
            "ID inputs": len(a),
            "anomalies": len(b),
            "gamma %": 100.0 * (len(a) + len(b)) / total,
            "ID TPR %": 100.0 * float(np.mean(a >= tau[i])) if len(a) else np.nan,
            "TNR %": 100.0 * float(np.mean(b < tau[i])) if len(b) else np.nan,
            "AUROC %": auroc(a, b) if len(a) and len(b) else np.nan,
        })
    return pd.DataFrame(rows)


def split_pass_rate(scores: ScoreSet, beta, tau: np.ndarray, cls: int) -> tuple[float, int]:
    """(% of the inputs of ``scores`` predicted as ``cls`` with g >= tau_cls, how many there are), at the
    beta ``tau`` was set for; on the validation split it is the share the thresholds were fitted to keep."""
    chosen = scores.predicted == cls
    return (100.0 * float(np.mean(scores.combine(beta)[chosen] >= tau[cls])) if chosen.any() else float("nan"),
            int(chosen.sum()))


def roc_points(data: ScoreData, beta, anomaly: str) -> pd.DataFrame:
    """Global ROC curve (ID = positive): false positive rate = anomalies accepted."""
    id_s, an_s = data.test.combine(beta), data.anomalies[anomaly].combine(beta)
    labels = np.r_[np.ones(len(id_s)), np.zeros(len(an_s))]
    fpr, tpr, _ = roc_curve(labels, np.r_[id_s, an_s])
    return pd.DataFrame({"FPR": fpr, "TPR": tpr})


def operating_point(data: ScoreData, beta, anomaly: str) -> tuple[float, float]:
    """(FPR, TPR) of the per-class thresholds tau_i on the ID test and one anomaly set."""
    tau = data.thresholds(beta)
    an = data.anomalies[anomaly]
    tpr = float(np.mean(data.test.combine(beta) >= tau[data.test.predicted]))
    fpr = float(np.mean(an.combine(beta) >= tau[an.predicted]))
    return fpr, tpr


def beta_of(weight: float, conf_weight: float = 0.0) -> tuple[float, float, float]:
    """A point of the simplex from the logit weight ``w`` and the confidence weight ``c``:
    (1 - w - c, w, c); (1 - w, w, 0) is the paper's Fig. 7 axis. When w + c > 1 both are
    scaled down to sum to 1 (beta_MDL = 0)."""
    weight, conf_weight = float(np.clip(weight, 0.0, 1.0)), float(np.clip(conf_weight, 0.0, 1.0))
    total = weight + conf_weight
    if total > 1:
        weight, conf_weight = weight / total, conf_weight / total
    return (round(max(0.0, 1.0 - weight - conf_weight), 6), round(weight, 6), round(conf_weight, 6))


def auroc_vs_beta(data: ScoreData, steps: int = 21) -> pd.DataFrame:
    """AUROC and TNR (both weightings) of every anomaly set for logit weights 0 ... 1 (Fig. 7)."""
    parts = [metrics_table(data, beta_of(weight)).assign(**{"logit weight": float(weight)})
             for weight in np.linspace(0, 1, steps)]
    return pd.concat(parts, ignore_index=True)[["logit weight", "anomaly set", "weighting", *METRIC_COLUMNS]]


def auroc_over_simplex(data: ScoreData, steps: int = 11) -> pd.DataFrame:
    """AUROC and TNR (both weightings) of every anomaly set on a grid of the beta simplex
    (``steps`` values per weight), for the ternary map of the Tune page."""
    parts = []
    for conf in np.linspace(0, 1, steps):
        for weight in np.linspace(0, 1 - conf, max(1, int(round((1 - conf) * (steps - 1))) + 1)):
            beta = beta_of(weight, conf)
            parts.append(metrics_table(data, beta).assign(**{"β₁ MDL": beta[0], "β₂ logit": beta[1], "β₃ confidence": beta[2]}))
    return pd.concat(parts, ignore_index=True)


def scores_frame(data: ScoreData, beta, names: list[str] | None = None) -> pd.DataFrame:
    """Long table of the ID test and anomaly scores for histograms: set, predicted class, score."""
    parts = []
    for s in [data.test, *data.anomalies.values()]:
        parts.append(pd.DataFrame({
            "set": s.name, "kind": s.kind, "predicted": s.predicted,
            "class": [names[p] if names else str(p) for p in s.predicted],
            "score": s.combine(beta), "MDL score": s.scores.mdl, "logit score": s.scores.logit,
            "confidence score": s.scores.terms()[:, 2],
        }))
    return pd.concat(parts, ignore_index=True)
