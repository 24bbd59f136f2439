"""LID: local intrinsic dimensionality of every layer's features, logistic regression on top."""

from __future__ import annotations

import numpy as np
from sklearn.metrics.pairwise import euclidean_distances

from ..method.api import MethodInfo
from ..runtime import subsample
from .base import Baseline, adversarial_classifier, adversarial_training_set


def lid_mle(features: np.ndarray, reference: np.ndarray, k: int = 20) -> np.ndarray:
    """Maximum-likelihood LID of each row of ``features`` w.r.t. its k nearest ``reference`` rows.

    ``LID(x) = -(1/k * sum_i log(r_i(x) / r_k(x)))^-1`` with ``r_i`` the distance to the
    i-th nearest neighbour (Ma et al., Eq. 3). A zero distance (the input is itself a
    reference point) is skipped.
    """
    distances = np.sqrt(euclidean_distances(features, reference, squared=True).clip(0))
    distances = np.sort(np.where(distances <= 1e-12, np.inf, distances), axis=1)[:, :k]
    distances = np.maximum(distances, 1e-12)
    ratio = np.log(distances / distances[:, -1:])
    return -1.0 / np.minimum(ratio.mean(1), -1e-12)


class LID(Baseline):
    """Local intrinsic dimensionality features of every layer, logistic regression on top.

    For each candidate layer (conv maps reduced to channel means, logits included),
    the LID of an input is estimated from its ``k`` nearest neighbours among a fixed
    reference minibatch of ``batch_size`` ID training inputs. Ma et al. estimate it
    within each test minibatch; a fixed reference keeps the score of an input
    independent of the other inputs. A logistic regression on the standardised LID
    vector separates clean validation inputs from adversarial examples made from them
    with ``attack``; the score is minus its log-odds of "adversarial", higher = more normal.

    Parameters
    ----------
    attack : str
        Training attack: ``"fgsm"`` in the paper; the evaluated attack for the
        "known attack" upper bound (paper Table 9).
    k : int
        Neighbours (20 in Ma et al.'s MNIST setting).
    batch_size : int
        Size of the reference minibatch (100 in Ma et al.).
    layers : list of str or None
        Default: every candidate layer.

    Attributes
    ----------
    layers_ : list of str
    reference_ : dict layer -> ndarray (batch_size, D)
    classifier_ : sklearn Pipeline (scaler + LogisticRegressionCV)

    References
    ----------
    Ma et al. Characterizing adversarial subspaces using local intrinsic dimensionality.
    ICLR 2018. https://arxiv.org/abs/1801.02613 (the paper's [20], "LID").
    """

    info = MethodInfo(
        name="lid",
        description="local intrinsic dimensionality of every layer, logistic regression trained on FGSM",
        reference="Ma et al., ICLR 2018",
        streams=True,
    )

    def __init__(self, attack="fgsm", k=20, batch_size=100, layers=None, random_state=0):
        self.attack = attack
        self.k = k
        self.batch_size = batch_size
        self.layers = layers
        self.random_state = random_state

    def _fit(self, experiment) -> None:
        extractor = experiment.extractor
        self.layers_ = list(self.layers or [info.name for info in extractor.layers])
        train = experiment.train.images
        pick = subsample(len(train), self.batch_size, self.random_state)
        feats = extractor.features(train, self.layers_)
        self.reference_ = {name: feats[name][pick] for name in self.layers_}
        normal, adversarial = adversarial_training_set(experiment, self.attack)
        self.classifier_ = adversarial_classifier(self._lids(normal), self._lids(adversarial))

    def _lids(self, images: np.ndarray) -> np.ndarray:
        feats = self._features(images, self.layers_)
        k = min(self.k, len(next(iter(self.reference_.values()))) - 1)
        return np.stack([lid_mle(feats[name], self.reference_[name], k) for name in self.layers_], 1)

    def _score(self, images: np.ndarray) -> np.ndarray:
        return -self.classifier_.decision_function(self._lids(images))
