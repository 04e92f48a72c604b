"""The layers of the explicit form, one registry entry each, as in the note's Keras code.

An explicit layer is a one-key mapping: `{dense: {units: 300, use_bias: false}}`, `{batch_norm: {}}`,
`{activation: relu}`, `{dropout: {rate: 0.2}}`, `{flatten: {}}`, `{conv2d: {filters: 32, kernel_size: 3}}`,
`{max_pooling2d: {}}`. Defaults are Keras's: a dense or conv kernel starts glorot_uniform, batch norm
keeps `momentum: 0.99` of its moving averages with `epsilon: 1e-3`, pooling is 2×2 with strides = pool size.

Image layout. dnnconf's image data is (N, H, W) (grayscale, e.g. Fashion-MNIST) or (N, H, W, C), and
configs read as Keras's channels-last ones. PyTorch convolutions want (N, C, H, W), so the first
conv2d / pooling layer on raw image data inserts a `ToChannelsFirst` module ((H, W) is one channel,
(H, W, C) is permuted once). From there on shapes are tracked channels-first as `Maps(C, H, W)`;
`keras_shape` turns them back into Keras's (H, W, C) for the model summary.

- `flatten` after convolutions flattens in PyTorch's (C, H, W) order, not Keras's (H, W, C): the size
  and the function class are the same; only the order of the dense kernel's input rows differs from a
  Keras model (copy weights across with a permute).
- `padding: same` is TensorFlow's at every stride: output = ceil(in / stride), total padding
  max((out − 1)·stride + k − in, 0) split with the extra pixel at the bottom/right. Convolutions pad
  with zeros; max pooling ignores the padding (−∞); average pooling divides by the number of real
  inputs in each window (TF's `count_include_pad=False`).
- `batch_norm` normalizes per feature on (N, F) and per channel on feature maps (Keras's axis=−1 on
  NHWC). Training uses the batch mean and the biased batch variance; the moving averages follow Keras 3:
  moving ← moving·momentum + batch·(1 − momentum), with the *biased* batch variance (PyTorch's own
  BatchNorm would use the unbiased one).
- `max_norm` on a conv kernel bounds each output filter's norm (Keras's axis=[0, 1, 2]); an activation
  with parameters on feature maps (prelu) has one slope per channel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, ValidationError, field_validator

from dnnconf.errors import ConfigError
from dnnconf.nn.activations import ACTIVATIONS
from dnnconf.nn.batch_norm import BatchNorm
from dnnconf.nn.constraints import ConstraintConfig, MaxNorm
from dnnconf.nn.feature_maps import (
    AvgPool2d,
    Conv2d,
    GlobalAvgPool2d,
    GlobalMaxPool2d,
    Maps,
    MaxPool2d,
    ToChannelsFirst,
    _pair,
    _Pool2d,
    _spatial,
    _symmetric,
    keras_shape,
)
from dnnconf.nn.initializers import INITIALIZERS
from dnnconf.nn.regularizers import KernelPenalty, RegularizerConfig
from dnnconf.registry import Params, Registry, Spec, describe_validation_error

LAYERS = Registry("layers")



# --- parameter models ---


class FlattenParams(Params):
    pass


class DenseParams(Params):
    units: int = Field(ge=1)
    activation: Spec | None = None
    kernel_initializer: Spec = "glorot_uniform"
    use_bias: bool = True
    kernel_regularizer: RegularizerConfig | None = None
    kernel_constraint: ConstraintConfig | None = None


class Conv2dParams(Params):
    filters: int = Field(ge=1)
    kernel_size: int | list[int]
    strides: int | list[int] = Field(1, validate_default=True)
    padding: Literal["valid", "same"] = "valid"
    activation: Spec | None = None
    kernel_initializer: Spec = "glorot_uniform"
    use_bias: bool = True
    kernel_regularizer: RegularizerConfig | None = None
    kernel_constraint: ConstraintConfig | None = None

    @field_validator("kernel_size", "strides", mode="before")
    @classmethod
    def _pairs(cls, value: Any, info: Any) -> list[int]:
        return _pair(value, info.field_name)


class Pool2dParams(Params):
    pool_size: int | list[int] = Field(2, validate_default=True)
    strides: int | list[int] | None = None
    padding: Literal["valid", "same"] = "valid"

    @field_validator("pool_size", "strides", mode="before")
    @classmethod
    def _pairs(cls, value: Any, info: Any) -> list[int] | None:
        return None if value is None else _pair(value, info.field_name)


class BatchNormParams(Params):
    momentum: float = Field(0.99, gt=0, lt=1)
    epsilon: float = Field(1e-3, gt=0)
    center: bool = True
    scale: bool = True


class ActivationParams(Params):
    activation: Spec


class DropoutParams(Params):
    rate: float = Field(ge=0, lt=1)

    @field_validator("rate")
    @classmethod
    def _rate(cls, value: float) -> float:
        return float(value)


@dataclass
class Built:
    """What a layer factory returns: the modules (in order), the output shape, and the kernel
    penalties and constraints the loop must apply."""

    modules: list[tuple[str, torch.nn.Module]]
    shape: tuple[int, ...]
    penalties: list[KernelPenalty] = field(default_factory=list)
    constraints: list[MaxNorm] = field(default_factory=list)


def _features(shape: tuple[int, ...], kind: str) -> int:
    if len(shape) != 1:
        raise ConfigError(
            f"model.layers: {kind} needs a flat input but receives shape {list(keras_shape(shape))}; "
            f"put {{flatten: {{}}}} (or a global pooling layer) first"
        )
    return shape[0]


def _to_maps(shape: tuple[int, ...], kind: str) -> tuple[list[tuple[str, torch.nn.Module]], Maps]:
    """Feature maps for a conv/pooling layer: as they are, or raw image data made channels-first."""
    if isinstance(shape, Maps):
        return [], shape
    if len(shape) == 2:
        return [("channels_first", ToChannelsFirst(channels_last=False))], Maps(1, *shape)
    if len(shape) == 3:
        return [("channels_first", ToChannelsFirst(channels_last=True))], Maps(shape[2], shape[0], shape[1])
    raise ConfigError(
        f"model.layers: {kind} needs images (height, width) or (height, width, channels) but receives shape "
        f"{list(shape)}; put it before {{flatten: {{}}}} and dense layers"
    )


def _units(shape: tuple[int, ...]) -> int:
    """What a parametric activation gets one parameter per: channels of maps, else the last axis."""
    return shape[0] if isinstance(shape, Maps) else shape[-1]


def _kernel_extras(built: Built, weight: torch.nn.Parameter, regularizer: dict | None,
                   constraint: dict | None) -> None:
    if regularizer and (regularizer["l1"] or regularizer["l2"]):
        built.penalties.append(KernelPenalty(weight, regularizer["l1"], regularizer["l2"]))
    if constraint:
        built.constraints.append(MaxNorm(weight, constraint["max_norm"]))


# --- registry entries ---


@LAYERS.register("flatten", "flatten each example into one feature vector (feature maps in (C, H, W) order)",
                 FlattenParams)
def flatten(shape: tuple[int, ...], generator: torch.Generator | None) -> Built:
    return Built([("flatten", torch.nn.Flatten())], (math.prod(shape),))


@LAYERS.register("dense", "fully connected layer y = act(xW + b)", DenseParams)
def dense(shape: tuple[int, ...], generator: torch.Generator | None, units: int, activation: Any,
          kernel_initializer: Any, use_bias: bool, kernel_regularizer: dict | None,
          kernel_constraint: dict | None) -> Built:
    linear = torch.nn.Linear(_features(shape, "dense"), units, bias=use_bias)
    INITIALIZERS.build(kernel_initializer)(linear.weight, generator)
    if linear.bias is not None:
        torch.nn.init.zeros_(linear.bias)
    built = Built([("dense", linear)], (units,))
    if activation is not None and activation["name"] != "linear":
        built.modules.append((activation["name"], ACTIVATIONS.build(activation, units=units)))
    _kernel_extras(built, linear.weight, kernel_regularizer, kernel_constraint)
    return built


@LAYERS.register("conv2d", "2-D convolution y = act(x ⋆ K + b), padding valid | same (Keras Conv2D)",
                 Conv2dParams)
def conv2d(shape: tuple[int, ...], generator: torch.Generator | None, filters: int, kernel_size: list[int],
           strides: list[int], padding: str, activation: Any, kernel_initializer: Any, use_bias: bool,
           kernel_regularizer: dict | None, kernel_constraint: dict | None) -> Built:
    modules, maps = _to_maps(shape, "conv2d")
    (height, width), pad = _spatial(maps, kernel_size, strides, padding, "conv2d")
    symmetric = _symmetric(pad)
    conv = Conv2d(maps.channels, filters, tuple(kernel_size), tuple(strides), bias=use_bias,
                  padding=symmetric or 0, pad=None if symmetric else pad)
    INITIALIZERS.build(kernel_initializer)(conv.weight, generator)
    if conv.bias is not None:
        torch.nn.init.zeros_(conv.bias)
    built = Built([*modules, ("conv2d", conv)], Maps(filters, height, width))
    if activation is not None and activation["name"] != "linear":
        built.modules.append((activation["name"], ACTIVATIONS.build(activation, units=filters)))
    _kernel_extras(built, conv.weight, kernel_regularizer, kernel_constraint)
    return built


def _pooling(kind: str, module: type[_Pool2d], shape: tuple[int, ...], pool_size: list[int],
             strides: list[int] | None, padding: str) -> Built:
    modules, maps = _to_maps(shape, kind)
    strides = strides or pool_size
    (height, width), pad = _spatial(maps, pool_size, strides, padding, kind)
    pool = module(pool_size, strides, pad, maps.spatial)
    return Built([*modules, (kind, pool)], Maps(maps.channels, height, width))


@LAYERS.register("max_pooling2d", "max over pool_size windows (strides null: = pool_size), padding valid | same",
                 Pool2dParams, aliases=("max_pool2d",))
def max_pooling2d(shape: tuple[int, ...], generator: torch.Generator | None, pool_size: list[int],
                  strides: list[int] | None, padding: str) -> Built:
    return _pooling("max_pooling2d", MaxPool2d, shape, pool_size, strides, padding)


@LAYERS.register("avg_pooling2d", "mean over pool_size windows (strides null: = pool_size), padding valid | "
                 "same", Pool2dParams, aliases=("average_pooling2d", "avg_pool2d"))
def avg_pooling2d(shape: tuple[int, ...], generator: torch.Generator | None, pool_size: list[int],
                  strides: list[int] | None, padding: str) -> Built:
    return _pooling("avg_pooling2d", AvgPool2d, shape, pool_size, strides, padding)


@LAYERS.register("global_avg_pooling2d", "mean of each channel: feature maps to a vector of channels",
                 FlattenParams, aliases=("global_average_pooling2d",))
def global_avg_pooling2d(shape: tuple[int, ...], generator: torch.Generator | None) -> Built:
    modules, maps = _to_maps(shape, "global_avg_pooling2d")
    return Built([*modules, ("global_avg_pooling2d", GlobalAvgPool2d())], (maps.channels,))


@LAYERS.register("global_max_pooling2d", "max of each channel: feature maps to a vector of channels",
                 FlattenParams)
def global_max_pooling2d(shape: tuple[int, ...], generator: torch.Generator | None) -> Built:
    modules, maps = _to_maps(shape, "global_max_pooling2d")
    return Built([*modules, ("global_max_pooling2d", GlobalMaxPool2d())], (maps.channels,))


@LAYERS.register("batch_norm", "batch normalization per feature or per channel (Keras momentum/epsilon)",
                 BatchNormParams)
def batch_norm(shape: tuple[int, ...], generator: torch.Generator | None, **params: Any) -> Built:
    if isinstance(shape, Maps):
        features = shape.channels
    elif len(shape) == 1:
        features = shape[0]
    else:
        raise ConfigError(
            f"model.layers: batch_norm normalizes flat features or conv feature maps but receives image data "
            f"of shape {list(shape)}; put {{flatten: {{}}}} or a conv2d first"
        )
    return Built([("batch_norm", BatchNorm(features, **params))], shape)


@LAYERS.register("activation", "an activation on its own, e.g. after batch norm", ActivationParams)
def activation(shape: tuple[int, ...], generator: torch.Generator | None, **spec: Any) -> Built:
    """The resolved form is the activation's own spec: `{activation: {name: leaky_relu, alpha: 0.2}}`."""
    return Built([(spec["name"], ACTIVATIONS.build(spec, units=_units(shape)))], shape)


@LAYERS.register("dropout", "drop each input with probability rate while training (scaled by 1/(1-rate))",
                 DropoutParams)
def dropout(shape: tuple[int, ...], generator: torch.Generator | None, rate: float) -> Built:
    return Built([("dropout", torch.nn.Dropout(rate))], shape)


@LAYERS.register("alpha_dropout", "dropout for SELU: dropped inputs go to SELU's floor, then an affine map keeps "
                 "mean and variance (Keras AlphaDropout)", DropoutParams)
def alpha_dropout(shape: tuple[int, ...], generator: torch.Generator | None, rate: float) -> Built:
    # torch's alpha_dropout is Keras's formula: a = ((1-p)(1+p·α'²))^-½, b = -a·α'·p, α' = -λα,
    # y = a·(x·m + α'·(1-m)) + b (tests/nn/test_layers.py checks it against Keras on a fixed mask)
    return Built([("alpha_dropout", torch.nn.AlphaDropout(rate))], shape)


class MCDropout(torch.nn.Dropout):
    """The note's `MCDropout`: dropout that stays on in eval mode too (Keras `training=True`), for MC dropout."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.p, True, self.inplace)


@LAYERS.register("mc_dropout", "dropout that stays on at inference too (the note's MCDropout): every prediction "
                 "samples a mask; average many (dnnconf predict/evaluate --mc-samples)", DropoutParams)
def mc_dropout(shape: tuple[int, ...], generator: torch.Generator | None, rate: float) -> Built:
    return Built([("mc_dropout", MCDropout(rate))], shape)


def resolve_layer(entry: Any, path: str) -> dict[str, Any]:
    """Validate one explicit layer `{kind: params}` into `{kind: complete params}`."""
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ConfigError(
            f"{path}: a layer is a one-key mapping like {{dense: {{units: 100}}}} (received {entry!r}); "
            f"known layers: {', '.join(LAYERS.names())}"
        )
    (kind, params), = entry.items()
    layer = LAYERS.get(kind, path)
    if layer.name == "activation":
        params = {"activation": params}
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ConfigError(f"{path}.{kind}: expected a mapping of parameters (received {params!r})")
    try:
        validated = layer.params.model_validate(params).model_dump(mode="json")
    except ValidationError as error:
        raise ConfigError(
            describe_validation_error(f"{path}.{kind}", error, list(layer.params.model_fields))
        ) from None
    if layer.name == "activation":
        return {layer.name: ACTIVATIONS.resolve(validated["activation"], f"{path}.activation")}
    if layer.name in ("dense", "conv2d"):
        validated["kernel_initializer"] = INITIALIZERS.resolve(
            validated["kernel_initializer"], f"{path}.{kind}.kernel_initializer"
        )
        if validated["activation"] is not None:
            validated["activation"] = ACTIVATIONS.resolve(validated["activation"], f"{path}.{kind}.activation")
    return {layer.name: validated}


def resolve_layers(entries: list[Any], path: str) -> list[dict[str, Any]]:
    return [resolve_layer(entry, f"{path}.{index}") for index, entry in enumerate(entries)]
