"""pytorch-ood 0.4's post-hoc detectors that read the penultimate features (the inputs of the
model's final ``nn.Linear``), with that layer's weights as the "head": knn, vim, dice, fdbd,
nnguide, nci, she, rmds, lts; and the activation-shaping methods that rescale or clip the same
features, given as ``B x D x 1 x 1`` maps, before the head: react, ash, scale, vra. The adapter
and the logit-based methods are in :mod:`.posthoc`; a model whose logits do not come out of an
``nn.Linear`` raises :class:`~detector.baselines.base.NotApplicable` here.
"""

from __future__ import annotations

import torch

from ..method.api import MethodInfo
from .posthoc import PyTorchOOD


def _flat(head: torch.nn.Linear):
    """The head of the activation-shaping methods: ``B x D x 1 x 1`` maps -> logits."""
    return lambda maps: head(maps.flatten(1))


# --------------------------------------------------------------------------- on the penultimate features
class KNN(PyTorchOOD):
    info = MethodInfo(
        name="knn",
        description="distance to the k-th nearest training feature",
        reference="Sun et al., ICML 2022 (pytorch-ood)",
        streams=True,
    )
    reads = "features"

    def __init__(self, k=50, normalize=True):  # k: the paper's CIFAR-10 value, capped by the training size
        self.k = k
        self.normalize = normalize

    def _make(self, experiment):
        from pytorch_ood.detector import KNN as Library

        z, y = self._train_features(experiment)
        k = min(self.k, len(z) - 1)
        return Library(None, k=k, normalize=self.normalize).fit_features(z.cpu(), y.cpu())  # scikit-learn's: CPU


class ViM(PyTorchOOD):
    info = MethodInfo(
        name="vim",
        description="virtual logit from the residual of the principal feature space",
        reference="Wang et al., CVPR 2022 (pytorch-ood)",
        streams=True,
    )
    reads = "features"

    def __init__(self, d=None):  # None: D // 2 (the principal subspace must be smaller than the dimension D)
        self.d = d

    def _make(self, experiment):
        from pytorch_ood.detector import ViM as Library

        head = self._head(experiment)
        z, y = self._train_features(experiment)
        d = self.d if self.d is not None else max(1, z.shape[1] // 2)
        return Library(None, d=d, w=head.weight.data, b=head.bias.data).fit_features(z, y)


class DICE(PyTorchOOD):
    info = MethodInfo(
        name="dice",
        description="energy with sparsified last-layer weights",
        reference="Sun & Li, ECCV 2022 (pytorch-ood)",
        streams=True,
    )
    reads = "features"

    def __init__(self, p=0.7):
        self.p = p

    def _make(self, experiment):
        from pytorch_ood.detector import DICE as Library

        head = self._head(experiment)
        return Library(None, w=head.weight.data, b=head.bias.data, p=self.p).fit_features(*self._train_features(experiment))


class FDBD(PyTorchOOD):
    info = MethodInfo(
        name="fdbd",
        description=("mean distance of the features to the decision boundaries, over their distance to the training "
                     "mean"),
        reference="Liu & Qin, ICML 2024 (pytorch-ood)",
        streams=True,
    )
    reads = "features"

    def __init__(self):
        pass

    def _make(self, experiment):
        from pytorch_ood.detector import fDBD

        return fDBD(None, self._head(experiment)).fit_features(self._train_features(experiment)[0])


class NNGuide(PyTorchOOD):
    info = MethodInfo(
        name="nnguide",
        description="energy times the similarity to the k nearest energy-scaled training features",
        reference="Park et al., ICCV 2023 (pytorch-ood)",
        streams=True,
    )
    reads = "features"

    def __init__(self, k=10):
        self.k = k

    def _make(self, experiment):
        from pytorch_ood.detector import NNGuide as Library

        return Library(None, self._head(experiment), k=self.k).fit_features(*self._train_features(experiment))


class NCI(PyTorchOOD):
    info = MethodInfo(
        name="nci",
        description="cosine between the centred features and the predicted class's weight vector (neural collapse)",
        reference="Liu & Qin, CVPR 2025 (pytorch-ood)",
        streams=True,
    )
    reads = "features"

    def __init__(self, alpha=0.0):
        self.alpha = alpha

    def _make(self, experiment):
        from pytorch_ood.detector import NCI as Library

        return Library(None, self._head(experiment), alpha=self.alpha).fit_features(self._train_features(experiment)[0])


class SHE(PyTorchOOD):
    info = MethodInfo(
        name="she",
        description="similarity of the features to the mean feature of their predicted class (modern Hopfield energy)",
        reference="Zhang et al., ICLR 2023 (pytorch-ood)",
        streams=True,
    )
    reads = "features"

    def __init__(self):
        pass

    def _make(self, experiment):
        from pytorch_ood.detector import SHE as Library

        return Library(None, self._head(experiment)).fit_features(*self._train_features(experiment))


class RMD(PyTorchOOD):
    info = MethodInfo(
        name="rmds",
        description="relative Mahalanobis distance: class-conditional minus class-agnostic Gaussian distance",
        reference="Ren et al., arXiv 2021 (pytorch-ood)",
        streams=True,
    )
    reads = "features"

    def __init__(self):
        pass

    def _make(self, experiment):
        from pytorch_ood.detector import RMD as Library

        return Library(None).fit_features(*self._train_features(experiment))


class LTS(PyTorchOOD):
    info = MethodInfo(
        name="lts",
        description="energy of the logits scaled by the ratio of the features' total to their top-p share",
        reference="Djurisic et al., Machine Vision and Applications 2025 (pytorch-ood)",
        streams=True,
    )
    reads = "features"

    def __init__(self, p=0.05):
        self.p = p

    def _make(self, experiment):
        from pytorch_ood.detector import LTS as Library

        return Library(None, self._head(experiment), p=self.p)


# --------------------------------------------------------------------------- shaping the penultimate activations
class ReAct(PyTorchOOD):
    info = MethodInfo(
        name="react",
        description="energy after clipping high activations",
        reference="Sun, Guo, Li, NeurIPS 2021 (pytorch-ood)",
        streams=True,
    )
    reads = "maps"

    def __init__(self, percentile=0.9):
        self.percentile = percentile

    def _make(self, experiment):
        from pytorch_ood.detector import ReAct as Library

        return Library(backbone=None, head=self._head(experiment), percentile=self.percentile).fit_feature_maps(
            *self._train_features(experiment))

    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.detector_.predict_feature_maps(x)  # its head takes the features as they are


class ASH(PyTorchOOD):
    info = MethodInfo(
        name="ash",
        description="energy after pruning and rescaling activations (ASH-S)",
        reference="Djurisic et al., ICLR 2023 (pytorch-ood)",
        streams=True,
    )
    reads = "maps"

    def __init__(self, variant="ash-s", percentile=0.65):
        self.variant = variant
        self.percentile = percentile

    def _make(self, experiment):
        from pytorch_ood.detector import ASH as Library

        return Library(backbone=None, head=_flat(self._head(experiment)), variant=self.variant, percentile=self.percentile)


class SCALE(PyTorchOOD):
    info = MethodInfo(
        name="scale",
        description="energy of the activations scaled by the ratio of their total to their top share (no pruning)",
        reference="Xu et al., ICLR 2024 (pytorch-ood)",
        streams=True,
    )
    reads = "maps"

    def __init__(self, percentile=0.65):
        self.percentile = percentile

    def _make(self, experiment):
        from pytorch_ood.detector import SCALE as Library

        return Library(backbone=None, head=_flat(self._head(experiment)), percentile=self.percentile)


class VRA(PyTorchOOD):
    info = MethodInfo(
        name="vra",
        description="energy after clipping each activation to its ID quantile range (variational rectification)",
        reference="Xu et al., NeurIPS 2023 (pytorch-ood)",
        streams=True,
    )
    reads = "maps"

    def __init__(self, lower_percentile=0.01, upper_percentile=0.99):
        self.lower_percentile = lower_percentile
        self.upper_percentile = upper_percentile

    def _make(self, experiment):
        from pytorch_ood.detector import VRA as Library

        z, y = self._train_features(experiment)
        detector = Library(backbone=None, head=_flat(self._head(experiment)), lower_percentile=self.lower_percentile,
                           upper_percentile=self.upper_percentile)
        return detector.fit_feature_maps(z[:, :, None, None], y)
