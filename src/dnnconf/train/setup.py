"""Turn a config into the pieces `Loop` needs: seeded RNGs, device, data, network, optimizer, schedule.

Seeds: one `seed` drives three independent streams, so changing one use does not shift the others:
the initial weights, the batch order, and everything else (dropout masks) through torch's global RNG.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dnnconf.config.layers import model_layers
from dnnconf.config.schema import Config
from dnnconf.errors import ConfigError
from dnnconf.nn.build import Network, build_network
from dnnconf.nn.memory import check_network_fits
from dnnconf.optim.clipping import Clipping
from dnnconf.optim.optimizers import OPTIMIZERS
from dnnconf.optim.schedules import SCHEDULES, Schedule
from dnnconf.train.loop import Split
from dnnconf.train.losses import HEAD_OF_LOSS

SHUFFLE_STREAM = 1_000_003  # offsets that make the batch-order stream independent of the init stream

LOSS_OF_HEAD = {head: loss for loss, head in HEAD_OF_LOSS.items()}


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("training.device: 'cuda' is not available on this machine; use auto or cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("training.device: 'mps' is not available on this machine; use auto or cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_with_data(config: Config, dataset: Any) -> Config:
    """Fill in what the data decides: input shape, output units and activation, loss."""
    output = config.model.output
    task = dataset.task
    head = {"classification": "softmax", "binary": "sigmoid", "regression": "linear"}[task]
    units = {"classification": dataset.num_classes, "binary": 1, "regression": 1}[task]
    if output.activation is not None and output.activation != head:
        raise ConfigError(f"model.output.activation: {output.activation!r} does not fit this {task} task; "
                          f"use {head!r} (or null to infer it)")
    if output.units is not None and output.units != units:
        raise ConfigError(f"model.output.units: {output.units} does not match the data ({units} for this "
                          f"{task} task); use {units} or null")
    if config.loss is not None and HEAD_OF_LOSS[config.loss] != head:
        raise ConfigError(f"loss: {config.loss!r} does not fit this {task} task; use {LOSS_OF_HEAD[head]!r}")
    input_shape = list(dataset.input_shape)
    if config.model.input_shape is not None and list(config.model.input_shape) != input_shape:
        raise ConfigError(f"model.input_shape: {config.model.input_shape} does not match the data "
                          f"{input_shape}; use {input_shape} or null")
    model = config.model.model_copy(update={
        "input_shape": input_shape,
        "output": output.model_copy(update={"units": units, "activation": head}),
    })
    return config.model_copy(update={"model": model, "loss": LOSS_OF_HEAD[head]})


def check_fits(config: Config) -> None:
    """Refuse, in one line naming the key to change, a resolved config whose training would not fit in the
    memory available (`dnnconf.nn.memory.check_network_fits`): what `make_network` checks, callable before a
    run folder is made."""
    output = config.model.output
    check_network_fits(config, model_layers(config.model, output.units, output.activation))


def make_network(config: Config, normalization: dict[str, Any] | None = None) -> Network:
    """The network of a resolved config, its weights drawn from the seed's init stream; its input layer
    adapted to `normalization` (a `Dataset.normalization`; None: the identity, for weights loaded next)."""
    generator = torch.Generator().manual_seed(config.seed)
    output = config.model.output
    layers = model_layers(config.model, output.units, output.activation)
    check_network_fits(config, layers)  # estimated on torch's meta device before any weight is allocated
    return build_network(layers, tuple(config.model.input_shape), generator, normalization)


def make_optimizer(config: Config, network: Network, reused: Collection[torch.nn.Parameter] = (),
                   lr_factor: float = 1.0) -> tuple[torch.optim.Optimizer, Clipping]:
    """The config's optimizer over the network's trainable parameters, and its clipping.

    The rate is the schedule's (`make_schedule`): the loop writes group["lr"] = η(t) · group["lr_factor"]
    (1 when absent) before every step, and nothing else writes it; the `learning_rate` the groups are built
    with only satisfies torch until that first write. With `lr_factor` ≠ 1 the trainable parameters in
    `reused` (freezing's unfrozen layers) form a second group carrying it (discriminative rates: theirs is
    η(t)·lr_factor), after the group of the others, which is left out when empty.
    """
    spec = config.optimizer.model_dump()
    clipping = Clipping(spec.pop("clipvalue"), spec.pop("clipnorm"), spec.pop("global_clipnorm"))
    params = [p for p in network.parameters() if p.requires_grad]
    groups: list[dict[str, Any]] = [{"params": params}]
    if lr_factor != 1.0:
        slow = {id(p) for p in reused}
        rest = [p for p in params if id(p) not in slow]
        groups = [{"params": rest}] if rest else []
        groups.append({"params": [p for p in params if id(p) in slow], "lr_factor": lr_factor})
    return OPTIMIZERS.build(spec, "optimizer", params=groups), clipping


def make_schedule(config: Config, steps_per_epoch: int) -> Schedule:
    """The learning rate η(t) of every step t, its one source: the config's schedule, started from the
    optimizer's `learning_rate` η₀ (the optimizer gets its rates from it, written by the loop)."""
    base_lr = config.optimizer.model_dump()["learning_rate"]
    total = steps_per_epoch * config.training.epochs
    return SCHEDULES.build(config.schedule, "schedule", base_lr=base_lr, steps_per_epoch=steps_per_epoch,
                           total_steps=total)


@dataclass
class Splits:
    train: Split
    valid: Split | None
    test: Split


def to_splits(dataset: Any, device: torch.device) -> Splits:
    def split(x: torch.Tensor, y: torch.Tensor) -> Split:
        y = y.float() if dataset.task == "binary" else y
        return Split(x.to(device).contiguous(), y.to(device).contiguous())

    valid = split(dataset.x_valid, dataset.y_valid) if len(dataset.y_valid) else None
    return Splits(split(dataset.x_train, dataset.y_train), valid, split(dataset.x_test, dataset.y_test))


def steps_per_epoch(config: Config, train_size: int) -> int:
    return math.ceil(train_size / config.training.batch_size)
