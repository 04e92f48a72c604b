"""Checkpoints of a parallel-seeds run: the batched run checkpoints after every epoch and resumes as a
whole, exactly (`dnnconf train CONFIG --resume OUT` ends with the weights an uninterrupted run ends with).

`OUT/checkpoint/` has the layout of `dnnconf.train.checkpoint` (its writer: fresh names, checksums,
LATEST, no pickles). It holds the stacked tensors ([K, …] under the members' state-dict names, dense
kernels as [K, in, out]), the optimizer over them, each member's batch-order and dropout generator
states, and per member its listeners' states (early stopping, performance schedule), best weights, stop
snapshot, history and whether and why it stopped; then the loop's epoch, step and summary history.
The member folders (`seed-<s>/`) are written when the batched run ends and hold no checkpoint of their
own: a member continues only as part of its batched run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dnnconf.errors import RunFolderError
from dnnconf.train.callbacks import Listener
from dnnconf.train.checkpoint import listener_tensors, load_checkpoint, load_listeners, save_checkpoint
from dnnconf.train.run_folder.files import check_parallel_state


class ParallelCheckpointer(Listener):
    """Listener: a complete checkpoint of the batched run after every epoch."""

    def __init__(self, folder: Path):
        self.folder = folder

    def on_epoch_end(self, loop: Any, logs: dict[str, float]) -> None:
        save(self.folder, loop)


def save(folder: Path, loop: Any) -> Path:
    tensors: dict[str, torch.Tensor] = {}
    for k, generator in enumerate(loop.step.generators):
        tensors[f"rng.order.{k}"] = generator.get_state()
    for k, generator in enumerate(loop.network.generators):
        tensors[f"rng.dropout.{k}"] = generator.get_state()
    members = []
    for member in loop.step.members:
        k = member.index
        tensors.update(listener_tensors(member.listeners, f"best.{k}."))
        if member.snapshot is not None:
            tensors.update({f"snapshot.{k}.{name}": value for name, value in member.snapshot.items()})
        state = member.state
        members.append({"epoch": state.epoch, "step": state.step, "stop": state.stop,
                        "stop_reason": state.stop_reason, "diverged": state.diverged, "history": state.history,
                        "listeners": [listener.state_dict() for listener in member.listeners]})
    plain = {"epoch": loop.state.epoch, "step": loop.state.step, "stop": loop.state.stop,
             "stop_reason": loop.state.stop_reason, "history": loop.state.history, "members": members,
             "finished": bool(loop.state.stop or loop.state.epoch >= loop.epochs)}  # see train.finished
    return save_checkpoint(folder, loop.state.step, loop.network.tensors, loop.optimizer.state_dict(), tensors, plain)


def restore(path: Path, loop: Any) -> None:
    """Put a `Loop` with a `StackedStep`, its stacked network and its members back where the checkpoint
    left them."""
    model, optimizer, tensors, plain = load_checkpoint(path)
    check_parallel_state(path / "state.json", plain)
    members = loop.step.members
    try:
        with torch.no_grad():
            for name, tensor in loop.network.tensors.items():
                tensor.copy_(model[name])
        if len(plain["members"]) != len(members):
            raise ValueError(f"{len(plain['members'])} members, this config has {len(members)}")
        loop.optimizer.load_state_dict(optimizer)
    except (RuntimeError, ValueError, KeyError) as error:
        raise RunFolderError(f"{path}: does not fit this model ({str(error).splitlines()[0]})") from None
    loop.state.epoch, loop.state.step, loop.state.history = plain["epoch"], plain["step"], plain["history"]
    loop.state.stop, loop.state.stop_reason = plain["stop"], plain["stop_reason"]
    for k, generator in enumerate(loop.step.generators):
        generator.set_state(tensors[f"rng.order.{k}"])
    for k, generator in enumerate(loop.network.generators):
        generator.set_state(tensors[f"rng.dropout.{k}"])
    for member, saved in zip(members, plain["members"], strict=True):
        k, state = member.index, member.state
        state.epoch, state.step, state.stop = saved["epoch"], saved["step"], saved["stop"]
        state.stop_reason, state.diverged, state.history = saved["stop_reason"], saved["diverged"], saved["history"]
        if len(saved["listeners"]) != len(member.listeners):
            raise RunFolderError(f"{path / 'state.json'}: saved with {len(saved['listeners'])} stateful callbacks "
                                 f"a member, this config has {len(member.listeners)}; early stopping and a "
                                 f"performance schedule cannot be added or removed when resuming: start a new run")
        load_listeners(path, member.listeners, saved["listeners"], tensors, f"best.{k}.")
        member.snapshot = _prefixed(tensors, f"snapshot.{k}.") or None
    loop.step.last_good = [{name: value.clone() for name, value in loop.network.member_state(k).items()}
                           for k in range(loop.network.size)]


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {name.removeprefix(prefix): value for name, value in tensors.items() if name.startswith(prefix)}
