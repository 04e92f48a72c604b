"""Batch-norm folding for `dnnconf export`: a network with every foldable batch-norm layer merged into the
adjacent dense/conv layer (`fold`, `fold_batch_norm`), and the layer list that rebuilds it (`folded_layers`).

Folding (`fold_batch_norm`), in inference mode a batch-norm layer is the affine map BN(a) = s·a + t per
feature (per channel on feature maps), s = γ/√(σ² + ε), t = β − μ·s, so it merges into a neighbour:
- BN right after a dense/conv layer (the note's `before_activation`; dropout between is the identity at
  inference): into that layer, W' = diag(s)·W (per output unit / filter), b' = s·b + t;
- BN after an activation (the note's `after_activation`, and its input BN right after `flatten`): into the
  NEXT dense/conv, whose input is s·a + t: W' = W·diag(s) (per input feature; per input channel for a conv,
  repeated over H·W through a flatten), b' = b + W·t. On the way it may pass dropout, flatten, average
  pooling (affine maps commute with means) and max pooling when every s ≥ 0. A next conv that pads its
  input ('same' with a kernel > 1) cannot take it exactly (the zeros it pads are not BN(0) = t): that BN is
  kept, and `FoldReport.kept` says why.
Folds are computed in float64. Every dense/conv layer of the folded network has a bias, and the folded
network's module names are those the builder gives the folded layer list (`folded_layers`), so an export
folder's config.yaml rebuilds it with `dnnconf.train.run_folder.loading.load_run`.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch

from dnnconf.nn.batch_norm import BatchNorm
from dnnconf.nn.build import LayerInfo, Network
from dnnconf.nn.feature_maps import AvgPool2d, GlobalAvgPool2d, GlobalMaxPool2d, MaxPool2d
from dnnconf.nn.layers import MCDropout

KERNELS = (torch.nn.Linear, torch.nn.Conv2d)


@dataclass
class FoldReport:
    """What `fold_batch_norm` did: `folded[k]` says whether the k-th batch-norm module (in order) was
    folded; `into` names the layer each went into (or None), `kept` the reasons for those kept."""

    folded: list[bool] = field(default_factory=list)
    into: list[str | None] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"batch_norm_layers": len(self.folded), "folded": sum(self.folded),
                "into": [name for name in self.into if name], "kept": self.kept}


def _eval_identity(module: torch.nn.Module) -> bool:
    """Layers that are the identity at inference (MC dropout is not: it samples a mask every time)."""
    return isinstance(module, torch.nn.Dropout | torch.nn.AlphaDropout) and not isinstance(module, MCDropout)


def _scale_shift(bn: BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """(s, t) of BN(a) = s·a + t in float64."""
    mean, var = bn.running_mean.double(), bn.running_var.double()
    gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(mean)
    beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(mean)
    s = gamma / torch.sqrt(var + bn.epsilon)
    return s, beta - mean * s


def _set_kernel(kernel: torch.nn.Module, weight: torch.Tensor, bias: torch.Tensor) -> None:
    dtype = kernel.weight.dtype
    with torch.no_grad():
        kernel.weight.copy_(weight.to(dtype))
        if kernel.bias is None:
            kernel.bias = torch.nn.Parameter(bias.to(dtype), requires_grad=kernel.weight.requires_grad)
        else:
            kernel.bias.copy_(bias.to(dtype))


def _bias64(kernel: torch.nn.Module) -> torch.Tensor:
    if kernel.bias is None:
        return torch.zeros(kernel.weight.shape[0], dtype=torch.float64)
    return kernel.bias.detach().double()


def _fold_backward(kernel: torch.nn.Module, s: torch.Tensor, t: torch.Tensor) -> None:
    """BN(kernel(x)) = kernel'(x): scale each output unit/filter by s, bias s·b + t."""
    weight = kernel.weight.detach().double()
    shape = [-1] + [1] * (weight.dim() - 1)
    _set_kernel(kernel, weight * s.view(shape), _bias64(kernel) * s + t)


def _fold_forward(kernel: torch.nn.Module, s: torch.Tensor, t: torch.Tensor) -> None:
    """kernel(s·a + t) = kernel'(a): scale each input feature/channel by s, bias b + W·t."""
    weight = kernel.weight.detach().double()
    if isinstance(kernel, torch.nn.Linear):
        repeat = weight.shape[1] // s.numel()  # through a flatten of (C, H, W) maps: each channel H·W times
        s, t = s.repeat_interleave(repeat), t.repeat_interleave(repeat)
        _set_kernel(kernel, weight * s.view(1, -1), _bias64(kernel) + weight @ t)
    else:
        _set_kernel(kernel, weight * s.view(1, -1, 1, 1), _bias64(kernel) + weight.sum(dim=(2, 3)) @ t)


def _pads(conv: torch.nn.Conv2d) -> bool:
    padding = conv.padding if isinstance(conv.padding, tuple) else (conv.padding,)
    explicit = getattr(conv, "pad", None)
    return conv.padding == "same" or any(p != 0 for p in padding) or bool(explicit and any(explicit))


def _forward_target(modules: list[tuple[str, torch.nn.Module]], start: int, s: torch.Tensor) -> tuple[int, str]:
    """The index of the dense/conv module that can absorb the BN at `start` from its input, or -1 and why."""
    for index in range(start + 1, len(modules)):
        name, module = modules[index]
        if _eval_identity(module) or isinstance(module, torch.nn.Flatten | AvgPool2d | GlobalAvgPool2d):
            continue
        if isinstance(module, MaxPool2d | GlobalMaxPool2d):
            if bool((s >= 0).all()):
                continue
            return -1, f"{name} (max pooling) follows and some BN scales are negative"
        if isinstance(module, torch.nn.Conv2d) and _pads(module):
            return -1, f"the next layer {name} pads its input, which BN(0) ≠ 0 would change"
        if isinstance(module, KERNELS):
            return index, ""
        return -1, f"{name} ({type(module).__name__}) comes before the next dense/conv layer"
    return -1, "no dense/conv layer follows"


def _backward_target(modules: list[tuple[str, torch.nn.Module]], start: int) -> int:
    """The index of the dense/conv module whose output the BN at `start` normalizes directly, or -1."""
    for index in range(start - 1, -1, -1):
        module = modules[index][1]
        if _eval_identity(module):
            continue
        return index if isinstance(module, KERNELS) else -1
    return -1


def _kind(name: str) -> str:
    return name.rsplit("_", 1)[0]


def fold(network: Network) -> tuple[Network, FoldReport]:
    """`fold_batch_norm` with its report."""
    copied = copy.deepcopy(network)
    modules = list(copied.layers.named_children())
    infos = {info.name: info for info in copied.summary}
    report = FoldReport()
    index = 0
    while index < len(modules):
        name, module = modules[index]
        if not isinstance(module, BatchNorm):
            index += 1
            continue
        s, t = _scale_shift(module)
        target = _backward_target(modules, index)
        if target >= 0:
            _fold_backward(modules[target][1], s, t)
        else:
            target, why = _forward_target(modules, index, s)
            if target >= 0:
                _fold_forward(modules[target][1], s, t)
            else:
                report.folded.append(False)
                report.into.append(None)
                report.kept.append(f"{name}: {why}")
                index += 1
                continue
        report.folded.append(True)
        report.into.append(f"{name} -> {modules[target][0]}")
        del modules[index]
    for _, module in modules:  # every dense/conv has a bias (config: use_bias true)
        if isinstance(module, KERNELS) and module.bias is None:
            _set_kernel(module, module.weight.detach().double(),
                        torch.zeros(module.weight.shape[0], dtype=torch.float64))
    renamed: OrderedDict[str, torch.nn.Module] = OrderedDict()
    summary: list[LayerInfo] = []
    counts: dict[str, int] = {}
    for name, module in modules:  # the builder's names: kind_1, kind_2, … counted per kind
        kind = _kind(name)
        counts[kind] = counts.get(kind, 0) + 1
        new = f"{kind}_{counts[kind]}"
        renamed[new] = module
        info = infos.get(name)
        if info is not None:
            summary.append(LayerInfo(new, info.kind, info.shape, sum(p.numel() for p in module.parameters())))
    folded = Network(renamed, copied.head, copied.input_shape, copied.penalties, copied.constraints, summary,
                     copied.normalization)
    return folded.train(network.training), report


def fold_batch_norm(network: Network) -> Network:
    """A new network with every batch-norm layer folded into the adjacent dense/conv layer (the original is
    untouched); equal to the original in inference mode. See the module docstring for the rules."""
    return fold(network)[0]


def folded_layers(layers: list[dict[str, Any]], report: FoldReport) -> list[dict[str, Any]]:
    """The explicit layer list (output last) of the network `fold` made from the network of `layers`:
    the folded batch_norm entries removed, every dense/conv2d with use_bias true. A dense/conv whose
    activation is followed by a kept batch_norm gets its activation as a layer of its own, so the builder
    keeps its bias (it drops the bias of a dense/conv directly followed by batch_norm)."""
    kept: list[dict[str, Any]] = []
    norms = iter(report.folded)
    for entry in layers:
        (kind, params), = entry.items()
        if kind == "batch_norm" and next(norms, False):
            continue
        kept.append(copy.deepcopy(entry))
    out: list[dict[str, Any]] = []
    for index, entry in enumerate(kept):
        (kind, params), = entry.items()
        if kind in ("dense", "conv2d"):
            params["use_bias"] = True
            activation = params.get("activation")
            following = next(iter(kept[index + 1])) if index + 1 < len(kept) else None
            if following == "batch_norm" and activation is not None and activation.get("name") != "linear":
                params["activation"] = None
                out += [{kind: params}, {"activation": activation}]
                continue
        out.append({kind: params})
    return out
