"""What every baseline shares: the fit/score contract, the score cache and model access.

A baseline is a :class:`~detector.method.api.Method` (scikit-learn's shape: ``__init__`` only stores
its parameters, ``fit(experiment)`` learns and returns ``self``, ``score_samples(images)`` returns one
score per image, **higher = more normal**). Subclasses implement two methods:

``_fit(experiment)``   learn the state (ending in ``_``) from the ID training split,
                       the held-out validation split and, for the methods that the
                       original authors tune on OOD data, the generated *mix* set;
``_score(images)``     the scores of a batch, with the fitted state.

The scores of named sets (``cached=True``) are kept on disk (``cache/scores/``), keyed by the
method's class and parameters, the model's fingerprint, the hashes of the splits it was fitted
on and of the scored images.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from sklearn.utils.validation import check_is_fitted

from .. import cache
from ..anomalies.noise import mix_set
from ..method.api import Method, NotApplicable
from ..method.features import LOGITS, layer_reductions
from ..method.reductions import reduce_output
from ..runtime import batched, forward_hooks, is_lazy, model_device

__all__ = ["Baseline", "Method", "NotApplicable", "adversarial_classifier", "adversarial_training_set",
           "final_linear", "layer_function", "penultimate"]


class Baseline(Method):
    """Base class of the baselines (see the module docstring)."""

    # ------------------------------------------------------------------ contract
    def fit(self, experiment) -> "Baseline":
        """Learn from the experiment's ID splits (and, for the methods tuned on OOD data, the mix set)."""
        self.experiment_ = experiment
        self.model_ = experiment.model
        self.fit_key_ = {  # what the fitted state and the scores depend on (tuning steps cache under it too)
            "class": type(self).__name__, "params": self.get_params(), "model": experiment.model.fingerprint,
            "train": cache.hash_array(experiment.train.images), "val": cache.hash_array(experiment.val.images),
        }
        self._fit(experiment)
        self.fitted_ = True
        return self

    def _check_fitted(self) -> None:
        check_is_fitted(self, "fitted_", msg="this %(name)s is not fitted yet: call fit(experiment) first")

    def score_samples(self, images: np.ndarray, cached: bool = False) -> np.ndarray:
        """One score per image, higher = more normal; ``cached=True``: a named set, its scores kept on disk."""
        self._check_fitted()
        lazy = is_lazy(images)
        if not lazy:
            images = np.ascontiguousarray(images, dtype=np.float32)
        if images.ndim != 4 or tuple(images.shape[1:]) != tuple(self.model_.input_shape):
            raise ValueError(f"images must have shape (N, {', '.join(map(str, self.model_.input_shape))}), got {images.shape}")

        def compute() -> dict[str, np.ndarray]:
            pixels = np.asarray(images) if lazy and not self.info.streams else images  # a folder: at most MAX_VALUES
            return {"scores": np.asarray(self._score(pixels), dtype=np.float64)}

        if not cached:
            return compute()["scores"]
        key = {**self.fit_key_, "what": "baseline-scores", "data": cache.hash_array(images)}
        return cache.cached_arrays("scores", key, compute, code=type(self).__module__)["scores"]

    def _fit(self, experiment) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _score(self, images: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def _logits(self, images: np.ndarray) -> np.ndarray:
        return self.experiment_.extractor.logits(images)

    def _features(self, images: np.ndarray, layers: list[str]) -> dict[str, np.ndarray]:
        return self.experiment_.extractor.features(images, layers)

    def _mix(self) -> np.ndarray:
        """The generated mix set (same as the one that picks our MDL): for tuning only."""
        val = self.experiment_.val
        return mix_set(val.images, val.labels, seed=1)


# --------------------------------------------------------------------------- model access
def final_linear(module: nn.Module, input_shape) -> tuple[str, nn.Linear]:
    """The ``nn.Linear`` whose output is the model's logits (name, layer).

    Raises :class:`NotApplicable` when the logits do not come straight out of a linear
    layer (then penultimate-feature methods such as KNN, ViM, ReAct, DICE do not apply).
    """
    outputs: dict[int, str] = {}
    alive = []

    def record(name, _module, output):
        outputs[id(output)] = name
        alive.append(output)  # keep it referenced so that its id() is not reused

    linears = {name: sub for name, sub in module.named_modules() if isinstance(sub, nn.Linear)}
    with forward_hooks(linears, record), torch.no_grad():
        logits = module(torch.rand(2, *input_shape, device=model_device(module)))
    name = outputs.get(id(logits))
    if name is None:
        raise NotApplicable("the model's logits are not the output of an nn.Linear layer")
    return name, linears[name]


def penultimate(experiment, images: np.ndarray) -> np.ndarray:
    """Inputs of the final linear layer (flattened), cached like the other features."""
    model = experiment.model
    head_name, head = final_linear(model.module, model.input_shape)
    key = {"what": "penultimate", "model": model.fingerprint, "data": cache.hash_array(images), "head": head_name}

    def compute() -> dict[str, np.ndarray]:
        parts: list[np.ndarray] = []
        with forward_hooks({head_name: head}, lambda _n, _m, inputs: parts.append(
                inputs.detach().flatten(1).float().cpu().numpy().copy()), pre=True):
            with torch.no_grad():
                batched(lambda x: model.module(x).cpu().numpy(), images, model_device(model.module))
        return {"x": np.concatenate(parts) if parts else np.zeros((0, head.in_features), np.float32)}

    return cache.cached_arrays("features", key, compute, code=__name__)["x"]


def layer_function(module: nn.Module, layer: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """x -> reduced features of ``layer`` (see :func:`detector.method.reductions.reduce_output`), differentiable."""
    if layer == LOGITS:
        return module
    named = dict(module.named_modules())
    target = named[layer]
    how: dict[str, str] = {}  # the layer's reduction, found on the first batch's input shape

    def forward(x: torch.Tensor) -> torch.Tensor:
        if not how:
            how.update(layer_reductions(module, tuple(x.shape[1:]), [layer]))
        captured = []
        with forward_hooks({layer: target}, lambda _n, _m, output: captured.append(reduce_output(output, how[layer]))):
            module(x)
        return captured[0]

    return forward


def adversarial_training_set(experiment, attack: str = "fgsm") -> tuple[np.ndarray, np.ndarray]:
    """(clean, adversarial) images for training an adversarial detector (KD+BU, LID).

    The attack runs on the *validation* split (never on the evaluated test images), through
    the same cached generator as the evaluated attack sets.
    """
    from ..anomalies.adversarial import cached_adversarial

    model, val = experiment.model, experiment.val
    adversarial = cached_adversarial(attack, model.module, model.fingerprint, val.images, val.labels,
                                     progress=experiment.bars, dataset=experiment.id_dataset)
    return val.images, adversarial.images


def adversarial_classifier(normal: np.ndarray, adversarial: np.ndarray):
    """Standardise + logistic regression, class 1 = adversarial (as Feinman et al. and Ma et al.)."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.r_[normal, adversarial]
    y = np.r_[np.zeros(len(normal)), np.ones(len(adversarial))]
    return make_pipeline(StandardScaler(), LogisticRegressionCV(
        cv=5, max_iter=2000, scoring="neg_log_loss", l1_ratios=(0.0,), use_legacy_attributes=False)).fit(X, y)
