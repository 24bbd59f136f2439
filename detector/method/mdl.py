"""Step 1 of the paper (Sec. 4, Fig. 1): the Most Discriminative Layer is the candidate layer whose
per-class SVDD makes the fewest errors on held-out ID data plus a *mix* anomaly set
(:func:`detector.anomalies.noise.mix_set`, generated: it shares nothing with the evaluated sets)."""

from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.metrics import roc_auc_score

from .metrics import per_class_thresholds
from .svdd import ClassConditionalSVDD

Features = tuple[dict[str, np.ndarray], np.ndarray]  # (layer -> features, predicted classes) of one image set


def most_discriminative(errors: dict[str, float], separation: dict[str, float]) -> str:
    """The MDL: the layer with the fewest errors on held-out ID plus the mix set (the paper's rule);
    among layers with equally few, the one whose scores separate the two best (AUROC), not the first
    listed: a MobileNetV3's features.2 and features.3 tied at 13.6 %, and the first lost 2 points.

    >>> most_discriminative({"a": 0.2, "b": 0.1, "c": 0.1}, {"a": 0.99, "b": 0.90, "c": 0.95})
    'c'
    """
    return min(errors, key=lambda name: (errors[name], -separation[name]))


def mix_set_errors(make_svdd: Callable[[], ClassConditionalSVDD], names: list[str], train: Features, val: Features,
                   mix: Features, n_classes: int, tpr: float, min_samples: int) -> tuple[dict[str, float], dict[str, float]]:
    """Per candidate layer of ``names``: an SVDD fitted on ``train``, thresholds keeping ``tpr`` of ``val``
    per class, and (its error rate on ``val`` + ``mix``, the AUROC of its scores separating the two); the
    AUROC breaks ties in the error count (a MobileNet's features.2 and .3 tied at 13.6 %)."""
    (train_feats, train_pred), (val_feats, val_pred), (mix_feats, mix_pred) = train, val, mix
    errors, separation = {}, {}
    for name in names:
        svdd = make_svdd().fit(train_feats[name], train_pred, n_classes)
        val_s = svdd.score_samples(val_feats[name], val_pred)
        mix_s = svdd.score_samples(mix_feats[name], mix_pred)
        tau = per_class_thresholds(val_s, val_pred, n_classes, tpr, min_samples)
        wrong = np.sum(val_s < tau[val_pred]) + np.sum(mix_s >= tau[mix_pred])
        errors[name] = float(wrong / (len(val_s) + len(mix_s)))
        separation[name] = roc_auc_score(np.r_[np.ones(len(val_s)), np.zeros(len(mix_s))], np.r_[val_s, mix_s])
    return errors, separation
