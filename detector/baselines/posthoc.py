"""Today's post-hoc OOD detectors, taken from pytorch-ood rather than re-implemented.

One adapter, :class:`PyTorchOOD`, turns a pytorch-ood 0.4 detector into a baseline of
ours. pytorch-ood's scores are *outlier* scores (higher = more anomalous); the adapter
flips the sign once, in :meth:`PyTorchOOD._score`, so that every method here follows
scikit-learn's direction (higher = more normal).

Logit-based detectors read the cached logits; feature-based ones read the inputs of
the model's final ``nn.Linear`` (the penultimate features) and reuse that layer's
weights as the "head". A model whose logits do not come out of an ``nn.Linear``
raises :class:`~detector.baselines.base.NotApplicable` for those.

=========  ====================================================================
energy     Liu et al., Energy-based out-of-distribution detection, NeurIPS 2020
maxlogit   Hendrycks et al., Scaling OOD detection to real-world settings, ICML 2022
gen        Liu, Lochman, Zach, GEN: generalized entropy score, CVPR 2023
knn        Sun et al., OOD detection with deep nearest neighbors, ICML 2022
vim        Wang et al., ViM: virtual-logit matching, CVPR 2022
react      Sun, Guo, Li, ReAct: rectified activations, NeurIPS 2021
ash        Djurisic et al., Extremely simple activation shaping (ASH-S), ICLR 2023
dice       Sun, Li, DICE: sparsification of the last layer, ECCV 2022
=========  ====================================================================
"""

from __future__ import annotations

import numpy as np
import torch

from ..runtime import model_device
from .base import Baseline, final_linear, penultimate

LOGIT_METHODS = ("energy", "maxlogit", "gen")
FEATURE_METHODS = ("knn", "vim", "react", "ash", "dice")


class PyTorchOOD(Baseline):
    """A pytorch-ood detector with our fit/score contract (higher = more normal).

    Parameters
    ----------
    method : str
        One of :data:`LOGIT_METHODS` or :data:`FEATURE_METHODS`.
    params : dict or None
        Keyword arguments of the pytorch-ood detector, over our defaults: KNN ``k=50``
        (its paper's CIFAR-10 value, capped by the training size), ViM ``d = D // 2``
        (the principal subspace must be smaller than the feature dimension D), ReAct
        ``percentile=0.9``, ASH ``variant="ash-s", percentile=0.65``, DICE ``p=0.7``,
        GEN ``gamma=0.1``, Energy ``t=1``. All are the library's or the papers' defaults;
        none is tuned on anomalies.

    Attributes
    ----------
    detector_ : pytorch_ood.api.Detector
        The fitted pytorch-ood detector.

    References
    ----------
    Kirchheim, Filax, Ortmeier. PyTorch-OOD: a library for out-of-distribution detection
    based on PyTorch. CVPR Workshops 2022. See the module docstring for each method's paper.

    Examples
    --------
    >>> detector = PyTorchOOD("energy").fit(experiment)          # doctest: +SKIP
    >>> detector.score_samples(experiment.test.images)            # doctest: +SKIP
    """

    name = "pytorch-ood"  # the registry sets the method's own name
    streams = True  # logits and penultimate features only

    def __init__(self, method="energy", params=None):
        self.method = method
        self.params = params

    def _fit(self, experiment) -> None:
        from pytorch_ood import detector as ood

        options = dict(self.params or {})
        if self.method in LOGIT_METHODS:
            make = {"energy": lambda: ood.EnergyBased(None, **options), "maxlogit": lambda: ood.MaxLogit(None, **options),
                    "gen": lambda: ood.GEN(None, **options)}
            self.detector_ = make[self.method]()
            return
        if self.method not in FEATURE_METHODS:
            raise ValueError(f"unknown pytorch-ood method {self.method!r}; valid: {', '.join(LOGIT_METHODS + FEATURE_METHODS)}")
        _, head = final_linear(experiment.model.module, experiment.model.input_shape)
        # pytorch-ood computes on the device of what it is given: the model's, CPU or GPU
        device = head.weight.device
        w = head.weight.detach().float()
        b = head.bias.detach().float() if head.bias is not None else torch.zeros(w.shape[0], device=device)
        linear = torch.nn.Linear(w.shape[1], w.shape[0], device=device)
        linear.weight.data, linear.bias.data = w.clone(), b.clone()
        z = torch.from_numpy(penultimate(experiment, experiment.train.images)).to(device)
        y = torch.from_numpy(experiment.train.labels).to(device)
        if self.method == "knn":
            options.setdefault("k", min(50, len(z) - 1))
            self.detector_ = ood.KNN(None, **options).fit_features(z.cpu(), y.cpu())  # scikit-learn's neighbours: CPU
        elif self.method == "vim":
            options.setdefault("d", max(1, z.shape[1] // 2))
            self.detector_ = ood.ViM(None, w=w, b=b, **options).fit_features(z, y)
        elif self.method == "react":
            options.setdefault("percentile", 0.9)
            self.detector_ = ood.ReAct(backbone=None, head=linear, **options).fit_feature_maps(z, y)
        elif self.method == "ash":
            options.setdefault("variant", "ash-s")
            self.detector_ = ood.ASH(backbone=None, head=lambda maps: linear(maps.flatten(1)), **options)
        else:  # dice
            options.setdefault("p", 0.7)
            self.detector_ = ood.DICE(None, w=w, b=b, **options).fit_features(z, y)

    def _outlier_scores(self, images: np.ndarray) -> torch.Tensor:
        device = model_device(self.experiment_.model.module)
        if self.method in LOGIT_METHODS:
            return self.detector_.predict_logits(torch.from_numpy(self._logits(images)).to(device))
        z = torch.from_numpy(penultimate(self.experiment_, images)).to(device)
        with torch.no_grad():
            if self.method == "ash":
                return self.detector_.predict_feature_maps(z[:, :, None, None])
            if self.method == "react":
                return self.detector_.predict_feature_maps(z)
            return self.detector_.predict_features(z)

    def _score(self, images: np.ndarray) -> np.ndarray:
        # the one place where pytorch-ood's "higher = more anomalous" becomes ours
        return -self._outlier_scores(images).detach().double().cpu().numpy()
