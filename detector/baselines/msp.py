"""MSP: the maximum softmax probability ("baseline" of the paper's Tables 2, 4, 5, 7)."""

from __future__ import annotations

import numpy as np
from scipy.special import softmax

from ..method.api import MethodInfo
from .base import Baseline


class MSP(Baseline):
    """Maximum softmax probability, ``max_c softmax(f(x))_c``; higher = more normal.

    Nothing is learned: ``fit`` only ties the detector to an experiment.

    References
    ----------
    Hendrycks, Gimpel. A baseline for detecting misclassified and out-of-distribution
    examples in neural networks. ICLR 2017. https://arxiv.org/abs/1610.02136
    (the paper's reference [10], "baseline").

    Examples
    --------
    >>> MSP.score(np.array([[2.0, 0.0], [0.0, 0.0]])).round(3)
    array([0.881, 0.5  ])
    """

    info = MethodInfo(
        name="msp",
        description="the largest softmax probability",
        reference="Hendrycks & Gimpel, ICLR 2017",
        streams=True,
    )

    def __init__(self):
        pass

    @staticmethod
    def score(logits: np.ndarray) -> np.ndarray:
        """MSP of logits of shape (N, C)."""
        return softmax(np.asarray(logits, dtype=np.float64), axis=1).max(1)

    def _fit(self, experiment) -> None:
        pass

    def _score(self, images: np.ndarray) -> np.ndarray:
        return self.score(self._logits(images))
