"""ELO: a class-agnostic one-class SVDD on the output of one early layer (Abdelzad et al.)."""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

from ..method.api import MethodInfo
from ..method.metrics import auroc, tnr_at_tpr
from ..method.svdd import ClassConditionalSVDD, rbf_gamma
from ..runtime import subsample
from .base import Baseline


class ELO(Baseline):
    """Early Layer Output: one class-agnostic SVDD on the most discriminative layer.

    One RBF one-class SVM (= SVDD, ``nu = 0.001`` as in ELO) is fitted per candidate
    layer (conv maps reduced to channel means) on the standardised features of *all*
    ID training inputs, whatever their class. The layer whose SVDD best separates the
    validation ID inputs from the generated *mix* set (TNR at 95 % TPR, then AUROC) is
    kept - Abdelzad et al. pick it with OOD validation data, we use the same mix set as
    for our own MDL. The score is that SVDD's log score
    (:meth:`detector.method.svdd.ClassConditionalSVDD.log_score`); higher = more normal.

    This is the paper's closest related work: ours differs by one SVDD *per predicted
    class* and by adding the logit layer.

    Parameters
    ----------
    nu : float in (0, 1)
        SVDD slack bound; 0.001 as in ELO ("a strong penalty on samples outside R").
    gamma : "scale", "auto" or float
        RBF width on standardised features.
    max_samples : int
        Training inputs per SVDD (seeded subsample).
    layers : list of str or None
        Candidate layers; default every candidate layer, logits included.

    Attributes
    ----------
    layer_ : str
        The chosen layer.
    layer_quality_ : dict layer -> (TNR, AUROC) on validation ID vs mix
    scaler_, svm_ : the chosen layer's StandardScaler and OneClassSVM

    References
    ----------
    Abdelzad, Czarnecki, Salay, Denouden, Vernekar, Phan. Detecting out-of-distribution
    inputs in deep neural networks using an early-layer output. arXiv 1910.10307, 2019
    (the paper's [1], "ELO").
    """

    info = MethodInfo(
        name="elo",
        description="one class-agnostic one-class SVM on an early layer",
        reference="Abdelzad et al., 2019",
        streams=True,
    )

    def __init__(self, nu=0.001, gamma="scale", max_samples=2000, layers=None, random_state=0):
        self.nu = nu
        self.gamma = gamma
        self.max_samples = max_samples
        self.layers = layers
        self.random_state = random_state

    def _fit(self, experiment) -> None:
        extractor = experiment.extractor
        names = list(self.layers or [info.name for info in extractor.layers])
        train = experiment.train.images
        keep = subsample(len(train), self.max_samples, self.random_state)
        feats = extractor.features(train, names)
        val = extractor.features(experiment.val.images, names)
        mix = extractor.features(self._mix(), names)
        fitted, self.layer_quality_ = {}, {}
        for name in names:
            scaler = StandardScaler().fit(feats[name])
            Z = scaler.transform(feats[name][keep])
            # the width resolved as OneClassSVM would, held as its public gamma: log_score reads no private attribute
            svm = OneClassSVM(kernel="rbf", nu=self.nu, gamma=rbf_gamma(Z, self.gamma)).fit(Z)
            fitted[name] = (scaler, svm)
            v = ClassConditionalSVDD.log_score(svm, scaler.transform(val[name]))
            m = ClassConditionalSVDD.log_score(svm, scaler.transform(mix[name]))
            self.layer_quality_[name] = (tnr_at_tpr(v, m), auroc(v, m))
        self.layer_ = max(self.layer_quality_, key=self.layer_quality_.get)
        self.scaler_, self.svm_ = fitted[self.layer_]

    def _score(self, images: np.ndarray) -> np.ndarray:
        z = self._features(images, [self.layer_])[self.layer_]
        return ClassConditionalSVDD.log_score(self.svm_, self.scaler_.transform(z))
