"""Classifiers: the paper's LeNet (weights shipped, or trained here on first use), ResNet/VGG for 32x32 RGB
inputs, and any user model given as ``path/to/file.py:factory``.

Every model takes float images in [0, 1] of shape (N, C, H, W) and returns logits.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from .. import cache
from ..data.loading import is_image_folder, load_dataset
from ..errors import ModelError
from ..inputs.images import require_file
from ..runtime import default_device, model_device
from .architectures import LeNet, SmallResNet
from .checkpoints import (
    cached_checkpoint_intact,
    digest,
    load_cached_checkpoint,
    load_checkpoint,
    save_cached_checkpoint,
)
from .fingerprint import fingerprint
from .training import train_classifier

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- loaded model
@dataclass
class ClassifierInfo:
    """A ready classifier and what the detectors need to know about it."""

    name: str
    module: nn.Module
    input_shape: tuple[int, int, int]
    n_classes: int
    id_dataset: str | None
    weights_hash: str  # the state dict's (:func:`weights_hash`): what the shipped manifest records
    # the weights and what the model computes (:func:`detector.models.fingerprint.fingerprint`): the model in
    # every cache key, so that a change of its code (same class, same weights) is a new key
    fingerprint: str


def weights_hash(module: nn.Module) -> str:
    """Hash of the architecture and every parameter/buffer: keys the caches."""
    digest = hashlib.sha256(type(module).__qualname__.encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:20]


def _infer_io(module: nn.Module, input_shape: tuple[int, int, int]) -> int:
    with torch.no_grad():
        out = module(torch.zeros(2, *input_shape, device=model_device(module)))
    if out.ndim != 2:
        raise ModelError(f"the model must return logits of shape (N, classes); it returned {tuple(out.shape)}")
    return out.shape[1]


def prepare_classifier(name: str, module: nn.Module, input_shape, id_dataset: str | None) -> ClassifierInfo:
    """The module as a classifier to inspect: on the default device, in eval mode, its weights frozen."""
    module = module.to(default_device()).eval()  # eval: BatchNorm uses running stats, Dropout is off
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    input_shape = _check_input_shape(input_shape, name)
    n_classes = _infer_io(module, input_shape)
    if n_classes < 2:  # one output: every input is "predicted" as it, and nothing can be told apart
        raise ModelError(f"{name}: the model returns {n_classes} logit(s) per input; a classifier needs at least 2 classes")
    weights = weights_hash(module)
    return ClassifierInfo(name, module, input_shape, n_classes, id_dataset, weights,
                          fingerprint(module, input_shape, weights))


def _check_input_shape(shape, name: str) -> tuple[int, int, int]:
    """(C, H, W) as three positive whole numbers; ModelError saying what was found instead."""
    from numbers import Integral

    from ..inputs.uploads import MAX_SIDE

    try:
        values = tuple(shape)
        ok = len(values) == 3 and all(isinstance(v, Integral) and not isinstance(v, bool) and v > 0 for v in values)
    except TypeError:  # not a sequence
        ok = False
    if not ok:
        raise ModelError(f"{name}: input_shape must be three positive whole numbers (channels, height, width), "
                         f"got {shape!r}")
    if max(values[1:]) > MAX_SIDE:
        raise ModelError(f"{name}: input_shape {values} has a side over {MAX_SIDE}, the largest picture read")
    return tuple(int(v) for v in values)




# --------------------------------------------------------------------------- built-in models
@dataclass(frozen=True)
class Recipe:
    """A built-in model: its network, its ID dataset and how it is trained on first use
    (see :func:`train_classifier` for ``schedule`` and ``augment``)."""

    architecture: type
    dataset: str
    input_shape: tuple[int, int, int]
    epochs: int
    batch_size: int = 64
    lr: float = 1e-3
    schedule: str = "cosine"
    augment: str = "affine"
    fit_limit: int | None = None  # detectors fit on a seeded subset of this many training images (None: all)


BUILTIN = {
    # LeNet-MNIST keeps the recipe the committed reports were made with: 3,500 images need many epochs
    "lenet-mnist": Recipe(LeNet, "mnist", (1, 28, 28), epochs=30),
    # Fashion-MNIST: the SVDDs keep at most 2,000 inputs a class, so features of 20,000 of the 55,000
    # training images serve them as well and cost a third of the time
    "lenet-fashion-mnist": Recipe(LeNet, "fashion-mnist", (1, 28, 28), epochs=3, batch_size=128, lr=3e-3,
                                  schedule="one-cycle", augment="none", fit_limit=20000),
    "resnet-fashion-mnist": Recipe(SmallResNet, "fashion-mnist", (1, 28, 28), epochs=4, batch_size=128, lr=5e-3,
                                   schedule="one-cycle", augment="none", fit_limit=20000),
}


def builtin_checkpoint_path(name: str) -> Path:
    """Where the built-in model ``name`` is cached once trained (its SHA-256 lies beside it)."""
    recipe = BUILTIN[name]
    key = {"model": name, "arch": recipe.architecture.__name__, "epochs": recipe.epochs, "augment": True, "seed": 0,
           "torch": torch.__version__.split("+")[0]}
    if (recipe.batch_size, recipe.lr, recipe.schedule, recipe.augment) != (64, 1e-3, "cosine", "affine"):
        # the first recipes had only epochs in the key; theirs keep their cached checkpoints
        key.update(batch_size=recipe.batch_size, lr=recipe.lr, schedule=recipe.schedule, augment=recipe.augment)
    return cache.entry_path("models", key, code=__name__, suffix=".pt")


# trained once with each recipe (`python -m detector train NAME --ship`), loaded instead of training
SHIPPED_DIR = Path(__file__).resolve().parent / "weights"
SHIPPED_MANIFEST = SHIPPED_DIR / "manifest.json"


def shipped_manifest() -> dict:
    """What ships with the project for each built-in: its file, SHA-256, weights hash and recipe."""
    return json.loads(SHIPPED_MANIFEST.read_text()) if SHIPPED_MANIFEST.exists() else {}


def _short(value: str) -> str:
    return value[:16] + "…"


@functools.lru_cache(maxsize=None)
def _problem(name: str, path: Path, size: int, mtime_ns: int, sha256: str, expected: str | None) -> str | None:
    """What is wrong with this version of a shipped file (hashed and loaded once per version and process)."""
    found = digest(path)
    if found != sha256:
        return (f"{path.name} does not match its SHA-256 in {SHIPPED_MANIFEST.name} (expected {_short(sha256)}, "
                f"found {_short(found)})")
    recipe = BUILTIN.get(name)
    if recipe is None or not expected:
        return None
    module = recipe.architecture(in_channels=recipe.input_shape[0])
    try:
        load_checkpoint(module, path)
    except ModelError as error:
        return str(error)
    if (loaded := weights_hash(module)) != expected:
        return (f"the weights in {path.name} are not the ones {SHIPPED_MANIFEST.name} records (weights hash: "
                f"expected {expected}, found {loaded})")
    return None


def shipped_problem(name: str) -> str | None:
    """Why the shipped weights of the built-in ``name`` cannot be used (the file is missing, or damaged: its
    SHA-256 or, once loaded, its weights hash differs from the manifest's, both named), or None when they
    are intact or none ship."""
    entry = shipped_manifest().get(name)
    if entry is None:
        return None
    path = SHIPPED_DIR / entry["file"]
    if not path.is_file():
        return f"{path.name} is missing from {SHIPPED_DIR}"
    stat = path.stat()
    return _problem(name, path, stat.st_size, stat.st_mtime_ns, entry["sha256"], entry.get("weights_hash"))


_logged: set[tuple[str, str]] = set()


def shipped_weights(name: str) -> Path | None:
    """The shipped weights of the built-in ``name`` when present and intact (:func:`shipped_problem`), else
    None: a damaged or missing file is logged, and the model is then trained on first use."""
    entry = shipped_manifest().get(name)
    if entry is None:
        return None
    if (problem := shipped_problem(name)) is not None:
        if (name, problem) not in _logged:  # once, not on every page run that asks
            _logged.add((name, problem))
            log.warning("shipped weights of %s cannot be used: %s; training %s instead", name, problem, name)
        return None
    return SHIPPED_DIR / entry["file"]


def builtin_is_trained(name: str) -> bool:
    """Whether the built-in ``name`` is ready without training: shipped, or trained and cached."""
    if shipped_weights(name) is not None:
        return True
    path = builtin_checkpoint_path(name)
    return path.exists() and cached_checkpoint_intact(path)


def train_builtin(name: str, progress: bool = True, on_step=None) -> nn.Module:
    """The network of the built-in ``name`` trained from its recipe (seeded); nothing is saved."""
    recipe = BUILTIN[name]
    torch.manual_seed(0)
    module = recipe.architecture(in_channels=recipe.input_shape[0])
    train = load_dataset(recipe.dataset, "train")
    return train_classifier(module, train.images, train.labels, epochs=recipe.epochs, batch_size=recipe.batch_size,
                            lr=recipe.lr, schedule=recipe.schedule, augment=recipe.augment, progress=progress,
                            desc=f"training {name}", on_step=on_step)


def load_builtin(name: str, progress: bool = True, on_step=None) -> ClassifierInfo:
    """A built-in model: its shipped weights, else (missing or damaged) trained on its ID training split
    on first use and cached. ``on_step(done, total)``: training progress in images (see :func:`train_classifier`)."""
    if name not in BUILTIN:
        raise ModelError(f"unknown model {name!r}; built-in models: {', '.join(BUILTIN)} (or give path/to/file.py:factory)")
    recipe = BUILTIN[name]
    module = recipe.architecture(in_channels=recipe.input_shape[0])
    if (shipped := shipped_weights(name)) is not None:
        load_checkpoint(module, shipped)
    else:
        path = builtin_checkpoint_path(name)
        if load_cached_checkpoint(module, path) is None:
            module = train_builtin(name, progress, on_step)
            save_cached_checkpoint(module, path)
    return prepare_classifier(name, module, recipe.input_shape, recipe.dataset)


def load_user_model(spec: str, weights: str | None = None, id_dataset: str | None = None) -> ClassifierInfo:
    """``path/to/file.py:factory`` -> the module returned by ``factory()``, weights optional."""
    if ":" not in spec:
        raise ModelError(f"a user model is given as path/to/file.py:factory, got {spec!r}")
    file, factory_name = spec.rsplit(":", 1)
    path = require_file(file, "model file", ModelError)
    if path.suffix != ".py":
        raise ModelError(f"a user model is a Python file (.py), got {path}")
    module_spec = importlib.util.spec_from_file_location(f"user_model_{path.stem}", path)
    user_module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(user_module)
    except Exception as error:
        raise ModelError(f"{path} failed to import: {error}") from error
    factory = getattr(user_module, factory_name, None)
    if factory is None:
        raise ModelError(f"{path} has no function {factory_name!r}")
    try:
        module = factory()
    except Exception as error:  # the user's code may raise anything
        raise ModelError(f"{spec}() failed: {type(error).__name__}: {error}") from None
    if not isinstance(module, nn.Module):
        raise ModelError(f"{spec}() must return a torch.nn.Module, got {type(module).__name__}")
    if weights:
        load_checkpoint(module, weights)
    shape = getattr(module, "input_shape", None) or _input_shape_of(id_dataset)
    return prepare_classifier(spec, module, shape, id_dataset)


def _input_shape_of(dataset: str | None) -> tuple[int, int, int]:
    if dataset is None:
        raise ModelError("a user model needs --id-dataset (or an `input_shape` attribute on the module)")
    if is_image_folder(dataset):  # a folder: its first picture's shape (reading the whole split would cost more)
        from ..data.id_folders import folder_input_shape

        return folder_input_shape(dataset)
    sample = load_dataset(dataset, "val").images
    return tuple(sample.shape[1:])


def load_model(spec: str, weights: str | None = None, id_dataset: str | None = None, progress: bool = True) -> ClassifierInfo:
    """A built-in model name or ``file.py:factory``."""
    if spec in BUILTIN:
        if weights:
            raise ModelError("--weights applies to user models only; built-in models are trained here")
        info = load_builtin(spec, progress=progress)
        if id_dataset and id_dataset != info.id_dataset:
            raise ModelError(f"{spec} was trained on {info.id_dataset}, not {id_dataset}")
        return info
    if spec.endswith(".py") or ".py:" in spec:
        return load_user_model(spec, weights, id_dataset)
    raise ModelError(f"unknown model {spec!r}; built-in models: {', '.join(BUILTIN)} (or give path/to/file.py:factory)")
