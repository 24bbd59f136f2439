"""ODIN: temperature scaling and input pre-processing of the softmax score."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .. import cache
from ..method.api import MethodInfo
from ..method.metrics import auroc, tnr_at_tpr
from ..runtime import batched, model_device
from .base import Baseline

TEMPERATURES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
EPSILONS = (0.0, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032)


def odin_scores(module, images: np.ndarray, temperature: float, epsilon: float, batch_size: int = 500) -> np.ndarray:
    """``max_c softmax(f(x~) / T)_c`` with ``x~ = x - eps * sign(-grad_x log S_yhat(x; T))``."""
    device = model_device(module)

    def score(x: torch.Tensor) -> np.ndarray:
        if epsilon > 0:
            x = x.clone().requires_grad_(True)
            with torch.enable_grad():
                logits = module(x) / temperature
                loss = F.cross_entropy(logits, logits.argmax(1))  # = -log S_yhat(x; T), summed over the batch
                (gradient,) = torch.autograd.grad(loss * len(x), x)
            x = (x - epsilon * gradient.sign()).detach()
        with torch.no_grad():
            return F.softmax(module(x) / temperature, dim=1).max(1).values.double().cpu().numpy()

    return batched(score, images, device, batch_size)


class ODIN(Baseline):
    """ODIN: the maximum of the temperature-scaled softmax of a pre-processed input.

    ``S(x; T) = max_c softmax(f(x~) / T)_c`` where the input is moved by ``epsilon`` in the
    direction that raises the softmax score, ``x~ = x - eps * sign(-grad_x log S_yhat(x; T))``.
    Higher = more normal.

    Liang et al. tune ``T`` and ``eps`` on OOD validation data; here they are tuned on the
    generated *mix* set that also picks our MDL (validation ID vs mix, best TNR at 95 % TPR,
    AUROC breaking ties), so no evaluated anomaly set is ever seen.

    Parameters
    ----------
    temperature : "auto" or float
        ``T``; ``"auto"`` picks it from :data:`TEMPERATURES` on the mix set.
    epsilon : "auto" or float
        Perturbation size in [0, 1] pixel units; ``0`` = no input pre-processing (the
        paper's Table 2 ODIN), ``"auto"`` picks it from :data:`EPSILONS` (``odin+pre``,
        Table 8).

    Attributes
    ----------
    temperature_, epsilon_ : float
        The values used.
    tuning_ : dict
        ``"T,eps" -> (TNR, AUROC)`` on validation ID vs mix, when tuned.

    References
    ----------
    Liang, Li, Srikant. Enhancing the reliability of out-of-distribution image detection
    in neural networks. ICLR 2018. https://arxiv.org/abs/1706.02690 (the paper's [19]).
    """

    info = MethodInfo(
        name="odin",
        description="softmax with temperature T (tuned on the mix set)",
        reference="Liang et al., ICLR 2018",
    )

    def __init__(self, temperature="auto", epsilon=0.0):
        self.temperature = temperature
        self.epsilon = epsilon

    def _fit(self, experiment) -> None:
        def tune() -> dict[str, np.ndarray]:
            module = experiment.model.module
            val, mix = experiment.val.images, self._mix()
            tuning = {}

            def best(candidates):
                for t, eps in candidates:
                    v, m = odin_scores(module, val, t, eps), odin_scores(module, mix, t, eps)
                    tuning[(t, eps)] = (tnr_at_tpr(v, m), auroc(v, m))
                return max(candidates, key=tuning.get)

            # T first without pre-processing (forward passes only), then eps at that T
            t = best([(t, 0.0) for t in TEMPERATURES])[0] if self.temperature == "auto" else float(self.temperature)
            eps = best([(t, e) for e in EPSILONS])[1] if self.epsilon == "auto" else float(self.epsilon)
            grid = np.array([[k[0], k[1], *v] for k, v in tuning.items()]).reshape(-1, 4)
            return {"chosen": np.array([t, eps]), "grid": grid}

        if self.temperature == "auto" or self.epsilon == "auto":
            state = cache.cached_arrays("baselines", {**self.fit_key_, "what": "odin-tuning"}, tune, code=__name__)
            self.temperature_, self.epsilon_ = (float(v) for v in state["chosen"])
            self.tuning_ = {f"{t:g},{e:g}": (tnr, auc) for t, e, tnr, auc in state["grid"]}
        else:
            self.temperature_, self.epsilon_, self.tuning_ = float(self.temperature), float(self.epsilon), {}

    def _score(self, images: np.ndarray) -> np.ndarray:
        return odin_scores(self.model_.module, images, self.temperature_, self.epsilon_)


class ODINPre(ODIN):
    """ODIN with its input pre-processing: T and eps both tuned on the mix set."""

    info = MethodInfo(
        name="odin+pre",
        description="ODIN with its input perturbation ε (T and ε tuned on the mix set)",
        reference="Liang et al., ICLR 2018",
    )

    def __init__(self, temperature="auto", epsilon="auto"):
        super().__init__(temperature, epsilon)


class ODINOriginal(ODIN):
    """ODIN as Liang et al. ran it (T = 1000, eps = 0.0014), not tuned here."""

    info = MethodInfo(
        name="odin+orig",
        description="ODIN with the original paper's T = 1000, ε = 0.0014",
        reference="Liang et al., ICLR 2018",
    )

    def __init__(self, temperature=1000, epsilon=0.0014):
        super().__init__(temperature, epsilon)
