"""Outlier Exposure: fine-tune a classifier so that it is uncertain on auxiliary outliers.

Hendrycks, Mazeika, Dietterich. Deep anomaly detection with outlier exposure. ICLR 2019.
https://arxiv.org/abs/1812.04606 (the paper's [11]; its Tables 5-7, "+OE").

The fine-tuning loss is the usual cross-entropy on ID training inputs plus ``lam`` times
the cross-entropy from the softmax of auxiliary outliers to the uniform distribution::

    L = CE(f(x_in), y) + lam * mean_x_out( -1/C * sum_c log softmax(f(x_out))_c )

The paper fine-tunes LeNet with 50,000 E-MNIST letters, which are not available
offline. Our auxiliary set must be disjoint from every set we evaluate (other datasets,
noise, fooling images, attacks), so it is built from scikit-learn's 8x8 digits, which
ship with scikit-learn, in two forms no evaluated set takes: *inverted* (dark strokes on
a light background) and *tile-shuffled* on a 4x4 grid. Nothing of the ID test split, the
evaluated anomaly sets or the validation split (which tunes detectors) is used.
The fine-tuned weights are cached under ``cache/models/``.
"""

from __future__ import annotations

import copy

import numpy as np

from .. import cache
from ..anomalies.noise import shuffle_tiles
from ..data.loading import load_dataset
from ..inputs.images import to_input_shape
from ..models.checkpoints import load_cached_checkpoint, save_cached_checkpoint
from ..models.classifiers import prepare_classifier
from ..models.training import train_classifier
from .experiment import Experiment


def auxiliary_outliers(input_shape, seed: int = 0) -> np.ndarray:
    """Inverted and tile-shuffled scikit-learn digits (all splits), in the model's input shape."""
    digits = np.concatenate([load_dataset("digits", split).images for split in ("train", "val", "test")])
    digits = to_input_shape(digits, tuple(input_shape), "digits")
    shuffled = shuffle_tiles(digits, np.random.default_rng(seed))
    return np.concatenate([1.0 - digits, shuffled]).astype(np.float32)


def outlier_exposure(experiment: Experiment, *, epochs: int = 5, lam: float = 0.5, lr: float = 1e-3,
                     seed: int = 0) -> Experiment:
    """The same experiment with its classifier fine-tuned by Outlier Exposure (cached)."""
    model = experiment.model
    outliers = auxiliary_outliers(model.input_shape, seed)
    key = {"what": "outlier-exposure", "base": model.fingerprint, "train": cache.hash_array(experiment.train.images),
           "aux": cache.hash_array(outliers), "epochs": epochs, "lam": lam, "lr": lr, "seed": seed}
    path = cache.entry_path("models", key, code=__name__, suffix=".pt")
    module = copy.deepcopy(model.module)
    if load_cached_checkpoint(module, path) is None:
        # random batches: an image folder's training split is read into memory (MAX_VALUES at most)
        module = train_classifier(module, np.asarray(experiment.train.images), experiment.train.labels, epochs=epochs, lr=lr,
                                  seed=seed, progress=experiment.bars, desc="outlier exposure",
                                  outliers=outliers, outlier_weight=lam)
        save_cached_checkpoint(module, path)
    info = prepare_classifier(f"{model.name}+oe", module, model.input_shape, model.id_dataset)
    return Experiment(info, experiment.id_dataset, experiment.train, experiment.val, experiment.test,
                      progress=experiment.progress)
