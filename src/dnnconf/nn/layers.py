"""The layers of the explicit form, one registry entry each, as in the note's Keras code.

An explicit layer is a one-key mapping: `{dense: {units: 300, use_bias: false}}`, `{batch_norm: {}}`,
`{activation: relu}`, `{dropout: {rate: 0.2}}`, `{flatten: {}}`. Defaults are Keras's: a dense kernel
starts glorot_uniform, batch norm keeps `momentum: 0.99` of its moving averages with `epsilon: 1e-3`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from pydantic import Field, ValidationError, field_validator

from dnnconf.config.schema import ConstraintConfig, RegularizerConfig, Spec
from dnnconf.errors import ConfigError
from dnnconf.nn.constraints import MaxNorm
from dnnconf.nn.regularizers import KernelPenalty
from dnnconf.registry import Params, Registry, describe_validation_error

LAYERS = Registry("layers")


class FlattenParams(Params):
    pass


class DenseParams(Params):
    units: int = Field(ge=1)
    activation: Spec | None = None
    kernel_initializer: Spec = "glorot_uniform"
    use_bias: bool = True
    kernel_regularizer: RegularizerConfig | None = None
    kernel_constraint: ConstraintConfig | None = None


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


class BatchNorm(torch.nn.BatchNorm1d):
    """Batch norm over features with Keras's parameters.

    y = γ·(x − μ_B)/sqrt(σ²_B + ε) + β in training; the moving averages follow
    μ ← momentum·μ + (1 − momentum)·μ_B (Keras's convention: `momentum: 0.99` keeps 99%, which is
    PyTorch's `momentum=0.01`). `center: false` drops β, `scale: false` drops γ.
    """

    def __init__(self, features: int, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True):
        super().__init__(features, eps=epsilon, momentum=1.0 - momentum)
        if not center:
            self.register_parameter("bias", None)
        if not scale:
            self.register_parameter("weight", None)


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
            f"model.layers: {kind} needs a flat input but receives shape {list(shape)}; put {{flatten: {{}}}} first"
        )
    return shape[0]


@LAYERS.register("flatten", "flatten each example into one feature vector", FlattenParams)
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
    if kernel_regularizer and (kernel_regularizer["l1"] or kernel_regularizer["l2"]):
        built.penalties.append(KernelPenalty(linear.weight, kernel_regularizer["l1"], kernel_regularizer["l2"]))
    if kernel_constraint:
        built.constraints.append(MaxNorm(linear.weight, kernel_constraint["max_norm"]))
    return built


@LAYERS.register("batch_norm", "batch normalization (Keras momentum/epsilon)", BatchNormParams)
def batch_norm(shape: tuple[int, ...], generator: torch.Generator | None, **params: Any) -> Built:
    return Built([("batch_norm", BatchNorm(_features(shape, "batch_norm"), **params))], shape)


@LAYERS.register("activation", "an activation on its own, e.g. after batch norm", ActivationParams)
def activation(shape: tuple[int, ...], generator: torch.Generator | None, **spec: Any) -> Built:
    """The resolved form is the activation's own spec: `{activation: {name: leaky_relu, alpha: 0.2}}`."""
    from dnnconf.nn.activations import ACTIVATIONS

    return Built([(spec["name"], ACTIVATIONS.build(spec, units=shape[-1]))], shape)


@LAYERS.register("dropout", "drop each input with probability rate while training (scaled by 1/(1-rate))",
                 DropoutParams)
def dropout(shape: tuple[int, ...], generator: torch.Generator | None, rate: float) -> Built:
    return Built([("dropout", torch.nn.Dropout(rate))], shape)


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
    if kind == "activation":
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
    if kind == "activation":
        return {kind: ACTIVATIONS.resolve(validated["activation"], f"{path}.activation")}
    if kind == "dense":
        validated["kernel_initializer"] = INITIALIZERS.resolve(
            validated["kernel_initializer"], f"{path}.dense.kernel_initializer"
        )
        if validated["activation"] is not None:
            validated["activation"] = ACTIVATIONS.resolve(validated["activation"], f"{path}.dense.activation")
    return {layer.name: validated}


def resolve_layers(entries: list[Any], path: str) -> list[dict[str, Any]]:
    return [resolve_layer(entry, f"{path}.{index}") for index, entry in enumerate(entries)]
