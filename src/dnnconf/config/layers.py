"""The explicit layer list a model config stands for (`model_layers`), what `dnnconf.nn.build` builds a
network from: the config's own `layers`, or the compact form expanded, then the output layer.

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
"""

from __future__ import annotations

from typing import Any

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


def model_layers(model: ModelConfig, output_units: int, output_activation: str) -> list[dict[str, Any]]:
    """The resolved explicit layers of either form, output layer last."""
    if model.layers is None:
        return expand_compact(model, output_units, output_activation)
    regularizer = None
    return [*model.layers, {"dense": output_layer(model, output_units, output_activation, regularizer)}]
