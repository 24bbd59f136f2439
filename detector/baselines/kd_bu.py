"""KD+BU: kernel density and Bayesian (MC-dropout) uncertainty, combined by a logistic regression."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.neighbors import KernelDensity

from ..anomalies.attack_params import params_family
from ..method.api import MethodInfo
from ..runtime import batched, confined_trace, model_device, private_copy
from .base import Baseline, adversarial_classifier, adversarial_training_set, penultimate

#: Feinman et al.'s kernel bandwidths on the last hidden layer, by input family
BANDWIDTHS = {"28": 1.20, "32-cifar": 0.26, "32-svhn": 1.00}
_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


class _SeededDropout(nn.Module):
    """A dropout layer that is always on and draws from its own generator, never torch's global one:
    the draws of other callers (another session's seeded training) neither move nor are moved by it.
    On the CPU it draws exactly what ``F.dropout`` draws from a generator in the same state (ATen's
    ``bernoulli_`` noise, divided by the keep rate), so the numbers are those of the global seed;
    CUDA's fused dropout kernel takes no generator, so there the masks come from ``bernoulli_``."""

    def __init__(self, layer: nn.Module, generator: torch.Generator):
        super().__init__()
        self.p, self.kind, self.generator = float(layer.p), type(layer), generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.p
        if p == 0 or x.numel() == 0:
            return x
        if p == 1:
            return x * torch.zeros((), dtype=x.dtype, device=x.device)
        per_channel = self.kind in (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d) and x.ndim >= 2
        noise = (x.new_empty((x.shape[0], x.shape[1], *[1] * (x.ndim - 2))) if per_channel
                 else torch.empty_like(x)).bernoulli_(1 - p, generator=self.generator)
        if self.kind is nn.AlphaDropout:  # ATen's alpha dropout: keeps mean and variance of SELU outputs
            alpha = 1.7580993408473766
            a = 1.0 / ((alpha * alpha * p + 1) * (1 - p)) ** 0.5
            b = (noise - 1) * (alpha * a) + alpha * a * p
            return x * (noise * a) + b
        return x * noise.div_(1 - p)


def _seeded_copy(module: nn.Module, seed: int) -> tuple[nn.Module, bool]:
    """A private copy of ``module`` (weights shared) whose dropout layers are :class:`_SeededDropout` drawing
    from one generator seeded with ``seed`` on the model's device; and whether it has any."""
    copy = private_copy(module)
    generator = torch.Generator(device=model_device(module)).manual_seed(seed)
    found = False
    for name, layer in list(copy.named_modules()):
        if isinstance(layer, _DROPOUT):
            found = True
            copy.set_submodule(name, _SeededDropout(layer, generator))
    return copy, found


def _stochastic_passes(module: nn.Module, samples: int):
    """x -> (samples, B, C) softmax outputs of ``module`` (with :class:`_SeededDropout` layers).

    The layers before the first dropout are deterministic, so when the model traces
    with ``torch.fx`` they run once and only the rest runs ``samples`` times (about 10x
    faster for LeNet); otherwise every pass runs the whole model.
    """
    try:
        import torch.fx as fx

        graph_module = confined_trace(module, leaves=(_SeededDropout,))
        modules = dict(graph_module.named_modules())
        nodes = list(graph_module.graph.nodes)
        first = next(i for i, node in enumerate(nodes)
                     if node.op == "call_module" and isinstance(modules.get(node.target), _SeededDropout))
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
    stochastic passes with the dropout layers on (0 for a model without dropout).

    The passes run on a private copy whose dropout layers draw from a generator of their own:
    ``module`` stays in eval mode and torch's global random state is neither read nor moved, so
    another caller's forward passes (a session extracting features) are not changed, and theirs
    do not change these numbers."""
    stochastic_module, found = _seeded_copy(module, seed)
    if not found:
        return np.zeros(len(images))
    stochastic = _stochastic_passes(stochastic_module, samples)

    def batch(x: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            probs = stochastic(x)  # (T, B, C)
        return ((probs ** 2).sum(2).mean(0) - (probs.mean(0) ** 2).sum(1)).double().cpu().numpy()

    return batched(batch, images, model_device(module))


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
