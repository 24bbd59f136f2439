"""Where tensors run, how inputs are batched, and how sets are subsampled: one home each."""

from __future__ import annotations

import copy
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

BATCH_SIZE = 500


def default_device() -> torch.device:
    """Where new models go: the GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def model_device(module: nn.Module) -> torch.device:
    """The device of the module's first parameter (the CPU for a module without parameters).

    Inputs are moved there, never assumed to be on the CPU: the same code runs on a GPU.
    """
    try:
        return next(module.parameters()).device
    except StopIteration:
        return torch.device("cpu")


@contextmanager
def forward_hooks(modules: dict[str, nn.Module], record: Callable[[str, nn.Module, object], None],
                  pre: bool = False) -> Iterator[None]:
    """While open, ``record(name, module, value)`` sees each named module's output (its first input
    when ``pre``) in the forward passes of the calling thread only.

    One model serves every dashboard session, and a hook on a shared module fires in every thread's
    forward pass: unfiltered, two sessions extracting at once recorded each other's batches (7,000 of
    12,000 cached rows wrong, or a broadcast error with other batch sizes). The filter keeps
    the sessions' forward passes running side by side, where a lock around hook-forward-unhook would
    queue them all behind the slowest extraction.
    """
    owner = threading.get_ident()

    def hook(name: str):
        if pre:
            def on_input(module, inputs):
                if threading.get_ident() == owner:  # a module called with keyword arguments only has no inputs[0]
                    record(name, module, inputs[0] if inputs else None)
            return on_input

        def on_output(module, _inputs, output):
            if threading.get_ident() == owner:
                record(name, module, output)
        return on_output

    with _HOOKS_CHANGING:
        handles = [module.register_forward_pre_hook(hook(name)) if pre else module.register_forward_hook(hook(name))
                   for name, module in modules.items()]
    try:
        yield
    finally:
        with _HOOKS_CHANGING:
            for handle in handles:
                handle.remove()


# held while hooks are added or removed and while a module is copied: a copy iterating a module's
# hook dictionaries while another thread changes them fails ("dictionary changed size during iteration")
_HOOKS_CHANGING = threading.Lock()


def private_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` that shares its parameters and buffers (no memory, no copying of weights) but
    has modules of its own: a method may switch its modes (dropout on), trace it or hook it, and no other
    caller of ``module`` sees it. The shared tensors must not be written: no ``.to()``, no BatchNorm in
    training mode, no optimiser; a method that trains takes ``copy.deepcopy`` instead."""
    with _HOOKS_CHANGING:
        # buffers shared as they are; parameters as frozen views of the same storage, so that a method
        # asking for gradients (an attack's input gradient) never switches the shared weights' flags
        tensors = {id(b): b for b in module.buffers()}
        tensors.update({id(p): nn.Parameter(p.detach(), requires_grad=False) for p in module.parameters()})
        return copy.deepcopy(module, memo=tensors)


def confined_trace(module: nn.Module, leaves: tuple[type, ...] = ()):
    """``torch.fx.symbolic_trace(module)`` that other threads do not see.

    While it traces, torch.fx replaces ``nn.Module.__call__`` and ``__getattr__`` for the whole process:
    another thread's forward pass met the tracer and failed ("Unexpected key", NotImplementedError) or,
    with shared parameters, received proxies. This tracer hands every other thread's calls back to the
    ordinary ones. ``leaves``: module types kept as one call in the graph (their forward is not traced).
    """
    import torch.fx as fx

    owner = threading.get_ident()

    class Tracer(fx.Tracer):
        def call_module(self, m, forward, args, kwargs):
            if threading.get_ident() != owner:
                return forward(*args, **kwargs)
            return super().call_module(m, forward, args, kwargs)

        def getattr(self, attr, attr_val, parameter_proxy_cache):
            if threading.get_ident() != owner:
                return attr_val
            return super().getattr(attr, attr_val, parameter_proxy_cache)

        def is_leaf_module(self, m, module_qualified_name):
            return isinstance(m, leaves) or super().is_leaf_module(m, module_qualified_name)

    tracer = Tracer()
    graph = tracer.trace(module)
    return fx.GraphModule(tracer.root, graph, type(module).__name__)


def to_numpy(values) -> np.ndarray:
    """A tensor (wherever it lives) or an array, as a NumPy array."""
    return values.cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)


def is_lazy(images) -> bool:
    """Whether ``images`` is a set read from disk batch by batch (:class:`detector.data.folders.FolderImages`)
    rather than an array in memory."""
    return not isinstance(images, np.ndarray) and hasattr(images, "batches")


# What a long pass shows: False nothing, True a tqdm bar (the command line's), or a callback(done, total, what)
# called after each batch (the dashboard draws its own bar with it; an image folder calls its own).
Progress = bool | Callable[[int, int, str], None]


def batches(images: np.ndarray, batch_size: int = BATCH_SIZE, what: str = "features",
            progress: Progress = False) -> Iterator[np.ndarray]:
    """``images`` batch after batch: slices of an array, or one streaming pass over a lazy set
    (decoded in worker processes; the set's own ``progress``, given when it was listed, tells the folder)."""
    if is_lazy(images):
        yield from images.batches(batch_size, what)
        return
    for start in tqdm(range(0, len(images), batch_size), desc=what, disable=progress is not True, unit="batch"):
        yield images[start: start + batch_size]
        if callable(progress):
            progress(min(start + batch_size, len(images)), len(images), what)


def batched(function: Callable[[torch.Tensor], np.ndarray], images: np.ndarray, device: torch.device,
            batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Apply ``function`` (torch batch on ``device`` -> numpy) over ``images`` in batches and concatenate."""
    parts = [function(torch.from_numpy(batch).to(device)) for batch in batches(images, batch_size)]
    return np.concatenate(parts) if parts else np.zeros(0)


def subsample(n: int, k: int | None, rng: int | np.random.Generator = 0) -> np.ndarray:
    """Sorted indices of ``k`` of ``n`` items drawn without replacement from ``rng`` (a seed or a
    generator); all of them, with nothing drawn, when ``k`` is None or at least ``n``."""
    if k is None or k >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(rng).choice(n, k, replace=False))

