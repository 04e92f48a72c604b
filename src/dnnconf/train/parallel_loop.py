"""The training loop of K members at once (training.parallel_seeds): `Loop` with a batched epoch.

`ParallelLoop` is `Loop` (same events, same hyperparameter writing from the schedule, same flush-to-zero)
whose epoch trains the K members of a `StackedNetwork` in one batched computation. One step:
    lr ← schedule(t) → gather each member's batch → forward [K, B, …] → Σ_k (loss_k + penalty_k) →
    backward → clip per member → per-member lr scale → optimizer step → max-norm per member
Summing the members' mean losses makes member k's gradient its solo gradient (no other term depends on
its weights). The optimizer is one of dnnconf's own over the stacked tensors; their rules are elementwise,
so member k's momentum/Adam state is its own.

Per-member learning rate (the `performance` schedule and stopped members): a factor s_k, applied
- to the gradient for SGD without weight decay (m ← βm − η·(s_k·g) is the solo rule with η·s_k), or
- to the step for the optimizers whose step is linear in η given their state (adam, adamw, adamax,
  nadam, adagrad, rmsprop without momentum, sgd without momentum): θ ← θ_old + s_k·(θ_new − θ_old).
The step is scaled only while some running member's factor is neither 0 nor 1 (it costs a copy of the
weights each step); otherwise the gradient is. A stopped member gets s_k = 0: it keeps being computed
(the stacked batch has a fixed size) but no longer learns, and its record comes from the snapshot taken
when it stopped (`MemberListeners`), so what its momentum does afterwards never reaches its folder. A
member whose loss or weights become NaN or infinite stops there as diverged, its record ending at its
last finite epoch (the solo run rolls back to that epoch's checkpoint).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from dnnconf.config.schema import Config
from dnnconf.nn.stacked import StackedNetwork
from dnnconf.optim.clipping import member_norms
from dnnconf.optim.schedules import Performance, Schedule
from dnnconf.train.callbacks import Listener
from dnnconf.train.loop import DIVERGED, GRAD_NORM_EVERY, Loop, Split, TrainState
from dnnconf.train.losses import member_loss, member_metric_sum, metric_name


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

    def on_epoch_end(self, loop: ParallelLoop, logs: dict[str, float]) -> None:
        for member, member_logs in zip(self.members, loop.member_logs, strict=True):
            if member.state.stop:
                continue
            member.state.epoch, member.state.step = loop.state.epoch, loop.state.step
            if not math.isfinite(member_logs["loss"]) or not loop.member_finite[member.index]:
                member.state.diverged, member.state.stop = True, True
                member.state.stop_reason = DIVERGED
                member.state.epoch -= 1  # as a solo run: its record ends at the last good epoch
                member.snapshot = loop.last_good[member.index]
                continue
            member_logs["epoch"] = member.state.epoch
            member.state.history.append(member_logs)
            for listener in member.listeners:
                listener.on_epoch_end(member, member_logs)
            if member.state.stop:
                member.snapshot = {k: v.clone() for k, v in member.network.state_dict().items()}
        loop.last_good = [{k: v.clone() for k, v in m.network.state_dict().items()} for m in self.members]
        if all(member.state.stop for member in self.members):
            loop.state.stop, loop.state.stop_reason = True, "every member stopped"

    def on_train_end(self, loop: ParallelLoop) -> None:
        for member in self.members:
            if member.snapshot is not None:
                member.network.load_state_dict(member.snapshot)
            for listener in member.listeners:
                listener.on_train_end(member)


class ParallelLoop(Loop):
    """`Loop` over a `StackedNetwork`: K members, each with its own batch-order generator."""

    def __init__(self, network: StackedNetwork, optimizer: torch.optim.Optimizer, schedule: Schedule, loss: str,
                 train: Split, valid: Split | None, epochs: int, batch_size: int, clipping: Any,
                 listeners: list[Listener], generators: list[torch.Generator], members: list[Member],
                 lr_scaling: str, eval_batch_size: int = 4096):
        super().__init__(network, optimizer, schedule, loss, train, valid, epochs, batch_size, clipping,  # type: ignore[arg-type]
                         listeners, generators[0], eval_batch_size)
        self.generators, self.members, self.lr_scaling = generators, members, lr_scaling
        self.member_loss, self.member_metric = member_loss(loss), member_metric_sum(loss)
        self.member_logs: list[dict[str, float]] = []
        self.member_finite: list[bool] = []
        self.last_good = [{name: value.clone() for name, value in network.member_state(k).items()}
                          for k in range(network.size)]  # each member's weights after its last finite epoch

    def _scales(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(gradient scale, step scale), each [K] or None when it would multiply by ones."""
        scales = [member.lr_scale for member in self.members]
        device = self.train.x.device
        plateau = any(s not in (0.0, 1.0) for s in scales)
        if plateau and self.lr_scaling == "step":
            return None, torch.tensor(scales, device=device)
        return (torch.tensor(scales, device=device) if any(s != 1.0 for s in scales) else None), None

    def _train_epoch(self) -> dict[str, float] | None:
        network, optimizer, clipping = self.network, self.optimizer, self.clipping
        params = network.parameters()
        size, device = network.size, self.train.x.device
        started = time.perf_counter()
        orders = torch.stack([torch.randperm(len(self.train), generator=g) for g in self.generators]).to(device)
        grad_scale, step_scale = self._scales()
        zero = torch.zeros(size, device=device)
        loss_sum, metric_sum, grad_norm_sum, grad_norm_count = zero.clone(), zero.clone(), zero.clone(), 0
        current_lr = None
        network.train()
        for start in range(0, len(self.train), self.batch_size):
            step = self.state.step
            if self.schedule(step) != current_lr or self.momentum_key and self.schedule.momentum(step) is not None:
                current_lr = self._write_hyperparameters(step)
            rows = orders[:, start:start + self.batch_size]
            batch = rows.shape[1]
            xb = self.train.x.index_select(0, rows.reshape(-1)).view(size, batch, *self.train.x.shape[1:])
            yb = self.train.y.index_select(0, rows.reshape(-1)).view(size, batch)
            output = network(xb)
            objectives = self.member_loss(output, yb)
            penalties = network.member_penalties()
            if penalties is not None:
                objectives = objectives + penalties
            for p in params:
                p.grad = None
            objectives.sum().backward()
            grads = [p.grad for p in params]
            if step % GRAD_NORM_EVERY == 0 or grad_norm_count == 0:  # as the solo loop: ≥ 1 sample an epoch
                grad_norm_sum += torch.linalg.vector_norm(torch.stack(member_norms(grads)), dim=0)
                grad_norm_count += 1
            if clipping.active:
                clipping.per_member(grads)
            if grad_scale is not None:
                for grad in grads:
                    grad.mul_(grad_scale.view(-1, *([1] * (grad.dim() - 1))))
            before = [p.detach().clone() for p in params] if step_scale is not None else None
            optimizer.step()
            if before is not None:
                with torch.no_grad():
                    for p, old in zip(params, before, strict=True):
                        p.copy_(torch.lerp(old, p, step_scale.view(-1, *([1] * (p.dim() - 1)))))
            if network.template.constraints:
                network.apply_max_norm()
            with torch.no_grad():
                loss_sum.add_(objectives.detach(), alpha=batch)
                metric_sum.add_(self.member_metric(output.detach(), yb))
            self.state.step += 1
            self.last_loss = objectives.detach()
            self._emit("on_batch_end")
        n = len(self.train)
        valid = evaluate_members(network, self.valid, self.loss_name, self.eval_batch_size) if (
            self.valid is not None and len(self.valid)) else None
        self.member_finite = [bool(ok) for ok in _finite_members(params)]
        base_lr = float(current_lr if current_lr is not None else self.schedule(self.state.step))
        self.member_logs = []
        for k, member in enumerate(self.members):
            logs = {"loss": loss_sum[k].item() / n, self.metric: metric_sum[k].item() / n}
            if valid is not None:
                logs.update({f"val_{key}": values[k] for key, values in valid.items()})
            logs["lr"] = base_lr * member.lr_scale
            if self.momentum_key is not None:
                group = optimizer.param_groups[0]
                logs["momentum"] = float(group["betas"][0] if self.momentum_key == "betas" else group["momentum"])
            logs["grad_norm"] = grad_norm_sum[k].item() / max(grad_norm_count, 1)
            logs["time"] = time.perf_counter() - started
            self.member_logs.append(logs)
        running = [logs for logs, member in zip(self.member_logs, self.members, strict=True)
                   if not member.state.stop] or self.member_logs
        summary = {key: sum(logs[key] for logs in running) / len(running)
                   for key in self.member_logs[0] if key not in ("lr", "momentum", "time")}
        summary.update({"lr": base_lr, "time": time.perf_counter() - started})
        return summary


def _finite_members(params: list[torch.Tensor]) -> list[bool]:
    finite = torch.stack([torch.isfinite(p.detach().reshape(p.shape[0], -1)).all(dim=1) for p in params])
    return finite.all(dim=0).tolist()


@torch.inference_mode()
def evaluate_members(network: StackedNetwork, split: Split, loss: str, batch_size: int = 4096
                     ) -> dict[str, list[float]]:
    """Each member's loss (with its l1/l2 penalty, as a solo run reports it) and metric over a split."""
    was_training = network.training
    network.eval()
    losses, metrics = member_loss(loss), member_metric_sum(loss)
    size = network.size
    loss_total = torch.zeros(size, dtype=torch.float64)
    metric_total = torch.zeros(size, dtype=torch.float64)
    for start in range(0, len(split), batch_size):
        xb, yb = split.x[start:start + batch_size], split.y[start:start + batch_size]
        output = network(xb, shared=True)
        targets = yb.expand(size, *yb.shape)
        loss_total += losses(output, targets).double().cpu() * len(yb)
        metric_total += metrics(output, targets).double().cpu()
    network.train(was_training)
    n = max(len(split), 1)
    penalties = network.member_penalties()
    loss_values = loss_total / n + (penalties.double().cpu() if penalties is not None else 0.0)
    return {"loss": loss_values.tolist(), metric_name(loss): (metric_total / n).tolist()}
