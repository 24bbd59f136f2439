"""pytorch-ood 0.4's post-hoc detectors that run the model themselves: gradient norms, Gram
matrices of feature maps, MC dropout. The adapter (sign, device, cache) is
:class:`~detector.baselines.posthoc.PyTorchOOD`; here each reads the images, batch by batch
(an image folder streams), through the user's model or, for MC dropout, a copy of it.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn as nn

from ..method.api import MethodInfo
from ..runtime import batched, batches, forward_hooks, model_device
from .base import NotApplicable
from .posthoc import PyTorchOOD


class _ModelDetector(PyTorchOOD):
    """A pytorch-ood detector whose ``predict`` takes images (the model runs inside it)."""

    reads = "inputs"

    def _outlier_scores(self, images: np.ndarray) -> torch.Tensor:
        device = model_device(self.experiment_.model.module)
        return torch.from_numpy(batched(lambda x: self.detector_.predict(x).detach().cpu().numpy(), images, device))


class GradNorm(_ModelDetector):
    info = MethodInfo(
        name="gradnorm",
        description="L1 norm of the gradient of the KL divergence between the softmax and the uniform distribution",
        reference="Huang, Geng, Li, NeurIPS 2021 (pytorch-ood)",
        streams=True,
    )

    def __init__(self, temperature=1.0):  # the library's default: the gradients of every parameter
        self.temperature = temperature

    def _make(self, experiment):
        from pytorch_ood.detector import GradNorm as Library

        return Library(experiment.model.module, temperature=self.temperature)


class GradUncertainty(_ModelDetector):
    info = MethodInfo(
        name="graduncertainty",
        description="squared gradient norm of the loss towards an all-ones 'confounding' label",
        reference="Lee & AlRegib, ICIP 2020 (pytorch-ood)",
        streams=True,
    )

    def __init__(self):
        pass

    def _make(self, experiment):
        from pytorch_ood.detector import GradUncertainty as Library

        return Library(experiment.model.module)


def conv_layers(experiment) -> dict[str, nn.Module]:
    """The candidate layers (:meth:`FeatureExtractor.candidates`) whose outputs are conv maps (C, H, W)."""
    named = dict(experiment.model.module.named_modules())
    return {info.name: named[info.name] for info in experiment.extractor.candidates("blocks")
            if info.name in named and len(info.output_shape) == 3}


class _Batches:
    """(images, labels) batches with a length, as the library's ``fit(data_loader)`` reads them."""

    def __init__(self, images, labels, device):
        self.images, self.labels, self.device = images, labels, device

    def __len__(self) -> int:
        return -(-len(self.labels) // 500)

    def __iter__(self):
        start = 0
        for batch in batches(self.images, 500):
            yield torch.from_numpy(batch).to(self.device), torch.from_numpy(self.labels[start: start + len(batch)])
            start += len(batch)


class Gram(_ModelDetector):
    info = MethodInfo(
        name="gram",
        description=("deviation of the feature maps' higher-order Gram matrices from their per-class ID range, over "
                     "every convolutional layer"),
        reference="Sastry & Oore, ICML 2020 (pytorch-ood)",
        streams=True,
    )

    def __init__(self, num_poles_list=None, random_state=0):
        self.num_poles_list = num_poles_list
        self.random_state = random_state

    def _make(self, experiment):
        from pytorch_ood.detector import Gram as Library

        module, layers = experiment.model.module, conv_layers(experiment)
        if not layers:
            raise NotApplicable("Gram matrices need convolutional feature maps; the model has none among its layers")

        class Hooked(Library):
            # the library chains feature_layers as a sequence; a model with skips or a functional
            # forward is not one, so the maps are taken by hooks in one pass of the whole model
            @torch.no_grad()
            def _create_feature_list(self, data):
                maps = {}
                with forward_hooks(layers, lambda name, _m, out: maps.setdefault(name, out.detach().clone())):
                    logits = module(data)  # clone: an in-place ReLU after the layer would change its output
                return logits, [maps[name] for name in layers]

        device = model_device(module)
        detector = Hooked(module, list(layers.values()), experiment.model.n_classes,
                          num_poles_list=self.num_poles_list).to(device)
        with torch.random.fork_rng(devices=[]):  # the held-out share of each class is drawn with randperm
            torch.manual_seed(self.random_state)
            return detector.fit(_Batches(experiment.train.images, experiment.train.labels, device))


class MCD(_ModelDetector):
    info = MethodInfo(
        name="mcd",
        description="variance of the softmax over forward passes with dropout on (Monte-Carlo dropout)",
        reference="Gal & Ghahramani, ICML 2016 (pytorch-ood)",
        streams=True,
    )

    def __init__(self, samples=30, mode="var", random_state=0):
        self.samples = samples
        self.mode = mode
        self.random_state = random_state

    def _make(self, experiment):
        from pytorch_ood.detector import MCD as Library

        module = experiment.model.module
        if not any(isinstance(m, nn.modules.dropout._DropoutNd) for m in module.modules()):
            raise NotApplicable("Monte-Carlo dropout needs dropout layers; the model has none")
        # a copy: the library switches the model to training mode while it samples, which would
        # change every other forward pass of the shared model meanwhile
        return Library(copy.deepcopy(module), samples=self.samples, mode=self.mode)

    def _outlier_scores(self, images: np.ndarray) -> torch.Tensor:
        device = model_device(self.detector_.model)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):  # dropout draws on the model's device
            torch.manual_seed(self.random_state)
            return super()._outlier_scores(images)


#: every adapter here, in the order of the registry
POSTHOC_MODEL = (Gram, GradNorm, GradUncertainty, MCD)
