"""The step of one network, alone or under torchrun: `SoloStep`, the `Step` a `LoopSpec` gives `Loop`
for every run but parallel seeds (dnnconf.train.stacked_step).

One step: forward → loss (+ l1/l2 penalties) → backward → [Σ gradients over processes] → clip →
optimizer step → constraints (max-norm). Under torchrun (`distributed`) each process takes its share of
every batch of the same permutation, backpropagates its share of the mean loss (the penalty once, on rank
0) and the gradients are summed across processes before clipping, so the update is the one-process one
(dnnconf.train.distributed). The epoch's sums are reduced across processes and its logs are rank 0's, so
every listener on every rank decides the same (early stopping, performance scheduling, unfreezing).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from dnnconf.nn.build import Network
from dnnconf.nn.constraints import apply_constraints
from dnnconf.nn.regularizers import total_penalty
from dnnconf.train import distributed as dist
from dnnconf.train.loop import Batch, EpochProgress, Loop, evaluate
from dnnconf.train.losses import metric_sum


class SoloStep:
    """One network's step (module docstring); `distributed`: this process's place under torchrun."""

    shape = ()

    def __init__(self, network: Network, distributed: dist.Distributed | None = None):
        self.network, self.distributed = network, distributed
        self.params: list[torch.Tensor] = []

    def bind(self, loop: Loop) -> None:
        self.metric_sum = metric_sum(loop.loss_name)
        if self.distributed is not None:
            dist.check_shares(len(loop.train), loop.batch_size, self.distributed.world)

    def batches(self, loop: Loop, skip: int) -> Iterator[Batch]:
        # the optimizer's parameters as this epoch begins (freezing may rebuild the optimizer between epochs)
        self.params = [p for group in loop.optimizer.param_groups for p in group["params"]]
        train, size = loop.train, loop.batch_size
        order = torch.randperm(len(train), generator=loop.generator).to(train.x.device)
        shared = self.distributed
        if shared is None:
            rows, batches = order, ((start, size, 0) for start in range(skip, len(train), size))
        else:  # this rank's share of each global batch (same permutation on every rank)
            positions, batches = dist.shares(len(train), size, skip, shared.rank, shared.world)
            rows = order[positions.to(train.x.device)]
        for start, share, global_size in batches:
            batch_rows = rows[start:start + share]  # gathered batch by batch: no permuted copy of the whole set
            yb = train.y.index_select(0, batch_rows)
            yield Batch(train.x.index_select(0, batch_rows), yb, len(yb), global_size or len(yb))

    def update(self, loop: Loop, batch: Batch, sample_norm: bool) -> tuple[torch.Tensor, torch.Tensor,
                                                                           torch.Tensor | None]:
        network, optimizer, clipping, shared = self.network, loop.optimizer, loop.clipping, self.distributed
        output = loop.forward(batch.x)
        loss = loop.loss_fn(output, batch.y)
        penalty = total_penalty(network.penalties)
        objective = loss + penalty if penalty is not None else loss
        optimizer.zero_grad(set_to_none=True)
        if shared is None:
            objective.backward()
        else:  # Σ over ranks of (share · mean loss) + penalty (once) = the one-process objective
            share = loss * (batch.rows / batch.counted)
            (share + penalty if penalty is not None and shared.main else share).backward()
            dist.sum_gradients(self.params)
        norm = None
        if clipping.active or sample_norm:
            grads = [p.grad for p in self.params if p.grad is not None]
            if sample_norm and grads:
                norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
            clipping(grads)
        optimizer.step()
        if network.constraints:
            apply_constraints(network.constraints)
        return output, objective, norm

    def checkpoint_state(self, loop: Loop) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return {}, {}  # the network, optimizer, RNG and listeners: the loop's part of a checkpoint is all of it

    def restore_checkpoint_state(self, loop: Loop, tensors: dict[str, torch.Tensor], plain: Any, path: Path
                                 ) -> None:
        pass

    def finite(self, loop: Loop, progress: EpochProgress) -> bool:
        return not dist.any_rank(self.distributed, not torch.isfinite(progress.loss_sum))

    def end_epoch(self, loop: Loop, progress: EpochProgress, common: dict[str, float]) -> dict[str, Any] | None:
        shared = self.distributed
        n = max(progress.samples, 1)
        finite_weights = all(torch.isfinite(p).all() for p in self.params)
        loss_sum, metric_total, broken = dist.all_reduce_sum(
            shared, [progress.loss_sum.item(), progress.metric_sum.item(), float(not finite_weights)])
        train_loss = loss_sum / n
        if not math.isfinite(train_loss) or broken:
            return None
        logs = {"loss": train_loss, loop.metric: metric_total / n}
        dist.broadcast_state(shared, self.network, buffers_only=True)  # one set of batch-norm moving averages
        if loop.valid is not None and len(loop.valid):
            valid = evaluate(self.network, loop.valid, loop.loss_name, loop.eval_batch_size, shared)
            logs.update({f"val_{key}": value for key, value in valid.items()})
        logs["lr"] = common["lr"]
        if "momentum" in common:
            logs["momentum"] = common["momentum"]
        logs["grad_norm"] = progress.grad_norm_sum.item() / max(progress.grad_norm_count, 1)
        logs["time"] = loop.epoch_time()
        return dist.broadcast_object(shared, logs)  # rank 0's logs: the same decisions on every rank
