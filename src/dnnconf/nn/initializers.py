"""Weight initializers with Keras's numeric semantics, filling PyTorch tensors in place.

Every factory returns `init(weight, generator=None) -> None`, which fills `weight` under
`torch.no_grad()`. Tensors are in PyTorch layout — Linear `(out, in)`, Conv `(out, in, *kernel)` —
but fans, scales and the orthogonal reshape follow Keras (`keras.initializers`, Keras 3), whose
layout is `(in, out)` / `(*kernel, in, out)`:

    receptive field rf = prod(kernel) (1 for a dense layer)
    fan_in = in * rf,  fan_out = out * rf,  fan_avg = (fan_in + fan_out) / 2

`variance_scaling` draws with variance `scale / fan` (fan floored at 1, as Keras does):

    truncated_normal    N(0, σ²) cut at ±2σ, σ = sqrt(scale / fan) / 0.87962566103423978
                        (the constant is the std of a unit normal cut at ±2, so the draw's std is
                        exactly sqrt(scale / fan))
    untruncated_normal  N(0, scale / fan)
    uniform             U(-limit, limit), limit = sqrt(3 * scale / fan)

Glorot (scale 1, fan_avg), He (scale 2, fan_in) and LeCun (scale 1, fan_in) are presets of it, with
Keras's distributions: `*_normal` is the truncated normal, `*_uniform` the uniform.

The others, with Keras's defaults: `random_normal` N(0, 0.05²); `truncated_normal` N(0, 0.05²) cut
at mean ± 2·stddev (stddev before the cut, no correction); `random_uniform` U(-0.05, 0.05); `zeros`;
`ones`; `orthogonal` gain·Q with Q a random orthogonal matrix (QR of a normal matrix, signs fixed by
diag R) on the Keras 2-D reshape (rows = prod(keras_shape[:-1]) = rf·in, cols = out).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Annotated, Literal

import torch
from pydantic import Field, field_validator, model_validator

from dnnconf.errors import ConfigError
from dnnconf.registry import Params, Registry

INITIALIZERS = Registry("initializers")

Init = Callable[..., None]  # init(weight, generator=None) -> None

# Std of a standard normal truncated to [-2, 2]; Keras divides by it so the truncated draw keeps
# the intended variance.
TRUNCATED_STD = 0.87962566103423978

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]

# Preset name -> the family the note's table pairs with activations (read by the init/activation lint).
FAMILY: dict[str, str] = {
    "glorot_normal": "glorot",
    "glorot_uniform": "glorot",
    "he_normal": "he",
    "he_uniform": "he",
    "lecun_normal": "lecun",
    "lecun_uniform": "lecun",
}


def fans(shape: tuple[int, ...] | torch.Size) -> tuple[int, int]:
    """`(fan_in, fan_out)` of a weight shape in PyTorch layout, computed as Keras's `compute_fans`.

    `()` -> (1, 1); `(n,)` -> (n, n); `(out, in)` -> (in, out);
    `(out, in, *kernel)` -> (in * rf, out * rf) with rf = prod(kernel).
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    rf = math.prod(shape[2:])
    return shape[1] * rf, shape[0] * rf


def _to_keras_order(ndim: int) -> list[int]:
    """Permutation taking a PyTorch-layout tensor to Keras layout: (out, in, *k) -> (*k, in, out)."""
    return [*range(2, ndim), 1, 0]


def _from_keras_order(ndim: int) -> list[int]:
    """The inverse permutation: Keras (*k, in, out) -> PyTorch (out, in, *k)."""
    return [ndim - 1, ndim - 2, *range(ndim - 2)]


# --- the fill functions (bound with functools.partial, so an init prints its parameters) ---


def _variance_scaling(weight: torch.Tensor, generator: torch.Generator | None = None, *,
                      scale: float, mode: str, distribution: str) -> None:
    fan_in, fan_out = fans(weight.shape)
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    variance = scale / max(1.0, fan)  # Keras floors the fan at 1 (empty or scalar tensors)
    with torch.no_grad():
        if distribution == "truncated_normal":
            std = math.sqrt(variance) / TRUNCATED_STD
            torch.nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std, generator=generator)
        elif distribution == "untruncated_normal":
            weight.normal_(0.0, math.sqrt(variance), generator=generator)
        else:
            limit = math.sqrt(3.0 * variance)
            weight.uniform_(-limit, limit, generator=generator)


def _normal(weight: torch.Tensor, generator: torch.Generator | None = None, *,
            mean: float, stddev: float) -> None:
    with torch.no_grad():
        weight.normal_(mean, stddev, generator=generator)


def _truncated_normal(weight: torch.Tensor, generator: torch.Generator | None = None, *,
                      mean: float, stddev: float) -> None:
    with torch.no_grad():
        torch.nn.init.trunc_normal_(weight, mean, stddev, mean - 2 * stddev, mean + 2 * stddev,
                                    generator=generator)


def _uniform(weight: torch.Tensor, generator: torch.Generator | None = None, *,
             minval: float, maxval: float) -> None:
    with torch.no_grad():
        weight.uniform_(minval, maxval, generator=generator)


def _constant(weight: torch.Tensor, generator: torch.Generator | None = None, *, value: float) -> None:
    with torch.no_grad():
        weight.fill_(value)


def _orthogonal(weight: torch.Tensor, generator: torch.Generator | None = None, *, gain: float) -> None:
    if weight.dim() < 2:
        raise ConfigError(f"orthogonal: the weight must be at least 2-D (received {tuple(weight.shape)})")
    keras_shape = [weight.shape[i] for i in _to_keras_order(weight.dim())]
    rows, cols = math.prod(keras_shape[:-1]), keras_shape[-1]
    # QR needs float32 at least; half-precision weights get a cast result.
    dtype = torch.promote_types(weight.dtype, torch.float32)
    a = torch.randn(max(rows, cols), min(rows, cols), generator=generator, dtype=dtype, device=weight.device)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r))  # signs of diag(R) make Q Haar-distributed (as Keras)
    if rows < cols:
        q = q.T
    keras_tensor = (gain * q).reshape(keras_shape)
    with torch.no_grad():
        weight.copy_(keras_tensor.permute(_from_keras_order(weight.dim())))


# --- parameter models ---


class VarianceScalingParams(Params):
    scale: Positive = 1.0
    mode: Literal["fan_in", "fan_out", "fan_avg"] = "fan_in"
    distribution: Literal["truncated_normal", "untruncated_normal", "uniform"] = "truncated_normal"

    @field_validator("distribution", mode="before")
    @classmethod
    def _keras_normal(cls, value: object) -> object:
        # Keras lower-cases the name and reads "normal" as "truncated_normal".
        if isinstance(value, str):
            value = value.lower()
            return "truncated_normal" if value == "normal" else value
        return value


class NormalParams(Params):
    mean: Finite = 0.0
    stddev: Positive = 0.05


class UniformParams(Params):
    minval: Finite = -0.05
    maxval: Finite = 0.05

    @model_validator(mode="after")
    def _ordered(self) -> UniformParams:
        if not self.minval < self.maxval:
            raise ValueError(f"minval ({self.minval}) must be < maxval ({self.maxval})")
        return self


class OrthogonalParams(Params):
    gain: Finite = 1.0


# --- registry entries ---


@INITIALIZERS.register(
    "variance_scaling",
    "variance scale/fan (fan_in|fan_out|fan_avg); truncated normal at ±2σ, untruncated normal or "
    "uniform ±sqrt(3·scale/fan) (Keras VarianceScaling)",
    VarianceScalingParams,
)
def variance_scaling(scale: float = 1.0, mode: str = "fan_in",
                     distribution: str = "truncated_normal") -> Init:
    return partial(_variance_scaling, scale=scale, mode=mode, distribution=distribution)


_TN = "truncated_normal"
_PRESETS = {  # name: (scale, mode, distribution, description)
    "glorot_normal": (1.0, "fan_avg", _TN, "Glorot/Xavier: truncated normal, variance 1/fan_avg"),
    "glorot_uniform": (1.0, "fan_avg", "uniform", "Glorot/Xavier: uniform ±sqrt(3/fan_avg), Keras default"),
    "he_normal": (2.0, "fan_in", _TN, "He/Kaiming: truncated normal, variance 2/fan_in"),
    "he_uniform": (2.0, "fan_in", "uniform", "He/Kaiming: uniform ±sqrt(6/fan_in)"),
    "lecun_normal": (1.0, "fan_in", _TN, "LeCun: truncated normal, variance 1/fan_in (for SELU)"),
    "lecun_uniform": (1.0, "fan_in", "uniform", "LeCun: uniform ±sqrt(3/fan_in)"),
}

for _name, (_scale, _mode, _dist, _description) in _PRESETS.items():
    INITIALIZERS.register(_name, _description)(
        partial(variance_scaling, scale=_scale, mode=_mode, distribution=_dist)
    )
del _name, _scale, _mode, _dist, _description


@INITIALIZERS.register("random_normal", "N(mean, stddev²), Keras defaults mean 0, stddev 0.05", NormalParams)
def random_normal(mean: float = 0.0, stddev: float = 0.05) -> Init:
    return partial(_normal, mean=mean, stddev=stddev)


@INITIALIZERS.register(
    "truncated_normal",
    "N(mean, stddev²) cut at mean ± 2·stddev (stddev before the cut), Keras defaults 0, 0.05",
    NormalParams,
)
def truncated_normal(mean: float = 0.0, stddev: float = 0.05) -> Init:
    return partial(_truncated_normal, mean=mean, stddev=stddev)


@INITIALIZERS.register("random_uniform", "U(minval, maxval), Keras defaults -0.05, 0.05", UniformParams)
def random_uniform(minval: float = -0.05, maxval: float = 0.05) -> Init:
    return partial(_uniform, minval=minval, maxval=maxval)


@INITIALIZERS.register("zeros", "all zeros (Keras bias default)")
def zeros() -> Init:
    return partial(_constant, value=0.0)


@INITIALIZERS.register("ones", "all ones")
def ones() -> Init:
    return partial(_constant, value=1.0)


@INITIALIZERS.register(
    "orthogonal",
    "gain · a random orthogonal matrix on the Keras 2-D reshape (prod(shape[:-1]), shape[-1])",
    OrthogonalParams,
)
def orthogonal(gain: float = 1.0) -> Init:
    return partial(_orthogonal, gain=gain)
