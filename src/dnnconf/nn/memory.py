"""The memory a network's training needs, estimated before any weight is allocated.

`check_network_fits(config, layers)` builds the network on torch's `meta` device (shapes, no storage),
counts its parameters and each layer's outputs for one example, and refuses with `dnnconf.limits.check_fits`
(one line naming the key to change, exit 2) when `TrainingEstimate.total` exceeds the memory available.
`dnnconf.train.setup` calls it before a run folder is made and in `make_network`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from dnnconf import limits
from dnnconf.nn.build import build_network

FLOAT_BYTES = 4  # parameters and activations are float32
# state each parameter carries besides its weight and gradient (momentum buffers, moment estimates)
OPTIMIZER_SLOTS = {"sgd": 1, "adagrad": 1, "rmsprop": 2, "adam": 2, "adamw": 2, "adamax": 2, "nadam": 2}


@dataclass(frozen=True)
class TrainingEstimate:
    """Bytes to train a network, by part, and how they were counted.

    - weights: parameters × 4 bytes × the copies each parameter has: its weight, its gradient, the
      optimizer's slots (momentum, moment estimates), the best epoch's weights kept by early stopping
      (`restore_best_weights`), and while a checkpoint is written a copy of the weights and the
      optimizer's state plus the weights' serialized bytes (measured: a run under a 3 GiB address-space
      limit failed in the checkpoint's copy when this counted one copy);
    - training activations: one batch's outputs of every layer × 4 bytes × 2 (kept for the backward
      pass, and their gradients);
    - evaluation activations: one evaluation batch through the widest pair of consecutive layers;
    - the weights and the larger of the two activations, × `copies` (training.parallel_seeds).

    A batch counts as configured, even when the data turns out to hold fewer examples."""

    parameters: int
    weight_copies: dict[str, int]
    train_activations: int
    eval_activations: int
    copies: int = 1

    @property
    def weights(self) -> int:
        return self.parameters * FLOAT_BYTES * sum(self.weight_copies.values())

    @property
    def one_copy(self) -> int:
        return self.weights + max(self.train_activations, self.eval_activations)

    @property
    def total(self) -> int:
        return self.one_copy * self.copies

    def describe(self) -> str:
        parts = ", ".join(f"{name}{' ×' + str(n) if n != 1 else ''}" for name, n in self.weight_copies.items())
        return (f"{self.parameters:,} parameters × {FLOAT_BYTES} bytes × {sum(self.weight_copies.values())} ({parts})"
                f" + {limits.human_bytes(max(self.train_activations, self.eval_activations))} of activations"
                + (f", × {self.copies} parallel seeds" if self.copies > 1 else ""))


def weight_copies(optimizer: str, best_weights: bool) -> dict[str, int]:
    """The copies of each parameter training holds (unknown optimizers: Adam's 2 slots, the most)."""
    slots = OPTIMIZER_SLOTS.get(optimizer, 2)
    copies = {"weight": 1, "gradient": 1, f"{optimizer} state": slots}
    if best_weights:
        copies["best weights"] = 1
    copies["checkpoint"] = 1 + slots + 1  # a detached copy of the weights and optimizer state, then their bytes
    return copies


def check_network_fits(config: Any, layers: list[dict[str, Any]]) -> None:
    """Refuse a network whose training would not fit in memory, before any weight is allocated.

    The network is built on torch's `meta` device (shapes only, no storage) and one example run
    through it to count parameters and each layer's outputs; the estimate is `TrainingEstimate`'s.
    The key named is the one to change: the model's layers when one copy of the weights alone does not
    fit (no batch size helps), training.parallel_seeds when one whole copy would fit, the model's
    layers when the weights outweigh the activations, else training.batch_size or
    training.eval_batch_size, whichever's activations are larger."""
    with torch.device("meta"):
        network = build_network(layers, tuple(config.model.input_shape), None)
        outputs: list[int] = []
        hooks = [module.register_forward_hook(lambda _m, _i, out: outputs.append(out.numel()))
                 for module in network.layers]
        network.train(False)  # shapes only; dropout and batch norm need no randomness or statistics
        network(torch.empty((1, *config.model.input_shape)))
        for hook in hooks:
            hook.remove()
    training = config.training
    sizes = [math.prod(config.model.input_shape), *outputs]
    widest_pair = max(a + b for a, b in zip(sizes, sizes[1:], strict=False))
    stopping = training.early_stopping
    estimate = TrainingEstimate(
        parameters=sum(p.numel() for p in network.parameters()),
        weight_copies=weight_copies(config.optimizer.name, stopping is not None and stopping.restore_best_weights),
        train_activations=sum(outputs) * training.batch_size * FLOAT_BYTES * 2,
        eval_activations=widest_pair * training.eval_batch_size * FLOAT_BYTES,
        copies=training.parallel_seeds,
    )
    available = limits.memory_available()
    if available is None or estimate.total <= available:
        return
    model_key = f"model.hidden: {limits.shorten(config.model.hidden)}"
    if config.model.layers is not None:  # name the module that holds the most parameters
        largest = max(network.summary, key=lambda row: row.parameters)
        model_key = f"model.layers ({largest.name}: {largest.parameters:,} parameters)"
    if estimate.weights > available:  # no batch size helps
        key = model_key
    elif estimate.copies > 1 and estimate.one_copy <= available:
        key = f"training.parallel_seeds: {estimate.copies}"
    elif estimate.weights >= max(estimate.train_activations, estimate.eval_activations):
        key = model_key
    elif estimate.train_activations >= estimate.eval_activations:
        key = f"training.batch_size: {training.batch_size}"
    else:
        key = f"training.eval_batch_size: {training.eval_batch_size}"
    limits.check_fits(key, estimate.total, estimate.describe(), available)
