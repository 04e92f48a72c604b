"""What the rules of `dnnconf check` read from a config: the hidden layers in explicit form (`Layer`), the
dense/conv layers with the activation acting on them (`Kernel`), initializer families, the optimizer's
momentum, the schedule, the regularizers.

Rules read the resolved config (`dnnconf.config.load_config` / `config_from_dict`). The compact model
form is read through the explicit layers it stands for (`dnnconf.config.layers.expand_compact`), and a
finding names the key the user wrote: `model.activation` in the compact form, `model.layers.3` in
the explicit one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KERNEL_KINDS = ("dense", "conv2d")
DROPOUT_KINDS = ("dropout", "alpha_dropout")
PLAIN_DENSE_KINDS = ("flatten", "dense", "activation", "batch_norm", *DROPOUT_KINDS)
RANDOM_INITIALIZERS = ("random_normal", "random_uniform", "truncated_normal", "zeros", "ones")

COMPACT_LAYER_PATHS = {"flatten": "model.input_shape", "dense": "model.hidden", "activation": "model.activation",
                       "batch_norm": "model.batch_norm", "dropout": "model.dropout",
                       "alpha_dropout": "model.dropout"}
COMPACT_FEATURE_PATHS = {"activation": "model.activation", "kernel_initializer": "model.kernel_initializer",
                         "kernel_regularizer": "model.kernel_regularizer",
                         "kernel_constraint": "model.kernel_constraint", "use_bias": "model.batch_norm",
                         "rate": "model.dropout.rate"}


@dataclass(frozen=True)
class Layer:
    """A hidden layer in explicit form, and where the user wrote it."""

    index: int
    kind: str
    params: Mapping[str, Any]
    compact: bool

    def at(self, feature: str | None = None) -> str:
        if self.compact:
            return COMPACT_FEATURE_PATHS.get(feature or "", COMPACT_LAYER_PATHS.get(self.kind, "model"))
        base = f"model.layers.{self.index}"
        return f"{base}.{self.kind}.{feature}" if feature else base


@dataclass(frozen=True)
class Kernel:
    """A dense or conv layer with the activation that acts on it (its own, or a later activation layer)."""

    layer: Layer
    position: int  # index in the layer list
    activation: Mapping[str, Any] | None  # resolved spec; None means linear
    activation_path: str

    @property
    def activation_name(self) -> str:
        return self.activation["name"] if self.activation else "linear"

    @property
    def initializer(self) -> Mapping[str, Any]:
        return self.layer.params["kernel_initializer"]


def hidden_layers(config: Any) -> list[Layer]:
    """The hidden layers (output excluded) in explicit form."""
    from dnnconf.config.layers import expand_compact

    model = config.model
    if model.layers is not None:
        return [Layer(index, *next(iter(entry.items())), compact=False) for index, entry in enumerate(model.layers)]
    expanded = expand_compact(model, 1, "linear")[:-1]
    return [Layer(index, *next(iter(entry.items())), compact=True) for index, entry in enumerate(expanded)]


def kernels(layers: list[Layer]) -> list[Kernel]:
    found: list[Kernel] = []
    for position, layer in enumerate(layers):
        if layer.kind not in KERNEL_KINDS:
            continue
        activation = layer.params.get("activation")
        path = layer.at("activation")
        if not activation or activation.get("name") == "linear":
            activation = None
            for later in layers[position + 1:]:
                if later.kind in ("batch_norm", *DROPOUT_KINDS):
                    continue
                if later.kind == "activation":
                    activation, path = later.params, later.at()
                break
        found.append(Kernel(layer, position, activation, path))
    return found


def init_family(spec: Mapping[str, Any]) -> str | None:
    """glorot, he, lecun (the note's table), random, or None when the initializer is none of those."""
    from dnnconf.nn.initializers import FAMILY

    name = spec.get("name")
    if name in FAMILY:
        return FAMILY[name]
    if name == "variance_scaling":
        scale, mode = float(spec.get("scale", 1.0)), spec.get("mode", "fan_in")
        if math.isclose(scale, 2.0):
            return "he"  # the note's "He initialization based on fan_avg" is scale 2 with fan_avg
        if math.isclose(scale, 1.0):
            return {"fan_avg": "glorot", "fan_in": "lecun"}.get(mode)
        return None
    if name in RANDOM_INITIALIZERS:
        return "random"
    return None


def recommended_family(activation: str) -> str | None:
    from dnnconf.nn.activations import RECOMMENDED_INIT

    return RECOMMENDED_INIT.get(activation)


def is_selu_network(config: Any) -> bool:
    return any(k.activation_name == "selu" for k in kernels(hidden_layers(config)))


def standardized_per_channel(config: Any) -> bool:
    """Whether `data.normalize: standardize` shares one mean/std per image channel (normalize_axis channel, or
    auto on image-shaped inputs: an explicit input_shape of rank >= 2, or the image datasets) rather than
    standardizing each input feature."""
    data = config.data
    if data.normalize != "standardize" or data.normalize_axis == "feature":
        return False
    if data.normalize_axis == "channel":
        return True
    shape = config.model.input_shape
    return len(shape) >= 2 if shape is not None else data.dataset in ("fashion_mnist", "digits")


def field_of(obj: Any, key: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def optimizer_params(config: Any) -> dict[str, Any]:
    return dict(config.optimizer.model_extra or {})


def momentum_of(config: Any) -> float:
    """The optimizer's momentum a 1cycle schedule could cycle: sgd/rmsprop `momentum`, Adam's `beta_1`."""
    params = optimizer_params(config)
    if config.optimizer.name == "adagrad":
        return 0.0
    if "beta_1" in params:
        return float(params["beta_1"])
    return float(params.get("momentum", 0.0) or 0.0)


def schedule_spec(config: Any) -> Mapping[str, Any]:
    schedule = config.schedule
    return schedule if isinstance(schedule, Mapping) else {"name": schedule}


def no_validation(config: Any) -> bool:
    return not config.data.valid_size


def regularized_layers(layers: list[Layer]) -> list[tuple[Layer, Mapping[str, Any]]]:
    found = []
    for layer in layers:
        penalty = layer.params.get("kernel_regularizer") if layer.kind in KERNEL_KINDS else None
        if penalty and (penalty.get("l1") or penalty.get("l2")):
            found.append((layer, penalty))
    return found


def penalty_values(penalty: Mapping[str, Any]) -> dict[str, float]:
    return {key: value for key, value in penalty.items() if value}
