"""Activation functions with Keras's names, parameters and defaults, as `nn.Module`s.

Every factory takes its validated parameters plus an optional keyword `units` (the width of the
layer it follows), which the model builder passes to all of them; only `prelu` uses it. Each module
runs one of torch's fused kernels where one exists.

    relu(z) = max(0, z)                        leaky_relu(z) = z if z > 0 else alpha·z
    prelu(z) = z if z > 0 else a·z (a learned) elu(z) = z if z > 0 else alpha·(exp(z) - 1)
    selu(z) = λ·elu_α(z), α ≈ 1.6733, λ ≈ 1.0507  gelu(z) = z·Φ(z) (or its tanh approximation)
    swish(z) = z·σ(βz) (silu when β = 1)       mish(z) = z·tanh(softplus(z))
    softplus(z) = log(1 + exp(z))              softmax over the last dimension; linear(z) = z
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from dnnconf.registry import Params, Registry

ACTIVATIONS = Registry("activations")

Finite = Annotated[float, Field(allow_inf_nan=False)]

# Activation -> initializer family, from the note's table (Glorot for none/linear, tanh, sigmoid,
# softmax; He for ReLU and its variants; LeCun for SELU). An activation of None means linear.
RECOMMENDED_INIT: dict[str, str] = {
    **dict.fromkeys(["linear", "tanh", "sigmoid", "softmax"], "glorot"),
    **dict.fromkeys(
        ["relu", "leaky_relu", "prelu", "elu", "gelu", "swish", "silu", "mish", "softplus"], "he"
    ),
    "selu": "lecun",
}

# Rectifier-like units the note presents as ReLU and its variants (unbounded above, ≈ z for large z).
_RELU_FAMILY = frozenset({"relu", "leaky_relu", "prelu", "elu", "selu", "gelu", "swish", "silu", "mish"})
# Bounded on both sides: gradients vanish for large |z| (the note's vanishing-gradient culprits).
_SATURATING = frozenset({"tanh", "sigmoid", "softmax"})


def is_relu_family(name: str) -> bool:
    """True for relu, leaky_relu, prelu, elu, selu, gelu, swish/silu and mish."""
    return name in _RELU_FAMILY


def is_saturating(name: str) -> bool:
    """True for tanh, sigmoid and softmax, which saturate at both ends."""
    return name in _SATURATING


class Swish(nn.Module):
    """z·σ(βz) with a fixed or learned β (β = 1 and fixed uses `nn.SiLU` instead)."""

    def __init__(self, beta: float = 1.0, trainable: bool = False):
        super().__init__()
        if trainable:
            self.beta = nn.Parameter(torch.tensor(float(beta)))
        else:
            self.beta = float(beta)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z * torch.sigmoid(self.beta * z)

    def extra_repr(self) -> str:
        return f"beta={float(self.beta):g}, trainable={isinstance(self.beta, nn.Parameter)}"


# --- parameter models ---


class LeakyReluParams(Params):
    # Keras 3's `keras.activations.leaky_relu` default (tf.keras 2 and keras.layers.LeakyReLU use 0.3).
    alpha: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.2


class PReluParams(Params):
    alpha_init: Finite = 0.0  # Keras PReLU(alpha_initializer="zeros")


class EluParams(Params):
    alpha: Finite = 1.0


class GeluParams(Params):
    approximate: bool = False


class SwishParams(Params):
    beta: Finite = 1.0
    trainable: bool = False


# --- registry entries ---


_PLAIN = {  # name: (module class, description); no parameters
    "relu": (nn.ReLU, "max(0, z)"),
    "selu": (nn.SELU, "scaled ELU, λ·elu_α(z) with α ≈ 1.6733, λ ≈ 1.0507 (self-normalizing)"),
    "mish": (nn.Mish, "z·tanh(softplus(z))"),
    "tanh": (nn.Tanh, "hyperbolic tangent, saturates at ±1"),
    "sigmoid": (nn.Sigmoid, "1 / (1 + exp(-z)), saturates at 0 and 1"),
    "softplus": (nn.Softplus, "log(1 + exp(z)), a smooth ReLU"),
    "linear": (nn.Identity, "identity, z (Keras activation=None)"),
}

for _name, (_module, _description) in _PLAIN.items():
    ACTIVATIONS.register(_name, _description)(lambda units=None, _module=_module: _module())
del _name, _module, _description


@ACTIVATIONS.register("softmax", "exp(z_i) / Σ_j exp(z_j) over the last dimension")
def softmax(units: int | None = None) -> nn.Module:
    return nn.Softmax(dim=-1)


@ACTIVATIONS.register("leaky_relu", "z if z > 0 else alpha·z (alpha ≥ 0, default 0.2)", LeakyReluParams)
def leaky_relu(alpha: float = 0.2, units: int | None = None) -> nn.Module:
    return nn.LeakyReLU(negative_slope=alpha)


@ACTIVATIONS.register(
    "prelu", "z if z > 0 else a·z, one learned slope a per unit (initial alpha_init, default 0)", PReluParams
)
def prelu(alpha_init: float = 0.0, units: int | None = None) -> nn.Module:
    """One slope per unit along dimension 1 (dense units or conv channels), as Keras PReLU on a Dense
    output (on a conv output it matches Keras with `shared_axes` = the spatial axes); with
    `units=None` a single shared slope. The model builder passes `units`."""
    return nn.PReLU(num_parameters=units or 1, init=alpha_init)


@ACTIVATIONS.register("elu", "z if z > 0 else alpha·(exp(z) - 1) (default alpha 1)", EluParams)
def elu(alpha: float = 1.0, units: int | None = None) -> nn.Module:
    return nn.ELU(alpha=alpha)


@ACTIVATIONS.register(
    "gelu", "z·Φ(z); approximate: 0.5z(1 + tanh(sqrt(2/π)(z + 0.044715z³)))", GeluParams
)
def gelu(approximate: bool = False, units: int | None = None) -> nn.Module:
    return nn.GELU(approximate="tanh" if approximate else "none")


@ACTIVATIONS.register("swish", "z·σ(βz) (default β = 1: SiLU); trainable: β is learned", SwishParams,
                      aliases=("silu",))
def swish(beta: float = 1.0, trainable: bool = False, units: int | None = None) -> nn.Module:
    if beta == 1.0 and not trainable:
        return nn.SiLU()  # fused kernel
    return Swish(beta, trainable)
