"""Resolve the registry names a config mentions into complete, validated plain mappings.

After this step the config holds every parameter explicitly (Keras's defaults filled in), so the saved
`config.yaml` replays to the same run even if a default changes later.
"""

from __future__ import annotations

from typing import Any

from dnnconf.config.schema import Config, OptimizerConfig, PretrainConfig
from dnnconf.errors import ConfigError
from dnnconf.limits import SEED_MAX
from dnnconf.nn.activations import ACTIVATIONS
from dnnconf.nn.initializers import INITIALIZERS
from dnnconf.nn.layers import resolve_layers
from dnnconf.optim.optimizers import OPTIMIZERS
from dnnconf.optim.schedules import SCHEDULES

CLIPPING_KEYS = ("clipnorm", "global_clipnorm", "clipvalue")


def _resolve_optimizer(optimizer: OptimizerConfig, default: OptimizerConfig | None = None,
                       where: str = "optimizer") -> OptimizerConfig:
    raw = optimizer.model_dump()
    if "name" not in optimizer.model_fields_set:
        # a section that names no optimizer tunes the default one (the note's Nesterov SGD)
        raw = {**(default or Config().optimizer).model_dump(), **{k: raw[k] for k in optimizer.model_fields_set}}
        raw.update(optimizer.model_extra or {})
    clipping = {key: raw.pop(key) for key in CLIPPING_KEYS}
    resolved = OPTIMIZERS.resolve(raw, where)
    return OptimizerConfig(**resolved, **clipping)


def _resolve_schedule(spec: Any, default: dict[str, Any]) -> dict[str, Any]:
    if isinstance(spec, dict) and "name" not in spec:
        spec = {**default, **spec}
    return SCHEDULES.resolve(spec, "schedule")


def resolve_names(config: Config) -> Config:
    model = config.model
    updates: dict[str, Any] = {}
    if model.layers is not None:
        updates["layers"] = resolve_layers(model.layers, "model.layers")
    else:
        updates["activation"] = ACTIVATIONS.resolve(model.activation, "model.activation")
        updates["kernel_initializer"] = INITIALIZERS.resolve(model.kernel_initializer, "model.kernel_initializer")
    output = model.output.model_copy(
        update={
            "kernel_initializer": INITIALIZERS.resolve(
                model.output.kernel_initializer, "model.output.kernel_initializer"
            )
        }
    )
    updates["output"] = output
    new_model = model.model_copy(update=updates)
    default_schedule = Config().schedule
    schedule = _resolve_schedule(config.schedule, default_schedule)
    update = {"model": new_model, "optimizer": _resolve_optimizer(config.optimizer), "schedule": schedule}
    if config.pretrain is not None:
        default = PretrainConfig().optimizer  # a pretrain.optimizer without a name tunes Adam
        optimizer = _resolve_optimizer(config.pretrain.optimizer, default, "pretrain.optimizer")
        update["pretrain"] = config.pretrain.model_copy(update={"optimizer": optimizer})
    resolved = config.model_copy(update=update)
    _check_consistency(resolved)
    return resolved


def _check_consistency(config: Config) -> None:
    """Cross-field rules that no single field can check."""
    data, output, loss = config.data, config.model.output, config.loss
    if config.seed + config.training.parallel_seeds - 1 > SEED_MAX:  # member k trains with seed + k
        raise ConfigError(f"seed: {config.seed} + training.parallel_seeds {config.training.parallel_seeds} - 1 is "
                          f"beyond the largest seed accepted, 2**63 - 1; lower the seed")
    if config.pretrain is not None and config.transfer is not None:
        raise ConfigError("pretrain: cannot be combined with transfer (both would start the hidden layers); "
                          "keep one of the two sections")
    if config.pretrain is not None and config.pretrain.loss == "binary_crossentropy" and data.normalize != "minmax":
        raise ConfigError(f"pretrain.loss: binary_crossentropy needs inputs in [0, 1] (data.normalize: minmax), "
                          f"not data.normalize: {data.normalize}; or use pretrain.loss: mse")
    if data.positive_class is not None and output.activation == "softmax":
        raise ConfigError(
            "model.output.activation: a binary task (data.positive_class) needs sigmoid, not softmax"
        )
    pairs = {"softmax": "sparse_categorical_crossentropy", "sigmoid": "binary_crossentropy", "linear": "mse"}
    if output.activation and loss and pairs[output.activation] != loss and not (
        output.activation == "linear" and loss in ("mse",)
    ):
        raise ConfigError(
            f"loss: {loss!r} does not fit model.output.activation {output.activation!r}; "
            f"use {pairs[output.activation]!r}"
        )
