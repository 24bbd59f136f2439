"""An attack as an anomaly set (the paper's protocol, Sec. 4.1): attack only the inputs the model
classifies correctly, keep only the successful examples, report the success rate and the mean
perturbation (:func:`generate_adversarial`); :func:`cached_adversarial` stores the result in the project
cache keyed by the model's fingerprint (weights and code), attack, parameters and input data.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from ..cache import cached_arrays, hash_array
from .attack_params import attack_params
from .attacks import ATTACKS, predict

#: An attack must fool the model on at least this fraction of the inputs it attacks.
MIN_SUCCESS_RATE = 0.5


# --------------------------------------------------------------------------- protocol
@dataclass
class AdversarialSet:
    """Successful adversarial examples and the attack's statistics.

    Attributes
    ----------
    name : str
        Attack name.
    images : np.ndarray
        float32 (M, C, H, W) in [0, 1]: only successful examples made from inputs
        the model classified correctly.
    source_index : np.ndarray
        int64 (M,): index of each example's clean image in the given images.
    labels : np.ndarray
        int64 (M,): true class of each example's clean image.
    predictions : np.ndarray
        int64 (M,): the model's (wrong) class for each example.
    n_attacked : int
        How many inputs were attacked (those classified correctly).
    success_rate : float
        Fraction of attacked inputs that were fooled.
    mean_l2, mean_linf : float
        Mean L2 / L-inf perturbation of the successful examples.
    params : dict
        The attack parameters used.
    seconds : float
        Generation time (of the original run when loaded from the cache).
    cached : bool
        Whether this result was loaded from the cache.
    """

    name: str
    images: np.ndarray
    source_index: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    n_attacked: int
    success_rate: float
    mean_l2: float
    mean_linf: float
    params: dict = field(default_factory=dict)
    seconds: float = 0.0
    cached: bool = False

    def __len__(self) -> int:
        return len(self.images)

    def summary(self) -> str:
        """One line: success rate, mean perturbation and time."""
        return (f"{self.name}: {len(self)}/{self.n_attacked} fooled ({100 * self.success_rate:.1f} %), "
                f"mean L2 {self.mean_l2:.3f}, mean Linf {self.mean_linf:.3f}, {self.seconds:.1f} s")

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Arrays for an ``.npz`` file (stats included, ``params`` as JSON)."""
        return {
            "images": self.images, "source_index": self.source_index, "labels": self.labels,
            "predictions": self.predictions, "n_attacked": np.int64(self.n_attacked),
            "success_rate": np.float64(self.success_rate), "mean_l2": np.float64(self.mean_l2),
            "mean_linf": np.float64(self.mean_linf), "seconds": np.float64(self.seconds),
            "name": np.array(self.name), "params": np.array(json.dumps(self.params, sort_keys=True)),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], cached: bool = False) -> "AdversarialSet":
        return cls(
            name=str(arrays["name"]), images=arrays["images"].astype(np.float32),
            source_index=arrays["source_index"].astype(np.int64), labels=arrays["labels"].astype(np.int64),
            predictions=arrays["predictions"].astype(np.int64), n_attacked=int(arrays["n_attacked"]),
            success_rate=float(arrays["success_rate"]), mean_l2=float(arrays["mean_l2"]),
            mean_linf=float(arrays["mean_linf"]), params=json.loads(str(arrays["params"])),
            seconds=float(arrays["seconds"]), cached=cached,
        )


def _check_inputs(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    images = np.ascontiguousarray(images, dtype=np.float32)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {images.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if len(images) and (images.min() < 0 or images.max() > 1):
        raise ValueError("images must be in [0, 1]")
    return images, labels


def generate_adversarial(name: str, model: nn.Module, images: np.ndarray, labels: np.ndarray, *,
                         batch_size: int = 100, progress: bool = True, params: dict | None = None,
                         dataset: str | None = None) -> AdversarialSet:
    """Attack the correctly classified ``images`` and keep the successful examples.

    Parameters
    ----------
    name : str
        Attack name, a key of :data:`ATTACKS`.
    model : torch.nn.Module
        Classifier on float (N, C, H, W) images in [0, 1] returning logits; CPU or GPU.
    images : np.ndarray
        float32 (N, C, H, W) in [0, 1].
    labels : np.ndarray
        int64 (N,) true classes.
    batch_size : int
        Inputs attacked at once.
    progress : bool
        Show a tqdm bar over batches.
    params : dict, optional
        Overrides of the defaults from :func:`attack_params`.
    dataset : str, optional
        In-distribution data set name (tells SVHN from CIFAR-10 settings).

    Returns
    -------
    AdversarialSet

    Raises
    ------
    RuntimeError
        When fewer than :data:`MIN_SUCCESS_RATE` of the attacked inputs are fooled
        (or no input is classified correctly).
    """
    from tqdm.auto import tqdm

    images, labels = _check_inputs(images, labels)
    full = attack_params(name, images.shape[1:], dataset, **(params or {}))
    attack = ATTACKS[name](model, **full)
    start = time.perf_counter()
    attacked = np.flatnonzero(predict(model, images) == labels)
    if len(attacked) == 0:
        raise RuntimeError(f"{name}: the model classifies none of the {len(images)} inputs correctly")

    adversarial, predictions = [], []
    batches = range(0, len(attacked), batch_size)
    for begin in tqdm(batches, desc=name, unit="batch", disable=not progress):
        index = attacked[begin:begin + batch_size]
        x = attack(torch.from_numpy(images[index]), torch.from_numpy(labels[index]))
        adversarial.append(x.cpu().numpy().astype(np.float32))
        predictions.append(predict(model, adversarial[-1], batch_size))
    adversarial = np.concatenate(adversarial)
    predictions = np.concatenate(predictions)
    fooled = predictions != labels[attacked]
    seconds = time.perf_counter() - start

    success_rate = float(fooled.mean())
    if success_rate < MIN_SUCCESS_RATE:
        raise RuntimeError(
            f"{name} fooled the model on only {100 * success_rate:.1f} % of {len(attacked)} inputs "
            f"(< {100 * MIN_SUCCESS_RATE:.0f} %) with {full}; the parameters do not suit this model")
    source = attacked[fooled]
    delta = (adversarial[fooled] - images[source]).reshape(int(fooled.sum()), -1)
    return AdversarialSet(
        name=name, images=adversarial[fooled], source_index=source.astype(np.int64),
        labels=labels[source], predictions=predictions[fooled], n_attacked=len(attacked),
        success_rate=success_rate, mean_l2=float(np.linalg.norm(delta, axis=1).mean()),
        mean_linf=float(np.abs(delta).max(axis=1).mean()), params=full, seconds=seconds)


def adversarial_key(name: str, model_hash: str, images: np.ndarray, labels: np.ndarray,
                    params: dict, batch_size: int) -> dict:
    """Cache key: everything that determines an adversarial set."""
    # batch_size is part of the key: CW's early stop looks at the summed loss of a batch.
    return {"kind": "adversarial", "version": 1, "attack": name, "params": params, "model": model_hash,
            "images": hash_array(images), "labels": hash_array(labels), "batch_size": batch_size}


def cached_adversarial(name: str, model: nn.Module, model_hash: str, images: np.ndarray,
                       labels: np.ndarray, *, batch_size: int = 100, progress: bool = True,
                       params: dict | None = None, dataset: str | None = None) -> AdversarialSet:
    """:func:`generate_adversarial`, cached under ``cache/adversarial/``.

    Parameters
    ----------
    model_hash : str
        The model's fingerprint (:attr:`ClassifierInfo.fingerprint`; any string that changes when the
        weights or the model's code do).
    Others
        As for :func:`generate_adversarial`.

    Returns
    -------
    AdversarialSet
        ``cached`` tells whether it was loaded from disk; ``seconds`` is the
        original generation time.
    """
    images, labels = _check_inputs(images, labels)
    full = attack_params(name, images.shape[1:], dataset, **(params or {}))
    key = adversarial_key(name, model_hash, images, labels, full, batch_size)
    computed = []

    def compute() -> dict[str, np.ndarray]:
        result = generate_adversarial(name, model, images, labels, batch_size=batch_size,
                                      progress=progress, params=full, dataset=dataset)
        computed.append(result)
        return result.to_arrays()

    arrays = cached_arrays("adversarial", key, compute, code=__name__)
    return computed[0] if computed else AdversarialSet.from_arrays(arrays, cached=True)
