"""The detector's verdict on a user's own inputs, term by term (what Inspect and ``check`` show), and
why: :class:`Explainer` finds the nearest training inputs of the predicted class, each term against
its own threshold and a drawing's stroke width or ink area unlike the training data's;
:func:`verdict_notes` says it in words that always agree with the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator

from .. import cache
from ..inputs.drawing import ink_measures
from ..inputs.images import check_images
from ..runtime import batches
from .scores import KNN_TERM, TERMS, check_beta

#: every term's name, in the order of ``LayerScores.terms()`` and of beta
TERM_NAMES = (*TERMS, KNN_TERM)


@dataclass
class Verdict:
    predicted: int
    probability: float  # softmax probability of the predicted class
    mdl: float  # normalised MDL score
    logit: float  # normalised logit score
    conf: float  # normalised confidence score (NaN for a detector saved without it)
    score: float  # g = beta_1 * mdl + beta_2 * logit + beta_3 * conf [+ beta_4 * knn]
    tau: float  # threshold of the predicted class
    is_anomaly: bool
    knn: float = np.nan  # normalised k-NN term (ours+knn only)
    beta: tuple = field(default_factory=tuple)  # the weight of each term in force, one per term; () when g has no terms

    @property
    def terms(self) -> list[tuple[str, float, float]]:
        """(name, normalised value, weight) of each term that g is made of."""
        values = (self.mdl, self.logit, self.conf, self.knn)
        return [(name, float(value), float(weight)) for name, value, weight in zip(TERM_NAMES, values, self.beta)]


def judge(detector, images: np.ndarray) -> list[Verdict]:
    """The detector's verdict on each image (N, C, H, W), with its own beta and thresholds
    (for another beta, judge with ``detector.with_beta(beta)``); works for the three-term
    detector and for ours+knn's four-term one."""
    import torch

    from .features import LOGITS

    tau = detector.thresholds_
    images = check_images(images)  # float32, contiguous: the raw logits below go straight to torch
    feats = detector.features(images)  # one forward pass; a user's inputs are not cached
    scores = detector.feature_scores(feats)
    combined = scores.combine(detector.beta)
    probabilities = torch.softmax(torch.from_numpy(feats[LOGITS]), 1).numpy()
    terms = scores.terms()
    beta = (*check_beta(detector.beta), 0.0)[:terms.shape[1]]  # a weight for every term the scores have
    return [Verdict(int(p), float(probabilities[i, p]), *(float(t) for t in terms[i, :3]), float(combined[i]),
                    float(tau[p]), bool(combined[i] < tau[p]), float(terms[i, 3]) if terms.shape[1] > 3 else np.nan,
                    tuple(float(b) for b in beta))
            for i, p in enumerate(scores.predicted)]


def judge_scores(scores: np.ndarray, predicted: np.ndarray, probabilities: np.ndarray,
                 thresholds: np.ndarray) -> list[Verdict]:
    """Verdicts of a detector that gives one score per input and no terms (a baseline): anomaly when
    the score falls below the threshold of the predicted class."""
    return [Verdict(int(p), float(probabilities[i]), np.nan, np.nan, np.nan, float(scores[i]), float(thresholds[p]),
                    bool(scores[i] < thresholds[p])) for i, p in enumerate(np.asarray(predicted))]


# --------------------------------------------------------------------------- why this verdict
@dataclass
class Neighbours:
    layer: str  # the MDL's name or "logits"
    indices: np.ndarray  # (K,) rows of the training split, nearest first
    distances: np.ndarray  # (K,) Euclidean, on the features as the SVDD sees them (standardised)
    usual: float  # the 99th percentile of the class's training inputs' distance to their own nearest neighbour


@dataclass
class Explanation:
    verdict: Verdict
    term_taus: np.ndarray  # (3,) or (4,): tau_i of each term alone: the value that keeps tpr of class i's held-out inputs
    neighbours: list[Neighbours]  # in the MDL, then in the logits
    ink: np.ndarray | None  # (ink area, stroke width in px) of the input; None for colour models
    ink_range: np.ndarray | None  # (2, 2): the 1st and 99th percentiles of each among the class's training inputs
    notes: list[str]  # in words, agreeing with the verdict: each term against its threshold, what lies outside training


INK_NAMES = ("ink area", "stroke width")


class Explainer(BaseEstimator):
    """Why the detector judged an input as it did, from what it was trained on.

    For an input predicted as class i: its ``n_neighbors`` nearest training inputs predicted as i
    (the SVDD of class i was fitted on exactly these) in the MDL and in the logit space, with their
    distance (scikit-learn's :class:`~sklearn.neighbors.NearestNeighbors` on the SVDD's standardised
    features); each term's normalised value against the threshold that term alone would have
    (``detector.thresholds_for`` with all the weight on it); and, for grey models, the input's ink area
    and stroke width (:func:`detector.inputs.drawing.ink_measures`) against the ``percentiles`` of
    the class's training inputs. Notes say in words what falls outside: a thin drawing of a 2 is an
    anomaly because no training 2 has so thin a stroke.

    Parameters
    ----------
    detector : UniformDetector
        Fitted; judged with its own beta.
    n_neighbors : int
    percentiles : (float, float)
        The range of the training inputs' ink area and stroke width outside which a note is given.

    Examples
    --------
    >>> explainer = Explainer(detector, n_neighbors=5).fit(experiment.train.images)   # doctest: +SKIP
    >>> why = explainer.explain(images)[0]; why.notes, why.neighbours[0].indices       # doctest: +SKIP
    """

    def __init__(self, detector, n_neighbors: int = 5, percentiles=(1, 99)):
        self.detector = detector
        self.n_neighbors = n_neighbors
        self.percentiles = percentiles

    def fit(self, train_images) -> "Explainer":
        """Index the training inputs given to the detector's ``fit`` (their features are the disk-cached
        ones of that fit; the ink measures are cached beside them)."""
        from sklearn.neighbors import NearestNeighbors

        from .features import LOGITS

        if not isinstance(self.n_neighbors, (int, np.integer)) or self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be a positive whole number, got {self.n_neighbors!r}")
        detector = self.detector
        feats = detector.features(train_images, cached=True)
        self.predicted_ = feats[LOGITS].argmax(1)
        self.layers_ = (detector.mdl_, LOGITS)
        self.index_ = {}  # (layer, class) -> (rows of the training split, NearestNeighbors, usual distance)
        for layer in self.layers_:
            standard = detector.svdd_[layer].scaler_.transform(feats[layer])
            for i in np.unique(self.predicted_):
                rows = np.flatnonzero(self.predicted_ == i)
                index = NearestNeighbors(n_neighbors=min(self.n_neighbors, len(rows))).fit(standard[rows])
                # leave-one-out: each training input's nearest other one
                own = index.kneighbors(n_neighbors=1, return_distance=True)[0][:, 0] if len(rows) > 1 else np.zeros(1)
                self.index_[layer, int(i)] = (rows, index, float(np.percentile(own, 99)))
        self.ink_ = None
        if detector.model.input_shape[0] == 1:  # stroke and ink mean something for grey pictures only
            key = {"what": "ink-measures", "images": cache.hash_array(train_images)}
            self.ink_ = cache.cached_arrays("explain", key, lambda: {"ink": np.concatenate(
                [ink_measures(batch) for batch in batches(train_images, what="ink")])}, code=__name__)["ink"]
        n_terms = detector.val_scores_.n_terms
        self.term_taus_ = np.stack([self._term_taus(term, n_terms) for term in range(n_terms)], 1)
        return self

    def _term_taus(self, term: int, n_terms: int) -> np.ndarray:
        beta = np.eye(n_terms)[term]
        if term == 2 and self.detector.val_scores_.conf is None:  # saved before the confidence term
            return np.full(self.detector.n_classes_, np.nan)
        return self.detector.thresholds_for(beta)

    def explain(self, images: np.ndarray, class_names=None, beta=None) -> list[Explanation]:
        """An :class:`Explanation` of each image (N, C, H, W), judged with ``beta`` (default: the detector's
        own); ``class_names`` name the classes in the notes."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "index_", msg="this Explainer is not fitted yet: call fit(train_images)")
        images = check_images(images)
        verdicts = judge(self.detector if beta is None else self.detector.with_beta(beta), images)
        feats = self.detector.features(images)
        ink = ink_measures(images) if self.ink_ is not None else None
        explained = []
        for row, verdict in enumerate(verdicts):
            i = verdict.predicted
            found = []
            for layer in self.layers_:
                if (layer, i) not in self.index_:  # no training input is predicted as i
                    continue
                rows, index, usual = self.index_[layer, i]
                standard = self.detector.svdd_[layer].scaler_.transform(feats[layer][row:row + 1])
                distances, nearest = index.kneighbors(standard)
                found.append(Neighbours(layer, rows[nearest[0]], distances[0], usual))
            ink_range = None
            if ink is not None and np.any(self.predicted_ == i):
                ink_range = np.percentile(self.ink_[self.predicted_ == i], self.percentiles, axis=0).T
            own_ink = None if ink is None else ink[row]
            label = str(class_names[i]) if class_names is not None else str(i)
            explained.append(Explanation(verdict, self.term_taus_[i], found, own_ink, ink_range,
                                         verdict_notes(verdict, self.term_taus_[i], label, found, own_ink, ink_range,
                                                       self.percentiles)))
        return explained


# --------------------------------------------------------------------------- in words
def term_notes(verdict: Verdict, term_taus) -> list[str]:
    """Each term of g against the threshold it would have alone: passes or fails, by how much; a
    term of weight 0 does not count, whatever its value."""
    notes = []
    for (name, value, weight), tau in zip(verdict.terms, term_taus):
        if weight == 0:
            notes.append(f"{name} term: weight 0, does not count (its value {value:.3f} is shown for reference only)")
        elif np.isnan(tau) or np.isnan(value):
            notes.append(f"{name} term: weight {weight:.2f}, no threshold of its own")
        else:
            passed = value >= tau
            notes.append(f"{name} term: {value:.3f} {'passes' if passed else 'fails'} its own threshold {tau:.3f} "
                         f"by {abs(value - tau):.3f} (weight {weight:.2f})")
    return notes


def verdict_notes(verdict: Verdict, term_taus, label: str, found: list[Neighbours] = (), ink=None, ink_range=None,
                  percentiles=(1, 99)) -> list[str]:
    """The notes of :class:`Explanation`, which never contradict the verdict: first the verdict with
    its margin and each term's part in it (:func:`term_notes`); then what lies outside the training
    data, said as the reason for an anomaly, and as something unusual that the terms outweigh for a
    normal input."""
    margin = verdict.score - verdict.tau
    counted = [(name, value >= tau) for (name, value, weight), tau in zip(verdict.terms, term_taus)
               if weight > 0 and not np.isnan(tau) and not np.isnan(value)]
    failed = [name for name, passed in counted if not passed]
    if verdict.is_anomaly:
        head = f"anomaly: g = {verdict.score:.3f} falls {abs(margin):.3f} below τ of {label} ({verdict.tau:.3f})"
        if counted and not failed:
            head += "; every counted term passes its own threshold, but their weighted sum does not"
        elif failed:
            head += f"; failing: {', '.join(failed)}"
    else:
        head = f"normal: g = {verdict.score:.3f} passes τ of {label} ({verdict.tau:.3f}) by {margin:.3f}"
        if failed:
            head += f"; {', '.join(failed)} {'fails' if len(failed) == 1 else 'fail'} alone, outweighed by the other terms"
    notes = [head, *term_notes(verdict, term_taus)]
    low, high = percentiles
    if ink is not None and ink_range is not None:
        words = {"ink area": (lambda v: f"{100 * v:.1f} %", "smaller", "larger"),
                 "stroke width": (lambda v: f"{v:.1f} px", "thinner", "thicker")}
        for name, value, (lowest, highest) in zip(INK_NAMES, ink, ink_range):
            show, below, above = words[name]
            if value < lowest or value > highest:
                why = ("the network has seen no " + name + " like it" if verdict.is_anomaly
                       else "unusual, but the detector's score still passes")
                notes.append(f"its {name} ({show(value)}) is {below if value < lowest else above} than "
                             f"{100 - low if value < lowest else high:g} % of the training inputs predicted as "
                             f"{label} (the middle {high - low:g} %: {show(lowest)} to {show(highest)}): {why}")
    for near in found:
        if len(near.distances) and near.distances[0] > near.usual:
            why = ("nothing like it was seen in training" if verdict.is_anomaly
                   else "unusual in this layer, but the detector's score still passes")
            notes.append(f"in {near.layer}, its nearest training input predicted as {label} lies at "
                         f"{near.distances[0]:.2f}, farther than 99 % of those inputs lie from their own nearest "
                         f"neighbour ({near.usual:.2f}): {why}")
    return notes
