"""Feature Squeezing: how far the prediction moves when the input is squeezed."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..method.api import MethodInfo
from ..runtime import batched, model_device
from .base import Baseline


def squeezers(channels: int, bit_depth=None, median_window: int = 2):
    """Xu et al.'s squeezers for an input family, as ART preprocessors (N, C, H, W) -> same.

    Grey inputs (MNIST's setting): bit depth 1 and a 2x2 median filter. Colour inputs
    (CIFAR-10's setting): bit depth 5 and a 2x2 median filter; Xu et al.'s third colour
    squeezer, non-local means (13-3-2), is left out (ART has none).
    """
    from art.defences.preprocessor import FeatureSqueezing, SpatialSmoothing

    depth = int(bit_depth) if bit_depth is not None else (1 if channels == 1 else 5)
    return {f"bit-depth-{depth}": FeatureSqueezing(clip_values=(0.0, 1.0), bit_depth=depth),
            f"median-{median_window}x{median_window}": SpatialSmoothing(window_size=median_window, channels_first=True,
                                                                        clip_values=(0.0, 1.0))}


class FeatureSqueezing(Baseline):
    """Feature Squeezing: the largest L1 change of the softmax under squeezing, negated.

    ``d(x) = max_s || softmax(f(x)) - softmax(f(s(x))) ||_1`` over the squeezers ``s``
    (bit-depth reduction and median smoothing, :func:`squeezers`). Xu et al. flag an
    input as adversarial when ``d(x)`` exceeds a threshold; our score is ``-d(x)``, so
    higher = more normal, and an input that every squeezer leaves unchanged scores 0,
    the highest possible score. Nothing is learned: Xu et al. set the threshold at a 5 %
    false-positive rate on legitimate inputs, which is what our evaluation does for every
    method (95 % TPR on ID inputs).

    The squeezers are ART's ``FeatureSqueezing`` and ``SpatialSmoothing`` (a
    ``scipy.ndimage.median_filter`` with ``mode="reflect"``, as in Xu et al.'s code).

    Parameters
    ----------
    bit_depth : int or None
        Bits kept per colour channel; default Xu et al.'s: 1 for grey, 5 for colour inputs.
    median_window : int
        Side of the median filter (2 in all of Xu et al.'s settings).

    Attributes
    ----------
    squeezers_ : dict name -> ART preprocessor

    References
    ----------
    Xu, Evans, Qi. Feature Squeezing: Detecting adversarial examples in deep neural
    networks. NDSS 2018. https://arxiv.org/abs/1704.01155 (the paper's [36], "FS").
    Reference code: https://github.com/mzweilin/EvadeML-Zoo

    Examples
    --------
    >>> FeatureSqueezing.score(np.array([[0.9, 0.1], [0.5, 0.5]]),
    ...                        [np.array([[0.9, 0.1], [0.1, 0.9]]), np.array([[0.7, 0.3], [0.5, 0.5]])])
    array([-0.4, -0.8])
    """

    info = MethodInfo(
        name="fs",
        description=("Feature Squeezing: the largest L1 change of the softmax under bit-depth reduction and median "
                     "smoothing"),
        reference="Xu et al., NDSS 2018 (ART's squeezers)",
    )

    def __init__(self, bit_depth=None, median_window=2):
        self.bit_depth = bit_depth
        self.median_window = median_window

    @staticmethod
    def score(probs: np.ndarray, squeezed: list[np.ndarray]) -> np.ndarray:
        """``-max_s ||probs - squeezed_s||_1`` for softmax outputs of shape (N, C)."""
        probs = np.asarray(probs, dtype=np.float64)
        return -np.max([np.abs(probs - np.asarray(s, dtype=np.float64)).sum(1) for s in squeezed], axis=0)

    def _fit(self, experiment) -> None:
        if int(self.median_window) < 1:
            raise ValueError(f"median_window must be a positive integer, got {self.median_window!r}")
        self.squeezers_ = squeezers(experiment.model.input_shape[0], self.bit_depth, int(self.median_window))

    def _probs(self, images: np.ndarray) -> np.ndarray:
        module = self.model_.module

        def softmax(x: torch.Tensor) -> np.ndarray:
            with torch.no_grad():
                return F.softmax(module(x), dim=1).double().cpu().numpy()

        return batched(softmax, np.ascontiguousarray(images, dtype=np.float32), model_device(module))

    def _score(self, images: np.ndarray) -> np.ndarray:
        squeezed = [self._probs(squeeze(images)[0]) for squeeze in self.squeezers_.values()]
        return self.score(self._probs(images), squeezed)
