"""Adversarial example generators (the paper's AD anomaly sets, Sec. 4.1).

Five attacks, each one small class behind one interface of ours
(:class:`Attack`: ``attack(images, labels) -> adversarial images``):

========  ==================================================================  ===============
name      attack                                                              library
========  ==================================================================  ===============
fgsm      Fast Gradient Sign Method (Goodfellow et al., 2015)                 torchattacks
bim-a     Basic Iterative Method, stopped per input at its first success      torchattacks
          (Kurakin et al., 2017; "BIM-a" of Ma et al., 2018)                  (one step each)
bim-b     Basic Iterative Method, all iterations ("BIM-b" of Ma et al.)       torchattacks
jsma      Jacobian-based Saliency Map Attack (Papernot et al., 2016)          ART
cw        Carlini & Wagner L2 attack (Carlini and Wagner, 2017)               torchattacks
========  ==================================================================  ===============

torchattacks 3.3.0 is used for the gradient attacks because it is torch-native (its
CW is >10x faster than ART's on a CPU); it has no JSMA (the releases that do pin an
old ``requests`` that cannot live beside streamlit), so JSMA comes from the
Adversarial Robustness Toolbox.

Default parameters live in :data:`ATTACK_PARAMS` and follow the public code of
Ma et al. (LID, ICLR 2018), which the paper follows. Their images span
[-0.5, 0.5], so their epsilons carry over unchanged to our [0, 1] images.

:func:`generate_adversarial` runs the usual protocol (attack only correctly
classified inputs, keep only successful examples, report success rate and mean
perturbation); :func:`cached_adversarial` stores the result in the project cache
keyed by model weights, attack, parameters and input data.

References
----------
Goodfellow, Shlens, Szegedy. Explaining and harnessing adversarial examples. ICLR 2015.
Kurakin, Goodfellow, Bengio. Adversarial examples in the physical world. ICLR workshop 2017.
Papernot et al. The limitations of deep learning in adversarial settings. EuroS&P 2016.
Carlini, Wagner. Towards evaluating the robustness of neural networks. IEEE S&P 2017.
Ma et al. Characterizing adversarial subspaces using local intrinsic dimensionality. ICLR 2018.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torchattacks

from ..cache import cached_arrays, hash_array
from ..runtime import model_device

# --------------------------------------------------------------------------- defaults
# Every default attack setting, in one place. Keys: input family (see attack_params).
# FGSM/BIM/JSMA values are Ma et al.'s; CW's and JSMA's ``tries`` are ours (see the classes).
_CW = {"c": 5.0, "kappa": 0.0, "steps": 100, "lr": 0.1}
def _family(eps: float, alpha: float) -> dict[str, dict]:
    """One input family's settings: FGSM/BIM budgets differ, JSMA and CW do not."""
    return {
        "fgsm": {"eps": eps},
        "bim-a": {"eps": eps, "alpha": alpha, "steps": 50},
        "bim-b": {"eps": eps, "alpha": alpha, "steps": 50},
        "jsma": {"theta": 1.0, "gamma": 0.1, "tries": 3, "seed": 0},
        "cw": dict(_CW),
    }


ATTACK_PARAMS: dict[str, dict[str, dict]] = {
    "28": _family(eps=0.40, alpha=0.01),  # 28x28 grey-scale (MNIST-like): Ma et al.'s MNIST settings
    "32-cifar": _family(eps=0.05, alpha=0.005),  # 32x32 colour, Ma et al.'s CIFAR-10 settings
    "32-svhn": _family(eps=0.13, alpha=0.01),  # 32x32 colour, Ma et al.'s SVHN settings
}

#: An attack must fool the model on at least this fraction of the inputs it attacks.
MIN_SUCCESS_RATE = 0.5


def params_family(input_shape: tuple[int, ...], dataset: str | None = None) -> str:
    """The :data:`ATTACK_PARAMS` key for a model input shape.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, H, W)`` (or ``(N, C, H, W)``) of the model input.
    dataset : str, optional
        Name of the in-distribution data set; only used to tell SVHN from CIFAR-10
        for 32x32 inputs (CIFAR-10 is the default).
    """
    size = int(input_shape[-1])
    if size <= 28:
        return "28"
    if dataset is not None and "svhn" in dataset.lower():
        return "32-svhn"
    return "32-cifar"


def attack_params(name: str, input_shape: tuple[int, ...], dataset: str | None = None,
                  **overrides) -> dict:
    """The parameters used for attack ``name`` on inputs of ``input_shape``.

    Parameters
    ----------
    name : str
        One of :data:`ATTACKS` (``fgsm``, ``bim-a``, ``bim-b``, ``jsma``, ``cw``).
    input_shape : tuple of int
        ``(C, H, W)`` of the model input; 28x28 -> MNIST settings, 32x32 -> CIFAR-10
        (or SVHN when ``dataset`` names it).
    dataset : str, optional
        In-distribution data set name, see :func:`params_family`.
    **overrides
        Values replacing the defaults (e.g. ``eps=0.3``); unknown names are an error.

    Returns
    -------
    dict
        A fresh copy, safe to modify.
    """
    if name not in ATTACKS:
        raise KeyError(f"unknown attack {name!r}; choose from {sorted(ATTACKS)}")
    params = copy.deepcopy(ATTACK_PARAMS[params_family(input_shape, dataset)][name])
    unknown = set(overrides) - set(params)
    if unknown:
        raise KeyError(f"attack {name!r} has no parameter(s) {sorted(unknown)}; it takes {sorted(params)}")
    params.update(overrides)
    return params


# --------------------------------------------------------------------------- interface
class Attack:
    """One adversarial attack: ``attack(images, labels) -> adversarial images``.

    The base class owns the chores every attack shares: the model runs in eval mode
    (dropout off, batch-norm frozen) and its parameters stop requiring gradients
    during the attack (only input gradients are needed; this also keeps the
    model's ``.grad`` untouched), inputs go to the model's device, and the output is
    clamped to the valid image range [0, 1]. Subclasses implement :meth:`run`.

    Parameters
    ----------
    model : torch.nn.Module
        Classifier taking float images in [0, 1] of shape (N, C, H, W), returning logits.
    **params
        The attack's parameters (see :func:`attack_params`).
    """

    name = "attack"

    def __init__(self, model: nn.Module, **params) -> None:
        self.model = model
        self.params = dict(params)

    @property
    def device(self) -> torch.device:
        return model_device(self.model)

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Adversarial versions of ``images`` (same shape, on the model's device).

        Parameters
        ----------
        images : torch.Tensor
            Float images (N, C, H, W) in [0, 1].
        labels : torch.LongTensor
            True classes (N,).
        """
        images = images.detach().to(self.device, torch.float32)
        # channels_last takes PyTorch's faster CPU convolution path (~1.5x for LeNet);
        # torchattacks' clones keep the layout.
        images = images.contiguous(memory_format=torch.channels_last)
        labels = labels.detach().to(self.device, torch.long)
        was_training = self.model.training
        grad_flags = [p.requires_grad for p in self.model.parameters()]
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        try:
            adversarial = self.run(images, labels)
        finally:
            for p, flag in zip(self.model.parameters(), grad_flags):
                p.requires_grad_(flag)
            self.model.train(was_training)
        adversarial = adversarial.detach().to(self.device, torch.float32).clamp(0.0, 1.0)
        return adversarial.contiguous(memory_format=torch.contiguous_format)

    def run(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images).argmax(dim=1)


class FGSM(Attack):
    """Fast Gradient Sign Method (Goodfellow et al., ICLR 2015), via torchattacks.

    One step ``x + eps * sign(grad_x loss)``, clipped to [0, 1].

    Parameters
    ----------
    eps : float
        L-inf budget.
    """

    name = "fgsm"

    def run(self, images, labels):
        return torchattacks.FGSM(self.model, eps=self.params["eps"])(images, labels)


class BIMb(Attack):
    """Basic Iterative Method (Kurakin et al., 2017) run for all iterations, via torchattacks.

    "BIM-b" of Ma et al. (2018): the final iterate, typically well beyond the
    decision boundary.

    Parameters
    ----------
    eps : float
        L-inf budget around the clean image.
    alpha : float
        Step size.
    steps : int
        Number of iterations.
    """

    name = "bim-b"

    def run(self, images, labels):
        p = self.params
        return torchattacks.BIM(self.model, eps=p["eps"], alpha=p["alpha"], steps=p["steps"])(images, labels)


class BIMa(Attack):
    """Basic Iterative Method stopped per input at its first success ("BIM-a" of Ma et al.).

    Kurakin et al. (2017) iteration; each input is kept at the first iterate the
    model misclassifies (just past the decision boundary). Inputs never fooled
    keep the last iterate. torchattacks' BIM only runs a fixed number of steps for
    the whole batch, so we drive it one step at a time (``steps=1`` from the current
    iterate) and project back into the eps-ball around the *clean* image ourselves,
    which is exactly the BIM update; fooled inputs leave the active batch, which
    also saves work.

    Parameters
    ----------
    eps, alpha, steps
        As for :class:`BIMb`.
    """

    name = "bim-a"

    def run(self, images, labels):
        p = self.params
        step = torchattacks.BIM(self.model, eps=p["alpha"], alpha=p["alpha"], steps=1)
        low = (images - p["eps"]).clamp(min=0.0)
        high = (images + p["eps"]).clamp(max=1.0)
        result = images.clone()
        active = torch.arange(len(images), device=images.device)
        current = images.clone()
        for _ in range(p["steps"]):
            if len(active) == 0:
                break
            x = step(current[active], labels[active])
            x = torch.max(torch.min(x, high[active]), low[active])
            current[active] = x
            fooled = self.predict(x) != labels[active]
            result[active[fooled]] = x[fooled]  # first success: snapshot and stop
            active = active[~fooled]
        result[active] = current[active]  # never fooled: last iterate
        return result


class _DeviceSafeCW(torchattacks.CW):
    # torchattacks 3.3.0 builds the one-hot labels with a CPU ``torch.eye`` indexed by
    # labels on the model's device, which fails on a GPU; build it on the device.
    def f(self, outputs, labels):
        one_hot = nn.functional.one_hot(labels, outputs.shape[1]).to(outputs.dtype)
        other = torch.max((1 - one_hot) * outputs - one_hot * 1e4, dim=1)[0]
        real = torch.sum(one_hot * outputs, dim=1)
        if self.targeted:
            return torch.clamp(other - real, min=-self.kappa)
        return torch.clamp(real - other, min=-self.kappa)


class CW(Attack):
    """Carlini & Wagner L2 attack (IEEE S&P 2017), via torchattacks.

    Minimises ``||x' - x||_2^2 + c * max(Z_y - max_{i != y} Z_i, -kappa)`` over
    ``x' = (tanh(w) + 1) / 2`` with Adam, keeping the smallest successful
    perturbation per input. Without the paper's binary search over ``c`` (too slow
    on a CPU): a fixed, fairly large ``c`` and learning rate instead. On lenet-mnist
    c=5, lr=0.1, 100 steps fool 95.5 % of the test inputs (mean L2 2.3) in ~50
    CPU-seconds per 1,000 images; c=1 fools only ~55 %, c=10 ~98 % with larger
    perturbations. Ma et al.'s 32x32 models were not tuned here.

    Parameters
    ----------
    c : float
        Weight of the misclassification term.
    kappa : float
        Confidence margin.
    steps : int
        Adam iterations.
    lr : float
        Adam learning rate.
    """

    name = "cw"

    def run(self, images, labels):
        p = self.params
        return _DeviceSafeCW(self.model, c=p["c"], kappa=p["kappa"], steps=p["steps"], lr=p["lr"])(images, labels)


class JSMA(Attack):
    """Jacobian-based Saliency Map Attack (Papernot et al., EuroS&P 2016), via ART.

    Targeted: each input gets a random target class other than its own (seeded,
    as in Ma et al.'s code); pairs of salient pixels are raised by ``theta`` until
    the target is reached or a fraction ``gamma`` of the pixels has changed.
    ART ranks pixels by the target-class gradient alone (not the full pair saliency
    of the paper), which is weaker: on lenet-mnist one random target fools only
    ~80 % of the inputs. So an input that resists is attacked again, from its clean
    image, with another random target, up to ``tries`` targets in all; every
    example is still a plain JSMA example with theta and gamma unchanged.

    Parameters
    ----------
    theta : float
        Change per selected pixel (1 = to full intensity).
    gamma : float
        Largest fraction of pixels changed.
    tries : int
        Random targets tried per input, each from the clean image.
    seed : int
        Seed of the random target classes.
    """

    name = "jsma"

    def run(self, images, labels):
        from art.attacks.evasion import SaliencyMapMethod
        from art.estimators.classification import PyTorchClassifier

        p = self.params
        with torch.no_grad():
            n_classes = int(self.model(images[:1]).shape[1])
        classifier = PyTorchClassifier(
            model=self.model,
            loss=nn.CrossEntropyLoss(),
            input_shape=tuple(images.shape[1:]),
            nb_classes=n_classes,
            clip_values=(0.0, 1.0),
            device_type="gpu" if self.device.type == "cuda" else "cpu",
        )
        attack = SaliencyMapMethod(classifier, theta=p["theta"], gamma=p["gamma"],
                                   batch_size=max(1, len(images)), verbose=False)
        # A fresh seeded generator per call: the same batch always gets the same targets.
        # Row i: a random order of the classes other than labels[i], tried in turn.
        rng = np.random.default_rng(p["seed"])
        y = labels.cpu().numpy()
        offsets = np.argsort(rng.random((len(y), n_classes - 1)), axis=1) + 1
        order = (y[:, None] + offsets) % n_classes
        clean = np.ascontiguousarray(images.cpu().numpy())
        adversarial = clean.copy()
        todo = np.arange(len(y))
        for attempt in range(min(p["tries"], n_classes - 1)):
            if len(todo) == 0:
                break
            adversarial[todo] = attack.generate(clean[todo], y=order[todo, attempt])
            todo = todo[predict(self.model, adversarial[todo]) == y[todo]]
        return torch.from_numpy(adversarial).to(self.device)


ATTACKS: dict[str, type[Attack]] = {"fgsm": FGSM, "bim-a": BIMa, "bim-b": BIMb, "jsma": JSMA, "cw": CW}


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


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """The model's classes for float32 (N, C, H, W) images, in eval mode."""
    was_training = model.training
    model.eval()
    device = model_device(model)
    try:
        out = [model(torch.from_numpy(images[i:i + batch_size]).to(device)
                     .contiguous(memory_format=torch.channels_last)).argmax(1).cpu()
               for i in range(0, len(images), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out).numpy().astype(np.int64) if out else np.zeros(0, np.int64)


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
        Hash of the model weights (any string that changes when the weights do).
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
