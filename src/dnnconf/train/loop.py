"""`fit`: the one training loop. Everything optional is a listener (see callbacks.py); what differs between
one network, torchrun and K seeds at once is the `Step` the `LoopSpec` names.

One step, in the order the note's techniques need (and nothing else):
    lr ← schedule(t) → forward → loss (+ l1/l2 penalties) → backward → clip → optimizer step →
    constraints (max-norm)
`Loop` owns the part every step shares: the schedule's rate and momentum written into the optimizer, the
running sums of loss, metric and sampled gradient norm, the events, the state (epoch, step, history,
stop) and the divergence checks. The step owns forward → … → constraints and the epoch's logs:
`dnnconf.train.steps.SoloStep` (one network; under torchrun the same step with its gradients summed across
processes) and `dnnconf.train.stacked_step.StackedStep` (training.parallel_seeds: K members as one batched
computation, each member's early stopping, schedule and history its own listeners').
The data stays in tensors on the device: each epoch draws one permutation and gathers each batch's rows
with one index_select, with no DataLoader, no per-sample Python and no permuted copy of the whole set
(gathering the 55,000 Fashion-MNIST images at once cost 60-75 ms an epoch here, ~8% of a batch-128
epoch, and 172 MB). Running sums of loss and metric stay on the device and are read once per epoch, so
a step costs no host sync. `training.compile` and `training.precision` give the spec another `forward`
(train/compiled.py, train/precision.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import torch

from dnnconf.nn.build import Network
from dnnconf.nn.regularizers import total_penalty
from dnnconf.nn.stacked import StackedNetwork
from dnnconf.optim.clipping import Clipping
from dnnconf.optim.optimizers import momentum_key
from dnnconf.optim.schedules import Schedule
from dnnconf.train import distributed as dist
from dnnconf.train.callbacks import Listener
from dnnconf.train.losses import loss_function, member_loss, member_metric_sum, metric_name, metric_sum
from dnnconf.train.state import TrainState

GRAD_NORM_EVERY = 16  # steps between samples of the global gradient norm logged per epoch (and each
# epoch's first step: an epoch shorter than that still logs one)
FINITE_CHECK_EVERY = 64  # steps between checks that the loss is still finite
DIVERGED = "the loss became NaN or infinite"  # the stop reason of a diverged run (metrics.json, history)


@dataclass
class Split:
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class LoopSpec:
    """What a `Loop` runs, in one object. `step`: how one batch updates the weights (`SoloStep` for one
    network, under torchrun too; `StackedStep` for K seeds at once); `forward`: what computes a training
    batch's output for a solo step (the network, or its compiled / mixed-precision form: training.compile,
    training.precision); `generator`: the batch order's (a stacked step has one a member of its own)."""

    step: Step
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    loss: str
    train: Split
    valid: Split | None
    epochs: int
    batch_size: int
    clipping: Clipping
    listeners: Sequence[Listener]
    generator: torch.Generator
    eval_batch_size: int = 4096
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None


class Batch(NamedTuple):
    x: torch.Tensor
    y: torch.Tensor
    rows: int  # this process's examples of each member (the weight of its mean loss in the epoch's sums)
    counted: int  # the examples the step advances the epoch by (the global batch under torchrun)


class Step(Protocol):
    """One optimizer step over a batch, the part of the loop that differs between one network (and DDP) and
    K stacked seeds: the epoch's batches, forward → loss (+ penalties) → backward → clip → update →
    constraints, and the epoch's logs. The loop around it (schedule → hyperparameters, running sums,
    events, state, stopping) is `Loop`'s, the same for every step."""

    network: Any  # what listeners, checkpoints and evaluation see
    shape: tuple[int, ...]  # of the running loss and metric sums: () for one network, (K,) for K members
    metric_sum: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # a batch's metric summed (per member)

    def bind(self, loop: Loop) -> None:
        """Take from the loop what the step needs (loss, metric), once, before training."""

    def batches(self, loop: Loop, skip: int) -> Iterator[Batch]:
        """The epoch's batches, from a fresh permutation of the training rows (after `skip` examples: the
        part a mid-epoch checkpoint had done)."""

    def update(self, loop: Loop, batch: Batch, sample_norm: bool) -> tuple[torch.Tensor, torch.Tensor,
                                                                           torch.Tensor | None]:
        """One step: (output, objective, global gradient norm when `sample_norm` else None)."""

    def finite(self, loop: Loop, progress: EpochProgress) -> bool:
        """Whether training may go on (checked every FINITE_CHECK_EVERY steps)."""

    def end_epoch(self, loop: Loop, progress: EpochProgress, common: dict[str, float]) -> dict[str, float] | None:
        """The epoch's logs from its sums (validation included; `common`: lr and momentum; the time:
        `loop.epoch_time()`), or None when the run diverged."""

    def checkpoint_state(self, loop: Loop) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """What a checkpoint must hold of this step beyond the loop's own state (`dnnconf.train.checkpoint`):
        tensors (state.safetensors, under names of the step's own) and plain data (state.json's
        `step_state`); at an epoch's end or, when `loop.progress` is set, in the middle of one."""

    def restore_checkpoint_state(self, loop: Loop, tensors: dict[str, torch.Tensor], plain: Any, path: Path
                                 ) -> None:
        """Put the step back where `checkpoint_state` found it (`plain`: state.json's `step_state`, None when
        absent; `path`: the checkpoint, for RunFolderError's one line)."""


class Loop:
    """Runs a `LoopSpec`; holds what the listeners may look at: network, optimizer, schedule, state,
    generator. Listeners may swap `optimizer` (freezing rebuilds it at unfreezing) and `forward`."""

    def __init__(self, spec: LoopSpec):
        self.spec, self.step = spec, spec.step
        self.network, self.optimizer, self.schedule = spec.step.network, spec.optimizer, spec.schedule
        self.forward: Any = spec.step.network if spec.forward is None else spec.forward
        self.loss_name, self.loss_fn = spec.loss, loss_function(spec.loss)
        self.metric = metric_name(spec.loss)
        self.train, self.valid = spec.train, spec.valid
        self.epochs, self.batch_size, self.eval_batch_size = spec.epochs, spec.batch_size, spec.eval_batch_size
        self.clipping, self.listeners, self.generator = spec.clipping, list(spec.listeners), spec.generator
        self.state = TrainState()
        self._epoch_started = 0.0
        self.momentum_key = momentum_key(spec.optimizer)
        self.steps_per_epoch = math.ceil(len(spec.train) / spec.batch_size)
        self.last_loss: torch.Tensor | None = None
        self.progress: EpochProgress | None = None  # the epoch under way, for mid-epoch checkpoints
        self.distributed: dist.Distributed | None = getattr(spec.step, "distributed", None)
        spec.step.bind(self)

    def _emit(self, event: str, *args: Any) -> None:
        for listener in self.listeners:
            getattr(listener, event)(self, *args)

    def _write_hyperparameters(self, step: int) -> float:
        lr = self.schedule(step)
        momentum = self.schedule.momentum(step) if self.momentum_key else None
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_factor", 1.0)
            if momentum is not None:
                if self.momentum_key == "betas":
                    group["betas"] = (momentum, group["betas"][1])
                else:
                    group["momentum"] = momentum
        return lr

    def run(self) -> TrainState:
        flushing = denormals_flushed()
        torch.set_flush_denormal(True)  # denormal momentum/Adam state is ~40x slower to multiply
        try:
            return self._run()
        finally:
            torch.set_flush_denormal(flushing)  # a process-wide CPU flag: leave it as it was found

    def _run(self) -> TrainState:
        self._emit("on_train_begin")
        while self.state.epoch < self.epochs and not self.state.stop:
            self._emit("on_epoch_begin")
            logs = self._train_epoch()
            if logs is None:
                self.state.diverged, self.state.stop = True, True
                self.state.stop_reason = DIVERGED
                break
            self.state.epoch += 1
            logs["epoch"] = self.state.epoch
            self.state.history.append(logs)
            self._emit("on_epoch_end", logs)
            if self.distributed is not None:  # rank 0's decision to stop binds every rank
                self.state.stop, self.state.stop_reason = dist.broadcast_object(
                    self.distributed, (self.state.stop, self.state.stop_reason))
        self._emit("on_train_end")
        return self.state

    def _train_epoch(self) -> dict[str, float] | None:
        step, started = self.step, time.perf_counter()
        progress = self.progress
        if progress is None:  # a fresh epoch (not one resumed from a mid-epoch checkpoint)
            progress = self.progress = EpochProgress.start(self.generator.get_state(), self.train.x.device,
                                                           step.shape)
        else:
            self.generator.set_state(progress.generator_state)  # to draw the same batch order again
        current_lr = None
        self.network.train()
        for batch in step.batches(self, progress.samples):
            t = self.state.step
            if self.schedule(t) != current_lr or self.momentum_key and self.schedule.momentum(t) is not None:
                current_lr = self._write_hyperparameters(t)
            sample_norm = t % GRAD_NORM_EVERY == 0 or progress.grad_norm_count == 0  # ≥ 1 sample an epoch
            output, objective, norm = step.update(self, batch, sample_norm)
            if norm is not None:
                progress.grad_norm_sum += norm
                progress.grad_norm_count += 1
            with torch.no_grad():
                progress.loss_sum.add_(objective.detach(), alpha=batch.rows)
                progress.metric_sum.add_(step.metric_sum(output.detach(), batch.y))
            progress.samples += batch.counted
            self.state.step += 1
            self.last_loss = objective.detach()  # for listeners that need each batch's own loss (lr-find)
            if t % FINITE_CHECK_EVERY == 0 and not step.finite(self, progress):
                return None
            self._emit("on_batch_end")
            if self.state.stop:  # a listener may end training mid-epoch (lr-find on divergence)
                break
        self.progress = None
        common = {"lr": float(current_lr if current_lr is not None else self.schedule(self.state.step))}
        if self.momentum_key is not None:
            group = self.optimizer.param_groups[0]
            common["momentum"] = float(group["betas"][0] if self.momentum_key == "betas" else group["momentum"])
        self._epoch_started = started - progress.elapsed
        return step.end_epoch(self, progress, common)

    def epoch_time(self) -> float:
        """Seconds the epoch under way has taken (before a mid-epoch checkpoint too)."""
        return time.perf_counter() - self._epoch_started


def denormals_flushed() -> bool:
    """Whether this thread's CPU flushes denormal floats to zero (a denormal times 1 reads back as 0)."""
    return (torch.tensor(1e-44, dtype=torch.float32) * 1.0).item() == 0.0


@dataclass
class EpochProgress:
    """Where the current epoch stands: enough to resume it exactly from a mid-epoch checkpoint."""

    generator_state: torch.Tensor  # the batch-order generator before this epoch's permutation
    samples: int
    loss_sum: torch.Tensor
    metric_sum: torch.Tensor
    grad_norm_sum: torch.Tensor
    grad_norm_count: int
    elapsed: float = 0.0

    @classmethod
    def start(cls, generator_state: torch.Tensor, device: torch.device, shape: tuple[int, ...] = ()
              ) -> EpochProgress:
        zero = torch.zeros(shape, device=device)
        return cls(generator_state, 0, zero.clone(), zero.clone(), zero.clone(), 0)

    def to_plain(self, distributed: dist.Distributed | None = None) -> dict[str, Any]:
        """The counters, with the loss and metric sums over all ranks (a collective under torchrun); a sum
        of a stacked run is a list, one number a member (float32 values: exact through JSON)."""
        count = self.loss_sum.numel()
        sums = dist.all_reduce_sum(distributed, [*self.loss_sum.reshape(-1).tolist(),
                                                 *self.metric_sum.reshape(-1).tolist()])
        loss_sum, metric_total = (sums[:count], sums[count:]) if self.loss_sum.dim() else sums
        return {"samples": self.samples, "loss_sum": loss_sum, "metric_sum": metric_total,
                "grad_norm_sum": self.grad_norm_sum.tolist(), "grad_norm_count": self.grad_norm_count}

    @classmethod
    def from_plain(cls, plain: dict[str, Any], generator_state: torch.Tensor, device: torch.device
                   ) -> EpochProgress:
        def sums(value: float | list[float]) -> torch.Tensor:
            return torch.tensor(value, dtype=torch.float32, device=device)

        return cls(generator_state, int(plain["samples"]), sums(plain["loss_sum"]), sums(plain["metric_sum"]),
                   sums(plain["grad_norm_sum"]), int(plain["grad_norm_count"]))


def evaluate(network: Network, split: Split, loss: str, batch_size: int = 4096,
             distributed: dist.Distributed | None = None) -> dict[str, float]:
    """Loss (with the l1/l2 penalty, as Keras reports it) and metric of one network over a split
    (`split_metrics`)."""
    return {name: value.item() for name, value in split_metrics(network, split, loss, batch_size,
                                                                distributed).items()}


def evaluate_members(network: StackedNetwork, split: Split, loss: str, batch_size: int = 4096
                     ) -> dict[str, list[float]]:
    """Each member's loss (with its own l1/l2 penalty, as its solo run reports it) and metric over a split
    (`split_metrics`)."""
    return {name: value.tolist() for name, value in split_metrics(network, split, loss, batch_size).items()}


@torch.inference_mode()
def split_metrics(network: Network | StackedNetwork, split: Split, loss: str, batch_size: int = 4096,
                  distributed: dist.Distributed | None = None) -> dict[str, torch.Tensor]:
    """Loss (mean over the split, plus the l1/l2 penalty, as Keras reports it) and metric over a split, in
    inference mode, as float64 tensors: of shape () for one network, (K,) for the K members of a stacked
    one (every member sees the whole split). Each batch's mean loss times its size and its metric sum are
    accumulated in float64 on the host. Under torchrun each rank evaluates its contiguous part and the
    sums are reduced (a collective)."""
    stacked = isinstance(network, StackedNetwork)
    if stacked:
        losses, metrics = member_loss(loss), member_metric_sum(loss)
        shape: tuple[int, ...] = (network.size,)
    else:
        losses, metrics, shape = loss_function(loss), metric_sum(loss), ()
    was_training = network.training
    network.eval()
    loss_total = torch.zeros(shape, dtype=torch.float64)
    metric_total = torch.zeros(shape, dtype=torch.float64)
    begin, end = (0, len(split)) if distributed is None else dist.shard_range(len(split), distributed)
    for start in range(begin, end, batch_size):
        stop = min(start + batch_size, end)
        xb, yb = split.x[start:stop], split.y[start:stop]
        output = network(xb, shared=True) if stacked else network(xb)
        targets = yb.expand(network.size, *yb.shape) if stacked else yb
        loss_total += losses(output, targets).double().cpu() * len(yb)
        metric_total += metrics(output, targets).double().cpu()
    network.train(was_training)
    if distributed is not None:  # both sums in one collective
        sums = dist.all_reduce_sum(distributed, torch.stack([loss_total, metric_total]).reshape(-1).tolist())
        loss_total, metric_total = torch.tensor(sums, dtype=torch.float64).reshape(2, *shape).unbind()
    n = max(len(split), 1)
    penalty = network.member_penalties() if stacked else total_penalty(network.penalties)
    loss_values = loss_total / n + (penalty.detach().double().cpu() if penalty is not None else 0.0)
    return {"loss": loss_values, metric_name(loss): metric_total / n}
