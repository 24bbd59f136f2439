"""The numbers the dashboard shows, computed from the detector core (no Streamlit here).

Everything the pages draw comes from this module: per-layer scores of every set, the
thresholds and metrics for a given beta, ROC points, the AUROC-against-beta curve
(paper Fig. 7), the per-layer table behind the MDL choice, the points of the UMAP views,
the benchmark table and the paper's own figures.

beta is handled as one number ``w`` in [0, 1], the weight of the logit score:
``beta = (1 - w, w)``; ``w = 0`` is MDL only, ``w = 1`` logits only (Fig. 7's x axis).
Nothing here mutates a fitted detector: the dashboard shares detectors between browser
sessions, so thresholds for another beta are recomputed from the detector's cached
validation scores instead of calling ``set_beta``.
"""

from __future__ import annotations

import copy
import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from . import cache
from .anomalies import anomaly_kinds
from .data import DATASET_NAMES, DataError
from .features import LOGITS
from .metrics import global_metrics, per_class_metrics, per_class_thresholds

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]

CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "digits": [str(i) for i in range(10)],
    "svhn": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"],
    "cifar10": ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}


def class_names(dataset: str, n_classes: int) -> list[str]:
    names = CLASS_NAMES.get(dataset)
    return list(names) if names and len(names) == n_classes else [str(i) for i in range(n_classes)]


def beta_of(weight: float) -> tuple[float, float]:
    """(beta_MDL, beta_logit) from the logit weight ``w``: (1 - w, w)."""
    weight = float(np.clip(weight, 0.0, 1.0))
    return (round(1.0 - weight, 6), round(weight, 6))


def anomaly_choices(id_dataset: str) -> dict[str, str]:
    """Anomaly set names the dashboard offers (every registered one but the ID dataset) -> kind."""
    return {name: kind for name, kind in anomaly_kinds().items() if name != id_dataset}


def candidate_layers(experiment) -> list[str]:
    """Layers that can serve as MDL (every layer but the logits)."""
    return [layer.name for layer in experiment.extractor.layers if layer.name != LOGITS]


# --------------------------------------------------------------------------- scores per set
@dataclass
class ScoreSet:
    """Normalised per-layer scores of one set of inputs."""

    name: str
    kind: str  # "id" for the ID splits, else the anomaly kind
    predicted: np.ndarray
    mdl: np.ndarray
    logit: np.ndarray
    labels: np.ndarray | None = None  # true labels (ID sets only)

    def combine(self, beta) -> np.ndarray:
        return beta[0] * self.mdl + beta[1] * self.logit

    def __len__(self) -> int:
        return len(self.predicted)


@dataclass
class ScoreData:
    """Everything needed to recompute metrics for any beta without touching the detector."""

    mdl: str
    nu: float
    n_classes: int
    val: ScoreSet  # held-out ID: normalisation and thresholds
    test: ScoreSet  # ID test: the positives of every metric
    anomalies: dict[str, ScoreSet] = field(default_factory=dict)
    tpr: float = 0.95
    min_samples: int = 10

    def thresholds(self, beta) -> np.ndarray:
        """tau_i for ``beta``, from the validation scores (what ``set_beta`` would give)."""
        return per_class_thresholds(self.val.combine(beta), self.val.predicted, self.n_classes, self.tpr, self.min_samples)


def _score_set(detector, name: str, kind: str, images: np.ndarray, labels=None) -> ScoreSet:
    scores = detector.layer_scores(images)
    return ScoreSet(name, kind, scores.predicted, scores.mdl, scores.logit, labels)


def score_data(experiment, detector, anomalies: dict) -> ScoreData:
    """Per-layer scores of validation, ID test and each anomaly set (``{name: AnomalySet}``)."""
    val = ScoreSet("validation", "id", detector.val_predicted_, detector.val_scores_.mdl, detector.val_scores_.logit,
                   experiment.val.labels)
    test = _score_set(detector, f"{experiment.id_dataset} (ID)", "id", experiment.test.images, experiment.test.labels)
    sets = {name: _score_set(detector, name, a.kind, a.images) for name, a in anomalies.items()}
    return ScoreData(detector.mdl_, float(detector.nu), detector.n_classes_, val, test, sets, detector.tpr,
                     detector.min_samples)


# --------------------------------------------------------------------------- metrics for a beta
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
    return pd.DataFrame(rows, columns=["anomaly set", "kind", "weighting", "TNR@95TPR", "AUROC", "ID TPR"])


def summary(table: pd.DataFrame, weighting: str = "per-class") -> dict[str, float]:
    """Mean TNR and AUROC over the anomaly sets for one weighting (the headline numbers)."""
    rows = table[table["weighting"] == weighting]
    if rows.empty:
        return {"TNR@95TPR": float("nan"), "AUROC": float("nan")}
    return {"TNR@95TPR": float(rows["TNR@95TPR"].mean()), "AUROC": float(rows["AUROC"].mean())}


def per_class_table(data: ScoreData, beta, anomaly: str, names: list[str] | None = None) -> pd.DataFrame:
    """Per predicted class: tau_i, share gamma_i, ID TPR_i, anomaly TNR_i and AUROC_i (percent)."""
    from .metrics import auroc

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


def auroc_vs_beta(data: ScoreData, steps: int = 21) -> pd.DataFrame:
    """AUROC (both weightings) of every anomaly set for logit weights 0, 1/(steps-1), ..., 1 (Fig. 7)."""
    rows = []
    for weight in np.linspace(0, 1, steps):
        table = metrics_table(data, beta_of(weight))
        for row in table.itertuples(index=False):
            rows.append({"logit weight": float(weight), "anomaly set": row[0], "weighting": row[2],
                         "AUROC": row[4], "TNR@95TPR": row[3]})
    return pd.DataFrame(rows)


def scores_frame(data: ScoreData, beta, names: list[str] | None = None) -> pd.DataFrame:
    """Long table of the ID test and anomaly scores for histograms: set, predicted class, score."""
    parts = []
    for s in [data.test, *data.anomalies.values()]:
        parts.append(pd.DataFrame({
            "set": s.name, "kind": s.kind, "predicted": s.predicted,
            "class": [names[p] if names else str(p) for p in s.predicted],
            "score": s.combine(beta), "MDL score": s.mdl, "logit score": s.logit,
        }))
    return pd.concat(parts, ignore_index=True)


def class_examples(data: ScoreData, images: dict[str, np.ndarray], cls: int, beta, k: int = 6) -> list[tuple[str, list, list]]:
    """For one predicted class: the most and least normal ID test inputs and the most normal anomalies.

    ``images`` maps each set name of ``data`` (ID test first) to its images. Returns
    (title, images, captions) groups for display.
    """
    groups = []
    id_rows = np.flatnonzero(data.test.predicted == cls)
    scores = data.test.combine(beta)[id_rows]
    order = id_rows[np.argsort(-scores)]
    for title, rows in (("most normal ID inputs", order[:k]), ("least normal ID inputs", order[::-1][:k])):
        groups.append((title, display_images(images[data.test.name][rows]),
                       [f"g={v:.2f}" for v in data.test.combine(beta)[rows]]))
    candidates = []  # (score, set name, image)
    for name, s in data.anomalies.items():
        rows = np.flatnonzero(s.predicted == cls)
        candidates += [(float(v), name, images[name][r]) for r, v in zip(rows, s.combine(beta)[rows])]
    if candidates:
        best = sorted(candidates, key=lambda c: -c[0])[:k]
        groups.append(("anomalies that look most normal", display_images(np.stack([c[2] for c in best])),
                       [f"{c[1]} g={c[0]:.2f}" for c in best]))
    return groups


def decision_line(tau: float, beta) -> tuple[np.ndarray, np.ndarray] | None:
    """Points of beta_1 * m + beta_2 * l = tau in the (MDL score, logit score) plane."""
    b1, b2 = beta
    if b2 > 1e-9:
        m = np.array([-2.0, 1.2])
        return m, (tau - b1 * m) / b2
    if b1 > 1e-9:
        return np.array([tau / b1, tau / b1]), np.array([-2.0, 1.2])
    return None


# --------------------------------------------------------------------------- layers (why this MDL)
def layer_table(experiment, detector, anomalies: dict, fit: Callable, progress: Progress | None = None) -> pd.DataFrame:
    """For every candidate layer: mix-set error and per-class AUROC of that layer's SVDD alone.

    ``fit(layer)`` returns a detector fitted with that layer as MDL (disk-cached by
    :func:`detector.experiment.fit_uniform`); its MDL score is the layer's score. The logit
    row uses the logit score of ``detector``.
    """
    layers = experiment.extractor.layers
    rows = []
    for k, info in enumerate(layers):
        if progress:
            progress(k / len(layers), f"layer {info.name} ({k + 1}/{len(layers)})")
        if info.name == LOGITS:
            source, pick = detector, "logit"
        else:
            source, pick = (detector if info.name == detector.mdl_ else fit(info.name)), "mdl"
        data = score_data(experiment, source, anomalies)
        beta = (1.0, 0.0) if pick == "mdl" else (0.0, 1.0)
        row = {"layer": info.name, "type": info.kind, "features": info.feature_dim,
               "MDL": "★" if info.name == detector.mdl_ else "",
               "mix error %": 100.0 * detector.layer_errors_[info.name] if info.name in detector.layer_errors_ else np.nan}
        table = metrics_table(data, beta)
        for r in table[table["weighting"] == "per-class"].itertuples(index=False):
            row[f"AUROC {r[0]}"] = r[4]
        rows.append(row)
    if progress:
        progress(1.0, "done")
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- points for the UMAP views
def subsample(n: int, k: int | None, seed: int = 0) -> np.ndarray:
    """Sorted seeded indices of ``k`` of ``n`` items (all when k is None or >= n)."""
    if k is None or k >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, k, replace=False))


@dataclass
class Points:
    """Inputs shown in a projection: their images, metadata and features per layer."""

    meta: pd.DataFrame  # set, kind, index (in its set), true, predicted, mdl, logit
    images: np.ndarray
    features: dict[str, np.ndarray]
    key: dict  # what produced the points (for the projection cache)


def explore_points(experiment, detector, anomalies: dict, layers: list[str], per_set: int | None, seed: int = 0) -> Points:
    """ID test inputs and anomaly inputs (``per_set`` of each, seeded) with their features."""
    sets = [(f"{experiment.id_dataset} (ID)", "id", experiment.test.images, experiment.test.labels)]
    sets += [(name, a.kind, a.images, None) for name, a in anomalies.items()]
    metas, images, key_sets = [], [], []
    for name, kind, imgs, labels in sets:
        index = subsample(len(imgs), per_set, seed)
        chosen = imgs[index]
        scores = detector.layer_scores(chosen)
        metas.append(pd.DataFrame({
            "set": name, "kind": kind, "index": index,
            "true": labels[index] if labels is not None else -1,
            "predicted": scores.predicted, "mdl": scores.mdl, "logit": scores.logit,
        }))
        images.append(chosen)
        key_sets.append([name, cache.hash_array(chosen)])
    images = np.concatenate(images)
    features = experiment.extractor.features(images, list(layers))
    meta = pd.concat(metas, ignore_index=True)
    key = {"model": experiment.model.weights_hash, "sets": key_sets}
    return Points(meta, images, features, key)


def display_images(images: np.ndarray) -> list[np.ndarray]:
    """(N, C, H, W) floats in [0, 1] -> list of (H, W, 3) uint8 for display."""
    from .anomalies.grid import _to_uint8_hwc

    return [_to_uint8_hwc(image) for image in images]


def image_urls(images: np.ndarray) -> list[str]:
    """(N, C, H, W) floats in [0, 1] -> PNG data URLs, for images inside chart tooltips."""
    import base64
    import io

    from PIL import Image

    urls = []
    for image in display_images(images):
        if (image == image[..., :1]).all():  # grey: a third of the bytes
            image = image[..., 0]
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG", optimize=True)
        urls.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"))
    return urls


def with_scores(meta: pd.DataFrame, beta) -> pd.DataFrame:
    """``meta`` (columns mdl, logit) with the combined score g for ``beta``."""
    return meta.assign(score=beta[0] * meta["mdl"] + beta[1] * meta["logit"])


def place_input(points: Points, extractor, image: np.ndarray, layer: str, n_neighbors: int, min_dist: float,
                progress: Progress | None = None) -> pd.DataFrame:
    """The shown points plus one input, projected together (a refit, not UMAP's ``transform``).

    Returns the points' metadata with x, y; the input is the last row, with set "this input".
    """
    from . import projection

    extra = extractor.features(image, [layer])[layer]
    feats = np.concatenate([points.features[layer], extra])
    key = dict(points.key, extra=cache.hash_array(image))
    if progress:
        progress(0.0, f"UMAP of {layer} with this input")
    xy = projection.project(feats, key, layer, n_neighbors, min_dist)
    row = pd.DataFrame({"set": ["this input"], "kind": ["input"], "index": [0], "true": [-1], "predicted": [-1],
                        "mdl": [np.nan], "logit": [np.nan]})
    meta = pd.concat([points.meta, row], ignore_index=True)
    return meta.assign(x=xy[:, 0], y=xy[:, 1])


def save_tuned(detector, beta, path: str | Path) -> Path:
    """Save a copy of ``detector`` with ``beta`` (the shared detector is left as it is)."""
    tuned = copy.copy(detector)
    tuned.set_beta(beta)
    path = Path(path)
    tuned.save(path)
    return path


# --------------------------------------------------------------------------- benchmark
def paper_table(model: str, anomalies: list[str], methods: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """The paper's figures (:data:`detector.report.PAPER`) as wide tables (method x set) per metric.

    Rows are limited to ``methods`` when the paper has any of them; empty when the paper
    has no figure for this model and these sets.
    """
    from .report import PAPER

    figures = PAPER.get(model, {})
    rows = [{"method": method, "anomaly set": anomaly, "TNR@95TPR": tnr, "AUROC": auc}
            for (anomaly, method), (tnr, auc) in figures.items() if anomaly in anomalies]
    if methods and any(r["method"] in methods for r in rows):
        rows = [r for r in rows if r["method"] in methods]
    if not rows:
        return {}
    frame = pd.DataFrame(rows)
    return {metric: frame.pivot_table(index="method", columns="anomaly set", values=metric, aggfunc="first").astype(float)
            for metric in ("TNR@95TPR", "AUROC")}


def available_methods() -> dict[str, Callable]:
    """Detection methods that exist now: ``detector.experiment.METHODS`` plus the baselines registry.

    Looked up at run time, so methods added to ``detector/baselines`` appear without a
    dashboard change. Each value is ``fit(experiment) -> detector`` with ``score_samples``.
    """
    from .experiment import METHODS

    methods = dict(METHODS)
    try:
        from .baselines import BASELINES, fit_baseline
    except Exception as error:  # a half-written baseline must not take the dashboard down
        log.warning("baselines unavailable: %s", error)
        return methods
    for name in BASELINES:
        methods.setdefault(name, lambda experiment, _name=name: fit_baseline(experiment, _name))
    return methods


@functools.lru_cache(maxsize=1)
def _code_version() -> str:
    """Hash of the detection code (methods, features, metrics): a change there invalidates cached cells."""
    import hashlib

    root = Path(__file__).resolve().parent
    files = sorted([*root.glob("baselines/*.py"), *(root / name for name in
                    ("uniform.py", "svdd.py", "features.py", "metrics.py", "experiment.py"))])
    digest = hashlib.sha256()
    for file in files:
        if file.exists():
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def _cell_key(experiment, method: str, anomaly) -> dict:
    return {"what": "benchmark-cell", "method": method, "model": experiment.model.weights_hash,
            "id": experiment.id_dataset, "test": cache.hash_array(experiment.test.images),
            "anomaly": anomaly.name, "data": cache.hash_array(anomaly.images), "code": _code_version(), "version": 1}


def benchmark_cell(experiment, method: str, anomaly) -> pd.DataFrame | None:
    """Cached rows (both weightings) of one method on one anomaly set, or None when missing."""
    arrays = cache.load_arrays(cache.entry_path("benchmark", _cell_key(experiment, method, anomaly)))
    if arrays is None:
        return None
    return pd.DataFrame({"method": method, "anomaly set": anomaly.name, "weighting": arrays["weighting"].astype(str),
                         "TNR@95TPR": arrays["tnr"], "AUROC": arrays["auroc"]})


def compute_benchmark_cell(experiment, method: str, anomaly, fit: Callable | None = None) -> pd.DataFrame:
    """Fit (or load) ``method`` and evaluate it on one anomaly set; the result is cached on disk."""
    from .experiment import evaluate_method

    fit = fit or available_methods()[method]
    detector = fit(experiment)
    rows = evaluate_method(experiment, method, detector, [anomaly])
    arrays = {"weighting": np.array([r.weighting for r in rows]), "tnr": np.array([r.tnr_at_95_tpr for r in rows]),
              "auroc": np.array([r.auroc for r in rows])}
    key = _cell_key(experiment, method, anomaly)
    cache.save_arrays(cache.entry_path("benchmark", key), arrays, key)
    return benchmark_cell(experiment, method, anomaly)


def benchmark_table(cells: list[pd.DataFrame], weighting: str = "per-class") -> dict[str, pd.DataFrame]:
    """Wide tables (method x anomaly set) of TNR@95TPR and AUROC for one weighting."""
    if not cells:
        return {}
    rows = pd.concat(cells, ignore_index=True)
    rows = rows[rows["weighting"] == weighting]
    return {metric: rows.pivot_table(index="method", columns="anomaly set", values=metric, aggfunc="first").astype(float)
            for metric in ("TNR@95TPR", "AUROC")}


def dataset_available(name: str) -> bool:
    """Whether a built-in dataset's files can be read here (others show as 'missing')."""
    if name not in DATASET_NAMES:
        return True
    from .data import load_dataset

    try:
        load_dataset(name, "test")
        return True
    except DataError:
        return False
