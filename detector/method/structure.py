"""A network's stage and block outputs, found from its structure, not from its class names.

A user's network arrives as it was built: torchvision's MobileNet has no class named ``...Block``,
EfficientNet's blocks are ``MBConv``, SqueezeNet's ``Fire``, a ViT's ``EncoderBlock`` outputs tokens.
The places where its designers cut it into blocks are read from three signals instead:

- **residual blocks**: the innermost modules whose output is a residual sum of their input (an
  addition both of whose terms depend on the module's input), read from the autograd graph of one
  dry batch: ResNet's ``BasicBlock``, MobileNet's and EfficientNet's inverted residuals, a
  transformer's encoder block. Squeeze-excitation and attention branches join their paths by a
  product, never by a sum, and sit inside a block: no layer inside them is ever a candidate;
- **stage containers**: an ``nn.Sequential`` or ``nn.ModuleList`` that holds composite modules
  (torchvision's ``features``, ``layerK``, ``encoder.layers``; timm's ``blocks``, ``stages``): each
  composite child is a block, and a child that is itself such a container is a stage whose blocks
  are listed instead (the stage's output is its last block's);
- **declared stages**: timm's ``feature_info``, where the model has it.

``torchvision.models.feature_extraction.get_graph_node_names`` names the same sums (``features.3.add``)
but traces with torch.fx, which stops at data-dependent control flow in a user's ``forward``; hooks
and the autograd graph work for any network that runs.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..runtime import forward_hooks, model_device


def _composite(module: nn.Module) -> bool:
    return next(module.children(), None) is not None


def _is_stage(module: nn.Module) -> bool:
    """A container run child after child whose children include composite modules (blocks)."""
    return isinstance(module, (nn.Sequential, nn.ModuleList)) and any(_composite(c) for c in module.children())


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _has_residual_sum(output_node, input_node) -> bool:
    """Whether the autograd graph from a module's output back to its input holds a sum of two terms
    that both depend on the input (``x + f(x)``, or ``g(x) + f(x)`` with a projection shortcut)."""
    reaches: dict[object, bool] = {input_node: True, None: False}  # node -> depends on the input
    stack = [(output_node, False)]
    while stack:  # iterative post-order: a deep network's graph overflows Python's recursion
        node, expanded = stack.pop()
        if node in reaches:
            continue
        children = [child for child, _ in node.next_functions]
        if not expanded:
            stack.append((node, True))
            stack.extend((child, False) for child in children if child not in reaches)
            continue
        terms = [reaches[child] for child in children]
        reaches[node] = any(terms)
        if sum(terms) >= 2 and node.name().startswith("AddBackward"):
            return True
    return False


def residual_blocks(module: nn.Module, input_shape: tuple[int, ...]) -> list[str]:
    """Names of the innermost composite modules whose output is a residual sum of their input.

    One dry batch with autograd on; a network that cannot run so (its ``forward`` needs no-grad
    mode) has none found, and the stage containers decide alone."""
    composite = {name: sub for name, sub in module.named_modules() if name and _composite(sub)}
    inputs: dict[str, object] = {}
    outputs: dict[str, object] = {}

    def on_input(name, _sub, value):
        if isinstance(value, torch.Tensor):
            inputs.setdefault(name, value.grad_fn)

    def on_output(name, _sub, value):
        if isinstance(value, torch.Tensor):
            outputs.setdefault(name, value.grad_fn)

    x = torch.rand(2, *input_shape, device=model_device(module), requires_grad=True)
    try:
        with forward_hooks(composite, on_input, pre=True), forward_hooks(composite, on_output), torch.enable_grad():
            module(x * 1.0)  # an operation, so that the first module's input has a node in the graph
    except RuntimeError:
        return []
    residual = [name for name in composite if inputs.get(name) is not None and outputs.get(name) is not None
                and _has_residual_sum(outputs[name], inputs[name])]
    return [name for name in residual if not any(other.startswith(name + ".") for other in residual)]


def stage_blocks(module: nn.Module, residual: list[str]) -> list[str]:
    """Block names in module order: children of stage containers, and residual blocks outside them.

    A stage child holding residual blocks (timm's ``ConvNeXtStage``) is represented by them; outside
    stage containers, only residual blocks count: a plain stack of layers (``nn.Sequential`` of
    leaves, LeNet's ``features``) or a patch embedding is no block."""
    found: list[str] = []
    inner = set(residual)

    def holds_residual(name: str) -> bool:
        return any(r.startswith(name + ".") for r in inner) if name else bool(inner)

    def stage(prefix: str, container: nn.Module) -> None:
        for name, child in container.named_children():
            full = _join(prefix, name)
            if not _composite(child):
                continue
            if _is_stage(child):
                stage(full, child)
            elif holds_residual(full):
                walk(full, child)
            else:
                found.append(full)

    def walk(prefix: str, sub: nn.Module) -> None:
        for name, child in sub.named_children():
            full = _join(prefix, name)
            if not _composite(child):
                continue
            if _is_stage(child):
                stage(full, child)
            elif full in inner:
                found.append(full)
            elif holds_residual(full):
                walk(full, child)

    prefix = ""
    while isinstance(module, (nn.Sequential, nn.ModuleList)):  # nn.Sequential(Normalize(...), network): the network
        composite = [(name, child) for name, child in module.named_children() if _composite(child)]
        if len(composite) != 1:
            break
        prefix, module = _join(prefix, composite[0][0]), composite[0][1]
    (stage if _is_stage(module) else walk)(prefix, module)
    return found


def declared_stages(module: nn.Module) -> list[str]:
    """Module names that timm's ``feature_info`` declares as the model's feature stages (none for
    other models)."""
    info = getattr(module, "feature_info", None)
    if not isinstance(info, (list, tuple)) and hasattr(info, "info"):  # timm's FeatureInfo object
        info = info.info
    if not isinstance(info, (list, tuple)):
        return []
    named = dict(module.named_modules())
    return [entry["module"] for entry in info if isinstance(entry, dict) and entry.get("module") in named]


def structural_blocks(module: nn.Module, input_shape: tuple[int, ...]) -> list[str]:
    """Stage and block names of ``module`` (possibly repeating a tensor: the caller keeps one name per
    output); empty for a network without blocks (LeNet, VGG)."""
    names = stage_blocks(module, residual_blocks(module, input_shape))
    return list(dict.fromkeys([*names, *declared_stages(module)]))
