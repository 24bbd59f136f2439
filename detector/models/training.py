"""Training a classifier: Adam, cross-entropy, a cosine or one-cycle schedule, optional
augmentation and Outlier Exposure; seeded, with a progress bar. Used for the built-in models
(:mod:`detector.models.classifiers`), Outlier Exposure (:mod:`detector.evaluation.oe`) and G-ODIN's head."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..runtime import default_device

AUGMENTATIONS = ("affine", "flip", "none")


def _augment(x: torch.Tensor, generator: torch.Generator, kind: str) -> torch.Tensor:
    """``affine``: random shifts (+-2 px) and rotations (+-10 deg), which the small MNIST set needs
    for >= 97 %; ``flip``: random horizontal flips (clothes are left-right symmetric; shifts and
    rotations only slow a short training down); ``none``."""
    if kind == "none":
        return x
    if kind == "flip":
        flip = torch.rand(x.shape[0], generator=generator) < 0.5
        return torch.where(flip.view(-1, 1, 1, 1).to(x.device), x.flip(-1), x)
    n = x.shape[0]
    angle = (torch.rand(n, generator=generator) - 0.5) * (20 * np.pi / 180)
    shift = (torch.rand(n, 2, generator=generator) - 0.5) * (4 / x.shape[-1]) * 2
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def train_classifier(
    module: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    schedule: str = "cosine",
    augment: bool | str = True,
    seed: int = 0,
    progress: bool = True,
    desc: str = "training",
    outliers: np.ndarray | None = None,
    outlier_weight: float = 0.5,
    device: torch.device | str | None = None,
    on_step=None,
) -> nn.Module:
    """Train with Adam and cross-entropy, seeded, with a progress bar (images, rate, ETA).

    ``schedule``: ``cosine`` anneals ``lr`` once per epoch; ``one-cycle`` warms up to ``lr`` and
    anneals it step by step (fast convergence in few epochs). ``augment``: one of
    :data:`AUGMENTATIONS` (``True`` is ``affine``, ``False`` is ``none``). ``on_step(done, total)``
    is called after every step with the images seen so far (the dashboard's progress bar).

    With ``outliers`` (Outlier Exposure, see :mod:`detector.evaluation.oe`) every batch also holds as
    many outliers, and ``outlier_weight`` times the cross-entropy from their softmax to the
    uniform distribution is added to the loss.

    ``device``: where to train (default: :func:`~detector.runtime.default_device`). The same
    seed gives other weights on a GPU than on a CPU (other kernels, other rounding).
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    dev = torch.device(device) if device is not None else default_device()
    module = module.to(dev).train()
    for parameter in module.parameters():  # a loaded model may come frozen
        parameter.requires_grad_(True)
    augment = {True: "affine", False: "none"}.get(augment, augment)
    if augment not in AUGMENTATIONS or schedule not in ("cosine", "one-cycle"):
        raise ValueError(f"augment must be one of {AUGMENTATIONS} and schedule cosine or one-cycle, "
                         f"got {augment!r}, {schedule!r}")
    optimiser = torch.optim.Adam(module.parameters(), lr=lr)
    steps_per_epoch = -(-len(images) // batch_size)
    if schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
    else:
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=epochs * steps_per_epoch)
    x_all = torch.from_numpy(images)
    y_all = torch.from_numpy(labels)
    x_out = None if outliers is None else torch.from_numpy(outliers)
    total_images, seen = epochs * len(x_all), 0
    bar = tqdm(total=total_images, desc=desc, disable=not progress, unit="img", unit_scale=True)
    for _ in range(epochs):
        order = torch.randperm(len(x_all), generator=generator)
        out_order = None if x_out is None else torch.randperm(len(x_out), generator=generator)
        total = 0.0
        for step, start in enumerate(range(0, len(order), batch_size)):
            batch = order[start: start + batch_size]
            x, y = x_all[batch].to(dev), y_all[batch].to(dev)
            x = _augment(x, generator, augment)
            if x_out is None:
                loss = F.cross_entropy(module(x), y)
            else:
                out = out_order[(torch.arange(len(batch)) + step * batch_size) % len(x_out)]
                logits = module(torch.cat([x, x_out[out].to(dev)]))
                loss = F.cross_entropy(logits[: len(batch)], y)
                loss = loss + outlier_weight * -F.log_softmax(logits[len(batch):], 1).mean(1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
            if schedule == "one-cycle":
                scheduler.step()
            bar.update(len(batch))
            seen += len(batch)
            if on_step is not None:
                on_step(seen, total_images)
        if schedule == "cosine":
            scheduler.step()
        bar.set_postfix(loss=f"{total / len(order):.4f}")
    bar.close()
    return module.eval()
