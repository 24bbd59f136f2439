"""What a model computes, as one hash: the model part of every cache key derived from it.

The weights alone miss a change of code: a user's file whose ``forward`` changes keeps its class and
its weights, and an edit of a built-in architecture is not in the code versions of the modules that
attack it. The outputs on a fixed, seeded probe batch change with any change of code or weights that
changes what the model computes, whoever's code it is; hashed with the weights, they key the caches.

The probe runs on a private copy of the model in eval mode, without gradients and with a generator of
its own: the model, its mode and torch's global random state are left as they were. It runs in float64
on the CPU, so that the hash does not depend on the device or on the number of threads (the outputs are
rounded far above float64's rounding noise); a model whose code cannot run there (a fixed device or
dtype in its ``forward``) is probed on its own device in its own dtype.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import torch
import torch.nn as nn

from ..runtime import model_device, private_copy

log = logging.getLogger(__name__)

PROBE_SIZE = 4  # inputs in the probe batch
PROBE_SEED = 0
DIGITS = 6  # decimals kept of the outputs divided by their largest magnitude


def probe_outputs(module: nn.Module, input_shape: tuple[int, ...]) -> np.ndarray:
    """The model's outputs (float64) on :data:`PROBE_SIZE` seeded uniform inputs of ``input_shape``."""
    probe = torch.rand(PROBE_SIZE, *input_shape, generator=torch.Generator().manual_seed(PROBE_SEED),
                       dtype=torch.float64)
    copy = private_copy(module).eval()
    state = {name: tensor.detach().to("cpu", torch.float64 if tensor.is_floating_point() else tensor.dtype)
             for name, tensor in (*copy.named_parameters(), *copy.named_buffers())}
    with torch.no_grad():
        try:  # the copy's modules hold CPU float64 tensors only while it runs; the model's own are not touched
            output = torch.func.functional_call(copy, state, (probe,))
        except Exception as error:  # noqa: BLE001 - a user's forward may fail in any way off its device
            log.info("probing %s in float64 on the CPU failed (%s: %s); probing it on its device",
                     type(module).__name__, type(error).__name__, error)
            dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)
            output = copy(probe.to(model_device(module), dtype))
    return torch.as_tensor(output).detach().double().cpu().numpy()


def fingerprint(module: nn.Module, input_shape: tuple[int, ...], weights: str) -> str:
    """Hash of ``weights`` (the state dict's hash) and of the rounded :func:`probe_outputs`."""
    outputs = probe_outputs(module, input_shape)
    finite = np.abs(outputs[np.isfinite(outputs)])
    scale = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    rounded = np.round(outputs / scale, DIGITS) + 0.0  # + 0.0: -0.0 and 0.0 hash alike
    digest = hashlib.sha256(f"{weights}{rounded.shape}".encode())
    digest.update(np.ascontiguousarray(rounded).tobytes())
    return digest.hexdigest()[:20]
