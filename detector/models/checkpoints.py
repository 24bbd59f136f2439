"""Checkpoints on disk: a module's weights saved atomically, and loaded safely (``weights_only=True``, the
zip members' CRCs checked, the keys and shapes compared with the module); a checkpoint made here (a
built-in model, an Outlier-Exposure fine-tune) keeps its SHA-256 beside it, and a damaged one is trained again."""

from __future__ import annotations

import hashlib
import logging
import zipfile
from pathlib import Path

import torch
import torch.nn as nn

from .. import cache
from ..errors import ModelError
from ..inputs.images import require_file

log = logging.getLogger(__name__)


def save_checkpoint(module: nn.Module, path: Path) -> None:
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    cache.atomic_write(Path(path), lambda tmp: torch.save(state, tmp))


def _check_zip_crc(path: Path) -> None:
    """torch.load does not check the CRCs of its zip members: 400 flipped bytes in a LeNet's
    fc1 gave 40 % test accuracy without a word. Check them first (a legacy non-zip file has none)."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except Exception as error:  # a damaged zip directory
        raise ModelError(f"weights file {path} is damaged: {error}") from None
    if bad is not None:
        raise ModelError(f"weights file {path} is damaged: member {bad} fails its CRC check (copy or save it again)")


def _names(keys, limit: int = 10) -> str:
    keys = sorted(map(str, keys))
    return ", ".join(keys[:limit]) + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _state_dict_mismatch(module: nn.Module, state: dict) -> str | None:
    """What keeps ``state`` from fitting ``module``, keys listed; None when it fits."""
    own = module.state_dict()
    problems = []
    if missing := own.keys() - state.keys():
        problems.append(f"missing keys: {_names(missing)}")
    if unexpected := state.keys() - own.keys():
        problems.append(f"unexpected keys: {_names(unexpected)}")
    shapes = [f"{key} {tuple(state[key].shape)} in the file, {tuple(own[key].shape)} in the model"
              for key in sorted(own.keys() & state.keys()) if state[key].shape != own[key].shape]
    if shapes:
        problems.append("other shapes: " + "; ".join(shapes[:10]) + (f" and {len(shapes) - 10} more" if len(shapes) > 10 else ""))
    return "; ".join(problems) or None


def load_checkpoint(module: nn.Module, path: str | Path) -> nn.Module:
    """Load weights safely (``weights_only=True``, zip CRCs checked); a bad file raises ModelError."""
    path = require_file(path, "weights file", ModelError)
    _check_zip_crc(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a text file gave "KeyError: 101"
        first = str(error).splitlines()[0][:200] if str(error) else ""
        raise ModelError(f"cannot load weights from {path}: not a state_dict saved with torch.save "
                         f"({type(error).__name__}: {first})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise ModelError(f"cannot load weights from {path}: it holds a {type(state).__name__}, not a state_dict of tensors")
    if problem := _state_dict_mismatch(module, state):
        raise ModelError(f"cannot load weights from {path}: they do not fit the model ({problem})")
    module.load_state_dict(state)
    return module


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save_cached_checkpoint(module: nn.Module, path: Path) -> None:
    """A checkpoint made here (built-in, Outlier Exposure) with its SHA-256 beside it."""
    save_checkpoint(module, path)
    cache.atomic_write(_digest_path(path), lambda tmp: Path(tmp).write_text(digest(path) + "\n"))


def cached_checkpoint_intact(path: Path) -> bool:
    """Whether a checkpoint saved by :func:`save_cached_checkpoint` still has its SHA-256.

    A checkpoint cached before digests were kept is adopted when its zip CRCs pass.
    """
    digest_path = _digest_path(path)
    if digest_path.exists():
        return digest_path.read_text().strip() == digest(path)
    try:
        _check_zip_crc(path)
    except ModelError:
        return False
    cache.atomic_write(digest_path, lambda tmp: Path(tmp).write_text(digest(path) + "\n"))
    return True


def load_cached_checkpoint(module: nn.Module, path: Path) -> nn.Module | None:
    """The module with the weights cached at ``path``, or None (logged, files removed) when
    they are missing, corrupted or do not load: the caller then trains again."""
    if not path.exists():
        return None
    try:
        if not cached_checkpoint_intact(path):
            raise ModelError(f"cached checkpoint {path} does not match its SHA-256 (damaged on disk)")
        return load_checkpoint(module, path)
    except ModelError as error:
        log.warning("%s; retraining", error)
        path.unlink(missing_ok=True)
        _digest_path(path).unlink(missing_ok=True)
        return None
