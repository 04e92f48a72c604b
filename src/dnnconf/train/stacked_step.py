"""The step of K members at once (training.parallel_seeds): `StackedStep`, the `Step` that `Loop` runs
(same events, same hyperparameter writing from the schedule, same running sums and flush-to-zero as a solo
run) to train the K members of a `StackedNetwork` in one batched computation. One step:
    lr ← schedule(t) → gather each member's batch → forward [K, B, …] → Σ_k (loss_k + penalty_k) →
    backward → clip per member → per-member lr scale → optimizer step → max-norm per member
Summing the members' mean losses makes member k's gradient its solo gradient (no other term depends on
its weights). The optimizer is one of dnnconf's own over the stacked tensors; their rules are elementwise,
so member k's momentum/Adam state is its own.

Per-member learning rate (the `performance` schedule and stopped members): a factor s_k, applied
- to the gradient for SGD without weight decay (m ← βm − η·(s_k·g) is the solo rule with η·s_k), or
- to the step for the optimizers whose step is linear in η given their state (adam, adamw, adamax,
  nadam, adagrad, rmsprop without momentum, sgd without momentum): θ ← θ_old + s_k·(θ_new − θ_old)
(which applies: `dnnconf.optim.optimizers.rate_scaling`, from the optimizers' registry facts).
The step is scaled only while some running member's factor is neither 0 nor 1 (it costs a copy of the
weights each step); otherwise the gradient is. A stopped member gets s_k = 0: it keeps being computed
(the stacked batch has a fixed size) but no longer learns, and its record comes from the snapshot taken
when it stopped (`MemberListeners`, a listener: each member's early stopping, plateau schedule, history
and report are its solo run's listeners, run on its own logs), so what its momentum does afterwards never
reaches its folder. A member whose loss or weights become NaN or infinite stops there as diverged, its
record ending at its last finite epoch (the solo run rolls back to that epoch's checkpoint).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dnnconf.config.schema import Config
from dnnconf.errors import RunFolderError
from dnnconf.nn.stacked import StackedNetwork
from dnnconf.optim.clipping import member_norms
from dnnconf.optim.optimizers import RateScaling
from dnnconf.optim.schedules import Performance, Schedule
from dnnconf.train.callbacks import Listener
from dnnconf.train.checkpoint import listener_tensors, load_listeners
from dnnconf.train.loop import DIVERGED, Batch, EpochProgress, Loop, Split, TrainState, evaluate_members
from dnnconf.train.losses import member_loss, member_metric_sum
from dnnconf.train.run_folder import files as run_files


@dataclass
class Member:
    """One member as its own listeners see it: `state` and `network` (what EarlyStopping and
    ReduceOnPlateau read and write on a solo loop), its config, and its own schedule object."""

    index: int
    config: Config
    network: MemberNetwork
    schedule: Schedule
    listeners: list[Listener]
    state: TrainState = field(default_factory=TrainState)
    snapshot: dict[str, torch.Tensor] | None = None  # its weights when it stopped
    steps_per_epoch: int = 0  # what a solo loop tells its listeners (the run report's per-step curves)

    @property
    def lr_scale(self) -> float:
        """Its learning rate over the shared schedule's: 0 once stopped, the plateau factor so far."""
        if self.state.stop:
            return 0.0
        return self.schedule.scale if isinstance(self.schedule, Performance) else 1.0


class MemberNetwork:
    """Member k's slice of a `StackedNetwork`, with a module's state_dict / load_state_dict."""

    def __init__(self, stacked: StackedNetwork, index: int):
        self.stacked, self.index = stacked, index

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.stacked.member_state(self.index)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.stacked.load_member_state(self.index, state)


class MemberListeners(Listener):
    """Runs each member's own listeners on its own logs; stops the loop when every member has stopped."""

    def __init__(self, members: list[Member]):
        self.members = members

    def on_epoch_end(self, loop: Loop, logs: dict[str, float]) -> None:
        step = loop.step
        for member, member_logs in zip(self.members, step.member_logs, strict=True):
            if member.state.stop:
                continue
            member.state.epoch, member.state.step = loop.state.epoch, loop.state.step
            if not math.isfinite(member_logs["loss"]) or not step.member_finite[member.index]:
                member.state.diverged, member.state.stop = True, True
                member.state.stop_reason = DIVERGED
                member.state.epoch -= 1  # as a solo run: its record ends at the last good epoch
                member.snapshot = step.last_good[member.index]
                continue
            member_logs["epoch"] = member.state.epoch
            member.state.history.append(member_logs)
            for listener in member.listeners:
                listener.on_epoch_end(member, member_logs)
            if member.state.stop:
                member.snapshot = {k: v.clone() for k, v in member.network.state_dict().items()}
        step.last_good = [{k: v.clone() for k, v in m.network.state_dict().items()} for m in self.members]
        if all(member.state.stop for member in self.members):
            loop.state.stop, loop.state.stop_reason = True, "every member stopped"

    def on_train_end(self, loop: Loop) -> None:
        for member in self.members:
            if member.snapshot is not None:
                member.network.load_state_dict(member.snapshot)
            for listener in member.listeners:
                listener.on_train_end(member)


class StackedStep:
    """The K members' step (module docstring): each member its own batch-order generator in `generators`
    (the loop's generator is the first), its `Member` record, and its logs of the last epoch."""

    def __init__(self, network: StackedNetwork, generators: list[torch.Generator], members: list[Member],
                 lr_scaling: RateScaling):
        self.network, self.generators, self.members, self.lr_scaling = network, generators, members, lr_scaling
        self.shape = (network.size,)
        self.member_logs: list[dict[str, float]] = []
        self.member_finite: list[bool] = []
        self.last_good = [{name: value.clone() for name, value in network.member_state(k).items()}
                          for k in range(network.size)]  # each member's weights after its last finite epoch
        self.grad_scale: torch.Tensor | None = None
        self.step_scale: torch.Tensor | None = None
        self.epoch_order_states = [g.get_state() for g in generators]  # before the epoch's permutations

    def bind(self, loop: Loop) -> None:
        self.member_loss, self.metric_sum = member_loss(loop.loss_name), member_metric_sum(loop.loss_name)

    def _scales(self, device: torch.device) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(gradient scale, step scale), each [K] or None when it would multiply by ones."""
        scales = [member.lr_scale for member in self.members]
        plateau = any(s not in (0.0, 1.0) for s in scales)
        if plateau and self.lr_scaling == "step":
            return None, torch.tensor(scales, device=device)
        return (torch.tensor(scales, device=device) if any(s != 1.0 for s in scales) else None), None

    def batches(self, loop: Loop, skip: int) -> Iterator[Batch]:
        train, size, device = loop.train, self.network.size, loop.train.x.device
        self.epoch_order_states = [g.get_state() for g in self.generators]  # a mid-epoch checkpoint's
        orders = torch.stack([torch.randperm(len(train), generator=g) for g in self.generators]).to(device)
        self.grad_scale, self.step_scale = self._scales(device)  # fixed for the epoch: set between epochs
        return self._gather(train, orders, loop.batch_size, skip, size)

    @staticmethod
    def _gather(train: Split, orders: torch.Tensor, batch_size: int, skip: int, size: int) -> Iterator[Batch]:
        for start in range(skip, len(train), batch_size):
            rows = orders[:, start:start + batch_size]
            batch = rows.shape[1]
            xb = train.x.index_select(0, rows.reshape(-1)).view(size, batch, *train.x.shape[1:])
            yb = train.y.index_select(0, rows.reshape(-1)).view(size, batch)
            yield Batch(xb, yb, batch, batch)

    def update(self, loop: Loop, batch: Batch, sample_norm: bool) -> tuple[torch.Tensor, torch.Tensor,
                                                                           torch.Tensor | None]:
        network, params = self.network, self.network.parameters()
        output = network(batch.x)
        objectives = self.member_loss(output, batch.y)
        penalties = network.member_penalties()
        if penalties is not None:
            objectives = objectives + penalties
        for p in params:
            p.grad = None
        objectives.sum().backward()  # member k's gradient is its solo gradient: no other term has its weights
        grads = [p.grad for p in params]
        norm = torch.linalg.vector_norm(torch.stack(member_norms(grads)), dim=0) if sample_norm else None
        if loop.clipping.active:
            loop.clipping.per_member(grads)
        if self.grad_scale is not None:
            for grad in grads:
                grad.mul_(self.grad_scale.view(-1, *([1] * (grad.dim() - 1))))
        before = [p.detach().clone() for p in params] if self.step_scale is not None else None
        loop.optimizer.step()
        if before is not None:
            with torch.no_grad():
                for p, old in zip(params, before, strict=True):
                    p.copy_(torch.lerp(old, p, self.step_scale.view(-1, *([1] * (p.dim() - 1)))))
        if network.template.constraints:
            network.apply_max_norm()
        return output, objectives, norm

    def checkpoint_state(self, loop: Loop) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Each member's batch-order generator (as the epoch under way began, if one is: resuming draws its
        permutation again), dropout generator, listeners' states and early-stopping best weights
        (`best.<k>.`), stop snapshot (`snapshot.<k>.`), weights after its last finite epoch (`last_good.<k>.`)
        and its TrainState (state.json's `step_state.members`)."""
        orders = self.epoch_order_states if loop.progress is not None else [g.get_state() for g in self.generators]
        tensors = {f"rng.order.{k}": state for k, state in enumerate(orders)}
        tensors.update({f"rng.dropout.{k}": g.get_state() for k, g in enumerate(self.network.generators)})
        members = []
        for member in self.members:
            k, state = member.index, member.state
            tensors.update(listener_tensors(member.listeners, f"best.{k}."))
            tensors.update({f"snapshot.{k}.{name}": value for name, value in (member.snapshot or {}).items()})
            tensors.update({f"last_good.{k}.{name}": value for name, value in self.last_good[k].items()})
            members.append({"epoch": state.epoch, "step": state.step, "stop": state.stop,
                            "stop_reason": state.stop_reason, "diverged": state.diverged, "history": state.history,
                            "listeners": [listener.state_dict() for listener in member.listeners]})
        return tensors, {"members": members}

    def restore_checkpoint_state(self, loop: Loop, tensors: dict[str, torch.Tensor], plain: Any, path: Path
                                 ) -> None:
        """Put every member back where `checkpoint_state` found it (`plain` checked here: state.json's
        `step_state`)."""
        saved = run_files.check_member_states(path / "state.json", plain)
        if len(saved) != len(self.members):
            raise RunFolderError(f"{path}: does not fit this model ({len(saved)} members, this config has "
                                 f"{len(self.members)}: training.parallel_seeds cannot change when resuming)")
        try:
            for k, generator in enumerate(self.generators):
                generator.set_state(tensors[f"rng.order.{k}"])
            for k, generator in enumerate(self.network.generators):
                generator.set_state(tensors[f"rng.dropout.{k}"])
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise RunFolderError(f"{path}: the members' random generators' state is damaged "
                                 f"({error.__class__.__name__})") from None
        self.epoch_order_states = [g.get_state() for g in self.generators]
        for member, record in zip(self.members, saved, strict=True):
            self._restore_member(member, record, tensors, path)

    def _restore_member(self, member: Member, record: dict[str, Any], tensors: dict[str, torch.Tensor],
                        path: Path) -> None:
        k, state = member.index, member.state
        state.epoch, state.step, state.stop = record["epoch"], record["step"], record["stop"]
        state.stop_reason, state.diverged, state.history = record["stop_reason"], record["diverged"], record["history"]
        if len(record["listeners"]) != len(member.listeners):
            raise RunFolderError(f"{path / 'state.json'}: saved with {len(record['listeners'])} stateful callbacks "
                                 f"a member, this config has {len(member.listeners)}; early stopping and a "
                                 f"performance schedule cannot be added or removed when resuming: start a new run")
        load_listeners(path, member.listeners, record["listeners"], tensors, f"best.{k}.")
        member.snapshot = _prefixed(tensors, f"snapshot.{k}.") or None
        # a checkpoint written before `last_good.<k>.` was kept is an epoch end's, where they are its weights
        self.last_good[k] = _prefixed(tensors, f"last_good.{k}.") or {
            name: value.clone() for name, value in self.network.member_state(k).items()}

    def finite(self, loop: Loop, progress: EpochProgress) -> bool:
        return True  # a member whose loss or weights are not finite stops alone, at the epoch's end

    def end_epoch(self, loop: Loop, progress: EpochProgress, common: dict[str, float]) -> dict[str, float]:
        """Each member's logs (`member_logs`, which `MemberListeners` hands to its listeners); the loop's own:
        the mean over the running members."""
        n = len(loop.train)
        valid = evaluate_members(self.network, loop.valid, loop.loss_name, loop.eval_batch_size) if (
            loop.valid is not None and len(loop.valid)) else None
        self.member_finite = [bool(ok) for ok in _finite_members(self.network.parameters())]
        self.member_logs = []
        for k, member in enumerate(self.members):
            logs = {"loss": progress.loss_sum[k].item() / n, loop.metric: progress.metric_sum[k].item() / n}
            if valid is not None:
                logs.update({f"val_{key}": values[k] for key, values in valid.items()})
            logs["lr"] = common["lr"] * member.lr_scale
            if "momentum" in common:
                logs["momentum"] = common["momentum"]
            logs["grad_norm"] = progress.grad_norm_sum[k].item() / max(progress.grad_norm_count, 1)
            logs["time"] = loop.epoch_time()
            self.member_logs.append(logs)
        running = [logs for logs, member in zip(self.member_logs, self.members, strict=True)
                   if not member.state.stop] or self.member_logs
        summary = {key: sum(logs[key] for logs in running) / len(running)
                   for key in self.member_logs[0] if key not in ("lr", "momentum", "time")}
        summary.update({"lr": common["lr"], "time": loop.epoch_time()})
        return summary


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {name.removeprefix(prefix): value for name, value in tensors.items() if name.startswith(prefix)}


def _finite_members(params: list[torch.Tensor]) -> list[bool]:
    finite = torch.stack([torch.isfinite(p.detach().reshape(p.shape[0], -1)).all(dim=1) for p in params])
    return finite.all(dim=0).tolist()
