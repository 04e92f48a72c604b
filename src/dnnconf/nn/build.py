"""Build a `Network` from an explicit layer list (`dnnconf.config.layers.model_layers` turns a model config,
compact or explicit, into one).

Before every layer the network normalizes its raw inputs (`Network.normalization`, an
`InputNormalization` adapted on the training split: `dnnconf.nn.normalization`); it is a module of its
own beside `layers`, so the layer names, transfer groups and batch-norm folding do not see it.

In the explicit form, a dense or conv2d layer without an activation of its own, directly followed by
batch_norm, has no bias either (with an activation in between, the bias is not redundant). The
summary (`Network.summary`) shows Keras's shapes: feature maps as (H, W, C), though the modules run on
PyTorch's (N, C, H, W) (see `dnnconf.nn.layers`).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch

from dnnconf.nn.constraints import MaxNorm
from dnnconf.nn.layers import LAYERS, Built, ToChannelsFirst, keras_shape
from dnnconf.nn.normalization import InputNormalization
from dnnconf.nn.regularizers import KernelPenalty


@dataclass
class LayerInfo:
    """One row of the model summary; `shape` is the output shape per example as Keras writes it
    (feature maps (H, W, C))."""

    name: str
    kind: str
    shape: tuple[int, ...]
    parameters: int


def head_output(logits: torch.Tensor, head: str) -> torch.Tensor:
    """The output layer's activation applied to its logits: softmax (classes), sigmoid (binary) or none."""
    if head == "softmax":
        return torch.softmax(logits, dim=-1)
    if head == "sigmoid":
        return torch.sigmoid(logits)
    return logits


class Network(torch.nn.Module):
    """A sequential network whose `forward` takes raw inputs, normalizes them (`normalization`, the first
    layer) and returns the output layer's pre-activation (logits).

    `head` is the output activation (softmax, sigmoid or linear), applied by `predict`. `predict` is the
    bare forward pass in the network's current mode; `dnnconf.load(...).predict` is the batched,
    inference-mode one for users.
    """

    def __init__(self, layers: OrderedDict[str, torch.nn.Module], head: str, input_shape: tuple[int, ...],
                 penalties: list[KernelPenalty], constraints: list[MaxNorm], summary: list[LayerInfo],
                 normalization: InputNormalization | None = None):
        super().__init__()
        self.normalization = normalization if normalization is not None else InputNormalization(input_shape)
        self.layers = torch.nn.Sequential(layers)
        self.head = head
        self.input_shape = input_shape
        self.penalties = penalties
        self.constraints = constraints
        self.summary = summary

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.normalization(x))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return head_output(self.forward(x), self.head)


def build_network(layers: list[dict[str, Any]], input_shape: tuple[int, ...],
                  generator: torch.Generator | None = None, normalization: dict[str, Any] | None = None) -> Network:
    """Build resolved explicit layers (the last one a dense output layer) into a `Network` whose input
    layer is adapted to `normalization` (statistics of `fit_statistics`; None: the identity until
    adapted or loaded)."""
    last = next(iter(layers[-1].values()))
    head = (last.get("activation") or {"name": "linear"})["name"]
    layers = [*layers[:-1], {"dense": {**last, "activation": None}}]
    modules: OrderedDict[str, torch.nn.Module] = OrderedDict()
    penalties: list[KernelPenalty] = []
    constraints: list[MaxNorm] = []
    summary: list[LayerInfo] = []
    counts: dict[str, int] = {}
    shape = tuple(input_shape)
    for index, entry in enumerate(layers):
        (kind, params), = entry.items()
        params = dict(params)
        next_kind = next(iter(layers[index + 1])) if index + 1 < len(layers) else None
        linear_output = (params.get("activation") or {"name": "linear"})["name"] == "linear"
        if kind in ("dense", "conv2d") and next_kind == "batch_norm" and linear_output:
            params["use_bias"] = False  # β of the batch norm that follows makes a bias redundant
        built: Built = LAYERS.get(kind).factory(shape, generator, **params)
        before, shape = shape, built.shape
        penalties += built.penalties
        constraints += built.constraints
        for module_kind, module in built.modules:
            counts[module_kind] = counts.get(module_kind, 0) + 1
            name = f"{module_kind}_{counts[module_kind]}"
            modules[name] = module
            parameters = sum(p.numel() for p in module.parameters())
            shown = keras_shape(shape)
            if isinstance(module, ToChannelsFirst):  # the image as Keras sees it: (H, W, C)
                shown = (*before, 1) if len(before) == 2 else tuple(before)
            summary.append(LayerInfo(name, type(module).__name__, shown, parameters))
    return Network(modules, head, tuple(input_shape), penalties, constraints, summary,
                   InputNormalization(tuple(input_shape), normalization))


def count_parameters(network: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in network.parameters())
    trainable = sum(p.numel() for p in network.parameters() if p.requires_grad)
    return trainable, total


def flat_size(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def summary_lines(network: Network) -> list[str]:
    """The network as a table: each layer's name, type, output shape and parameters, then the totals."""
    trainable, total = count_parameters(network)
    lines = [f"{'layer':<16}{'type':<14}{'output shape':<16}{'parameters':>10}"]
    lines += [f"{info.name:<16}{info.kind:<14}{str(list(info.shape)):<16}{info.parameters:>10,}"
              for info in network.summary]
    lines.append(f"parameters: {total:,} ({trainable:,} trainable)")
    return lines
