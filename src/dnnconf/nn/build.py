"""Build a `Network` from the model config: the compact form expands into the explicit layer list.

Compact form → explicit (the note's Keras models):
- `batch_norm: none`: flatten, [dense(act)]×n, output.
- `after_activation` (the note's first BN model): flatten, batch_norm, [dense(act), batch_norm]×n, output.
- `before_activation` (the note's second BN model): flatten, [dense(no bias), batch_norm, activation]×n,
  output. A dense layer followed by batch norm never has a bias: β does that job.
- `dropout: {rate, top_layers: k, kind}` puts dropout after each of the top k hidden layers; k > n also
  drops the inputs (the note's dropout model is n = 2, k = 3). `kind: alpha_dropout` uses alpha dropout
  (the note's choice for SELU networks) instead of plain dropout.
- `kernel_regularizer` applies to every dense layer, the output included (the note's RegularizedDense);
  `kernel_constraint` to the hidden ones (the note's MaxNormDense).
The output layer is the last dense; its activation (softmax/sigmoid) is applied by the loss and by
`Network.predict`, not inside `forward`, so training works on logits (stable and faster).

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
from typing import TYPE_CHECKING, Any

import torch

from dnnconf.nn.constraints import MaxNorm
from dnnconf.nn.layers import LAYERS, Built, ToChannelsFirst, keras_shape
from dnnconf.nn.normalization import InputNormalization
from dnnconf.nn.regularizers import KernelPenalty

if TYPE_CHECKING:  # annotations only: the config package builds on nn and data, not the reverse
    from dnnconf.config.schema import ModelConfig


def expand_compact(model: ModelConfig, output_units: int, output_activation: str) -> list[dict[str, Any]]:
    """The explicit layer list that the compact form stands for (hidden layers and output)."""
    position = model.batch_norm.position
    bn = model.batch_norm.model_dump(exclude={"position"})
    regularizer = model.kernel_regularizer.model_dump() if model.kernel_regularizer else None
    constraint = model.kernel_constraint.model_dump() if model.kernel_constraint else None
    dropout = model.dropout
    dropped = set(range(len(model.hidden) - dropout.top_layers, len(model.hidden))) if dropout else set()
    layers: list[dict[str, Any]] = [{"flatten": {}}]
    if dropout and dropout.rate and dropout.top_layers > len(model.hidden):
        layers.append({dropout.kind: {"rate": dropout.rate}})
    if position == "after_activation":
        layers.append({"batch_norm": dict(bn)})
    for index, units in enumerate(model.hidden):
        dense = {
            "units": units,
            "activation": None if position == "before_activation" else model.activation,
            "kernel_initializer": model.kernel_initializer,
            "use_bias": position != "before_activation",
            "kernel_regularizer": regularizer,
            "kernel_constraint": constraint,
        }
        layers.append({"dense": dense})
        if position == "before_activation":
            layers += [{"batch_norm": dict(bn)}, {"activation": model.activation}]
        elif position == "after_activation":
            layers.append({"batch_norm": dict(bn)})
        if index in dropped and dropout and dropout.rate:
            layers.append({dropout.kind: {"rate": dropout.rate}})
    layers.append({"dense": output_layer(model, output_units, output_activation, regularizer)})
    return layers


def output_layer(model: ModelConfig, units: int, activation: str, regularizer: dict | None) -> dict[str, Any]:
    return {
        "units": units,
        "activation": {"name": activation},
        "kernel_initializer": model.output.kernel_initializer,
        "use_bias": True,
        "kernel_regularizer": regularizer,
        "kernel_constraint": None,
    }


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


def model_layers(model: ModelConfig, output_units: int, output_activation: str) -> list[dict[str, Any]]:
    """The resolved explicit layers of either form, output layer last."""
    if model.layers is None:
        return expand_compact(model, output_units, output_activation)
    regularizer = None
    return [*model.layers, {"dense": output_layer(model, output_units, output_activation, regularizer)}]


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
