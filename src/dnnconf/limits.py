"""Limits on input: how much memory there is, and whether something about to be allocated fits.

Every size a user can type (a layer width, a batch size, a count of seeds) or a file can carry is
checked here before the memory is taken, so a tiny input cannot take the machine down:

- `memory_available()`: bytes this process can still allocate — the least of the kernel's
  `MemAvailable` (/proc/meminfo; `os.sysconf` pages elsewhere), the cgroup's `memory.max` less its
  `memory.current` (a container's share), and `RLIMIT_AS` less the address space already mapped.
- `check_network_fits(config, layers)`: `check_fits` for training a network, estimated on torch's
  meta device (no weight allocated); `dnnconf.train.setup.make_network` calls it.
- `check_fits(key, needed)`: raises `BadInput` (one line, exit 2) naming `key`, the estimate and the
  memory available when `needed` bytes do not fit.
- `shorten(value)`: the `repr` of a value cut to a bounded length, for echoing received values.

The constants below are the fixed limits docs/reliability.md ("Limits on input") lists.
"""

from __future__ import annotations

import math
import os
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnnconf.errors import BadInput

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
SEED_MAX = INT64_MAX  # torch.manual_seed takes [-2**63, 2**64); numpy's default_rng only >= 0
MAX_TEXT_BYTES = 1024 * 1024  # a config or search-space file: real ones are a few KiB (PyYAML: ~10 s a MiB)
MAX_NESTING = 64  # mappings/lists inside each other in a config (the schema's deepest is 6)
MAX_NODES = 20_000  # values (scalars, lists, mappings) in one config: PyYAML parses ~7,000-10,000 a second
MAX_LAYERS = 1000  # hidden layers (`model.hidden`) or explicit `model.layers` entries
MAX_THREADS = 256  # training.threads, --threads
MAX_PARALLEL_SEEDS = 1024  # training.parallel_seeds
MAX_JOBS = 256  # worker processes (dnnconf sweep --jobs, dnnconf study --jobs)
MAX_MC_SAMPLES = 10_000  # --mc-samples: MC dropout predictions averaged
MAX_STUDY_SEEDS = 10_000  # dnnconf study --seeds: runs per variant
MAX_ECHO = 80  # characters of a received value an error message quotes

FLOAT_BYTES = 4  # parameters and activations are float32
# state each parameter carries besides its weight and gradient (momentum buffers, moment estimates)
OPTIMIZER_SLOTS = {"sgd": 1, "adagrad": 1, "rmsprop": 2, "adam": 2, "adamw": 2, "adamax": 2, "nadam": 2}


def shorten(value: Any, limit: int = MAX_ECHO) -> str:
    """`repr(value)` cut to `limit` characters (`…` and the full length mark a cut).

    Containers are cut before `repr` walks them, so echoing a value of a million items costs little."""
    if isinstance(value, list | tuple | dict | set) and len(value) > limit:
        kind = type(value).__name__
        items = list(value.items() if isinstance(value, dict) else value)[:limit]
        head = repr(dict(items) if isinstance(value, dict) else items)
        return f"{head[:limit]}… ({kind} of {len(value):,} items)"
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:  # not Linux: the free physical pages
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_available() -> int | None:
    """A cgroup v2 limit less its current use (a container's share of the machine); None if unlimited."""
    try:
        own = Path("/proc/self/cgroup").read_text().strip().splitlines()
        relative = next(line.partition("::")[2] for line in own if line.startswith("0::"))
        folder = Path("/sys/fs/cgroup") / relative.lstrip("/")
        limit = (folder / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((folder / "memory.current").read_text())
    except (OSError, ValueError, StopIteration):
        return None


def _address_space_available() -> int | None:
    """RLIMIT_AS less the address space mapped now (VmSize); None if unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return soft - int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return soft


def memory_available() -> int | None:
    """Bytes this process can still allocate (the least of the three sources above); None if unknown."""
    known = [b for b in (_meminfo_available(), _cgroup_available(), _address_space_available()) if b is not None]
    return max(0, min(known)) if known else None


def human_bytes(count: float) -> str:
    """`1.5 GiB`, `300 MiB`, `12 KiB`, `80 B` (binary units)."""
    for unit, power in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if count >= 2**power:
            return f"{count / 2**power:.1f} {unit}"
    return f"{int(count)} B"


def check_fits(key: str, needed: int, what: str = "", available: int | None = None) -> None:
    """Raise `BadInput` naming `key` when `needed` bytes exceed the memory available.

    `what` says what was estimated (e.g. "4.0M parameters × 4 bytes × 4 copies"); `available`
    defaults to `memory_available()`. Unknown memory (no source readable) passes."""
    available = memory_available() if available is None else available
    if available is None or needed <= available:
        return
    detail = f" ({what})" if what else ""
    raise BadInput(f"{key}: needs about {human_bytes(needed)}{detail}, more than the "
                   f"{human_bytes(available)} of memory available; make it smaller")


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
                f" + {human_bytes(max(self.train_activations, self.eval_activations))} of activations"
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
    import torch

    from dnnconf.nn.build import build_network

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
    available = memory_available()
    if available is None or estimate.total <= available:
        return
    model_key = f"model.hidden: {shorten(config.model.hidden)}"
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
    check_fits(key, estimate.total, estimate.describe(), available)
