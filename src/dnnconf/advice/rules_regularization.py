"""The rules of `dnnconf check` on the note's §5 regularization (`DNC5xx`) and its §6 summary's exceptions
(`DNC6xx`, data).
"""

from __future__ import annotations

from typing import Any

from dnnconf.advice.config_reading import (
    DROPOUT_KINDS,
    KERNEL_KINDS,
    hidden_layers,
    no_validation,
)
from dnnconf.advice.rule_registry import Finding, finding, rule

# --- §5 regularization ---


@rule("DNC501", "error", "5.1")
def early_stopping_without_validation(config: Any) -> list[Finding]:
    stopping = config.training.early_stopping
    if stopping is not None and stopping.monitor.startswith("val_") and no_validation(config):
        return [finding("DNC501", "training.early_stopping.monitor", monitor=stopping.monitor)]
    return []


@rule("DNC502", "warning", "5.4")
def dropout_rate_out_of_range(config: Any) -> list[Finding]:
    return [finding("DNC502", layer.at("rate"), rate=float(layer.params["rate"]))
            for layer in hidden_layers(config)
            if layer.kind in DROPOUT_KINDS and layer.params.get("rate") and not 0.1 <= layer.params["rate"] <= 0.5]


@rule("DNC503", "warning", "5.4")
def dropout_below_top_three(config: Any) -> list[Finding]:
    """Dropout on more than the top three layers (the inputs count as a layer: the note's own model
    drops the inputs and its two hidden layers)."""
    model = config.model
    if model.layers is None:
        dropout = model.dropout
        if not dropout or not dropout.rate:
            return []
        n = len(model.hidden)
        count = min(dropout.top_layers, n) + (1 if dropout.top_layers > n else 0)
        return [finding("DNC503", "model.dropout.top_layers", count=count)] if count > 3 else []
    layers = hidden_layers(config)
    total = sum(layer.kind in KERNEL_KINDS for layer in layers)
    seen, positions, first_low = 0, set(), None
    for layer in layers:
        if layer.kind in KERNEL_KINDS:
            seen += 1
        elif layer.kind in DROPOUT_KINDS and layer.params.get("rate"):
            positions.add(seen)
            if seen < total - 2 and first_low is None:
                first_low = layer
    return [finding("DNC503", first_low.at(), count=len(positions))] if first_low is not None else []


@rule("DNC504", "warning", "5.4")
def dropout_on_output(config: Any) -> list[Finding]:
    """Explicit form: dropout right after an output-like layer (softmax, or a single sigmoid unit)."""
    if config.model.layers is None:
        return []
    layers = hidden_layers(config)
    out = []
    for position, layer in enumerate(layers[1:], start=1):
        before = layers[position - 1]
        spec = before.params if before.kind == "activation" else before.params.get("activation")
        name = (spec or {}).get("name")
        output_like = name == "softmax" or (name == "sigmoid" and before.params.get("units") == 1)
        if layer.kind in DROPOUT_KINDS and output_like:
            out.append(finding("DNC504", layer.at(), activation=name))
    return out


@rule("DNC505", "info", "5.1")
def no_early_stopping(config: Any) -> list[Finding]:
    return [finding("DNC505", "training.early_stopping")] if config.training.early_stopping is None else []


# --- §6 summary: exceptions ---


@rule("DNC601", "warning", "6")
def inputs_not_normalized(config: Any) -> list[Finding]:
    return [finding("DNC601", "data.normalize")] if config.data.normalize == "none" else []
