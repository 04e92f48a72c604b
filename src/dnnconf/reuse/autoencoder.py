"""Autoencoders made of a model's hidden layers (for `dnnconf.reuse.pretrain`).

The *encoder* is the model's hidden stack: its explicit layers (`config.layers.model_layers`) without the
output, grouped as `tools.transfer.layer_groups` groups modules: a dense layer with the batch norm,
activation and dropout that follow it (what precedes the first dense, e.g. flatten, goes with it).
The *decoder* mirrors the dense layers: for hidden sizes n₁ … n_k it is dense(n_{k-1}) … dense(n₁),
each with the activation and initializer of the encoder layer whose code it rebuilds, then a dense
output of the input's size (flattened), Glorot-uniform, linear for mse or sigmoid for binary
cross-entropy (the head; the loss works on logits). Hands-On ML ch. 17's stacked autoencoder is this
with hidden [100, 30].

Greedy layer-wise (ch. 17, "training one autoencoder at a time"): hidden layer i gets a shallow
autoencoder, its own layers plus one dense back to its input size, trained on the codes of layers
1 … i−1; past the first layer the codes are real-valued activations, so it ends linear under mse.

Only dense encoders: a conv2d layer would need a transposed-convolution decoder (a ConfigError).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from dnnconf.config.layers import model_layers
from dnnconf.config.schema import Config, NoiseConfig
from dnnconf.errors import ConfigError
from dnnconf.nn.build import Network
from dnnconf.plots import plt, save_figure

ENCODER_KINDS = ("flatten", "dense", "batch_norm", "activation", "dropout", "alpha_dropout", "mc_dropout")
LINEAR = {"name": "linear"}
GLOROT = {"name": "glorot_uniform"}


@dataclass
class HiddenLayer:
    """One hidden layer of the model: its explicit entries, width, activation and initializer."""

    entries: list[dict[str, Any]]
    units: int
    activation: dict[str, Any]
    kernel_initializer: dict[str, Any]


def hidden_layers(config: Config) -> list[HiddenLayer]:
    """The hidden layers of a resolved config (input shape and output known), bottom to top."""
    output = config.model.output
    entries = model_layers(config.model, output.units, output.activation)[:-1]
    groups: list[list[dict[str, Any]]] = []
    stem: list[dict[str, Any]] = []
    for entry in entries:
        (kind, _), = entry.items()
        if kind not in ENCODER_KINDS:
            raise ConfigError(f"pretrain: the model has a {kind} layer, but the decoder mirrors dense layers only "
                              f"(accepted in the encoder: {', '.join(ENCODER_KINDS)})")
        if kind == "dense":
            groups.append([*stem, entry])
            stem = []
        elif groups:
            groups[-1].append(entry)
        else:
            stem.append(entry)
    if not groups:
        raise ConfigError("pretrain: the model has no hidden dense layer to pretrain")
    return [_describe(group) for group in groups]


def _describe(group: list[dict[str, Any]]) -> HiddenLayer:
    dense = next(params for entry in group for kind, params in entry.items() if kind == "dense")
    activation = dense.get("activation")
    if not activation or activation["name"] == "linear":  # a separate activation entry, or none at all
        activation = next((params for entry in group for kind, params in entry.items() if kind == "activation"),
                          LINEAR)
    return HiddenLayer(group, dense["units"], activation, dense["kernel_initializer"])


def decoder_dense(units: int, activation: dict[str, Any], initializer: dict[str, Any]) -> dict[str, Any]:
    return {"dense": {"units": units, "activation": activation, "kernel_initializer": initializer,
                      "use_bias": True, "kernel_regularizer": None, "kernel_constraint": None}}


def output_activation(loss: str) -> dict[str, Any]:
    return {"name": "sigmoid"} if loss == "binary_crossentropy" else LINEAR


def autoencoder_layers(hidden: list[HiddenLayer], input_size: int, loss: str) -> list[dict[str, Any]]:
    """The deep autoencoder: every hidden layer, the mirrored dense layers, the reconstruction."""
    encoder = [entry for layer in hidden for entry in layer.entries]
    decoder = [decoder_dense(hidden[i - 1].units, hidden[i - 1].activation, hidden[i - 1].kernel_initializer)
               for i in range(len(hidden) - 1, 0, -1)]
    return [*encoder, *decoder, decoder_dense(input_size, output_activation(loss), GLOROT)]


def shallow_layers(hidden: list[HiddenLayer], index: int, input_size: int, loss: str) -> list[dict[str, Any]]:
    """Hidden layer `index`'s own autoencoder (greedy layer-wise): the layer, then one dense back."""
    out = output_activation(loss) if index == 0 else LINEAR
    return [*hidden[index].entries, decoder_dense(input_size, out, GLOROT)]


class InputNoise(torch.nn.Module):
    """A denoising autoencoder's corruption, active in training mode only (draws from torch's global RNG)."""

    def __init__(self, kind: str, std: float, rate: float):
        super().__init__()
        self.kind, self.std, self.rate = kind, std, rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        if self.kind == "gaussian":
            return x + torch.randn_like(x) * self.std
        return F.dropout(x, self.rate, training=True)


def with_noise(network: Network, noise: NoiseConfig | None) -> Network:
    """Put `noise` in front of the network's layers (module `noise`; it has no state to copy)."""
    if noise is not None:
        modules = OrderedDict([("noise", InputNoise(noise.kind, noise.std, noise.rate)),
                               *network.layers.named_children()])
        network.layers = torch.nn.Sequential(modules)
    return network


def stateful(modules: list[torch.nn.Module]) -> list[torch.nn.Module]:
    """The modules that hold parameters or buffers, in order (flatten, activations, noise hold none)."""
    return [module for module in modules if module.state_dict()]


def copy_modules(source: list[torch.nn.Module], target: list[torch.nn.Module]) -> None:
    """Copy the first stateful modules of `source` into the stateful modules of `target`, in order."""
    theirs, mine = stateful(source), stateful(target)
    if len(theirs) < len(mine):
        raise RuntimeError(f"the autoencoder holds {len(theirs)} stateful modules, the encoder {len(mine)}")
    with torch.no_grad():
        for src, dst in zip(theirs, mine, strict=False):
            if type(src) is not type(dst) or src.state_dict().keys() != dst.state_dict().keys():
                raise RuntimeError(f"autoencoder module {src} does not match encoder module {dst}")
            for key, value in src.state_dict().items():
                dst.state_dict()[key].copy_(value)


@torch.no_grad()
def encode(modules: list[torch.nn.Module], x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """`x` through `modules` in inference mode (batch norm's moving averages, no dropout), in batches."""
    stack = torch.nn.Sequential(*modules)
    was_training = [module.training for module in modules]
    stack.eval()
    out = torch.cat([stack(x[start:start + batch_size]) for start in range(0, len(x), batch_size)])
    for module, mode in zip(modules, was_training, strict=True):
        module.train(mode)
    return out


def plot_reconstructions(inputs: torch.Tensor, outputs: torch.Tensor, input_shape: tuple[int, ...], path: Path,
                         title: str) -> Path:
    """Top row: inputs; bottom row: their reconstructions (as images when the input is 2-D, else strips)."""
    count = len(inputs)
    shape = input_shape[:2] if len(input_shape) >= 2 else (1, math.prod(input_shape))
    low, high = float(inputs.min()), float(inputs.max())
    fig, axes = plt.subplots(2, count, figsize=(1.4 * count, 3.2), squeeze=False)
    for column in range(count):
        for row, images in enumerate((inputs, outputs)):
            image = images[column].reshape(*input_shape)
            image = image[..., 0] if image.dim() == 3 else image
            axes[row][column].imshow(image.reshape(shape).cpu().numpy(), cmap="binary", vmin=low, vmax=high,
                                     aspect="auto" if len(input_shape) < 2 else "equal")
            axes[row][column].axis("off")
    axes[0][0].set_title("input", fontsize=8, loc="left")
    axes[1][0].set_title("reconstruction", fontsize=8, loc="left")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=90)
