"""NNIF: where the training inputs that most help and most harm a prediction sit among its nearest neighbours."""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from .. import cache
from ..method.api import MethodInfo
from ..runtime import model_device, private_copy
from .base import Baseline, adversarial_classifier, adversarial_training_set, final_linear


class _DetachedLogits(nn.Module):
    """The model with its logits cut from the graph: TracInCPFast only needs dLoss/dlogits
    (and the final layer's input, which it hooks), so nothing is backpropagated into the
    network and its frozen parameters can stay frozen."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x).detach().requires_grad_(True)


def tracin_influence(module: nn.Module, head: nn.Linear, reference: tuple[torch.Tensor, torch.Tensor],
                     batch_size: int = 500):
    """``(x, y) -> (N, R)`` TracIn influence of each reference (training) input on each input.

    Captum's ``TracInCPFast`` with one checkpoint, the model's current weights, and the
    learning rate set to 1 (a scale, irrelevant to rankings): ``TracIn(z, z') =
    grad_W L(z) . grad_W L(z')`` over the final linear layer's weight ``W``, which factors
    into ``(dL/dlogits(z) . dL/dlogits(z')) * (a(z) . a(z'))`` with ``a`` that layer's input.
    Positive = training on ``z'`` lowered the loss of ``z`` (helpful, a *proponent*).
    """
    from captum.influence import TracInCPFast
    from torch.utils.data import TensorDataset

    # Captum hooks the head and switches its gradients on: it works on a private copy of the model
    # (weights shared) whose head has weights of its own, so other callers see neither
    name = next(name for name, sub in module.named_modules() if sub is head)
    module = private_copy(module)
    module.set_submodule(name, copy.deepcopy(head))
    tracin = TracInCPFast(_DetachedLogits(module), module.get_submodule(name), TensorDataset(*reference),
                          checkpoints=["current-weights"], checkpoints_load_func=lambda _model, _path: 1.0,
                          loss_fn=nn.CrossEntropyLoss(reduction="sum"), batch_size=batch_size)

    def influence(x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
        return tracin.influence((x, y)).detach().double().cpu().numpy()

    return influence


def neighbour_ranks(distances: np.ndarray) -> np.ndarray:
    """Rank (0 = nearest) of every reference point among each row's neighbours.

    >>> neighbour_ranks(np.array([[3.0, 1.0, 2.0]]))
    array([[2, 0, 1]])
    """
    order = np.argsort(distances, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(distances.shape[1])[None, :].repeat(len(distances), 0), axis=1)
    return ranks


def nnif_features(influence: np.ndarray, embeddings: list[np.ndarray], references: list[np.ndarray],
                  n_helpful: int) -> np.ndarray:
    """Cohen et al.'s NNIF characteristics, shape (N, layers * 4 * M).

    For each layer: the ranks and the distances, in that layer's embedding, of the ``M``
    most helpful reference inputs (highest influence, most helpful first) among the
    input's nearest neighbours, then the same for the ``M`` most harmful (lowest
    influence, most harmful first).
    """
    m = int(min(n_helpful, influence.shape[1]))
    order = np.argsort(-influence, axis=1, kind="stable")
    picked = np.concatenate([order[:, :m], order[:, ::-1][:, :m]], axis=1)  # helpful, then harmful
    blocks = []
    for z, ref in zip(embeddings, references):
        squared = (z ** 2).sum(1)[:, None] + (ref ** 2).sum(1)[None, :] - 2.0 * z @ ref.T
        distances = np.sqrt(np.clip(squared, 0.0, None))
        ranks = np.take_along_axis(neighbour_ranks(distances), picked, axis=1)
        dists = np.take_along_axis(distances, picked, axis=1)
        blocks += [ranks[:, :m], dists[:, :m], ranks[:, m:], dists[:, m:]]
    return np.concatenate(blocks, axis=1).astype(np.float64)


class NNIF(Baseline):
    """Influence functions and nearest neighbours (NNIF), logistic regression on top.

    For an input ``x`` predicted as ``c``, the influence of every reference training input
    ``z`` on the loss of ``(x, c)`` singles out the ``M`` most helpful and the ``M`` most
    harmful training inputs. In the embedding of every candidate layer (conv maps reduced
    to channel means, logits included), their ranks among ``x``'s nearest neighbours
    (Euclidean) and their distances to ``x`` form the features (:func:`nnif_features`):
    for a clean input the helpful training inputs are also its near neighbours, for an
    adversarial one they are not. A logistic regression on the standardised features is
    trained to separate clean validation inputs from adversarial examples made from them
    with ``attack`` (FGSM, as our KD+BU and LID; ``nnif+known``: the evaluated attack); the
    score is minus its log-odds of "adversarial", higher = more normal.

    Deviations from Cohen et al., for a CPU and a few minutes:

    - influence is Captum's TracIn over the final linear layer at the final weights
      (``TracInCPFast``, one checkpoint: :func:`tracin_influence`) instead of Koh and
      Liang's influence functions (a Hessian-inverse-vector product per input over all
      parameters, which took Cohen et al. days on a GPU);
    - the training set is a seeded subsample of ``per_class`` inputs per class (Cohen et
      al. use the whole training set);
    - ``M`` is fixed (``n_helpful``), not tuned per attack on validation data.

    Parameters
    ----------
    attack : str
        Training attack (``"fgsm"``; the evaluated attack for ``nnif+known``).
    n_helpful : int
        ``M``, helpful and harmful training inputs per input.
    per_class : int
        Reference training inputs per class (seeded subsample).
    layers : list of str or None
        Embedding layers; default every candidate layer.
    random_state : int
        Seeds the subsample.

    Attributes
    ----------
    layers_ : list of str
    reference_index_ : ndarray
        Indices of the reference inputs in the training split.
    classifier_ : sklearn Pipeline (scaler + LogisticRegressionCV)

    References
    ----------
    Cohen, Sapiro, Giryes. Detecting adversarial samples using influence functions and
    nearest neighbors. CVPR 2020. https://arxiv.org/abs/1909.06872 (the paper's [5], "IF").
    Reference code: https://github.com/giladcohen/NNIF_adv_defense.
    Pruthi, Liu, Kale, Sundararajan. Estimating training data influence by tracing
    gradient descent (TracIn). NeurIPS 2020. https://arxiv.org/abs/2002.08484
    """

    info = MethodInfo(
        name="nnif",
        description=("nearest neighbours among the most helpful / harmful training inputs (TracIn influence), "
                     "logistic regression trained on FGSM"),
        reference="Cohen et al., CVPR 2020 (Captum)",
    )

    def __init__(self, attack="fgsm", n_helpful=20, per_class=300, layers=None, random_state=0):
        self.attack = attack
        self.n_helpful = n_helpful
        self.per_class = per_class
        self.layers = layers
        self.random_state = random_state

    def _fit(self, experiment) -> None:
        if int(self.n_helpful) < 1 or int(self.per_class) < 1:
            raise ValueError(f"n_helpful and per_class must be positive integers, got {self.n_helpful!r}, {self.per_class!r}")
        model, train = experiment.model, experiment.train
        _, self.head_ = final_linear(model.module, model.input_shape)
        self.layers_ = list(self.layers or [info.name for info in experiment.extractor.layers])
        rng = np.random.default_rng(self.random_state)
        self.reference_index_ = np.sort(np.concatenate([
            rng.choice(np.flatnonzero(train.labels == c), min(int(self.per_class), int((train.labels == c).sum())),
                       replace=False) for c in np.unique(train.labels)]))
        images, labels = train.images[self.reference_index_], train.labels[self.reference_index_]
        device = model_device(model.module)
        self.reference_ = (torch.from_numpy(images).to(device), torch.from_numpy(labels.astype(np.int64)).to(device))
        feats = self._features(images, self.layers_)
        self.reference_embeddings_ = [feats[name].astype(np.float64) for name in self.layers_]
        self.reference_key_ = {"reference": cache.hash_array(images), "labels": cache.hash_array(labels)}
        self.influence_ = tracin_influence(model.module, self.head_, self.reference_)
        normal, adversarial = adversarial_training_set(experiment, self.attack)
        self.classifier_ = adversarial_classifier(self._characteristics(normal), self._characteristics(adversarial))

    def characteristics(self, images: np.ndarray) -> np.ndarray:
        """The NNIF features of ``images`` (cached): shape (N, layers * 4 * n_helpful)."""
        self._check_fitted()
        return self._characteristics(np.ascontiguousarray(images, dtype=np.float32))

    def _characteristics(self, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
        key = {"what": "nnif-features", "model": self.model_.fingerprint, **self.reference_key_,
               "layers": self.layers_, "n_helpful": int(self.n_helpful), "data": cache.hash_array(images)}

        def compute() -> dict[str, np.ndarray]:
            device = model_device(self.model_.module)
            predicted = self._logits(images).argmax(1)
            feats = self._features(images, self.layers_)
            parts = []
            starts = range(0, len(images), batch_size)
            for start in tqdm(starts, desc="NNIF", unit="batch", disable=not self.experiment_.bars or len(starts) < 2):
                rows = slice(start, start + batch_size)
                x = torch.from_numpy(np.ascontiguousarray(images[rows])).to(device)
                y = torch.from_numpy(predicted[rows].astype(np.int64)).to(device)
                parts.append(nnif_features(self.influence_(x, y), [feats[name][rows].astype(np.float64) for name in self.layers_],
                                           self.reference_embeddings_, int(self.n_helpful)))
            width = len(self.layers_) * 4 * min(int(self.n_helpful), len(self.reference_index_))
            return {"x": np.concatenate(parts) if parts else np.zeros((0, width))}

        return cache.cached_arrays("features", key, compute, code=__name__)["x"]

    def _score(self, images: np.ndarray) -> np.ndarray:
        return -self.classifier_.decision_function(self._characteristics(images))
