"""`fit`: the one training loop. Everything optional is a listener (see callbacks.py).

One step, in the order the note's techniques need (and nothing else):
    lr ← schedule(t) → forward → loss (+ l1/l2 penalties) → backward → clip → optimizer step →
    constraints (max-norm)
The data stays in tensors on the device: each epoch draws one permutation and gathers each batch's rows
with one index_select, with no DataLoader, no per-sample Python and no permuted copy of the whole set
(gathering the 55,000 Fashion-MNIST images at once cost 60-75 ms an epoch here, ~8% of a batch-128
epoch, and 172 MB). Running sums of loss and metric stay on the device and are read once per epoch, so
a step costs no host sync. `training.compile` swaps `forward` for its compiled form (train/compiled.py).
Under torchrun (`distributed`), each process takes its share of every batch of the same permutation and
the gradients are summed across processes before clipping (see dnnconf.train.distributed); the epoch's
sums are reduced across processes and the epoch's logs are rank 0's, so every listener on every rank
decides the same (early stopping, performance scheduling, unfreezing).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from dnnconf.nn.build import Network
from dnnconf.nn.constraints import apply_constraints
from dnnconf.nn.regularizers import total_penalty
from dnnconf.optim.clipping import Clipping
from dnnconf.optim.optimizers import momentum_key
from dnnconf.optim.schedules import Schedule
from dnnconf.train import distributed as dist
from dnnconf.train.callbacks import Listener
from dnnconf.train.losses import loss_function, metric_name, metric_sum

GRAD_NORM_EVERY = 16  # steps between samples of the global gradient norm logged per epoch (and each
# epoch's first step: an epoch shorter than that still logs one)
FINITE_CHECK_EVERY = 64  # steps between checks that the loss is still finite
DIVERGED = "the loss became NaN or infinite"  # the stop reason of a diverged run (metrics.json, history)


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    stop: bool = False
    stop_reason: str = ""
    diverged: bool = False
    restored_epoch: int | None = None
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class Split:
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


class Loop:
    """Holds what the listeners may look at: network, optimizer, schedule, state, generator."""

    def __init__(self, network: Network, optimizer: torch.optim.Optimizer, schedule: Schedule, loss: str,
                 train: Split, valid: Split | None, epochs: int, batch_size: int, clipping: Clipping,
                 listeners: list[Listener], generator: torch.Generator, eval_batch_size: int = 4096,
                 distributed: dist.Distributed | None = None):
        self.network, self.optimizer, self.schedule = network, optimizer, schedule
        self.forward: Any = network  # what computes a training batch's output (training.compile swaps it)
        self.loss_name, self.loss_fn = loss, loss_function(loss)
        self.metric = metric_name(loss)
        self.metric_sum = metric_sum(loss)
        self.train, self.valid = train, valid
        self.epochs, self.batch_size, self.eval_batch_size = epochs, batch_size, eval_batch_size
        self.clipping, self.listeners, self.generator = clipping, listeners, generator
        self.state = TrainState()
        self.momentum_key = momentum_key(optimizer)
        self.steps_per_epoch = math.ceil(len(train) / batch_size)
        self.last_loss: torch.Tensor | None = None
        self.progress: EpochProgress | None = None  # the epoch under way, for mid-epoch checkpoints
        self.distributed = distributed
        if distributed is not None:
            dist.check_shares(len(train), batch_size, distributed.world)

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
        network, optimizer, clipping = self.network, self.optimizer, self.clipping
        params = [p for group in optimizer.param_groups for p in group["params"]]
        device = self.train.x.device
        started = time.perf_counter()
        progress = self.progress
        if progress is None:  # a fresh epoch (not one resumed from a mid-epoch checkpoint)
            progress = self.progress = EpochProgress.start(self.generator.get_state(), device)
        else:
            self.generator.set_state(progress.generator_state)  # to draw the same batch order again
        order = torch.randperm(len(self.train), generator=self.generator).to(device)
        shared = self.distributed
        if shared is None:
            rows = order
            batches = ((start, self.batch_size, 0) for start in range(progress.samples, len(self.train),
                                                                        self.batch_size))
        else:  # this rank's share of each global batch (same permutation on every rank)
            positions, batches = dist.shares(len(self.train), self.batch_size, progress.samples, shared.rank,
                                             shared.world)
            rows = order[positions.to(device)]
        current_lr = None
        network.train()
        for start, size, global_size in batches:
            step = self.state.step
            if self.schedule(step) != current_lr or self.momentum_key and self.schedule.momentum(step) is not None:
                current_lr = self._write_hyperparameters(step)
            batch_rows = rows[start:start + size]  # gathered batch by batch: no permuted copy of the whole set
            xb, yb = self.train.x.index_select(0, batch_rows), self.train.y.index_select(0, batch_rows)
            output = self.forward(xb)
            loss = self.loss_fn(output, yb)
            penalty = total_penalty(network.penalties)
            objective = loss + penalty if penalty is not None else loss
            optimizer.zero_grad(set_to_none=True)
            if shared is None:
                objective.backward()
            else:  # Σ over ranks of (share · mean loss) + penalty (once) = the one-process objective
                share = loss * (len(yb) / global_size)
                (share + penalty if penalty is not None and shared.main else share).backward()
                dist.sum_gradients(params)
            sample_norm = step % GRAD_NORM_EVERY == 0 or progress.grad_norm_count == 0  # ≥ 1 sample an epoch
            if clipping.active or sample_norm:
                grads = [p.grad for p in params if p.grad is not None]
                if sample_norm and grads:
                    progress.grad_norm_sum += torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
                    progress.grad_norm_count += 1
                clipping(grads)
            optimizer.step()
            if network.constraints:
                apply_constraints(network.constraints)
            with torch.no_grad():
                progress.loss_sum.add_(objective.detach(), alpha=len(yb))
                progress.metric_sum.add_(self.metric_sum(output.detach(), yb))
            progress.samples += global_size or len(yb)
            self.state.step += 1
            self.last_loss = objective.detach()  # for listeners that need each batch's own loss (lr-find)
            if step % FINITE_CHECK_EVERY == 0 and dist.any_rank(shared, not torch.isfinite(progress.loss_sum)):
                return None
            self._emit("on_batch_end")
            if self.state.stop:  # a listener may end training mid-epoch (lr-find on divergence)
                break
        self.progress = None
        n = max(progress.samples, 1)
        finite_weights = all(torch.isfinite(p).all() for p in params)
        loss_sum, metric_total, broken = dist.all_reduce_sum(
            shared, [progress.loss_sum.item(), progress.metric_sum.item(), float(not finite_weights)])
        train_loss = loss_sum / n
        if not math.isfinite(train_loss) or broken:
            return None
        logs = {"loss": train_loss, self.metric: metric_total / n}
        dist.broadcast_state(shared, network, buffers_only=True)  # one set of batch-norm moving averages
        if self.valid is not None and len(self.valid):
            valid = evaluate(network, self.valid, self.loss_name, self.eval_batch_size, shared)
            logs.update({f"val_{key}": value for key, value in valid.items()})
        logs["lr"] = float(current_lr if current_lr is not None else self.schedule(self.state.step))
        if self.momentum_key is not None:
            group = optimizer.param_groups[0]
            logs["momentum"] = float(group["betas"][0] if self.momentum_key == "betas" else group["momentum"])
        logs["grad_norm"] = progress.grad_norm_sum.item() / max(progress.grad_norm_count, 1)
        logs["time"] = progress.elapsed + time.perf_counter() - started
        return dist.broadcast_object(shared, logs)  # rank 0's logs: the same decisions on every rank


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
    def start(cls, generator_state: torch.Tensor, device: torch.device) -> EpochProgress:
        zero = torch.zeros((), device=device)
        return cls(generator_state, 0, zero.clone(), zero.clone(), zero.clone(), 0)

    def to_plain(self, distributed: dist.Distributed | None = None) -> dict[str, float]:
        """The counters, with the loss and metric sums over all ranks (a collective under torchrun)."""
        loss_sum, metric_total = dist.all_reduce_sum(distributed, [self.loss_sum.item(), self.metric_sum.item()])
        return {"samples": self.samples, "loss_sum": loss_sum, "metric_sum": metric_total,
                "grad_norm_sum": self.grad_norm_sum.item(), "grad_norm_count": self.grad_norm_count}

    @classmethod
    def from_plain(cls, plain: dict[str, float], generator_state: torch.Tensor, device: torch.device
                   ) -> EpochProgress:
        def scalar(value: float) -> torch.Tensor:
            return torch.tensor(value, dtype=torch.float32, device=device)

        return cls(generator_state, int(plain["samples"]), scalar(plain["loss_sum"]), scalar(plain["metric_sum"]),
                   scalar(plain["grad_norm_sum"]), int(plain["grad_norm_count"]))


@torch.inference_mode()
def evaluate(network: Network, split: Split, loss: str, batch_size: int = 4096,
             distributed: dist.Distributed | None = None) -> dict[str, float]:
    """Loss (with the l1/l2 penalty, as Keras reports it) and metric over a split, in inference mode.
    Under torchrun each rank evaluates its contiguous part and the sums are reduced (a collective)."""
    was_training = network.training
    network.eval()
    loss_fn, summed = loss_function(loss), metric_sum(loss)
    loss_total, metric_total = 0.0, 0.0
    begin, end = (0, len(split)) if distributed is None else dist.shard_range(len(split), distributed)
    for start in range(begin, end, batch_size):
        stop = min(start + batch_size, end)
        xb, yb = split.x[start:stop], split.y[start:stop]
        output = network(xb)
        loss_total += loss_fn(output, yb).item() * len(yb)
        metric_total += summed(output, yb).item()
    loss_total, metric_total = dist.all_reduce_sum(distributed, [loss_total, metric_total])
    network.train(was_training)
    n = max(len(split), 1)
    penalty = total_penalty(network.penalties)
    result = {"loss": loss_total / n + (penalty.item() if penalty is not None else 0.0)}
    result[metric_name(loss)] = metric_total / n
    return result
