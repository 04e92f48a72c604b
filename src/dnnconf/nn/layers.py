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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, ValidationError, field_validator

from dnnconf.errors import ConfigError
from dnnconf.nn.constraints import ConstraintConfig, MaxNorm
from dnnconf.nn.regularizers import KernelPenalty, RegularizerConfig
from dnnconf.registry import Params, Registry, Spec, describe_validation_error

LAYERS = Registry("layers")


# --- shapes ---


class Maps(tuple):
    """The shape of channels-first feature maps (C, H, W), as opposed to raw image data (H, W[, C])."""

    def __new__(cls, channels: int, height: int, width: int) -> Maps:
        return super().__new__(cls, (int(channels), int(height), int(width)))

    def __getnewargs__(self) -> tuple[int, int, int]:  # pickling
        return tuple(self)  # type: ignore[return-value]

    @property
    def channels(self) -> int:
        return self[0]

    @property
    def spatial(self) -> tuple[int, int]:
        return self[1], self[2]

    def __repr__(self) -> str:
        return f"Maps(C={self[0]}, H={self[1]}, W={self[2]})"


def keras_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape as Keras writes it: feature maps (C, H, W) become (H, W, C); others are unchanged."""
    if isinstance(shape, Maps):
        return shape[1], shape[2], shape[0]
    return tuple(shape)


def _pair(value: Any, name: str) -> list[int]:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer or [height, width]")
    if isinstance(value, int):
        value = [value, value]
    if not isinstance(value, list | tuple) or len(value) != 2 or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise ValueError(f"{name} must be an integer or [height, width]")
    if min(value) < 1:
        raise ValueError(f"{name} must be >= 1")
    return [int(v) for v in value]


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding along one axis: (before, after), the extra pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _output_size(size: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return -(-size // stride)
    return (size - kernel) // stride + 1


def _spatial(shape: Maps, kernel: list[int], strides: list[int], padding: str, kind: str
             ) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """Output (H, W) and F.pad-style padding (left, right, top, bottom) of a window layer."""
    (h, w), (kh, kw), (sh, sw) = shape.spatial, kernel, strides
    if padding == "valid" and (kh > h or kw > w):
        raise ConfigError(
            f"model.layers: {kind} with a {kh}×{kw} window does not fit its {h}×{w} input (padding valid); "
            f"use a smaller window or padding: same"
        )
    out = (_output_size(h, kh, sh, padding), _output_size(w, kw, sw, padding))
    if padding == "valid":
        return out, (0, 0, 0, 0)
    top, bottom = _same_padding(h, kh, sh)
    left, right = _same_padding(w, kw, sw)
    return out, (left, right, top, bottom)


def _symmetric(pad: tuple[int, int, int, int]) -> tuple[int, int] | None:
    """(top, left) when the padding is the same on both sides of each axis, else None."""
    left, right, top, bottom = pad
    return (top, left) if left == right and top == bottom else None


# --- modules ---


class ToChannelsFirst(torch.nn.Module):
    """Raw image data to PyTorch's layout: (N, H, W) → (N, 1, H, W), (N, H, W, C) → (N, C, H, W)."""

    def __init__(self, channels_last: bool):
        super().__init__()
        self.channels_last = channels_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2) if self.channels_last else x.unsqueeze(1)

    def extra_repr(self) -> str:
        return "(N, H, W, C) -> (N, C, H, W)" if self.channels_last else "(N, H, W) -> (N, 1, H, W)"


class BatchNorm(torch.nn.Module):
    """Batch normalization with Keras 3's numbers, on (N, F) or per channel on (N, C, H, W).

    Training: y = γ·(x − μ_B)/sqrt(σ²_B + ε) + β with the batch mean μ_B and the biased batch variance
    σ²_B (PyTorch's fused kernel); the moving averages then take μ ← μ·momentum + μ_B·(1 − momentum) and
    σ² ← σ²·momentum + σ²_B·(1 − momentum) (biased σ²_B, as Keras). Inference uses the moving averages.
    `center: false` drops β, `scale: false` drops γ. State: `weight` (γ), `bias` (β), `running_mean`,
    `running_var`.

    Two settings that are not state (not in the state_dict):
    - `frozen` (`freeze()`): inference arithmetic, moving averages kept, whatever `train()` says: Keras's
      `trainable = False` on a BatchNormalization layer (transfer learning's frozen layers).
    - `reducer`: None, or a differentiable Σ over the processes of a data-parallel run (set by
      `dnnconf.train.distributed.use_synced_batch_norm`). Given one, μ_B and σ²_B are those of the global
      batch: per channel the sums [Σx, Σx², n] (float64, so E[x²] − E[x]² keeps its digits) go through
      it, μ = Σx/n, σ² = max(Σx²/n − μ², 0); gradients flow back through it.
    """

    def __init__(self, features: int, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True):
        super().__init__()
        self.features = features
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.register_parameter("weight", torch.nn.Parameter(torch.ones(features)) if scale else None)
        self.register_parameter("bias", torch.nn.Parameter(torch.zeros(features)) if center else None)
        self.register_buffer("running_mean", torch.zeros(features))
        self.register_buffer("running_var", torch.ones(features))
        self.frozen = False
        self.reducer: Callable[[torch.Tensor], torch.Tensor] | None = None

    def freeze(self, frozen: bool = True) -> BatchNorm:
        """Keep (frozen) or stop keeping this layer in inference arithmetic during training."""
        self.frozen = frozen
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.frozen:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0,
                                self.epsilon)
        dims = [0, *range(2, x.dim())]
        if self.reducer is not None:
            return self._global_batch(x, dims)
        with torch.no_grad():
            var, mean = torch.var_mean(x, dim=dims, correction=0)
            self._update_moving_averages(mean, var)
        if x.numel() > x.shape[1]:
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.epsilon)
        # one value per feature (a batch of one example on (N, F)): PyTorch's kernel refuses it; Keras
        # gives variance 0, so y = β and no gradient reaches x.
        centered = x - x.mean(dim=dims, keepdim=True)
        return self._scale_shift(centered * torch.rsqrt(centered.square().mean(dim=dims, keepdim=True)
                                                        + self.epsilon))

    def _global_batch(self, x: torch.Tensor, dims: list[int]) -> torch.Tensor:
        """Training arithmetic over the global batch, the sums through `reducer` (see the class docstring)."""
        wide = x.double()
        count = torch.full((1,), x.numel() // x.shape[1], dtype=torch.float64, device=x.device)
        sums = self.reducer(torch.cat([wide.sum(dims), (wide * wide).sum(dims), count]))  # type: ignore[misc]
        channels = x.shape[1]
        mean = sums[:channels] / sums[-1]
        var = (sums[channels:2 * channels] / sums[-1] - mean * mean).clamp_min(0.0)
        with torch.no_grad():
            self._update_moving_averages(mean, var)
        shape = [1, -1] + [1] * (x.dim() - 2)
        return self._scale_shift((x - mean.to(x.dtype).view(shape)) * torch.rsqrt(var.to(x.dtype) + self.epsilon)
                                 .view(shape))

    def _update_moving_averages(self, mean: torch.Tensor, var: torch.Tensor) -> None:
        keep = self.momentum
        self.running_mean.mul_(keep).add_(mean.to(self.running_mean.dtype), alpha=1.0 - keep)
        self.running_var.mul_(keep).add_(var.to(self.running_var.dtype), alpha=1.0 - keep)

    def _scale_shift(self, normalized: torch.Tensor) -> torch.Tensor:
        shape = [1, -1] + [1] * (normalized.dim() - 2)
        if self.weight is not None:
            normalized = normalized * self.weight.view(shape)
        if self.bias is not None:
            normalized = normalized + self.bias.view(shape)
        return normalized

    def extra_repr(self) -> str:
        frozen = ", frozen" if self.frozen else ""
        return (f"{self.features}, momentum={self.momentum:g}, epsilon={self.epsilon:g}, "
                f"center={self.bias is not None}, scale={self.weight is not None}{frozen}")


class Conv2d(torch.nn.Conv2d):
    """`torch.nn.Conv2d` that first zero-pads asymmetrically when Keras's 'same' needs it (stride > 1)."""

    def __init__(self, *args: Any, pad: tuple[int, int, int, int] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = F.pad(x, self.pad)
        return super().forward(x)

    def extra_repr(self) -> str:
        extra = f", pad(l, r, t, b)={self.pad}" if self.pad is not None else ""
        return super().extra_repr() + extra


class _Pool2d(torch.nn.Module):
    def __init__(self, kernel: list[int], strides: list[int], pad: tuple[int, int, int, int],
                 input_size: tuple[int, int]):
        super().__init__()
        self.kernel = tuple(kernel)
        self.strides = tuple(strides)
        self.pad = pad
        self.symmetric = _symmetric(pad)

    def extra_repr(self) -> str:
        return f"pool_size={self.kernel}, strides={self.strides}, pad(l, r, t, b)={self.pad}"


class MaxPool2d(_Pool2d):
    """Max over each window; 'same' padding never wins the max (TF/Keras)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.symmetric is not None:
            return F.max_pool2d(x, self.kernel, self.strides, self.symmetric)
        return F.max_pool2d(F.pad(x, self.pad, value=-math.inf), self.kernel, self.strides)


class AvgPool2d(_Pool2d):
    """Mean over each window's real inputs; 'same' padding is not counted (TF/Keras)."""

    def __init__(self, kernel: list[int], strides: list[int], pad: tuple[int, int, int, int],
                 input_size: tuple[int, int]):
        super().__init__(kernel, strides, pad, input_size)
        if self.symmetric is None:
            # 1 / (share of real inputs in each window), fixed by the shapes
            ones = F.pad(torch.ones(1, 1, *input_size), pad)
            self.register_buffer("rescale", 1.0 / F.avg_pool2d(ones, self.kernel, self.strides), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.symmetric is not None:
            return F.avg_pool2d(x, self.kernel, self.strides, self.symmetric, count_include_pad=False)
        return F.avg_pool2d(F.pad(x, self.pad), self.kernel, self.strides) * self.rescale


class GlobalAvgPool2d(torch.nn.Module):
    """(N, C, H, W) → (N, C): the mean of each channel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class GlobalMaxPool2d(torch.nn.Module):
    """(N, C, H, W) → (N, C): the max of each channel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=(2, 3))


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
    from dnnconf.nn.activations import ACTIVATIONS
    from dnnconf.nn.initializers import INITIALIZERS

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
    from dnnconf.nn.activations import ACTIVATIONS
    from dnnconf.nn.initializers import INITIALIZERS

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
    from dnnconf.nn.activations import ACTIVATIONS

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
    from dnnconf.nn.activations import ACTIVATIONS
    from dnnconf.nn.initializers import INITIALIZERS

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
