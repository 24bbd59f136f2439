"""Today's post-hoc OOD detectors, taken from pytorch-ood 0.4 rather than re-implemented.

One adapter, :class:`PyTorchOOD`, turns a pytorch-ood detector into a baseline of ours; each
method is a small subclass that names it, says what it scores and builds the library's
detector with the library's defaults (none tuned on anomalies). pytorch-ood's scores are
*outlier* scores (higher = more anomalous); the adapter flips the sign once, in
:meth:`PyTorchOOD._score`, so that every method here follows scikit-learn's direction.

What each reads:

- ``logits``: the cached logits (energy, maxlogit, gen, entropy, klm, temperature, openmax);
- ``features``: the inputs of the model's final ``nn.Linear`` (the penultimate features), with
  that layer's weights as the "head" (knn, vim, dice, fdbd, nnguide, nci, she, rmds, lts);
- ``maps``: the same features as ``B x D x 1 x 1`` maps, for the activation-shaping methods
  that rescale or clip them before the head (react, ash, scale, vra).

The logit methods are here, the feature and map methods in :mod:`.posthoc_features`; a model
whose logits do not come out of an ``nn.Linear`` raises
:class:`~detector.baselines.base.NotApplicable` for those. Methods that run the model themselves
(gradients, Gram matrices, MC dropout) are in :mod:`.posthoc_model`.
Those fitted on ID data use the training split, except the two that calibrate on held-out
data by design (KL matching, temperature scaling): they use the validation split.
"""

from __future__ import annotations

import numpy as np
import torch

from ..method.api import MethodInfo
from ..runtime import model_device
from .base import Baseline, final_linear, penultimate


class PyTorchOOD(Baseline):
    """A pytorch-ood detector with our fit/score contract (higher = more normal).

    Subclasses set :attr:`reads` and implement :meth:`_make`, which returns the fitted
    pytorch-ood detector; their parameters are the library's, with its defaults.

    Attributes
    ----------
    detector_ : pytorch_ood.api.Detector
        The fitted pytorch-ood detector.

    References
    ----------
    Kirchheim, Filax, Ortmeier. PyTorch-OOD: a library for out-of-distribution detection
    based on PyTorch. CVPR Workshops 2022. Each subclass names its method's paper.

    Examples
    --------
    >>> detector = Energy().fit(experiment)                        # doctest: +SKIP
    >>> detector.score_samples(experiment.test.images)             # doctest: +SKIP
    """

    #: "logits", "features" or "maps" (see the module docstring)
    reads = "logits"

    def _fit(self, experiment) -> None:
        self.detector_ = self._make(experiment)

    def _make(self, experiment):  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ what the detectors are fitted on
    @staticmethod
    def _head(experiment) -> torch.nn.Linear:
        """A float copy of the model's final linear layer, on the model's device (pytorch-ood computes
        on the device of what it is given: CPU or GPU)."""
        _, head = final_linear(experiment.model.module, experiment.model.input_shape)
        w = head.weight.detach().float()
        b = head.bias.detach().float() if head.bias is not None else torch.zeros(w.shape[0], device=w.device)
        linear = torch.nn.Linear(w.shape[1], w.shape[0], device=w.device)
        linear.weight.data, linear.bias.data = w.clone(), b.clone()
        return linear.requires_grad_(False)

    def _train_features(self, experiment) -> tuple[torch.Tensor, torch.Tensor]:
        """Penultimate features and labels of the training split, on the model's device."""
        device = model_device(experiment.model.module)
        z = torch.from_numpy(penultimate(experiment, experiment.train.images)).to(device)
        return z, torch.from_numpy(experiment.train.labels).to(device)

    def _val_logits(self, experiment) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and labels of the held-out validation split, on the model's device."""
        device = model_device(experiment.model.module)
        logits = torch.from_numpy(experiment.extractor.logits(experiment.val.images)).to(device)
        return logits, torch.from_numpy(experiment.val.labels).to(device)

    # ------------------------------------------------------------------ scoring
    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        """Outlier scores of logits or penultimate features ``x``."""
        if self.reads == "logits":
            return self.detector_.predict_logits(x)
        if self.reads == "maps":
            return self.detector_.predict_feature_maps(x[:, :, None, None])
        return self.detector_.predict_features(x)

    def _outlier_scores(self, images: np.ndarray) -> torch.Tensor:
        device = model_device(self.experiment_.model.module)
        x = self._logits(images) if self.reads == "logits" else penultimate(self.experiment_, images)
        with torch.no_grad():
            return self._predict(torch.from_numpy(x).to(device))

    def _score(self, images: np.ndarray) -> np.ndarray:
        # the one place where pytorch-ood's "higher = more anomalous" becomes ours
        return -self._outlier_scores(images).detach().double().cpu().numpy()


# --------------------------------------------------------------------------- on the logits
class Energy(PyTorchOOD):
    info = MethodInfo(
        name="energy",
        description="the free energy of the logits, −T·logsumexp(f/T)",
        reference="Liu et al., NeurIPS 2020 (pytorch-ood)",
        streams=True,
    )

    def __init__(self, t=1.0):
        self.t = t

    def _make(self, experiment):
        from pytorch_ood.detector import EnergyBased

        return EnergyBased(None, t=self.t)


class MaxLogit(PyTorchOOD):
    info = MethodInfo(
        name="maxlogit",
        description="the largest logit",
        reference="Hendrycks et al., ICML 2022 (pytorch-ood)",
        streams=True,
    )

    def __init__(self):
        pass

    def _make(self, experiment):
        from pytorch_ood.detector import MaxLogit as Library

        return Library(None)


class GEN(PyTorchOOD):
    info = MethodInfo(
        name="gen",
        description="generalised entropy of the softmax",
        reference="Liu, Lochman, Zach, CVPR 2023 (pytorch-ood)",
        streams=True,
    )

    def __init__(self, gamma=0.1, M=None):  # noqa: N803 - the library's name
        self.gamma = gamma
        self.M = M

    def _make(self, experiment):
        from pytorch_ood.detector import GEN as Library

        return Library(None, gamma=self.gamma, M=self.M)


class Entropy(PyTorchOOD):
    info = MethodInfo(
        name="entropy",
        description="the Shannon entropy of the softmax",
        reference="Chan, Rottmann, Gottschalk, ICCV 2021 (pytorch-ood)",
        streams=True,
    )

    def __init__(self):
        pass

    def _make(self, experiment):
        from pytorch_ood.detector import Entropy as Library

        return Library(None)


class KLMatching(PyTorchOOD):
    info = MethodInfo(
        name="klm",
        description=("KL divergence of the softmax to the mean softmax of its predicted class (class means from "
                     "held-out ID validation inputs)"),
        reference="Hendrycks et al., ICML 2022 (pytorch-ood)",
        streams=True,
    )

    def __init__(self):
        pass

    def _make(self, experiment):
        from pytorch_ood.detector import KLMatching as Library

        return Library(None).fit_logits(*self._val_logits(experiment))


class TemperatureScaling(PyTorchOOD):
    info = MethodInfo(
        name="temperature",
        description="the largest softmax probability at the temperature that calibrates held-out ID validation inputs",
        reference="Guo et al., ICML 2017 (pytorch-ood)",
        streams=True,
    )

    def __init__(self):
        pass

    def _make(self, experiment):
        from pytorch_ood.detector import TemperatureScaling as Library

        return Library(None).fit_logits(*self._val_logits(experiment))


class OpenMax(PyTorchOOD):
    info = MethodInfo(
        name="openmax",
        description="Weibull model of the logits' distance to their class's mean logit vector (OpenMax)",
        reference="Bendale & Boult, CVPR 2016 (pytorch-ood)",
        streams=True,
    )

    def __init__(self, tailsize=25, alpha=10, euclid_weight=1.0):
        self.tailsize = tailsize
        self.alpha = alpha
        self.euclid_weight = euclid_weight

    def _make(self, experiment):
        from pytorch_ood.detector import OpenMax as Library

        # OpenMax ranks at most alpha of the model's classes
        detector = Library(None, tailsize=self.tailsize, alpha=min(self.alpha, experiment.model.n_classes),
                           euclid_weight=self.euclid_weight)
        device = model_device(experiment.model.module)
        logits = torch.from_numpy(experiment.extractor.logits(experiment.train.images)).to(device)
        return detector.fit_logits(logits, torch.from_numpy(experiment.train.labels).to(device))
