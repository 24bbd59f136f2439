"""Per-class one-class SVDD: one RBF ``OneClassSVM`` for each predicted class.

Schölkopf's ν-one-class SVM with a Gaussian kernel is equivalent to Tax & Duin's SVDD
(paper, footnote 1), so scikit-learn's ``OneClassSVM`` is used as is. Features are
standardised with a scaler fitted on all training features, as in the authors' code.
"""

from __future__ import annotations

import weakref
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM
from sklearn.utils._param_validation import Interval, StrOptions, validate_parameter_constraints
from sklearn.utils.validation import check_is_fitted

from ..runtime import subsample

# float64, as scikit-learn computes it: float32's 7 digits fall short of 1e-5 relative
# agreement where a log score is near 0, and the kernel block is small either way
DTYPE = torch.float64
CHUNK = 1 << 22  # rows x support vectors per kernel block: 32 MB in float64, whatever the set's size
# fitted arrays as tensors, per estimator and device: copied once, not at every call; weak
# keys, so an estimator that is refitted (a new object) or dropped takes its copies with it
_TENSORS: "weakref.WeakKeyDictionary[object, dict]" = weakref.WeakKeyDictionary()
# scikit-learn's parameter constraints (sklearn.utils._param_validation: any one of a list satisfies it),
# shared with UniformDetector, which passes these parameters on: one source of truth for each
NU = [Interval(Real, 0, 1, closed="right")]
# libsvm cannot fit nu = 1 itself (every alpha at its bound leaves no finite intercept: "dual coefficients
# or intercepts are not finite", on any data); that nu is fitted at its limit, the largest we pass on
NU_FIT_MAX = 1 - 1e-9
GAMMA = [StrOptions({"scale", "auto"}), Interval(Real, 0, None, closed="neither")]
MAX_SAMPLES = [Interval(Integral, 1, None, closed="left"), None]  # None: no subsampling
MIN_SAMPLES = [Interval(Integral, 1, None, closed="left")]


def _tensors(estimator, names: tuple[str, ...], device: torch.device) -> list[torch.Tensor]:
    per_device = _TENSORS.setdefault(estimator, {})
    key = (str(device), names)
    if key not in per_device:
        per_device[key] = [torch.as_tensor(np.asarray(getattr(estimator, name), dtype=np.float64), dtype=DTYPE,
                                           device=device) for name in names]
    return per_device[key]


def _as_tensor(X, device: torch.device | None) -> torch.Tensor:
    if isinstance(X, torch.Tensor):
        return X.to(device if device is not None else X.device, DTYPE)
    return torch.as_tensor(np.asarray(X), device=device).to(DTYPE)


def log_score(svm: OneClassSVM, Z, device: torch.device | str | None = None) -> np.ndarray:
    """log(sum_i alpha_i K(z, sv_i)): the log of ``OneClassSVM.score_samples``, in torch.

    Same ranking and same decision boundary as scikit-learn's score, but computed
    with logsumexp: scikit-learn's value underflows to exactly 0 for inputs far from
    every support vector, so noise tied with merely unusual ID inputs. In the log
    domain the score keeps falling with the distance (-gamma * d^2 to the nearest SV).

    ``Z`` (standardised features, NumPy or torch) is scored on ``device`` (default: the
    tensor's own, else the CPU), so that a model on a GPU is not waited for by a NumPy
    kernel on the CPU; fitting stays scikit-learn's.
    """
    return _log_score(svm, _as_tensor(Z, device)).cpu().numpy()


def rbf_gamma(X: np.ndarray, gamma) -> float:
    """The kernel width ``OneClassSVM`` resolves ``gamma`` to ("scale": 1 / (n_features * Var X),
    "auto": 1 / n_features), on float64 as it computes it. Resolved before fitting, so that each
    fitted SVM holds it as its public ``gamma`` and scoring never reads a private attribute."""
    validate_parameter_constraints({"gamma": GAMMA}, {"gamma": gamma}, caller_name="rbf_gamma")
    if gamma == "scale":
        variance = np.asarray(X, dtype=np.float64).var()
        return 1.0 / (X.shape[1] * variance) if variance != 0 else 1.0
    if gamma == "auto":
        return 1.0 / X.shape[1]
    return float(gamma)


def fitted_gamma(svm: OneClassSVM) -> float:
    """The kernel width of a fitted SVM: its public ``gamma``, a number since :func:`rbf_gamma`.

    An SVM fitted before that holds "scale" or "auto" there, the resolved width only in a private
    attribute, which is not read: such an SVDD is refused when it is loaded (:meth:`ClassConditionalSVDD.set_state`)."""
    if not isinstance(svm.gamma, Real):
        raise ValueError(f"this SVM holds gamma={svm.gamma!r}, not its kernel width: it was fitted by an earlier "
                         "version of the detector; fit (and save) the detector again")
    return svm.gamma


def _log_score(svm: OneClassSVM, Z: torch.Tensor) -> torch.Tensor:
    support, dual = _tensors(svm, ("support_vectors_", "dual_coef_"), Z.device)
    log_alpha, support_sq = torch.log(dual.reshape(-1)), (support * support).sum(1)
    rows = max(1, CHUNK // max(1, len(support)))
    parts = []
    for block in Z.split(rows):
        # |z - sv|^2 expanded, as scikit-learn's euclidean_distances does
        sq_dist = ((block * block).sum(1, keepdim=True) - 2 * block @ support.T + support_sq).clamp_min_(0)
        parts.append(torch.logsumexp(log_alpha - fitted_gamma(svm) * sq_dist, dim=1))
    return torch.cat(parts) if parts else Z.new_zeros(0)


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

    Each fitted SVM holds its kernel width, resolved from ``gamma`` on its own training inputs, as its
    public ``gamma`` (:func:`fitted_gamma`); :attr:`gammas_` lists them.
    """

    # scikit-learn's convention: parameter -> constraints, checked at the start of fit (_validate_params)
    _parameter_constraints: dict = {
        "nu": NU,
        "gamma": GAMMA,
        "max_samples_per_class": MAX_SAMPLES,
        "min_samples": MIN_SAMPLES,
        "random_state": [Interval(Integral, 0, None, closed="left"), np.random.Generator, None],  # default_rng's
    }

    def __init__(self, nu=0.1, gamma="scale", max_samples_per_class=2000, min_samples=10, random_state=0):
        self.nu = nu
        self.gamma = gamma
        self.max_samples_per_class = max_samples_per_class
        self.min_samples = min_samples
        self.random_state = random_state

    def _svm(self, X: np.ndarray, rng: np.random.Generator) -> OneClassSVM:
        X = X[subsample(len(X), self.max_samples_per_class, rng)]
        return OneClassSVM(kernel="rbf", nu=min(self.nu, NU_FIT_MAX), gamma=rbf_gamma(X, self.gamma)).fit(X)

    def fit(self, X: np.ndarray, classes: np.ndarray, n_classes: int) -> "ClassConditionalSVDD":
        self._validate_params()
        _TENSORS.pop(self, None)  # the stacked support vectors of an earlier fit
        rng = np.random.default_rng(self.random_state)
        self.scaler_ = StandardScaler().fit(X)
        Z = self.scaler_.transform(X)
        self.class_models_ = [
            self._svm(Z[classes == i], rng) if np.sum(classes == i) >= self.min_samples else None
            for i in range(n_classes)
        ]
        self.pooled_model_ = self._svm(Z, rng)
        return self

    log_score = staticmethod(log_score)

    @property
    def gammas_(self) -> list[float | None]:
        """The kernel width of each class's SVM (None for a class without its own), then the pooled SVM's."""
        check_is_fitted(self, "scaler_")
        return [None if model is None else fitted_gamma(model) for model in [*self.class_models_, self.pooled_model_]]

    def score_samples(self, X, classes, device: torch.device | str | None = None) -> np.ndarray:
        """Log SVDD score under the SVDD of each input's class: higher = more normal.

        Computed in torch on ``device`` (default: ``X``'s own when it is a tensor, else the
        CPU), standardisation included; see :func:`log_score`.
        """
        return self.score_tensor(_as_tensor(X, device), classes).cpu().numpy()  # one copy back

    def score_tensor(self, X: torch.Tensor, classes, fused: bool | None = None) -> torch.Tensor:
        """:meth:`score_samples` of a tensor, as a float64 tensor on ``X``'s device.

        ``fused`` (default: on any device but the CPU) scores every input against all SVDDs'
        support vectors in one pass, masking the other classes' out: a GPU then runs a handful
        of kernels and never waits for the host, instead of several per class. On the CPU the
        class-by-class loop does a tenth of the arithmetic, so it stays the default there.
        """
        check_is_fitted(self, "scaler_")
        X = X.to(DTYPE)
        mean, scale = _tensors(self.scaler_, ("mean_", "scale_"), X.device)
        Z = (X - mean) / scale  # StandardScaler.transform
        classes = torch.as_tensor(classes, device=Z.device)
        if fused if fused is not None else Z.device.type != "cpu":
            return self._fused_score(Z, classes)
        host_classes = classes.cpu().numpy()
        scores = torch.empty(len(classes), dtype=DTYPE, device=Z.device)
        for i in np.unique(host_classes):
            rows = torch.from_numpy(np.flatnonzero(host_classes == i)).to(Z.device)
            model = self.class_models_[i] if i < len(self.class_models_) else None
            scores[rows] = _log_score(model or self.pooled_model_, Z[rows])
        return scores

    def _stacked(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        """Every SVDD's support vectors in one block, with each one's owner, log alpha and gamma, and
        the SVDD that scores each class (the pooled one, last, for a class without its own)."""
        per_device = _TENSORS.setdefault(self, {})
        key = (str(device), "stacked")
        if key not in per_device:
            models = [*self.class_models_, self.pooled_model_]
            fitted = [(j, model) for j, model in enumerate(models) if model is not None]
            pooled = len(models) - 1
            per_device[key] = (
                torch.cat([_tensors(model, ("support_vectors_",), device)[0] for _, model in fitted]),
                torch.cat([torch.full((len(model.support_vectors_),), j, device=device) for j, model in fitted]),
                torch.cat([torch.log(_tensors(model, ("dual_coef_",), device)[0].reshape(-1)) for _, model in fitted]),
                torch.cat([torch.full((len(model.support_vectors_),), fitted_gamma(model), dtype=DTYPE, device=device)
                           for _, model in fitted]),
                torch.tensor([j if model is not None else pooled for j, model in enumerate(models)], device=device),
            )
        return per_device[key]

    def _fused_score(self, Z: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        support, owner, log_alpha, gamma, scorer = self._stacked(Z.device)
        support_sq = (support * support).sum(1)
        own = scorer[classes.clamp(0, len(scorer) - 1)]  # a class beyond the fitted ones: the pooled SVDD
        rows = max(1, CHUNK // max(1, len(support)))
        parts = []
        for block, block_own in zip(Z.split(rows), own.split(rows)):
            sq_dist = ((block * block).sum(1, keepdim=True) - 2 * block @ support.T + support_sq).clamp_min_(0)
            exponent = (log_alpha - gamma * sq_dist).masked_fill_(owner != block_own[:, None], -torch.inf)
            parts.append(torch.logsumexp(exponent, dim=1))
        return torch.cat(parts) if parts else Z.new_zeros(0)

    def get_state(self) -> dict:
        check_is_fitted(self, "scaler_")
        return {"scaler": self.scaler_, "class_models": self.class_models_, "pooled": self.pooled_model_}

    def set_state(self, state: dict) -> "ClassConditionalSVDD":
        """The fitted state of :meth:`get_state`; refuses SVMs that do not hold their kernel width."""
        for model in [*state["class_models"], state["pooled"]]:
            if model is not None:
                fitted_gamma(model)
        _TENSORS.pop(self, None)
        self.scaler_, self.class_models_, self.pooled_model_ = state["scaler"], state["class_models"], state["pooled"]
        return self
