"""View-models of the dashboard: what a page draws, computed from the detector core (no Streamlit here).

The points of the UMAP views and their tooltip images, the per-layer table behind the MDL
choice, example inputs per class and the decision line. The metrics for any beta come from
:mod:`detector.evaluation.evaluate`; figures are drawn by :mod:`dashboard.figures`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from detector import cache
from detector.anomalies import anomaly_kinds
from detector.anomalies.grid import to_uint8_hwc
from detector.evaluation.evaluate import ScoreData, metrics_table, score_data
from detector.method.features import LOGITS
from detector.method.scores import KNN_TERM, TERMS, LayerScores, check_beta
from detector.runtime import subsample

Progress = Callable[[float, str], None]
NU_CHOICES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)  # the values of nu offered by the Tune page and the notebook


def anomaly_choices(id_dataset: str) -> dict[str, str]:
    """Anomaly set names the dashboard offers (every registered one but the ID dataset) -> kind."""
    return {name: kind for name, kind in anomaly_kinds().items() if name != id_dataset}


def candidate_layers(experiment) -> list[str]:
    """Layers that can serve as MDL (every layer but the logits)."""
    return [layer.name for layer in experiment.extractor.valid_layers if layer.name != LOGITS]


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


def term_medians(data: ScoreData) -> pd.DataFrame:
    """Median of each normalised score (MDL, logit, confidence) for the ID test set and each anomaly set."""
    sets = [data.test, *data.anomalies.values()]
    medians = np.array([np.nanmedian(s.scores.terms(), axis=0) for s in sets]).reshape(-1, 3)
    return pd.DataFrame({"set": [s.name for s in sets], "kind": [s.kind for s in sets], "MDL score": medians[:, 0],
                         "logit score": medians[:, 1], "confidence score": medians[:, 2]})


def decision_line(tau: float, beta, conf: float = 1.0, knn: float = 0.0) -> tuple[np.ndarray, np.ndarray] | None:
    """Points of beta_1 * m + beta_2 * l + beta_3 * conf [+ beta_4 * knn] = tau in the (MDL score, logit
    score) plane, for inputs whose confidence score is ``conf`` (and k-NN term ``knn``)."""
    b1, b2, b3, *b4 = check_beta(beta)
    tau = tau - b3 * conf - (b4[0] * knn if b4 else 0.0)
    if b2 > 1e-9:
        m = np.array([-2.0, 1.2])
        return m, (tau - b1 * m) / b2
    if b1 > 1e-9:
        return np.array([tau / b1, tau / b1]), np.array([-2.0, 1.2])
    return None


# --------------------------------------------------------------------------- layers (why this MDL)
def term_weights(detector) -> pd.DataFrame:
    """Each term of a fitted detector (three, or four with ours+knn's k-NN term), the layer it reads and its β."""
    reads = [detector.mdl_, LOGITS, "softmax of the logits"]
    if hasattr(detector, "knn_"):
        reads.append(f"{detector.penultimate_} (distance to the {detector.k}-th nearest training input)")
    beta = (*check_beta(detector.beta), 0.0)[:len(reads)]  # a fourth weight of 0 is dropped by check_beta
    return pd.DataFrame({"term": [*TERMS, KNN_TERM][:len(reads)], "reads": reads, "β": beta})


def layers_to_fit(experiment, detector) -> list:
    """The LayerInfo of the layers that :func:`layer_table` fits a detector for (every one tried as MDL
    but the MDL itself)."""
    return [info for info in experiment.extractor.valid_layers if info.name in detector.layer_errors_
            and info.name != detector.mdl_]


def layer_table(experiment, detector, anomalies: dict, fit: Callable, progress: Progress | None = None) -> pd.DataFrame:
    """For every layer tried as MDL: mix-set error and per-class AUROC of that layer's SVDD alone.

    The layers tried are the candidates (every layer of a small network such as LeNet, the block
    outputs of a deep one): a row costs a detector fit and a forward pass of every set, and all 25
    layers of the small ResNet took over 10 min here. ``fit(layer)`` returns a detector fitted with
    that layer as MDL (disk-cached by :func:`detector.evaluation.experiment.fit_uniform`); its MDL score is the
    layer's score. The logit row uses the logit score of ``detector``, and a last row its confidence
    term alone.
    """
    tried = {*detector.layer_errors_, detector.mdl_, LOGITS}
    layers = [*(info for info in experiment.extractor.valid_layers if info.name in tried), None]  # None: confidence
    rows = []
    own = score_data(experiment, detector, anomalies)  # the MDL's, logit and confidence rows: scored once
    for k, info in enumerate(layers):
        if progress:
            progress(k / len(layers), f"layer {getattr(info, 'name', 'confidence')} ({k + 1}/{len(layers)})")
        if info is None:
            rows.append({"layer": "confidence", "type": f"softmax ({detector.confidence_})", "features": 1,
                         "reduction": "max probability", "MDL": "",
                         "mix error %": np.nan, **_aurocs(own, (0, 0, 1))})
            continue
        if info.name == LOGITS:
            source, beta = detector, (0.0, 1.0)
        else:
            source, beta = (detector if info.name == detector.mdl_ else fit(info.name)), (1.0, 0.0)
        data = own if source is detector else score_data(experiment, source, anomalies)
        row = {"layer": info.name, "type": info.kind, "features": info.feature_dim, "reduction": info.reduction,
               "MDL": "★" if info.name == detector.mdl_ else "",
               "mix error %": 100.0 * detector.layer_errors_[info.name] if info.name in detector.layer_errors_ else np.nan}
        rows.append({**row, **_aurocs(data, beta)})
    if progress:
        progress(1.0, "done")
    return pd.DataFrame(rows)


def _aurocs(data: ScoreData, beta) -> dict[str, float]:
    table = metrics_table(data, beta)
    per_class = table[table["weighting"] == "per-class"]
    return {f"AUROC {name}": value for name, value in zip(per_class["anomaly set"], per_class["AUROC"])}


# --------------------------------------------------------------------------- points for the UMAP views
@dataclass
class Points:
    """Inputs shown in a projection: their images, metadata and features per layer."""

    meta: pd.DataFrame  # set, kind, index (in its set), true, predicted, mdl, logit, conf
    scores: LayerScores  # the same rows' layer scores, to combine with any beta
    images: np.ndarray
    features: dict[str, np.ndarray]
    key: dict  # what produced the points (for the projection cache)


def explore_points(experiment, detector, anomalies: dict, layers: list[str], per_set: int | None, seed: int = 0) -> Points:
    """ID test inputs and anomaly inputs (``per_set`` of each, seeded) with their features."""
    sets = [(f"{experiment.id_dataset} (ID)", "id", experiment.test.images, experiment.test.labels)]
    sets += [(name, a.kind, a.images, None) for name, a in anomalies.items()]
    metas, scores, images, key_sets = [], [], [], []
    for name, kind, imgs, labels in sets:
        index = subsample(len(imgs), per_set, seed)
        chosen = imgs[index]
        scores.append(detector.layer_scores(chosen, cached=True))  # subsets of named sets, seeded
        metas.append(pd.DataFrame({
            "set": name, "kind": kind, "index": index,
            "true": labels[index] if labels is not None else -1,
            "predicted": scores[-1].predicted, "mdl": scores[-1].mdl, "logit": scores[-1].logit,
            "conf": scores[-1].terms()[:, 2],
        }))
        images.append(chosen)
        key_sets.append([name, cache.hash_array(chosen)])
    images = np.concatenate(images)
    features = experiment.extractor.features(images, list(layers))
    meta = pd.concat(metas, ignore_index=True)
    key = {"model": experiment.model.fingerprint, "sets": key_sets}
    return Points(meta, LayerScores.concatenate(scores), images, features, key)


def display_images(images: np.ndarray) -> list[np.ndarray]:
    """(N, C, H, W) floats in [0, 1] -> list of (H, W, 3) uint8 for display."""
    return [to_uint8_hwc(image) for image in images]


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


def with_scores(meta: pd.DataFrame, points: Points, beta, thresholds: np.ndarray) -> pd.DataFrame:
    """``meta`` (the rows of ``points``, then any extra rows, left NaN / "") with the detector's
    view of each input for ``beta``: combined score g, tau_i of its predicted class, g - tau_i
    and the verdict (the anomaly test of :meth:`detector.method.scores.LayerScores.decision`)."""
    pad = np.full(len(meta) - len(points.scores), np.nan)
    margin = points.scores.decision(beta, thresholds)
    verdict = np.where(margin < 0, "anomaly", "normal")
    return meta.assign(score=np.r_[points.scores.combine(beta), pad],
                       tau=np.r_[np.asarray(thresholds)[points.scores.predicted], pad],
                       margin=np.r_[margin, pad], verdict=np.r_[verdict, [""] * len(pad)])


def selection_table(meta: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Selected rows of :func:`with_scores` as a table to download: where each input comes from,
    the classes, the normalised scores and the verdict."""
    return pd.DataFrame({
        "set": meta["set"], "index in set": meta["index"],
        "true class": [names[t] if t >= 0 else "" for t in meta["true"]],
        "predicted class": [names[p] for p in meta["predicted"]],
        "g": meta["score"], "tau": meta["tau"], "g - tau": meta["margin"], "verdict": meta["verdict"],
        "MDL score": meta["mdl"], "logit score": meta["logit"], "confidence score": meta["conf"],
    })


def sample_selection(rows: pd.DataFrame, k: int = 60, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """At most ``k`` of the selected ``rows``, drawn from every set in proportion to its share (at
    least one each, seeded), and the count of selected inputs per set. The first ``k`` in set
    order showed 59 MNIST images and 1 Fashion-MNIST for a box over mostly Fashion-MNIST.

    >>> rows = pd.DataFrame({"set": ["id"] * 10 + ["ood"] * 90})
    >>> shown, counts = sample_selection(rows, 20)
    >>> shown["set"].value_counts().to_dict(), counts.to_dict()
    ({'ood': 18, 'id': 2}, {'id': 10, 'ood': 90})
    """
    counts = rows["set"].value_counts(sort=False)
    if len(rows) <= k:
        return rows, counts
    share = counts / counts.sum() * k
    quota = np.maximum(1, np.floor(share)).astype(int)
    for name in (share - np.floor(share)).sort_values(ascending=False).index:  # largest remainders first
        if quota.sum() >= k:
            break
        quota[name] += 1
    parts = [group.iloc[subsample(len(group), min(int(quota[name]), len(group)), seed)]
             for name, group in rows.groupby("set", sort=False)]
    return pd.concat(parts), counts


def place_input(points: Points, extractor, image: np.ndarray, layer: str, n_neighbors: int, min_dist: float,
                progress: Progress | None = None) -> pd.DataFrame:
    """The shown points plus one input, projected together (a refit, not UMAP's ``transform``).

    Returns the points' metadata with x, y; the input is the last row, with set "this input".
    """
    from detector.evaluation import projection

    extra = extractor.features(image, [layer])[layer]
    feats = np.concatenate([points.features[layer], extra])
    key = dict(points.key, extra=cache.hash_array(image))
    if progress:
        progress(0.0, f"UMAP of {layer} with this input")
    xy = projection.project(feats, key, layer, n_neighbors, min_dist)
    row = pd.DataFrame({"set": ["this input"], "kind": ["input"], "index": [0], "true": [-1], "predicted": [-1],
                        "mdl": [np.nan], "logit": [np.nan], "conf": [np.nan]})
    meta = pd.concat([points.meta, row], ignore_index=True)
    return meta.assign(x=xy[:, 0], y=xy[:, 1])


def save_tuned(detector, beta, path: str | Path) -> Path:
    """Save a copy of ``detector`` with ``beta`` (the shared detector is left as it is)."""
    path = Path(path)
    detector.with_beta(beta).save(path)
    return path


