"""ELO: an ensemble of layer-wise, class-agnostic one-class SVDDs."""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

from ..svdd import ClassConditionalSVDD
from .base import Baseline


class ELO(Baseline):
    """One class-agnostic SVDD per layer, their normalised scores averaged.

    For every candidate layer ``l`` (conv maps reduced to channel means, logits
    included), one RBF one-class SVM (= SVDD) with ``nu = 0.001`` is fitted on the
    standardised features of *all* ID training inputs, whatever their class. Its log
    score (see :meth:`detector.svdd.ClassConditionalSVDD.log_score`) is min-max
    normalised on the validation split, and the detector's score is the mean over
    layers; higher = more normal.

    This is the closest related work of the paper: the same kind of detector as ours,
    but with no split by predicted class and all layers at once instead of the MDL and
    the logits.

    Parameters
    ----------
    nu : float in (0, 1]
        SVDD slack bound; 0.001 as in the paper's comparison.
    gamma : "scale", "auto" or float
        RBF width on standardised features.
    max_samples : int
        Training inputs per SVDD (seeded subsample).
    layers : list of str or None
        Layers used; default every candidate layer.

    Attributes
    ----------
    layers_ : list of str
    scalers_, svms_ : dict layer -> fitted StandardScaler / OneClassSVM
    norm_ : ndarray (n_layers, 2)
        Min and max of each layer's log score on the validation split.

    References
    ----------
    Jiang, Wang, Li. ELO: layer-wise one-class ensemble for anomaly detection in deep
    neural networks (the paper's "ELO", Tables 2-7).
    """

    name = "elo"

    def __init__(self, nu=0.001, gamma="scale", max_samples=2000, layers=None, random_state=0):
        self.nu = nu
        self.gamma = gamma
        self.max_samples = max_samples
        self.layers = layers
        self.random_state = random_state

    def _fit(self, experiment) -> None:
        extractor = experiment.extractor
        self.layers_ = list(self.layers or [info.name for info in extractor.layers])
        train = experiment.train.images
        rng = np.random.default_rng(self.random_state)
        keep = np.sort(rng.choice(len(train), min(len(train), self.max_samples), replace=False))
        feats = extractor.features(train, self.layers_)
        self.scalers_, self.svms_ = {}, {}
        for name in self.layers_:
            scaler = StandardScaler().fit(feats[name])
            self.scalers_[name] = scaler
            self.svms_[name] = OneClassSVM(kernel="rbf", nu=self.nu, gamma=self.gamma).fit(scaler.transform(feats[name][keep]))
        raw = self._raw(experiment.val.images)
        self.norm_ = np.stack([raw.min(0), raw.max(0)], 1)

    def _raw(self, images: np.ndarray) -> np.ndarray:
        feats = self._features(images, self.layers_)
        return np.stack([ClassConditionalSVDD.log_score(self.svms_[name], self.scalers_[name].transform(feats[name]))
                         for name in self.layers_], 1)

    def _score(self, images: np.ndarray) -> np.ndarray:
        span = np.maximum(self.norm_[:, 1] - self.norm_[:, 0], 1e-12)
        return ((self._raw(images) - self.norm_[:, 0]) / span).mean(1)
