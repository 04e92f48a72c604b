"""Freeze reused layers for the first epochs, then unfreeze them (the note's section 2).

`Freezing` is a listener. `freeze(network)` (before the optimizer is built, so it holds only the
trainable parameters) sets `requires_grad = False` on the reused modules and freezes their batch-norm
modules (`BatchNorm.freeze`): their forward uses the moving averages and does not update them, whatever
`network.train()` says (Keras's `trainable = False` on a BatchNormalization layer).

At the start of epoch `freeze_epochs + 1` it unfreezes the chosen layers (`all`, or the top k reused
ones; `none` never unfreezes), then rebuilds the optimizer with `setup.make_optimizer` over the now
trainable parameters, so no state of the frozen phase leaks into the next, and hands it to the loop
(`loop.optimizer`, `loop.momentum_key`). It writes no learning rate: with `unfreeze_lr_factor` ≠ 1 the
unfrozen reused parameters get a param group of their own carrying `lr_factor`, and the loop, the one
writer of the rates, gives that group η(t)·lr_factor and the others (the new output) the schedule's η(t).

Resuming: the state says whether the layers were unfrozen; `load_state_dict` re-applies the unfreezing
and rebuilds the optimizer on the bound loop, so `checkpoint.restore` (which restores listeners before
the optimizer) loads the checkpoint's optimizer state into an optimizer of the same shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from dnnconf.nn.batch_norm import BatchNorm
from dnnconf.optim.optimizers import momentum_key
from dnnconf.train import setup
from dnnconf.train.callbacks import Listener

if TYPE_CHECKING:
    from dnnconf.config.schema import Config
    from dnnconf.nn.build import Network
    from dnnconf.train.loop import Loop


def set_frozen(module: torch.nn.Module, frozen: bool) -> None:
    """Freeze or unfreeze one module: its parameters' requires_grad, and its batch norms' frozen state."""
    for parameter in module.parameters():
        parameter.requires_grad_(not frozen)
    for sub in module.modules():
        if isinstance(sub, BatchNorm):
            sub.freeze(frozen)


def is_frozen(module: torch.nn.Module) -> bool:
    parameters = list(module.parameters())
    return bool(parameters) and not any(p.requires_grad for p in parameters)


def trainable_layers(network: Network) -> list[str]:
    """Names of the modules with at least one trainable parameter, bottom to top."""
    return [name for name, module in network.layers.named_children()
            if any(p.requires_grad for p in module.parameters())]


def trainable_count(network: Network) -> int:
    return sum(p.numel() for p in network.parameters() if p.requires_grad)


class Freezing(Listener):
    """Keep `groups` (reused layers, bottom to top, module names) frozen for `freeze_epochs`, then unfreeze."""

    def __init__(self, config: Config, groups: list[list[str]], freeze_epochs: int, unfreeze: str | int = "all",
                 lr_factor: float = 1.0):
        self.config = config
        self.groups = groups
        self.freeze_epochs = freeze_epochs
        self.unfreeze_spec = unfreeze
        self.lr_factor = lr_factor
        self.unfrozen = False
        self.loop: Loop | None = None
        self.trainable: dict[int, list[str]] = {}  # epoch → trainable modules during it

    # --- what is frozen ---
    def unfrozen_groups(self) -> list[list[str]]:
        if self.unfreeze_spec == "none":
            return []
        if self.unfreeze_spec == "all":
            return list(self.groups)
        return self.groups[len(self.groups) - int(self.unfreeze_spec):] if int(self.unfreeze_spec) else []

    def freeze(self, network: Network) -> None:
        """Freeze every reused layer (before the optimizer is built), unless there are no frozen epochs."""
        if self.freeze_epochs <= 0:
            self.unfrozen = True
            return
        modules = dict(network.layers.named_children())
        for group in self.groups:
            for name in group:
                set_frozen(modules[name], True)

    def attach(self, loop: Loop) -> None:
        """Bind the loop whose optimizer this listener rebuilds (also when restoring a checkpoint)."""
        self.loop = loop

    def _unfreeze(self, loop: Loop) -> None:
        network = loop.network
        modules = dict(network.layers.named_children())
        unfrozen = [name for group in self.unfrozen_groups() for name in group]
        for name in unfrozen:
            set_frozen(modules[name], False)
        self.unfrozen = True
        if not unfrozen:
            return
        reused = [p for name in unfrozen for p in modules[name].parameters()]
        optimizer, _ = setup.make_optimizer(self.config, network, reused, self.lr_factor)
        loop.optimizer = optimizer
        loop.momentum_key = momentum_key(optimizer)

    # --- events ---
    def on_epoch_begin(self, loop: Loop) -> None:
        if not self.unfrozen and loop.state.epoch >= self.freeze_epochs:
            self._unfreeze(loop)

    def on_epoch_end(self, loop: Loop, logs: dict[str, float]) -> None:
        logs["trainable"] = float(trainable_count(loop.network))
        self.trainable[loop.state.epoch] = trainable_layers(loop.network)

    def state_dict(self) -> dict[str, Any]:
        return {"unfrozen": self.unfrozen, "trainable": {str(k): v for k, v in self.trainable.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.trainable = {int(k): v for k, v in state.get("trainable", {}).items()}
        if state["unfrozen"] and not self.unfrozen:
            if self.loop is None:
                raise RuntimeError("Freezing.load_state_dict: attach(loop) first, to rebuild its optimizer")
            self._unfreeze(self.loop)

    def record(self) -> dict[str, Any]:
        """trainable.json: the reused layers, the schedule, and the trainable modules of each epoch."""
        return {"reused": self.groups, "freeze_epochs": self.freeze_epochs, "unfreeze": self.unfreeze_spec,
                "unfreeze_lr_factor": self.lr_factor,
                "epochs": {str(k): v for k, v in sorted(self.trainable.items())}}
