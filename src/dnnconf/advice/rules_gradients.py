"""The rules of `dnnconf check` on the note's §1, gradient problems (`DNC1xx`): initialization,
activations, batch norm, clipping, depth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dnnconf.advice.config_reading import (
    KERNEL_KINDS,
    PLAIN_DENSE_KINDS,
    hidden_layers,
    init_family,
    is_selu_network,
    kernels,
    penalty_values,
    recommended_family,
    regularized_layers,
    standardized_per_channel,
)
from dnnconf.advice.rule_registry import Finding, finding, rule

DEEP = 10  # more hidden layers than this is a deep network


# --- §1 gradient problems: initialization, activations, batch norm, clipping, depth ---


@rule("DNC101", "warning", "1.1")
def relu_family_without_he(config: Any) -> list[Finding]:
    """ReLU, leaky ReLU, ELU, GELU, Swish, Mish (the note's table: He) with a Glorot or LeCun init."""
    out = []
    for kernel in kernels(hidden_layers(config)):
        family = init_family(kernel.initializer)
        if recommended_family(kernel.activation_name) == "he" and family in ("glorot", "lecun"):
            out.append(finding("DNC101", kernel.layer.at("kernel_initializer"), activation=kernel.activation_name,
                               initializer=kernel.initializer["name"], family=family))
    return out


@rule("DNC102", "warning", "1.1")
def saturating_with_he(config: Any) -> list[Finding]:
    """None (linear), tanh, sigmoid, softmax (the note's table: Glorot) with He initialization; the
    output layer is checked too."""
    out = []
    for kernel in kernels(hidden_layers(config)):
        if recommended_family(kernel.activation_name) == "glorot" and init_family(kernel.initializer) == "he":
            out.append(finding("DNC102", kernel.layer.at("kernel_initializer"), activation=kernel.activation_name,
                               initializer=kernel.initializer["name"]))
    output = config.model.output
    spec = output.kernel_initializer if isinstance(output.kernel_initializer, Mapping) else {
        "name": output.kernel_initializer}
    if init_family(spec) == "he":
        out.append(finding("DNC102", "model.output.kernel_initializer",
                           activation=output.activation or "output", initializer=spec["name"]))
    return out


@rule("DNC103", "warning", "1.2")
def selu_without_lecun(config: Any) -> list[Finding]:
    """SELU whose kernels are not LeCun-initialized (lecun_normal, lecun_uniform or scale 1 fan_in)."""
    return [finding("DNC103", k.layer.at("kernel_initializer"), initializer=k.initializer["name"])
            for k in kernels(hidden_layers(config))
            if k.activation_name == "selu" and init_family(k.initializer) != "lecun"]


@rule("DNC104", "warning", "1.1")
def random_initialization(config: Any) -> list[Finding]:
    """random_normal, random_uniform, truncated_normal, zeros or ones on a hidden layer."""
    return [finding("DNC104", k.layer.at("kernel_initializer"), initializer=k.initializer["name"])
            for k in kernels(hidden_layers(config)) if init_family(k.initializer) == "random"]


@rule("DNC110", "error", "1.2")
def selu_with_batch_norm(config: Any) -> list[Finding]:
    if not is_selu_network(config):
        return []
    return [finding("DNC110", layer.at()) for layer in hidden_layers(config) if layer.kind == "batch_norm"]


@rule("DNC111", "error", "1.2")
def selu_with_regular_dropout(config: Any) -> list[Finding]:
    """Regular dropout in a SELU network (alpha dropout is fine)."""
    if not is_selu_network(config):
        return []
    return [finding("DNC111", layer.at()) for layer in hidden_layers(config)
            if layer.kind == "dropout" and layer.params.get("rate")]


@rule("DNC112", "error", "1.2")
def selu_with_l1_l2(config: Any) -> list[Finding]:
    if not is_selu_network(config):
        return []
    return [finding("DNC112", layer.at("kernel_regularizer"), penalty=penalty_values(penalty))
            for layer, penalty in regularized_layers(hidden_layers(config))]


@rule("DNC113", "error", "1.2")
def selu_with_max_norm(config: Any) -> list[Finding]:
    if not is_selu_network(config):
        return []
    out = []
    for layer in hidden_layers(config):
        constraint = layer.params.get("kernel_constraint") if layer.kind in KERNEL_KINDS else None
        if constraint:
            out.append(finding("DNC113", layer.at("kernel_constraint"), max_norm=constraint["max_norm"]))
    return out


@rule("DNC114", "warning", "1.2")
def selu_without_standardized_inputs(config: Any) -> list[Finding]:
    if not is_selu_network(config):
        return []
    if config.data.normalize == "standardize" and not standardized_per_channel(config):
        return []
    described = "standardize per channel" if config.data.normalize == "standardize" else config.data.normalize
    return [finding("DNC114", "data.normalize", normalize=described)]


@rule("DNC115", "warning", "1.2")
def selu_outside_plain_dense_stack(config: Any) -> list[Finding]:
    """SELU in a network with other layer kinds (conv, pooling) or other hidden activations."""
    layers = hidden_layers(config)
    if not is_selu_network(config):
        return []
    out = [finding("DNC115", layer.at(), what=layer.kind) for layer in layers if layer.kind not in PLAIN_DENSE_KINDS]
    out += [finding("DNC115", k.activation_path, what=k.activation_name) for k in kernels(layers)
            if k.activation_name != "selu"]
    return out


@rule("DNC120", "info", "1.3")
def bias_before_batch_norm(config: Any) -> list[Finding]:
    """A dense/conv layer without activation and with use_bias true, directly followed by batch_norm
    (batch norm before the activation; the compact form already drops that bias)."""
    layers = hidden_layers(config)
    return [finding("DNC120", layer.at("use_bias")) for position, layer in enumerate(layers[:-1])
            if layer.kind in KERNEL_KINDS and layer.params.get("use_bias", True)
            and (layer.params.get("activation") or {}).get("name", "linear") == "linear"
            and layers[position + 1].kind == "batch_norm"]


@rule("DNC121", "warning", "1")
def deep_without_normalization(config: Any) -> list[Finding]:
    """More than 10 hidden layers with neither batch norm nor SELU (the note: deep → batch norm)."""
    layers = hidden_layers(config)
    found = kernels(layers)
    if len(found) <= DEEP or any(layer.kind == "batch_norm" for layer in layers) or is_selu_network(config):
        return []
    path = "model.hidden" if config.model.layers is None else "model.layers"
    return [finding("DNC121", path, layers=len(found))]


@rule("DNC122", "info", "1.3")
def batch_norm_after_activation(config: Any) -> list[Finding]:
    if config.model.layers is None:
        if config.model.batch_norm.position == "after_activation":
            return [finding("DNC122", "model.batch_norm")]
        return []
    layers = hidden_layers(config)
    out = []
    for position, layer in enumerate(layers[1:], start=1):
        before = layers[position - 1]
        activated = before.kind == "activation" or (
            before.kind in KERNEL_KINDS and (before.params.get("activation") or {}).get("name", "linear") != "linear")
        if layer.kind == "batch_norm" and activated:
            out.append(finding("DNC122", layer.at()))
    return out


@rule("DNC123", "info", "6")
def deep_with_relu(config: Any) -> list[Finding]:
    found = kernels(hidden_layers(config))
    if len(found) <= DEEP:
        return []
    relu = [k for k in found if k.activation_name == "relu"]
    return [finding("DNC123", relu[0].activation_path, layers=len(found))] if relu else []


@rule("DNC130", "warning", "1.4")
def clipping_by_value(config: Any) -> list[Finding]:
    value = config.optimizer.clipvalue
    return [finding("DNC130", "optimizer.clipvalue", value=value)] if value else []
