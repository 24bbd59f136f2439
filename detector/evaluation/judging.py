"""Judging a user's own inputs with any registered method: what ``check`` and the Inspect page do.

:data:`DEFAULT_METHOD` is the detector they judge with unless told otherwise: the one of this
project that does best on inputs drawn by hand and on near-OOD look-alikes (``docs/drawn-inputs.md``
has the figures). The paper's detector (``ours``) and every other method are one choice away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..method.metrics import per_class_thresholds
from ..method.verdicts import Verdict, judge, judge_scores
from .evaluate import named_scores
from .registry import METHODS, OURS, fit_method

#: the detector that ``check`` and Inspect judge with by default
DEFAULT_METHOD = "ours+knn"
#: the methods whose verdicts come term by term (the others give one score per input)
TERMWISE = OURS


@dataclass
class Judge:
    """A fitted method and the per-class thresholds its verdicts use."""

    method: str
    fitted: object  # the fitted :class:`~detector.baselines.base.Method`
    detector: object | None  # its UniformDetector (ours and its variants), for the terms and "why"
    thresholds: np.ndarray  # tau_i per predicted class, from the held-out validation split
    experiment: object

    def judge(self, images: np.ndarray) -> list[Verdict]:
        if self.detector is not None:
            return judge(self.detector, images)
        import torch

        logits = self.experiment.extractor.logits(images)
        probabilities = torch.softmax(torch.from_numpy(logits), 1).numpy()
        predicted = logits.argmax(1)
        return judge_scores(self.fitted.score_samples(images), predicted, probabilities[np.arange(len(predicted)), predicted],
                            self.thresholds)


def check_method(method: str) -> str:
    """``method`` if it is registered; otherwise a ValueError listing the valid names."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)} (default {DEFAULT_METHOD})")
    return method


def fit_judge(experiment, method: str = DEFAULT_METHOD, **params) -> Judge:
    """``method`` fitted on ``experiment`` (cached as the benchmark's fits are) with the thresholds that
    keep 95 % of the held-out ID inputs of each predicted class. ``params``: the method's options
    (``layer``, ``beta``, ``nu``, ``candidates`` where it takes them)."""
    fitted = fit_method(experiment, check_method(method), **params)
    if method in TERMWISE:  # a baseline may hold a detector_ of its own (pytorch-ood's)
        detector = fitted.detector_
        return Judge(method, fitted, detector, np.asarray(detector.thresholds_), experiment)
    val = experiment.val
    thresholds = per_class_thresholds(named_scores(fitted, val.images), experiment.predictions(val.images),
                                      experiment.model.n_classes, 0.95)
    return Judge(method, fitted, None, thresholds, experiment)
