"""Our detectors as registered methods, behind the abstract base of every method (:class:`~detector.method.api.Method`).

``Ours().fit(experiment)`` fits (or loads from the disk cache) the paper's
:class:`~detector.method.uniform.UniformDetector` through :func:`.experiment.fit_uniform`;
``score_samples`` is that detector's. The fitted detector is ``detector_`` (its MDL, β,
thresholds). The command line's ``--layer``, ``--beta``, ``--nu`` and ``--candidates`` are
parameters here (:attr:`~detector.method.api.MethodInfo.options`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .. import cache
from ..method.api import Method, MethodInfo, NotApplicable
from ..method.neighbours import UniformKNNDetector
from ..method.scores import CONF_BETA
from ..method.uniform import UniformDetector
from .authors import fit_uniform_authors
from .experiment import _detector_key, fit_uniform, fit_uniform_conf

#: grid step 1/20 on the four-term simplex (1,771 points), ours+conf's step: on LeNet-MNIST the best point of a
#: 1/10 grid (286 points, a few seconds less) trails it on the generated kinds and on the tuning part of the
#: drawn set (docs/drawn-inputs.md)
KNN_BETA_STEPS = 20


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

    info = MethodInfo(
        name="ours",
        description=("per-class SVDDs on the MDL and the logits, min-max normalised, g = β₁·MDL + β₂·logit; τ_i per "
                     "class"),
        reference="Zhao et al., A Uniform Framework for Anomaly Detection in DNNs",
        streams=True,
        options=("layer", "beta", "nu", "candidates"),
    )

    def __init__(self, layer="auto", beta=(0.5, 0.5), nu=0.1, candidates=None):
        self.layer = layer
        self.beta = beta
        self.nu = nu
        self.candidates = candidates

    def _detector_params(self) -> dict:
        # candidates=None is left out, so that detectors cached before the option existed are found again
        params = {name: getattr(self, name) for name in self.info.options}
        return {k: v for k, v in params.items() if not (k == "candidates" and v is None)}

    def _fit_detector(self, experiment) -> UniformDetector:
        return fit_uniform(experiment, **self._detector_params())

    def fit(self, experiment) -> "Ours":
        self.detector_ = self._fit_detector(experiment)
        return self

    def fit_authors(self, experiment) -> "Ours":
        """The authors' fitting (:func:`.authors.fit_uniform_authors`) with this method's beta (for ours+conf,
        the one its own fit picks)."""
        beta = self.beta if "beta" in self.get_params() else self._fit_detector(experiment).beta
        self.detector_ = fit_uniform_authors(experiment, beta=beta, nu=self.nu)
        return self

    def score_samples(self, images: np.ndarray, cached: bool = False) -> np.ndarray:
        """Higher = more normal; ``cached``: keep the features of a named set on disk (see
        :meth:`UniformDetector.score_samples`)."""
        check_is_fitted(self, "detector_")
        return self.detector_.score_samples(images, cached=cached)

    # ------------------------------------------------------------------ persistence
    _detector_class = UniformDetector

    def save(self, path: str | Path) -> None:
        """Write the fitted detector (:meth:`UniformDetector.save`)."""
        check_is_fitted(self, "detector_")
        self.detector_.save(path)

    @classmethod
    def load(cls, path: str | Path, experiment) -> "Ours":
        """The method fitted as saved by :meth:`save`, for the experiment's model; its parameters are the
        saved detector's."""
        detector = cls._detector_class.load(path, experiment.model)
        saved = detector.get_params()
        method = cls(**{name: saved[name] for name in cls._get_param_names() if name in saved})
        method.detector_ = detector
        return method


class OursConf(Ours):
    """Ours with a third term, the classifier's confidence; β picked on generated anomalies."""

    info = MethodInfo(
        name="ours+conf",
        description=("ours plus a third term, the classifier's confidence normalised per class; β picked on "
                     "generated anomalies only (mix set and boundary blends)"),
        reference="this project (docs/results.md)",
        streams=True,
        options=("layer", "nu", "candidates"),
    )

    def __init__(self, layer="auto", nu=0.1, candidates=None):
        self.layer = layer
        self.nu = nu
        self.candidates = candidates

    def _fit_detector(self, experiment) -> UniformDetector:
        return fit_uniform_conf(experiment, **self._detector_params())


class OursConfEqual(OursConf):
    """Ours with the confidence term and equal weights (:data:`detector.method.scores.CONF_BETA`)."""

    info = MethodInfo(
        name="ours+conf-equal",
        description="ours+conf with equal weights β = (1/3, 1/3, 1/3)",
        reference="this project (docs/results.md)",
        streams=True,
        options=("layer", "nu", "candidates"),
    )

    def _fit_detector(self, experiment) -> UniformDetector:
        return fit_uniform(experiment, **self._detector_params(), beta=CONF_BETA)


def fit_uniform_knn(experiment, k="auto", **params) -> UniformKNNDetector:
    """``ours+knn``: ours+conf's fitted detector (the same cache entry: MDL, SVDDs) with the k-NN term
    added; k (``"auto"``: :meth:`UniformKNNDetector.k_from_generated`) and then beta on the four-term
    simplex picked on generated anomalies only (the choice cached with the detector's key)."""
    base = fit_uniform(experiment, **{**params, "beta": CONF_BETA})
    train, val = experiment.train, experiment.val

    def choose() -> dict[str, np.ndarray]:
        detector = UniformKNNDetector.from_detector(base, train.images, val.images)
        chosen_k = detector.k_from_generated(val.images, val.labels)[0] if k == "auto" else k
        if chosen_k != detector.k:
            detector = UniformKNNDetector.from_detector(base, train.images, val.images, chosen_k)
        beta = detector.beta_from_generated(val.images, val.labels, steps=KNN_BETA_STEPS)[0]
        return {"k": np.int64(chosen_k), "beta": np.array(beta)}

    key = {**_detector_key(experiment, base), "what": "generated-k-beta-knn", "k": k, "steps": KNN_BETA_STEPS}
    chosen = cache.cached_arrays("tuned", key, choose, code=__name__)
    detector = UniformKNNDetector.from_detector(base, train.images, val.images, int(chosen["k"]))
    return detector.with_beta(tuple(float(b) for b in chosen["beta"]))


class OursKNN(OursConf):
    """Ours+conf with a fourth term, the k-NN distance in the penultimate features (near-OOD)."""

    info = MethodInfo(
        name="ours+knn",
        description=("ours+conf plus a fourth term, the distance to the k-th nearest training input in the "
                     "L2-normalised penultimate features, normalised per class; k and β (on the simplex over the "
                     "four terms) picked on generated anomalies only, look-alikes included"),
        reference="this project (docs/near-ood.md); the k-NN term: Sun et al., ICML 2022",
        streams=True,
        options=("layer", "nu", "candidates"),
    )

    def __init__(self, layer="auto", nu=0.1, candidates=None, k="auto"):
        super().__init__(layer, nu, candidates)
        self.k = k

    _detector_class = UniformKNNDetector

    def _fit_detector(self, experiment) -> UniformKNNDetector:
        return fit_uniform_knn(experiment, k=self.k, **self._detector_params())

    def fit_authors(self, experiment) -> "OursKNN":
        raise NotApplicable("the authors' protocol refits the paper's terms on the evaluation data; the k-NN term "
                            "has no counterpart in their code")


OURS_METHODS = (Ours, OursConf, OursConfEqual, OursKNN)
