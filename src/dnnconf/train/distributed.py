"""Data-parallel training across the processes that `torchrun` starts (PyTorch's torch.distributed).

`torchrun` gives each process RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; `session()`
joins them into one process group (gloo on CPU, nccl on CUDA, one GPU per process: cuda:LOCAL_RANK).
Without torchrun (WORLD_SIZE unset or 1) every helper here is a no-op and the loop runs as before.

How a step is shared (`batch_size` is the global batch B, as in one process):
- Every rank draws the same permutation (same generator, same seed) and takes a contiguous share of
  each global batch of m examples (m = B, or fewer for the epoch's last batch): rank r gets
  ⌊m/K⌋ examples, one more when r < m mod K (torch.tensor_split's rule), so shares differ by one at most.
- Rank r back-propagates mean_r(loss)·n_r/m (its share of the batch mean), rank 0 also the l1/l2
  penalty; the gradients are then summed across ranks (one all-reduce of one flat buffer), which is
  ∇ of the one-process objective mean_B(loss) + penalty (up to float rounding), before clipping sees it.
- Every share must hold at least one example: B ≥ K and the last batch (N mod B, if not 0) ≥ K, else a
  ConfigError. (An empty share would feed batch norm an empty batch.)

Why not torch's DistributedDataParallel wrapper: it fixes the set of parameters that require gradients
when it is built, and transfer learning unfreezes layers mid-run; it averages (÷K) where the shares
above need a sum; and our batch norm is our own module (synchronized by `sum_over_ranks` as its reducer).
The arithmetic is the same as DDP's: one all-reduce of the gradients per step.
"""

from __future__ import annotations

import gc
import importlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from dnnconf.errors import ConfigError, DnnconfError
from dnnconf.nn.batch_norm import BatchNorm

T = TypeVar("T")
DROPOUT_STREAM = 7_919  # rank r > 0 seeds its dropout masks with seed + r·DROPOUT_STREAM


@dataclass(frozen=True)
class Distributed:
    rank: int
    world: int
    local_rank: int

    @property
    def main(self) -> bool:
        return self.rank == 0


def world_size() -> int:
    """Processes torchrun started (1 without torchrun)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def is_main() -> bool:
    """Whether this process is rank 0 (or the only one): the one that prints and writes."""
    return os.environ.get("RANK", "0") == "0"


def refuse_under_torchrun(command: str) -> None:
    """Commands other than `train` run in one process: under torchrun they stop at once, on every rank."""
    if world_size() > 1:
        raise same_on_every_rank(ConfigError(
            f"runs in one process, but torchrun started {world_size()} (WORLD_SIZE={world_size()}); run "
            f"`dnnconf {command}` without torchrun (only `dnnconf train` is distributed)"))


def same_on_every_rank(error: DnnconfError) -> DnnconfError:
    """Mark an error that every rank raises alike: the CLI prints it on rank 0 only."""
    error.reported_by_main = not is_main()
    return error


@contextmanager
def session(device: torch.device) -> Iterator[tuple[Distributed | None, torch.device]]:
    """Join torchrun's process group for the duration (if torchrun started us); yields (context, device).

    A group that the caller already initialized is used and left open; one opened here is closed here.
    """
    if world_size() <= 1:
        yield None, device
        return
    missing = [name for name in ("RANK", "MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:
        raise ConfigError(f"WORLD_SIZE={world_size()} but {', '.join(missing)} not set: start distributed training "
                          f"with torchrun (see the README's 'Distributed training'), or unset WORLD_SIZE")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    opened = not dist.is_initialized()
    if opened:
        # before the group exists: imported later (torch.optim's first use imports it through torch._dynamo),
        # its functions' default `group=group.WORLD` would hold the group object for good (see tear_down)
        importlib.import_module("torch.distributed.nn")
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield Distributed(dist.get_rank(), dist.get_world_size(), local_rank), device
    except BaseException:
        if opened and dist.is_initialized():
            dist.destroy_process_group()
        raise
    else:
        if opened and dist.is_initialized():
            tear_down()


def tear_down() -> None:
    """Leave the process group: every rank reaches the end, then the group is destroyed, which joins its
    gloo threads while the interpreter is fully alive.

    Why (the cause of "terminate called without an active exception", exit -6, after a finished run): a gloo
    worker thread releases each finished collective's tensors; a tensor whose Python object the caller has
    already dropped is freed on that thread, which must take the GIL. `destroy_process_group()` joins those
    threads only if nothing else holds the group object, and `torch.distributed.nn`, imported after the
    group exists, holds it in its functions' default arguments: then the threads outlive the call and the
    group is destroyed during interpreter shutdown. A worker that was descheduled in the middle of such a
    release (a busy machine) then asks for the GIL of a finalizing interpreter; CPython ends the thread with
    pthread_exit, whose unwinding meets torch's noexcept release and libstdc++ calls std::terminate.
    `session` imports `torch.distributed.nn` before creating the group, so the destruction here is real;
    the garbage collection frees a group that a reference cycle still holds now rather than at shutdown.
    """
    dist.barrier()
    dist.destroy_process_group()
    gc.collect()


def main_only(context: Distributed | None) -> bool:
    return context is None or context.main


def broadcast_object(context: Distributed | None, value: T) -> T:
    """Rank 0's `value` on every rank (pickled; for small things: names, logs, decisions)."""
    if context is None:
        return value
    box = [value if context.main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def on_main(context: Distributed | None, work: Callable[[], T]) -> T:
    """Run `work` on rank 0 only and hand its result, or its user-facing error, to every rank.

    So a bad --out or an unreadable checkpoint stops every rank with the same one-line error instead of
    leaving the others waiting in a collective.
    """
    if context is None:
        return work()
    outcome: tuple[bool, Any] = (True, None)
    if context.main:
        try:
            outcome = (True, work())
        except DnnconfError as error:
            outcome = (False, error)
    ok, value = broadcast_object(context, outcome)
    if not ok:
        value.reported_by_main = not context.main  # rank 0 prints it; the others need not repeat it
        raise value
    return value


def all_reduce_sum(context: Distributed | None, values: list[float]) -> list[float]:
    """Σ over ranks of a few numbers (float64), the same on every rank."""
    if context is None:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=_device())
    dist.all_reduce(tensor)
    return tensor.tolist()


def any_rank(context: Distributed | None, flag: bool) -> bool:
    return bool(all_reduce_sum(context, [float(flag)])[0]) if context is not None else flag


def _device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def sum_gradients(params: list[torch.Tensor]) -> None:
    """Σ over ranks of each parameter's gradient, in one all-reduce of one flat buffer (a parameter
    without a gradient on this rank contributes zeros)."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    for param, chunk in zip(params, flat.split([p.numel() for p in params]), strict=True):
        param.grad = chunk.view_as(param)


def broadcast_state(context: Distributed | None, module: torch.nn.Module, buffers_only: bool = False) -> None:
    """Rank 0's parameters (and buffers) on every rank: the same start, and one set of batch-norm moving
    averages (without sync_batch_norm each rank's own shares move them; rank 0's win, as in DDP)."""
    if context is None:
        return
    tensors = list(module.buffers()) if buffers_only else [*module.parameters(), *module.buffers()]
    with torch.no_grad():
        for tensor in tensors:
            dist.broadcast(tensor.data, src=0)


def check_shares(train_size: int, batch_size: int, world: int) -> None:
    """Every rank needs at least one example of every global batch (see the module docstring)."""
    last = train_size % batch_size
    if batch_size < world or 0 < last < world:
        short = batch_size if batch_size < world else last
        raise same_on_every_rank(ConfigError(
            f"training.batch_size: {batch_size} leaves a batch of {short} examples for {world} processes "
            f"({train_size} training examples); every process needs at least one example of each batch: choose "
            f"a batch size ≥ {world} whose last batch (N mod batch_size) is 0 or ≥ {world}"))


def shares(train_size: int, batch_size: int, first_sample: int, rank: int, world: int
           ) -> tuple[torch.Tensor, list[tuple[int, int, int]]]:
    """This rank's positions in the epoch's permutation, from `first_sample` on, and per step
    (offset into those positions, share size, global batch size)."""
    positions: list[torch.Tensor] = []
    steps: list[tuple[int, int, int]] = []
    offset = 0
    for start in range(first_sample, train_size, batch_size):
        m = min(batch_size, train_size - start)
        size = m // world + (rank < m % world)
        begin = start + rank * (m // world) + min(rank, m % world)
        positions.append(torch.arange(begin, begin + size))
        steps.append((offset, size, m))
        offset += size
    return (torch.cat(positions) if positions else torch.zeros(0, dtype=torch.long)), steps


def shard_range(size: int, context: Distributed) -> tuple[int, int]:
    """This rank's contiguous part of `size` items (evaluation splits), by the same rule as `shares`."""
    base, extra = divmod(size, context.world)
    begin = context.rank * base + min(context.rank, extra)
    return begin, begin + base + (context.rank < extra)


class _AllReduceSum(torch.autograd.Function):
    """Σ over ranks in the forward; the backward sums the incoming gradients over ranks too, since every
    rank's loss depends on the global sum."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def sum_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """Σ over ranks, differentiable: the reducer that makes batch norm use the global batch's moments
    (`BatchNorm.reducer`, whose docstring has the arithmetic)."""
    return _AllReduceSum.apply(tensor)


def use_synced_batch_norm(network: torch.nn.Module, sync: bool = True) -> int:
    """Make every dnnconf BatchNorm of `network` normalize over the global batch (or, with sync False,
    over its own input again, e.g. once the process group is gone); returns how many there are."""
    modules = [m for m in network.modules() if isinstance(m, BatchNorm)]
    for module in modules:
        module.reducer = sum_over_ranks if sync else None
    return len(modules)


def prepare_network(context: Distributed | None, network: torch.nn.Module, sync_batch_norm: bool, seed: int) -> None:
    """Under torchrun: rank 0's initial weights everywhere, batch norm over the global batch if asked, and
    a dropout stream of each rank's own (seed + rank·DROPOUT_STREAM; rank 0 keeps the one-process stream)."""
    if context is None:
        return
    broadcast_state(context, network)
    if sync_batch_norm:
        use_synced_batch_norm(network)
    if context.rank:
        torch.manual_seed(seed + context.rank * DROPOUT_STREAM)
