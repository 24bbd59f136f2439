"""Our detectors as registered methods: the same protocol as every baseline.

``Ours().fit(experiment)`` fits (or loads from the disk cache) the paper's
:class:`~detector.method.uniform.UniformDetector` through :func:`.experiment.fit_uniform`;
``score_samples`` is that detector's. The fitted detector is ``detector_`` (its MDL, β,
thresholds). The command line's ``--layer``, ``--beta``, ``--nu`` and ``--candidates`` are
parameters here (:attr:`~detector.baselines.base.Method.options`).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..baselines.base import Method
from ..method.scores import CONF_BETA
from ..method.uniform import UniformDetector
from .experiment import fit_uniform, fit_uniform_conf


class Ours(Method):
    """The paper's detector (Zhao et al.): per-class SVDDs on the MDL and the logits.

    Parameters
    ----------
    layer, beta, nu, candidates
        As :class:`~detector.method.uniform.UniformDetector`'s (``candidates=None``: its default).

    Attributes
    ----------
    detector_ : UniformDetector
        The fitted detector.
    """

    name = "ours"
    description = ("per-class SVDDs on the MDL and the logits, min-max normalised, g = β₁·MDL + β₂·logit; τ_i "
                   "per class")
    reference = "Zhao et al., A Uniform Framework for Anomaly Detection in DNNs"
    streams = True  # through the feature extractor only
    options = ("layer", "beta", "nu", "candidates")

    def __init__(self, layer="auto", beta=(0.5, 0.5), nu=0.1, candidates=None):
        self.layer = layer
        self.beta = beta
        self.nu = nu
        self.candidates = candidates

    def _detector_params(self) -> dict:
        # candidates=None is left out, so that detectors cached before the option existed are found again
        params = {name: getattr(self, name) for name in self.options}
        return {k: v for k, v in params.items() if not (k == "candidates" and v is None)}

    def _fit_detector(self, experiment) -> UniformDetector:
        return fit_uniform(experiment, **self._detector_params())

    def fit(self, experiment) -> "Ours":
        self.detector_ = self._fit_detector(experiment)
        return self

    def score_samples(self, images: np.ndarray, cached: bool = False) -> np.ndarray:
        """Higher = more normal; ``cached``: keep the features of a named set on disk (see
        :meth:`UniformDetector.score_samples`)."""
        check_is_fitted(self, "detector_")
        return self.detector_.score_samples(images, cached=cached)


class OursConf(Ours):
    """Ours with a third term, the classifier's confidence; β picked on generated anomalies."""

    name = "ours+conf"
    description = ("ours plus a third term, the classifier's confidence normalised per class; β picked on generated "
                   "anomalies only (mix set and boundary blends)")
    reference = "this project (README, Results)"
    options = ("layer", "nu", "candidates")

    def __init__(self, layer="auto", nu=0.1, candidates=None):
        self.layer = layer
        self.nu = nu
        self.candidates = candidates

    def _fit_detector(self, experiment) -> UniformDetector:
        return fit_uniform_conf(experiment, **self._detector_params())


class OursConfEqual(OursConf):
    """Ours with the confidence term and equal weights (:data:`detector.method.scores.CONF_BETA`)."""

    name = "ours+conf-equal"
    description = "ours+conf with equal weights β = (1/3, 1/3, 1/3)"

    def _fit_detector(self, experiment) -> UniformDetector:
        return fit_uniform(experiment, **self._detector_params(), beta=CONF_BETA)


OURS_METHODS = (Ours, OursConf, OursConfEqual)
