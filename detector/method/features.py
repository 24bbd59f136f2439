"""Find the layers of any ``nn.Module``, hook them, and extract per-layer features.

Each layer's output becomes one vector per input as :mod:`detector.method.reductions` says (conv maps:
one mean per channel, the paper's). The logit
layer is the model's output and is always available under the name ``"logits"``.
Features of named sets (dataset splits, anomaly sets) are cached on disk keyed by the
model's fingerprint (its weights and what it computes), the images' content hash, the layer name
and the code (:func:`detector.cache.code_hash`); a user's new inputs are extracted with
``cached=False``: neither hashed nor written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from .. import cache
from ..errors import LayerError
from ..models.classifiers import ClassifierInfo
from ..runtime import batches, forward_hooks, model_device
from .reductions import AS_IS, FLATTEN, reduce_output, reduction_rule
from .structure import structural_blocks

LOGITS = "logits"
# Layers whose output repeats their input's information: never worth a detector.
_SKIPPED = (nn.Dropout, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Identity, nn.Flatten)


@dataclass(frozen=True)
class LayerInfo:
    name: str
    kind: str
    output_shape: tuple[int, ...]
    feature_dim: int
    reduction: str = FLATTEN  # one of reductions.REDUCTIONS


def _dry_run(module: nn.Module, input_shape: tuple[int, ...], named: dict[str, nn.Module]):
    """[(name, module, output)] of the hooked ``named`` modules in the order one dry batch produced them
    (outputs of rank >= 2; a module called twice is there twice), and the logits."""
    calls: list[tuple[str, nn.Module, torch.Tensor]] = []  # keeps the outputs alive: their id()s stay unique

    def record(name, sub, output):
        if isinstance(output, torch.Tensor) and output.ndim >= 2:
            calls.append((name, sub, output))

    with forward_hooks(named, record), torch.no_grad():
        logits = module(torch.rand(2, *input_shape, device=model_device(module)))
    return calls, logits


def _info(name: str, sub: nn.Module, output: torch.Tensor, how: str) -> LayerInfo:
    return LayerInfo(name, type(sub).__name__, tuple(output.shape[1:]), int(reduce_output(output, how).shape[1]), how)


def _logits_info(logits: torch.Tensor) -> LayerInfo:
    return LayerInfo(LOGITS, "output", tuple(logits.shape[1:]), int(logits.shape[1]), AS_IS)


def _all_modules(module: nn.Module) -> dict[str, nn.Module]:
    return {name: sub for name, sub in module.named_modules() if name and not isinstance(sub, _SKIPPED)}


def candidate_layers(module: nn.Module, input_shape: tuple[int, int, int]) -> list[LayerInfo]:
    """Every hookable layer in forward order, found with one dry batch, plus ``logits``.

    A container whose output is the very tensor of its last child (e.g. ``nn.Sequential``)
    is listed once, under the child's name; the layer that produces the logits is
    listed as ``logits``; a layer called twice (torchvision's shared ReLU) is listed at its last call,
    whose output its features are. Features are reduced inside the hook, so an in-place ReLU
    and the layer before it give different features.
    """
    calls, logits = _dry_run(module, input_shape, _all_modules(module))
    rule = reduction_rule(module, input_shape, [tuple(output.shape[1:]) for _, _, output in calls])
    seen: set[int] = set()
    order: dict[str, tuple[int, LayerInfo]] = {}
    for name, sub, output in calls:
        is_container = next(sub.children(), None) is not None
        # a container returning its child's tensor is a repeat; an in-place leaf (ReLU) is not
        if not (is_container and id(output) in seen):
            seen.add(id(output))
            order.pop(name, None)
            order[name] = (id(output), _info(name, sub, output, rule(name, output)))
    return [*(info for output_id, info in order.values() if output_id != id(logits)), _logits_info(logits)]


def layer_reductions(module: nn.Module, input_shape: tuple[int, ...], names: list[str]) -> dict[str, str]:
    """The reduction of each named layer's output (:data:`AS_IS` for ``logits``), from one dry batch."""
    calls, _ = _dry_run(module, input_shape, {name: sub for name, sub in module.named_modules() if name})
    rule = reduction_rule(module, input_shape, [tuple(output.shape[1:]) for _, _, output in calls])
    found = {name: rule(name, output) for name, _, output in calls}  # a module called twice: its last call
    return {name: found.get(name, AS_IS) for name in names}


CANDIDATES = ("blocks", "all")  # what UniformDetector(candidates=...) and --candidates accept by name
# above this many layers, a plain CNN (VGG-16 has 44) is searched at its pooling stages only:
# every candidate costs one SVDD per class, and neighbouring layers of a stage tell little apart
MANY_LAYERS = 16
_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def block_layers(module: nn.Module, input_shape: tuple[int, int, int]) -> list[LayerInfo]:
    """The stage and block outputs of a deep model, then ``logits``; every layer of a small one.

    - a network with blocks (:func:`detector.method.structure.structural_blocks`: residual blocks,
      children of stage containers, timm's declared stages): each block's output, one name per
      tensor (a stage that returns its last block's output is listed as that block);
    - a plain CNN with more than :data:`MANY_LAYERS` layers and pooling (VGG-like): the output of
      each pooling stage;
    - otherwise (LeNet) every layer, as :func:`candidate_layers` lists them: the paper's search.
    """
    layers = candidate_layers(module, input_shape)
    if names := structural_blocks(module, input_shape):
        # a block's output may repeat the tensor of its last child (torchvision's in-place ReLU):
        # probe the blocks themselves, so that each is listed under its own name
        rule = reduction_rule(module, input_shape, [info.output_shape for info in layers[:-1]], names)
        if blocks := _probe(module, input_shape, names, rule):  # none when the only "block" was the whole network
            return [*blocks, layers[-1]]
    named = dict(module.named_modules())
    pools = [info for info in layers if isinstance(named.get(info.name), _POOLS)]
    if len(layers) - 1 <= MANY_LAYERS or len(pools) < 2:
        return layers
    return [*pools, layers[-1]]


def _probe(module: nn.Module, input_shape: tuple[int, int, int], names: list[str], rule) -> list[LayerInfo]:
    """LayerInfo of the named modules' outputs in the order the forward pass produces them, one name
    per tensor (the first to produce it: the innermost block), the logits' producer left out."""
    named = dict(module.named_modules())
    calls, logits = _dry_run(module, input_shape, {name: named[name] for name in names})
    found: dict[str, LayerInfo] = {}
    tensors = {id(logits)}
    for name, sub, output in calls:
        if name not in found and id(output) not in tensors:
            tensors.add(id(output))
            found[name] = _info(name, sub, output, rule(name, output))
    return list(found.values())


def check_layer(name: str, layers: list[LayerInfo]) -> None:
    names = [layer.name for layer in layers]
    if name not in names:
        raise LayerError(f"unknown layer {name!r}; valid layers: {', '.join(names)}")


def extract(
    module: nn.Module,
    images: np.ndarray,
    layers: list[str],
    batch_size: int = 500,
    progress: bool = False,  # over an array's batches: a tqdm bar, or a callback (a folder's set shows its own)
    on_device: bool = False,
    reductions: dict[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Features of ``layers`` (names from :func:`candidate_layers`) for all images, one pass.

    ``on_device``: float32 tensors left on the model's device (a GPU goes on to score them
    without a round trip through the host) instead of NumPy arrays. ``reductions``: each layer's
    (:attr:`LayerInfo.reduction`); found with a dry batch (:func:`layer_reductions`) when not given."""
    wanted = set(layers) - {LOGITS}
    named = dict(module.named_modules())
    unknown = [name for name in wanted if name not in named]
    if unknown:
        raise LayerError(f"unknown layer(s) {', '.join(unknown)}; valid layers: {', '.join(n for n in named if n)}, {LOGITS}")
    # written in place, batch after batch: small per-batch parts kept alive between the big transient
    # buffers of a streamed folder pinned the heap (peak memory grew by 128 kB a picture)
    found: dict[str, np.ndarray | torch.Tensor] = {}
    current: dict[str, torch.Tensor] = {}
    dev = model_device(module)

    def record(name, _module, output):
        # reduce now, and copy a flattened view: an in-place op later in the network (VGG's
        # Linear -> ReLU(inplace=True)) would overwrite ``output`` and any view of it
        reduced = reduce_output(output, how[name])
        if reduced.untyped_storage().data_ptr() == output.untyped_storage().data_ptr():
            reduced = reduced.clone()
        current[name] = reduced

    def allocate(shape) -> np.ndarray | torch.Tensor:
        return torch.empty(shape, dtype=torch.float32, device=dev) if on_device else np.empty(shape, np.float32)

    how = dict(reductions or {})
    if not wanted <= how.keys() and len(images):  # before the hooks: the dry batch must not reach them
        how.update(layer_reductions(module, tuple(images.shape[1:]), list(wanted)))
    start = 0
    with forward_hooks({name: named[name] for name in wanted}, record), torch.no_grad():
        for batch in batches(images, batch_size, "features", progress):  # a folder streams: one batch in memory
            current.clear()
            logits = module(torch.from_numpy(batch).to(dev))
            for name in layers:
                values = (logits if name == LOGITS else current[name]).float()
                values = values if on_device else values.cpu().numpy()
                if name not in found:
                    found[name] = allocate((len(images), *values.shape[1:]))
                found[name][start: start + len(values)] = values
            start += len(batch)
    if start != len(images):
        raise RuntimeError(f"features of {start} images extracted, {len(images)} expected")
    return {name: found[name] if name in found else allocate((0, 0)) for name in layers}


class FeatureExtractor:
    """Cached per-layer features of one classifier.

    Examples
    --------
    >>> extractor = FeatureExtractor(load_model("lenet-mnist"))      # doctest: +SKIP
    >>> feats = extractor.features(images, ["conv1", "logits"])      # doctest: +SKIP
    """

    def __init__(self, model: ClassifierInfo, batch_size: int = 500, progress: bool = False):
        self.model = model
        self.batch_size = batch_size
        self.progress = progress
        self._layers: list[LayerInfo] | None = None
        self._blocks: list[LayerInfo] | None = None

    @property
    def layers(self) -> list[LayerInfo]:
        """Every hookable layer, then ``logits`` (:func:`candidate_layers`)."""
        if self._layers is None:
            self._layers = candidate_layers(self.model.module, self.model.input_shape)
        return self._layers

    def candidates(self, which: str = "blocks") -> list[LayerInfo]:
        """``"blocks"``: :func:`block_layers` (block outputs of deep models); ``"all"``: :attr:`layers`."""
        if which not in CANDIDATES:
            raise ValueError(f"candidates must be one of {', '.join(CANDIDATES)} or a list of layer names, got {which!r}")
        if which == "all":
            return self.layers
        if self._blocks is None:
            self._blocks = block_layers(self.model.module, self.model.input_shape)
        return self._blocks

    @property
    def valid_layers(self) -> list[LayerInfo]:
        """:attr:`layers`, and the blocks that it lists under a child's name (torchvision's blocks end
        with an in-place ReLU, whose tensor they return), under their own: any of them may be the MDL."""
        names = {info.name for info in self.layers}
        extra = [block for block in self.candidates() if block.name not in names]
        return [*self.layers[:-1], *extra, self.layers[-1]] if extra else self.layers

    def check_layer(self, name: str) -> None:
        if name not in {info.name for info in self.layers}:
            check_layer(name, self.valid_layers)

    def _reductions(self, names: list[str]) -> dict[str, str]:
        """Each layer's reduction, as :attr:`valid_layers` names it."""
        known = {info.name: info.reduction for info in self.layers}
        if not set(names) <= known.keys():
            known.update({info.name: info.reduction for info in self.candidates()})
        return {name: known[name] for name in names}

    def _extract(self, images: np.ndarray, layers: list[str], on_device: bool = False) -> dict:
        return extract(self.model.module, images, list(layers), self.batch_size, self.progress, on_device,
                       self._reductions(layers))

    def features(self, images: np.ndarray, layers: list[str], cached: bool = True) -> dict[str, np.ndarray]:
        """Features of ``layers`` for ``images``; ``cached=False`` for inputs that are not a named
        set: hashing and writing them was part of a scoring cost of 10x the forward pass."""
        for name in layers:
            self.check_layer(name)
        if not cached:
            return self._extract(images, layers)
        data_hash = cache.hash_array(images)
        entries = {name: cache.entry("features", {"what": "features", "model": self.model.fingerprint,
                                                  "data": data_hash, "layer": name}, code=__name__)
                   for name in layers}
        found = {}
        for name in layers:
            arrays = entries[name].load()
            if arrays is not None and len(arrays["x"]) == len(images):
                found[name] = arrays["x"]
        missing = [name for name in layers if name not in found]
        if missing:
            fresh = self._extract(images, missing)
            for name in missing:
                entries[name].save({"x": fresh[name]})
            found.update(fresh)
        return {name: found.get(name, np.zeros((0, 0), np.float32)) for name in layers}

    def device_features(self, images: np.ndarray, layers: list[str]) -> dict[str, torch.Tensor]:
        """Features of ``layers`` for new inputs as float32 tensors on the model's device: not
        cached, and a GPU scores them where they are."""
        for name in layers:
            self.check_layer(name)
        return self._extract(images, layers, on_device=True)

    def logits(self, images: np.ndarray, cached: bool = True) -> np.ndarray:
        return self.features(images, [LOGITS], cached)[LOGITS]
