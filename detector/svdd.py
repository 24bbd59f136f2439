"""Per-class one-class SVDD: one RBF ``OneClassSVM`` for each predicted class.

Schölkopf's ν-one-class SVM with a Gaussian kernel is equivalent to Tax & Duin's SVDD
(paper, footnote 1), so scikit-learn's ``OneClassSVM`` is used as is. Features are
standardised with a scaler fitted on all training features, as in the authors' code.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM
from sklearn.utils.validation import check_is_fitted

from .runtime import subsample


class ClassConditionalSVDD(BaseEstimator):
    """One SVDD per class, trained on the training inputs the model predicts as that class.

    Parameters
    ----------
    nu : float in (0, 1]
        Upper bound on the fraction of training inputs outside the sphere.
    gamma : "scale", "auto" or float
        RBF kernel width (``1 / s^2`` in the paper's Eq. 3).
    max_samples_per_class : int
        Larger classes are subsampled (seeded): the SVM's cost grows with n^2.
    min_samples : int
        A class predicted fewer times than this in training has no SVDD of its own;
        its inputs are scored by the *pooled* SVDD fitted on all training inputs
        (the class-agnostic detector of ELO).

    Attributes
    ----------
    scaler_ : StandardScaler
    class_models_ : list of OneClassSVM or None, one per class
    pooled_model_ : OneClassSVM
    """

    def __init__(self, nu=0.1, gamma="scale", max_samples_per_class=2000, min_samples=10, random_state=0):
        self.nu = nu
        self.gamma = gamma
        self.max_samples_per_class = max_samples_per_class
        self.min_samples = min_samples
        self.random_state = random_state

    def _svm(self, X: np.ndarray, rng: np.random.Generator) -> OneClassSVM:
        X = X[subsample(len(X), self.max_samples_per_class, rng)]
        return OneClassSVM(kernel="rbf", nu=self.nu, gamma=self.gamma).fit(X)

    def fit(self, X: np.ndarray, classes: np.ndarray, n_classes: int) -> "ClassConditionalSVDD":
        rng = np.random.default_rng(self.random_state)
        self.scaler_ = StandardScaler().fit(X)
        Z = self.scaler_.transform(X)
        self.class_models_ = [
            self._svm(Z[classes == i], rng) if np.sum(classes == i) >= self.min_samples else None
            for i in range(n_classes)
        ]
        self.pooled_model_ = self._svm(Z, rng)
        return self

    @staticmethod
    def log_score(svm: OneClassSVM, Z: np.ndarray) -> np.ndarray:
        """log(sum_i alpha_i K(z, sv_i)): the log of ``OneClassSVM.score_samples``.

        Same ranking and same decision boundary as scikit-learn's score, but computed
        with logsumexp: scikit-learn's value underflows to exactly 0 for inputs far from
        every support vector, so noise tied with merely unusual ID inputs. In the log
        domain the score keeps falling with the distance (-gamma * d^2 to the nearest SV).
        """
        sq_dist = euclidean_distances(Z, svm.support_vectors_, squared=True)
        return logsumexp(np.log(svm.dual_coef_.ravel())[None, :] - svm._gamma * sq_dist, axis=1)

    def score_samples(self, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Log SVDD score under the SVDD of each input's class: higher = more normal."""
        check_is_fitted(self, "scaler_")
        Z = self.scaler_.transform(X)
        scores = np.empty(len(X), dtype=np.float64)
        for i in np.unique(classes):
            rows = classes == i
            model = self.class_models_[i] if i < len(self.class_models_) else None
            scores[rows] = self.log_score(model or self.pooled_model_, Z[rows])
        return scores

    def get_state(self) -> dict:
        return {"scaler": self.scaler_, "class_models": self.class_models_, "pooled": self.pooled_model_}

    def set_state(self, state: dict) -> "ClassConditionalSVDD":
        self.scaler_, self.class_models_, self.pooled_model_ = state["scaler"], state["class_models"], state["pooled"]
        return self
