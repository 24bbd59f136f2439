"""The detector's score arithmetic, in one place: per-class min-max normalisation, the
confidence term, beta and the per-class thresholds.

For an input predicted as class i (paper Eq. 4, with our third term)::

    g_i(x) = beta_1 * norm_i(s_MDL(x)) + beta_2 * norm_i(s_logit(x)) + beta_3 * norm_i(conf(x))
    x is an anomaly  <=>  g_i(x) < tau_i

``beta_3 = 0`` is the paper's detector (``ours``); ``ours+conf`` takes the beta that
:func:`choose_beta` picks on generated anomalies, ``ours+conf-equal`` equal weights. ``ours+knn``
adds a fourth term, ``beta_4 * norm_i(-d_k(x))``, the distance to the k-th nearest training input
in the penultimate features (:mod:`detector.method.neighbours`).
:meth:`LayerScores.combine` is the only place where beta meets the scores, and
:func:`thresholds_for` the only place where tau_i is set from them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy.special import softmax

from .metrics import per_class_auroc, per_class_thresholds

PAPER_BETA = (0.5, 0.5, 0.0)
CONF_BETA = (1 / 3, 1 / 3, 1 / 3)  # ours+conf-equal
TERMS = ("MDL", "logit", "confidence")
KNN_TERM = "kNN"  # the fourth term, of ours+knn only


MIN_BETA_SUM, MAX_BETA_SUM = 1e-6, 1e6  # beyond these, g's products lose their digits or overflow


def check_beta(beta) -> tuple[float, ...]:
    """(beta_MDL, beta_logit, beta_conf[, beta_kNN]) from two to four non-negative numbers, not all
    zero; a fourth weight is kept only when it is not 0, so that three terms stay three.

    The detectors' ``beta`` parameter is checked with it (``UniformDetector._check_beta_terms``): a rule
    that scikit-learn's parameter constraints cannot express."""
    try:
        values = tuple(float(b) for b in beta)
    except (TypeError, ValueError):
        values = ()
    if len(values) not in (2, 3, 4):
        raise ValueError(f"beta must be two to four numbers (beta_MDL, beta_logit[, beta_conf[, beta_kNN]]), "
                         f"got {beta!r}")
    if not all(np.isfinite(values)) or min(values) < 0 or sum(values) == 0:
        raise ValueError(f"beta must be non-negative numbers, not all zero, got {beta!r}")
    if not MIN_BETA_SUM <= sum(values) <= MAX_BETA_SUM:  # 1e308 + 1e308 overflowed g to inf
        raise ValueError(f"beta's weights sum to {sum(values):.3g}; only their ratios matter (tau_i is refitted for "
                         f"each beta), so give them on a usual scale, summing to between {MIN_BETA_SUM:g} and "
                         f"{MAX_BETA_SUM:g} (e.g. to 1); got {beta!r}")
    if len(values) == 4 and values[3] == 0:
        values = values[:3]
    return (*values, 0.0) if len(values) == 2 else values


def require_finite(features: dict[str, np.ndarray], split: str) -> None:
    """ModelError when a layer's features hold NaN or infinite values: a model that outputs them
    cannot be scored (scikit-learn's SVM then failed on a NaN kernel width, naming neither)."""
    from ..errors import ModelError
    from .features import LOGITS

    for name, values in features.items():
        bad = ~np.isfinite(np.asarray(values)).all(axis=tuple(range(1, np.ndim(values))))
        if bad.any():
            what = "the logits" if name == LOGITS else f"layer {name}"
            raise ModelError(f"the model outputs NaN or infinite values ({what}, on {int(bad.sum())} of {len(bad)} "
                             f"{split} inputs): check its weights and forward; no detector can be fitted on them")


# --------------------------------------------------------------------------- the confidence term
def max_softmax(logits: np.ndarray) -> np.ndarray:
    return softmax(np.asarray(logits, dtype=np.float64), axis=1).max(1)


def logit_margin(logits: np.ndarray) -> np.ndarray:
    top = np.sort(np.asarray(logits, dtype=np.float64), axis=1)
    return top[:, -1] - top[:, -2]


def max_logit(logits: np.ndarray) -> np.ndarray:
    return np.asarray(logits, dtype=np.float64).max(1)


#: How sure the classifier is of its own prediction, from its logits. "msp" (the maximum softmax
#: probability) is the default because it catches the minimal attacks best. Measured on LeNet-MNIST
#: (``scripts/confidence_term.py``; ours+conf, equal weights, per-class AUROC, held-out protocol):
#: CW 98.8 with msp, 96.9 with the logit margin, 95.7 with the max logit (ours alone: 92.3);
#: Fashion-MNIST 99.85 / 99.93 / 99.93, FGSM 99.91 / 100 / 100, Gaussian and uniform noise 100
#: with all three. The margin and the max logit keep growing far from the data, where the SVDDs
#: already decide; the softmax saturates there and spends its range near the boundary.
CONFIDENCES = {"msp": max_softmax, "margin": logit_margin, "maxlogit": max_logit}


# --------------------------------------------------------------------------- scores of a batch
@dataclass
class LayerScores:
    """Normalised scores of a batch: what the dashboard plots and re-combines (1 = the most
    normal held-out ID value of the predicted class, 0 = the least; anomalies fall below 0)."""

    predicted: np.ndarray  # (N,) predicted class
    mdl: np.ndarray  # (N,) normalised MDL SVDD score
    logit: np.ndarray  # (N,) normalised logit SVDD score
    conf: np.ndarray | None = None  # (N,) normalised confidence (None: a detector saved without it)
    knn: np.ndarray | None = None  # (N,) normalised k-NN term (ours+knn's detector only)

    def combine(self, beta) -> np.ndarray:
        """g(x) for ``beta``: the only place where beta meets the scores."""
        b1, b2, b3, *b4 = check_beta(beta)
        combined = b1 * self.mdl + b2 * self.logit
        if b3:  # beta_3 = 0 adds nothing: the paper's numbers stay the same bit for bit
            if self.conf is None:
                raise ValueError("this detector was saved without the confidence term: refit it to use beta_3 > 0")
            combined = combined + b3 * self.conf
        if b4:  # only a fourth weight above 0 is kept (check_beta): three-term detectors are unchanged
            if self.knn is None:
                raise ValueError("these scores have no k-NN term (beta_4 > 0 needs ours+knn's detector, "
                                 "detector.method.neighbours.UniformKNNDetector)")
            combined = combined + b4[0] * self.knn
        return combined

    def decision(self, beta, thresholds: np.ndarray) -> np.ndarray:
        """g_i(x) - tau_i of each input's predicted class i: negative = anomaly (paper Eq. 4)."""
        return self.combine(beta) - np.asarray(thresholds)[self.predicted]

    @property
    def n_terms(self) -> int:
        """3, or 4 with the k-NN term."""
        return 3 if self.knn is None else 4

    def terms(self) -> np.ndarray:
        """(N, 3) matrix of the three terms (NaN for a missing confidence); (N, 4) with the k-NN term."""
        conf = self.conf if self.conf is not None else np.full(len(self), np.nan)
        return np.stack([self.mdl, self.logit, conf, *([] if self.knn is None else [self.knn])], 1)

    def __len__(self) -> int:
        return len(self.predicted)

    @classmethod
    def concatenate(cls, parts: list["LayerScores"]) -> "LayerScores":
        def join(name):
            values = [getattr(part, name) for part in parts]
            return None if any(v is None for v in values) else np.concatenate(values)

        return cls(*(join(f.name) for f in fields(cls)))


def min_max_ranges(raw: np.ndarray, predicted: np.ndarray, n_classes: int, min_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-class (min, max) of each column of ``raw``; a class with fewer than ``min_samples``
    rows takes the range of all rows."""
    low, high = np.empty((n_classes, raw.shape[1])), np.empty((n_classes, raw.shape[1]))
    for i in range(n_classes):
        rows = raw[predicted == i] if np.sum(predicted == i) >= min_samples else raw
        low[i], high[i] = rows.min(0), rows.max(0)
    return low, high


def min_max_normalise(raw: np.ndarray, predicted: np.ndarray, low: np.ndarray, high: np.ndarray) -> LayerScores:
    """Raw (MDL, logit[, confidence]) columns mapped by their predicted class's range: ID values
    fall in [0, 1], anomalies below 0 (not clipped)."""
    span = np.maximum(high[predicted] - low[predicted], 1e-12)
    norm = (raw - low[predicted]) / span
    return LayerScores(predicted, *norm.T)


def thresholds_for(val_scores: LayerScores, beta, n_classes: int, tpr: float, min_samples: int) -> np.ndarray:
    """tau_i for ``beta``: the combined validation scores of class i keep ``tpr`` of them."""
    return per_class_thresholds(val_scores.combine(beta), val_scores.predicted, n_classes, tpr, min_samples)


# --------------------------------------------------------------------------- choosing beta
def simplex_grid(steps: int = 20, terms: int = 3) -> list[tuple[float, ...]]:
    """Every (beta_1, ..., beta_terms) >= 0 summing to 1 in multiples of ``1 / steps``; the last
    weight varies slowest, so that the three-term grid is the first part of the four-term one.

    >>> len(simplex_grid(4)), simplex_grid(4)[:2], len(simplex_grid(4, 4)), simplex_grid(4, 4)[-1]
    (15, [(1.0, 0.0, 0.0), (0.75, 0.25, 0.0)], 35, (0.0, 0.0, 0.0, 1.0))
    """
    def counts(n: int, total: int) -> list[tuple[int, ...]]:
        if n == 1:
            return [(total,)]
        return [(*rest, last) for last in range(total + 1) for rest in counts(n - 1, total - last)]

    return [tuple(c / steps for c in point) for point in counts(terms, steps)]


def choose_beta(val_scores: LayerScores, generated: dict[str, LayerScores], steps: int = 20):
    """The beta of :func:`simplex_grid` (over the terms the scores have: 3, or 4 with the k-NN
    term) whose g separates held-out ID inputs from each kind of generated anomaly best: the mean,
    over the kinds, of the per-class AUROC (ID vs that kind).

    Each kind counts the same however many inputs it has, so that no single kind (far noise,
    or inputs right at a decision boundary) decides beta alone. Ties go to the first grid
    point. Returns ``(beta, objective)``, ``objective[k]`` being the mean AUROC of grid point k.
    """
    grid = simplex_grid(steps, val_scores.n_terms)
    objective = np.array([np.mean([per_class_auroc(val_scores.combine(beta), val_scores.predicted,
                                                   part.combine(beta), part.predicted)[0]
                                   for part in generated.values()]) for beta in grid])
    return grid[int(np.nanargmax(objective))], objective
