"""Mahalanobis distance to the closest class-conditional Gaussian (MD in the paper)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.covariance import EmpiricalCovariance
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .. import cache
from ..method.api import MethodInfo
from ..method.features import LOGITS
from ..method.metrics import auroc, tnr_at_tpr
from ..runtime import batched, model_device
from .base import Baseline, layer_function
from .odin import EPSILONS


class Mahalanobis(Baseline):
    """Negative Mahalanobis distance to the closest class mean, with a shared covariance.

    For features ``z = f_l(x)`` of a layer, class means ``mu_c`` and one covariance
    ``Sigma`` are estimated on the ID training split (true labels)::

        M(x) = max_c  -(z - mu_c)^T Sigma^-1 (z - mu_c)      (higher = more normal)

    *Input pre-processing* moves ``x`` by ``epsilon`` in the direction that increases
    ``M``: ``x~ = x + eps * sign(grad_x M(x))``. The *feature ensemble* computes ``M`` on
    every candidate layer and combines the layers with a logistic regression. Lee et al.
    tune ``eps`` and the regression on OOD validation data; here both use the validation
    ID split against the generated *mix* set (the one that picks our MDL), never an
    evaluated set.

    Parameters
    ----------
    layer : str
        Feature layer (a name from :func:`detector.method.features.candidate_layers`); the paper
        compares with the logit-layer version ("we only apply the version of MD which uses
        the logit layer"). Ignored when ``ensemble``.
    epsilon : "auto" or float
        Pre-processing step in [0, 1] pixel units; 0 = none (``mahalanobis``), ``"auto"``
        = tuned on the mix set (``mahalanobis+pre``).
    ensemble : bool
        Use every candidate layer and a logistic regression (``mahalanobis+ens``).

    Attributes
    ----------
    layers_ : list of str
    means_ : dict layer -> ndarray (C, D)
    precision_ : dict layer -> ndarray (D, D)
    epsilon_ : float
    combiner_ : sklearn Pipeline or None
        The ensemble's scaler + logistic regression.

    References
    ----------
    Lee, Lee, Lee, Shin. A simple unified framework for detecting out-of-distribution
    samples and adversarial attacks. NeurIPS 2018. https://arxiv.org/abs/1807.03888
    (the paper's [18], "MD").
    """

    info = MethodInfo(
        name="mahalanobis",
        description="Mahalanobis distance to the closest class mean of the penultimate features",
        reference="Lee et al., NeurIPS 2018",
    )

    def __init__(self, layer=LOGITS, epsilon=0.0, ensemble=False):
        self.layer = layer
        self.epsilon = epsilon
        self.ensemble = ensemble

    def _fit(self, experiment) -> None:
        extractor = experiment.extractor
        self.layers_ = [info.name for info in extractor.layers] if self.ensemble else [self.layer]
        for name in self.layers_:
            extractor.check_layer(name)
        train = experiment.train
        feats = extractor.features(train.images, self.layers_)
        self.means_, self.precision_ = {}, {}
        for name in self.layers_:
            z = feats[name].astype(np.float64)
            classes = np.unique(train.labels)
            means = np.stack([z[train.labels == c].mean(0) for c in classes])
            centred = z - means[np.searchsorted(classes, train.labels)]
            self.means_[name] = means
            self.precision_[name] = EmpiricalCovariance(assume_centered=True).fit(centred).precision_
        self.combiner_ = None
        if self.epsilon == "auto":
            key = {**self.fit_key_, "what": "mahalanobis-eps"}
            val, mix = experiment.val.images, self._mix()

            def tune() -> dict[str, np.ndarray]:
                grid = []
                for eps in EPSILONS:
                    self.epsilon_ = eps
                    v, m = self._layer_scores(val), self._layer_scores(mix)
                    if self.ensemble:
                        v, m = self._fit_combiner(v, m).decision_function(v), self.combiner_.decision_function(m)
                    else:
                        v, m = v[:, 0], m[:, 0]
                    grid.append((eps, tnr_at_tpr(v, m), auroc(v, m)))
                grid = np.array(grid)
                best = max(range(len(grid)), key=lambda i: (grid[i, 1], grid[i, 2]))
                return {"epsilon": np.array(grid[best, 0]), "grid": grid}

            state = cache.cached_arrays("baselines", key, tune, code=__name__)
            self.epsilon_, self.tuning_ = float(state["epsilon"]), state["grid"]
        else:
            self.epsilon_ = float(self.epsilon)
        if self.ensemble:
            self._fit_combiner(self._layer_scores(experiment.val.images), self._layer_scores(self._mix()))

    def _fit_combiner(self, val_scores: np.ndarray, mix_scores: np.ndarray):
        X = np.r_[val_scores, mix_scores]
        y = np.r_[np.ones(len(val_scores)), np.zeros(len(mix_scores))]
        self.combiner_ = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
        return self.combiner_

    def _layer_scores(self, images: np.ndarray) -> np.ndarray:
        """(N, n_layers) scores M_l(x~) with the pre-processing of each layer."""
        module = self.model_.module
        device = model_device(module)
        columns = []
        for name in self.layers_:
            forward = layer_function(module, name)
            means = torch.as_tensor(self.means_[name], dtype=torch.float32, device=device)
            precision = torch.as_tensor(self.precision_[name], dtype=torch.float32, device=device)

            def score(z: torch.Tensor) -> torch.Tensor:
                diff = z[:, None, :] - means[None]
                return -((diff @ precision) * diff).sum(-1).min(1).values

            def batch(x: torch.Tensor) -> np.ndarray:
                if self.epsilon_ > 0:
                    x = x.clone().requires_grad_(True)
                    with torch.enable_grad():
                        (gradient,) = torch.autograd.grad(score(forward(x)).sum(), x)
                    x = (x + self.epsilon_ * gradient.sign()).detach()
                with torch.no_grad():
                    return score(forward(x)).double().cpu().numpy()

            columns.append(batched(batch, images, device))
        return np.stack(columns, 1)

    def _score(self, images: np.ndarray) -> np.ndarray:
        scores = self._layer_scores(images)
        return self.combiner_.decision_function(scores) if self.combiner_ is not None else scores[:, 0]


class MahalanobisPre(Mahalanobis):
    """Mahalanobis with its input pre-processing (eps tuned on the mix set)."""

    info = MethodInfo(
        name="mahalanobis+pre",
        description="Mahalanobis with input pre-processing",
        reference="Lee et al., NeurIPS 2018",
    )

    def __init__(self, layer=LOGITS, epsilon="auto", ensemble=False):
        super().__init__(layer, epsilon, ensemble)


class MahalanobisEnsemble(Mahalanobis):
    """Mahalanobis's feature ensemble: every layer, combined by a logistic regression."""

    info = MethodInfo(
        name="mahalanobis+ens",
        description="Mahalanobis on every layer, combined by a logistic regression (feature ensemble)",
        reference="Lee et al., NeurIPS 2018",
    )

    def __init__(self, layer=LOGITS, epsilon=0.0, ensemble=True):
        super().__init__(layer, epsilon, ensemble)
