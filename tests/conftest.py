"""Shared fixtures: a tiny CNN trained in seconds on scikit-learn's digits (28x28)."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from detector.cache import CACHE_ENV
from detector.data.loading import load_dataset
from detector.evaluation.experiment import Experiment
from detector.models.classifiers import prepare_classifier
from detector.models.training import train_classifier


class TinyNet(nn.Module):
    """Conv + BatchNorm + in-place ReLU + its own input normalisation: what user models look like."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(0.2))
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 5 * 5, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 10))

    def forward(self, x):
        return self.head(self.features(x - self.mean))


@pytest.fixture(scope="session")
def digits():
    return {split: load_dataset("digits", split) for split in ("train", "val", "test")}


@pytest.fixture(scope="session")
def tiny_model(digits):
    torch.manual_seed(0)
    # trained on the CPU everywhere, then moved to the default device: on CUDA the same seed gave
    # another network, on which ViM's median ID score fell below the obvious anomalies' (H200, 82471a4)
    module = train_classifier(TinyNet(), digits["train"].images, digits["train"].labels, epochs=8, augment=False,
                              progress=False, device="cpu")
    return prepare_classifier("tiny", module, (1, 28, 28), "digits")


@pytest.fixture(scope="session")
def tiny_experiment(tiny_model, digits):
    return Experiment(tiny_model, "digits", digits["train"], digits["val"], digits["test"])


@pytest.fixture(scope="session", autouse=True)
def test_cache(tmp_path_factory):
    """One cache folder for the whole session (the default model is trained once), never the
    project's cache/. A folder given by the caller in ANOMALY_CACHE_DIR is used instead."""
    given = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = given or str(tmp_path_factory.getbasetemp() / "cache")
    yield Path(os.environ[CACHE_ENV])
    if given is None:
        del os.environ[CACHE_ENV]


@pytest.fixture
def noise():
    return np.random.default_rng(5).uniform(0, 1, (200, 1, 28, 28)).astype(np.float32)
