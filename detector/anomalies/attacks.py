"""Adversarial example generators (the paper's AD anomaly sets, Sec. 4.1).

Five attacks, each one small class behind one interface of ours
(:class:`Attack`: ``attack(images, labels) -> adversarial images``); each class names its paper:

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

Default parameters live in :mod:`~detector.anomalies.attack_params`; the protocol that makes an
anomaly set of an attack (correctly classified inputs only, successful examples kept, cached) in
:mod:`~detector.anomalies.adversarial`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torchattacks

from ..runtime import model_device, private_copy


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """The model's classes for float32 (N, C, H, W) images, in eval mode (a model in training mode
    runs as a private copy: its own mode, seen by other callers, is left alone)."""
    if any(m.training for m in model.modules()):
        model = private_copy(model).eval()
    device = model_device(model)
    out = [model(torch.from_numpy(images[i:i + batch_size]).to(device)
                 .contiguous(memory_format=torch.channels_last)).argmax(1).cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out).numpy().astype(np.int64) if out else np.zeros(0, np.int64)


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
        # a private copy in eval mode (weights shared): the libraries switch the model's mode
        # (torchattacks' eval()/train(), ART's), which must not reach other callers of ``model``
        self.model = private_copy(model).eval()
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
        adversarial = self.run(images, labels)  # self.model's weights are frozen views: gradients reach the input only
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
