"""Anomaly sets by name: other datasets (OOD), noise, fooling images and attacks.

Every set is returned in the model's input shape. Datasets, noise and fooling images
have as many images as the ID test set (a seeded subset when the source is larger);
adversarial sets hold the successful attacks on the correctly classified ID test images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.datasets import DATASET_NAMES
from ..data.loading import load_dataset
from ..errors import DataError
from ..inputs.images import load_image_file, to_input_shape
from ..runtime import is_lazy, subsample
from .lookalikes import distorted_images, rendered_letters
from .noise import gaussian_noise, uniform_noise

NOISE = {"gaussian": gaussian_noise, "uniform": uniform_noise}
ATTACK_NAMES = ("fgsm", "bim-a", "bim-b", "jsma", "cw")
#: generated look-alikes (:mod:`.lookalikes`): evaluated by name only, never used to choose anything
LOOK_ALIKE_SETS = ("distorted", "letters")


@dataclass
class AnomalySet:
    name: str
    kind: str  # "ood" | "near-ood" | "adversarial" | "noise" | "file" (see report_kind for the reports' groups)
    images: np.ndarray


#: the groups the reports split anomaly sets into, in their order (the :func:`report_kind` of a set)
REPORT_KINDS = ("near-ood", "far-ood", "noise", "adversarial", "file")
#: ID dataset -> the built-in OOD datasets that look like it (the same kind of content from another
#: source): near-OOD for it. Every other OOD dataset is far-OOD (Fashion-MNIST for an MNIST model and the
#: reverse). A generated look-alike set gets the kind "near-ood" itself.
LOOK_ALIKES = {"mnist": ("digits",), "digits": ("mnist",)}


def report_kind(name: str, kind: str, id_dataset: str | None) -> str:
    """Where a set stands in the reports: near-ood, far-ood, noise, adversarial or file (user files).

    >>> [report_kind(name, kind, "mnist") for name, kind in [("fashion-mnist", "ood"), ("digits", "ood"), ("cw", "adversarial")]]
    ['far-ood', 'near-ood', 'adversarial']
    """
    if kind == "ood":
        return "near-ood" if name in LOOK_ALIKES.get(id_dataset, ()) else "far-ood"
    return kind


def anomaly_kinds() -> dict[str, str]:
    """Every built-in anomaly name and its kind."""
    kinds = {name: "ood" for name in DATASET_NAMES}
    kinds.update({name: "noise" for name in NOISE})
    kinds["fooling"] = "noise"
    kinds.update({name: "adversarial" for name in ATTACK_NAMES})
    kinds.update({name: "near-ood" for name in LOOK_ALIKE_SETS})
    return kinds


def load_anomaly(name: str, experiment) -> AnomalySet:
    """The anomaly set ``name`` for an experiment (model + ID data)."""
    kinds = anomaly_kinds()
    if name not in kinds:
        raise DataError(f"unknown anomaly set {name!r}; valid names: {', '.join(kinds)} (or --anomaly-file NAME=path.npz)")
    n, shape = len(experiment.test), experiment.model.input_shape
    model = experiment.model
    if name in NOISE:
        return AnomalySet(name, "noise", NOISE[name](n, shape, seed=0))
    if name == "fooling":
        from .fooling import cached_fooling

        result = cached_fooling(model.module, model.fingerprint, n, shape, model.n_classes, seed=0, progress=experiment.bars)
        return AnomalySet(name, "noise", result.confident_images())  # the paper keeps those >= the target confidence
    if name in ATTACK_NAMES:
        from .adversarial import cached_adversarial

        result = cached_adversarial(name, model.module, model.fingerprint, experiment.test.images, experiment.test.labels,
                                    progress=experiment.bars, dataset=experiment.id_dataset)
        return AnomalySet(name, "adversarial", result.images)
    if name == "distorted":  # from the training split: the test split stays the ID positives
        train = experiment.train.images
        keep = subsample(len(train), n, 0)
        source = np.asarray(train.subset(keep)) if is_lazy(train) else train[keep]
        return AnomalySet(name, "near-ood", distorted_images(source, n, seed=0))
    if name == "letters":
        return AnomalySet(name, "near-ood", to_input_shape(rendered_letters(n, seed=0), shape, name))
    if name == experiment.id_dataset:
        raise DataError(f"{name} is the in-distribution dataset of this model; choose another anomaly set")
    images = load_dataset(name, "test").images
    images = images[subsample(len(images), n, 0)]
    return AnomalySet(name, "ood", to_input_shape(images, shape, name))


def load_anomaly_file(name: str, path: str, experiment) -> AnomalySet:
    """A user's set: an ``.npz`` holding ``images``, or a folder of PNG / JPEG pictures."""
    if Path(path).is_dir():
        from ..data.folders import load_image_folder

        return AnomalySet(name, "file", load_image_folder(path, experiment.model.input_shape, progress=experiment.progress))
    return AnomalySet(name, "file", load_image_file(path, experiment.model.input_shape))
