"""KD+BU: kernel density and Bayesian (MC-dropout) uncertainty, combined by a logistic regression."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.neighbors import KernelDensity

from ..anomalies.attack_params import params_family
from ..method.api import MethodInfo
from ..runtime import batched, model_device
from .base import Baseline, adversarial_classifier, adversarial_training_set, penultimate

#: Feinman et al.'s kernel bandwidths on the last hidden layer, by input family
BANDWIDTHS = {"28": 1.20, "32-cifar": 0.26, "32-svhn": 1.00}
_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


def _stochastic_passes(module: nn.Module, samples: int):
    """x -> (samples, B, C) softmax outputs with dropout on.

    The layers before the first dropout are deterministic, so when the model traces
    with ``torch.fx`` they run once and only the rest runs ``samples`` times (about 10x
    faster for LeNet); otherwise every pass runs the whole model.
    """
    try:
        import torch.fx as fx

        graph_module = fx.symbolic_trace(module)
        modules = dict(graph_module.named_modules())
        nodes = list(graph_module.graph.nodes)
        first = next(i for i, node in enumerate(nodes)
                     if node.op == "call_module" and isinstance(modules.get(node.target), _DROPOUT))
    except Exception:  # not traceable: full passes
        return lambda x: torch.stack([F.softmax(module(x), 1) for _ in range(samples)])

    prefix = set(nodes[:first])

    class Recorder(fx.Interpreter):
        def run_node(self, node):
            value = super().run_node(node)
            if node in prefix:
                self.kept[node] = value
            return value

    def passes(x: torch.Tensor) -> torch.Tensor:
        recorder = Recorder(graph_module)
        recorder.kept = {}
        outputs = [F.softmax(recorder.run(x), 1)]
        for _ in range(samples - 1):
            outputs.append(F.softmax(fx.Interpreter(graph_module).run(x, initial_env=dict(recorder.kept)), 1))
        return torch.stack(outputs)

    return passes


def mc_dropout_uncertainty(module: nn.Module, images: np.ndarray, samples: int = 50, seed: int = 0) -> np.ndarray:
    """Feinman et al.'s BU: ``mean_t sum_c p_tc^2 - sum_c (mean_t p_tc)^2`` over ``samples``
    stochastic passes with the dropout layers on (0 for a model without dropout)."""
    dropouts = [m for m in module.modules() if isinstance(m, _DROPOUT)]
    if not dropouts:
        return np.zeros(len(images))
    torch.manual_seed(seed)
    device = model_device(module)
    stochastic = _stochastic_passes(module, samples)

    def batch(x: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            probs = stochastic(x)  # (T, B, C)
        return ((probs ** 2).sum(2).mean(0) - (probs.mean(0) ** 2).sum(1)).double().cpu().numpy()

    for layer in dropouts:
        layer.train()
    try:
        return batched(batch, images, device)
    finally:
        for layer in dropouts:
            layer.eval()


class KDBU(Baseline):
    """Kernel density (KD) and Bayesian uncertainty (BU) features, logistic regression on top.

    KD: log density of the last hidden layer's features under a Gaussian KDE of the ID
    training inputs *of the predicted class*. BU: variance of MC-dropout predictions.
    A logistic regression on the standardised (KD, BU) pair is trained to separate clean
    validation inputs from adversarial examples made from them with ``attack`` (FGSM in
    the paper); the score is minus its log-odds of "adversarial", higher = more normal.

    Parameters
    ----------
    attack : str
        Attack used for training (``"fgsm"`` as in the paper; the evaluated attack for the
        "known attack" upper bound of the paper's Table 9).
    bandwidth : float or None
        KDE bandwidth; default Feinman et al.'s value for the input family (MNIST 1.2,
        CIFAR-10 0.26, SVHN 1.0).
    mc_samples : int
        MC-dropout passes; Feinman et al. use 50, 20 keeps the cold LeNet table within
        its CPU budget.

    Attributes
    ----------
    kdes_ : dict class -> KernelDensity
    classifier_ : sklearn Pipeline (scaler + LogisticRegressionCV)

    References
    ----------
    Feinman, Curtin, Shintre, Gardner. Detecting adversarial samples from artifacts.
    arXiv 2017. https://arxiv.org/abs/1703.00410 (the paper's [7], "KD+BU").
    """

    info = MethodInfo(
        name="kd-bu",
        description="kernel density plus MC-dropout uncertainty, combined by a logistic regression trained on FGSM",
        reference="Feinman et al., 2017",
    )

    def __init__(self, attack="fgsm", bandwidth=None, mc_samples=20):
        self.attack = attack
        self.bandwidth = bandwidth
        self.mc_samples = mc_samples

    def _fit(self, experiment) -> None:
        bandwidth = self.bandwidth or BANDWIDTHS[params_family(experiment.model.input_shape, experiment.id_dataset)]
        train = experiment.train
        z = penultimate(experiment, train.images)
        self.kdes_ = {int(c): KernelDensity(kernel="gaussian", bandwidth=bandwidth).fit(z[train.labels == c])
                      for c in np.unique(train.labels)}
        normal, adversarial = adversarial_training_set(experiment, self.attack)
        self.classifier_ = adversarial_classifier(self._artifacts(normal), self._artifacts(adversarial))

    def _artifacts(self, images: np.ndarray) -> np.ndarray:
        """(N, 2): KD under the predicted class, BU."""
        z = penultimate(self.experiment_, images)
        predicted = self._logits(images).argmax(1)
        kd = np.full(len(images), -1e6)
        for c, kde in self.kdes_.items():
            rows = predicted == c
            if rows.any():
                kd[rows] = kde.score_samples(z[rows])
        kd = np.maximum(kd, -1e6)  # a point far from every training point: very low, but finite
        bu = mc_dropout_uncertainty(self.model_.module, images, self.mc_samples)
        return np.stack([kd, bu], 1)

    def _score(self, images: np.ndarray) -> np.ndarray:
        return -self.classifier_.decision_function(self._artifacts(images))
