"""The learning-rate range test of the note's section 四, driven through the one training loop.

The note: "train the model for a few hundred iterations, increasing the learning rate exponentially from
a very small value to a very large one, look at the learning curve and pick a learning rate a little
below the one where the curve starts shooting back up". Here:

Sweep. N optimizer steps on the training split with the config's own network, optimizer (momentum,
clipping, l1/l2 penalties, max-norm) and batch size; the loop's schedule is `ExponentialSweep`:
    lr(t) = min_lr · (max_lr / min_lr)^(t / (N − 1)),   t = 0 … N − 1.
N defaults to one epoch's steps, kept within [DEFAULT_MIN_STEPS, DEFAULT_MAX_STEPS] = [200, 300]: the
smoothing below lags about 50 steps, which is 1.2 decades of learning rate over 300 steps from 1e-6 to 10
but 3.5 over 100, so small data sets sweep over more than one epoch; more steps add time, not
information. The optimizer's own momentum is kept fixed (a one_cycle schedule's momentum cycle is not
part of the test).

Recording. `SweepRecorder`, a listener, reads each batch's own loss (`loop.last_loss`: the objective the
optimizer descends, penalties included; not the epoch's running mean that the note's Keras callback has
to undo) and smooths it with a bias-corrected exponential moving average (fastai's smoothing):
    a_t = β·a_(t−1) + (1 − β)·loss_t,  a_(−1) = 0,  smoothed_t = a_t / (1 − β^(t+1)),  β = SMOOTHING = 0.98
so the average spans about the last 1/(1 − β) = 50 batches and smoothed_0 = loss_0 (no pull towards 0).
It stops the sweep when the loss diverges: a batch loss that is NaN or infinite, or
smoothed_t > DIVERGENCE_FACTOR · min(smoothed_0 … smoothed_t) with DIVERGENCE_FACTOR = 4 (fastai's rule).
Both lag: the smoothed curve reaches its minimum and climbs later than the batch losses do, and an
unstable direction needs some steps to grow from a converged state, so divergence is detected past the
learning rate where it begins (on least squares with plain SGD, where that point is 2/λ_max: at 1.3–1.6 ×
2/λ with 100 steps a decade, 2–3 × with 43, the default's density over 1e-6…10). The rules below, like
fastai's, are read off this smoothed curve. (A classifier's loss often levels off at the constant
prediction's instead of growing; then the sweep runs to max_lr.)

Restoring. Afterwards the weights, batch-norm statistics, optimizer state and hyperparameters (lr,
momentum: the loop writes them into the param groups), gradients, train/eval mode and the random
generators (torch's global one and CUDA's, the batch-order generator, numpy's, python's) are exactly as
before, so `fit` after a sweep gives the same weights as `fit` alone, bit for bit. (The loop turns on
flush-to-zero for denormals, as every `fit` does; torch cannot read that setting back.)

Centered curve and suggestions: `dnnconf.lr_finder.curve` (the rules and why valley is recommended).

Repeats. With repeats = K the sweep runs K times from the same starting point, on K batch orders:
repeat 0 uses the batch-order generator as it stands (the order training would see), repeat k ≥ 1 a
generator seeded with (its initial seed + k); everything is restored between repeats. Each suggestion
is then the geometric mean over the repeats and its band the (lowest, highest) value.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dnnconf.data import load_data
from dnnconf.errors import BadInput
from dnnconf.lr_finder.curve import CENTERED_SMOOTHING, SKIP_START, WHY, centered, combine, suggest
from dnnconf.optim.clipping import Clipping
from dnnconf.optim.schedules import Schedule
from dnnconf.train import setup
from dnnconf.train.callbacks import Listener
from dnnconf.train.loop import Loop, LoopSpec, Split
from dnnconf.train.steps import SoloStep
from dnnconf.train.threads import apply as apply_threads

SMOOTHING = 0.98  # β of the bias-corrected moving average of the batch losses (fastai's), for divergence
DIVERGENCE_FACTOR = 4.0  # stop when the smoothed loss exceeds this multiple of its best value (fastai's)
DEFAULT_MIN_STEPS = 200  # bounds on the default number of steps (one epoch's)
DEFAULT_MAX_STEPS = 300
MIN_STEPS = 10  # fewer steps cannot make a curve


@dataclass
class ExponentialSweep(Schedule):
    """lr(t) = min_lr · (max_lr / min_lr)^(t / (steps − 1)); held at max_lr after the last step."""

    min_lr: float
    max_lr: float
    steps: int

    def __call__(self, step: int) -> float:
        t = min(step, self.steps - 1) / max(self.steps - 1, 1)
        return self.min_lr * (self.max_lr / self.min_lr) ** t


class SweepRecorder(Listener):
    """Records each step's learning rate and batch loss, smooths it, stops on divergence or after N steps."""

    def __init__(self, schedule: ExponentialSweep, beta: float = SMOOTHING, factor: float = DIVERGENCE_FACTOR):
        self.schedule, self.beta, self.factor = schedule, beta, factor
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.average = 0.0
        self.best = math.inf
        self.diverged_lr: float | None = None

    def on_batch_end(self, loop: Loop) -> None:
        assert loop.last_loss is not None
        t = len(self.lrs)
        loss = float(loop.last_loss.item())  # one host sync a step: the sweep needs every value
        lr = self.schedule(t)
        self.lrs.append(lr)
        self.losses.append(loss)
        if not math.isfinite(loss):
            self.smoothed.append(math.nan)
            self._stop(loop, lr)
            return
        self.average = self.beta * self.average + (1 - self.beta) * loss
        smoothed = self.average / (1 - self.beta ** (t + 1))
        self.smoothed.append(smoothed)
        self.best = min(self.best, smoothed)
        if smoothed > self.factor * self.best:
            self._stop(loop, lr)
        elif len(self.lrs) >= self.schedule.steps:
            loop.state.stop, loop.state.stop_reason = True, "the sweep reached max_lr"

    def _stop(self, loop: Loop, lr: float) -> None:
        self.diverged_lr = lr
        loop.state.stop, loop.state.stop_reason = True, "the loss diverged"


@dataclass
class LRFindResult:
    """What a sweep measured: per repeat the curves, then the suggestions over all repeats.

    `suggestions[name]` is the geometric mean over the repeats, `band[name]` the (lowest, highest) value;
    `per_repeat[k]` the suggestions of repeat k; `diverged_lr[k]` the learning rate at which repeat k
    stopped on divergence (None when it reached max_lr).
    """

    lrs: list[list[float]]
    losses: list[list[float]]
    smoothed: list[list[float]]
    suggestions: dict[str, float]
    recommended: str
    band: dict[str, tuple[float, float]]
    per_repeat: list[dict[str, float]]
    diverged_lr: list[float | None]
    min_lr: float
    max_lr: float
    steps: int
    batch_size: int
    seconds: float
    warnings: list[str] = field(default_factory=list)
    config: Any = None  # the resolved config, when the sweep came from one

    @property
    def recommended_lr(self) -> float:
        return self.suggestions[self.recommended]

    @property
    def why(self) -> str:
        return WHY[self.recommended]

    def to_json(self) -> dict[str, Any]:
        return {
            "suggestions": self.suggestions, "recommended": self.recommended, "recommended_lr": self.recommended_lr,
            "why": self.why, "band": {k: list(v) for k, v in self.band.items()}, "per_repeat": self.per_repeat,
            "diverged_lr": self.diverged_lr, "min_lr": self.min_lr, "max_lr": self.max_lr, "steps": self.steps,
            "steps_run": [len(lrs) for lrs in self.lrs], "repeats": len(self.lrs), "batch_size": self.batch_size,
            "seconds": self.seconds, "warnings": self.warnings,
            "smoothing": SMOOTHING, "centered_smoothing": CENTERED_SMOOTHING,
            "divergence_factor": DIVERGENCE_FACTOR,
        }

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["repeat", "step", "lr", "loss", "smoothed"])
        for k, (lrs, losses, smoothed) in enumerate(zip(self.lrs, self.losses, self.smoothed, strict=True)):
            for t, row in enumerate(zip(lrs, losses, smoothed, strict=True)):
                writer.writerow([k, t, *(repr(float(v)) for v in row)])
        return out.getvalue()


# ---------------------------------------------------------------------------------------------- checks


def check_options(min_lr: float, max_lr: float, steps: int | None, repeats: int) -> None:
    """One-line BadInput naming the option (API name and CLI flag) for values the sweep cannot use."""
    for name, flag, value in (("min_lr", "--min-lr", min_lr), ("max_lr", "--max-lr", max_lr)):
        if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise BadInput(f"{name} ({flag}): must be a finite number > 0 (received {value!r})")
    if min_lr >= max_lr:
        raise BadInput(f"min_lr (--min-lr): {min_lr!r} must be below max_lr (--max-lr) {max_lr!r}")
    if steps is not None and (not isinstance(steps, int) or steps < MIN_STEPS):
        raise BadInput(f"steps (--steps): must be an integer >= {MIN_STEPS} (received {steps!r})")
    if not isinstance(repeats, int) or repeats < 1:
        raise BadInput(f"repeats (--repeats): must be an integer >= 1 (received {repeats!r})")


def default_steps(steps_per_epoch: int) -> int:
    return min(max(steps_per_epoch, DEFAULT_MIN_STEPS), DEFAULT_MAX_STEPS)


# ------------------------------------------------------------------------------------------- the sweep


@dataclass
class _ProcessRNG:
    """The process's random generators: torch's (and CUDA's, once initialized), numpy's, python's."""

    torch_rng: torch.Tensor
    cuda_rng: list[torch.Tensor] | None
    numpy_rng: Any
    python_rng: Any

    @classmethod
    def save(cls) -> _ProcessRNG:
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
        return cls(torch.get_rng_state(), cuda, np.random.get_state(), random.getstate())

    def restore(self) -> None:
        torch.set_rng_state(self.torch_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)
        np.random.set_state(self.numpy_rng)
        random.setstate(self.python_rng)


@dataclass
class _Snapshot:
    weights: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    grads: list[torch.Tensor | None]
    training: bool
    generator: torch.Tensor
    rng: _ProcessRNG


def _snapshot(network: torch.nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> _Snapshot:
    return _Snapshot(
        weights={k: v.detach().clone() for k, v in network.state_dict().items()},
        optimizer=copy.deepcopy(optimizer.state_dict()),
        grads=[None if p.grad is None else p.grad.detach().clone() for p in network.parameters()],
        training=network.training, generator=generator.get_state(), rng=_ProcessRNG.save(),
    )


@torch.no_grad()
def _restore(snap: _Snapshot, network: torch.nn.Module, optimizer: torch.optim.Optimizer,
             generator: torch.Generator) -> None:
    network.load_state_dict(snap.weights)
    # load_state_dict keeps the tensors it is given: hand it a copy, so the snapshot serves again
    optimizer.load_state_dict(copy.deepcopy(snap.optimizer))
    for p, grad in zip(network.parameters(), snap.grads, strict=True):
        p.grad = None if grad is None else grad.clone()
    network.train(snap.training)
    generator.set_state(snap.generator)
    snap.rng.restore()


@contextlib.contextmanager
def preserved(network: torch.nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator
              ) -> Iterator[_Snapshot]:
    """Everything a sweep changes is put back when the block ends, also when it ends with an error."""
    snap = _snapshot(network, optimizer, generator)
    try:
        yield snap
    finally:
        _restore(snap, network, optimizer, generator)


def _repeat_generator(generator: torch.Generator, k: int) -> torch.Generator:
    if k == 0:
        return generator
    return torch.Generator(device=generator.device).manual_seed(generator.initial_seed() + k)


def sweep(network: Any, optimizer: torch.optim.Optimizer, train: Split, loss: str, *, batch_size: int,
          generator: torch.Generator, clipping: Clipping | None = None, min_lr: float = 1e-6,
          max_lr: float = 10.0, steps: int | None = None, repeats: int = 1, for_schedule: str | None = None
          ) -> LRFindResult:
    """Run the range test on already-built pieces (a `Network`, its optimizer, the training split).

    `for_schedule` names the schedule the suggestion is for (one_cycle: recommend the note's rule, see above).
    `generator` is the batch-order generator training would use; it, like the network, the optimizer
    and the process's random generators, is exactly as before when this returns.
    """
    check_options(min_lr, max_lr, steps, repeats)
    if len(train) == 0:
        raise BadInput("lr-find: the training split is empty")
    clipping = clipping or Clipping()
    steps_per_epoch = math.ceil(len(train) / batch_size)
    n = steps if steps is not None else default_steps(steps_per_epoch)
    curves: list[SweepRecorder] = []
    started = time.perf_counter()
    with preserved(network, optimizer, generator) as snap:
        for k in range(repeats):
            if k:
                _restore(snap, network, optimizer, generator)
            schedule = ExponentialSweep(min_lr, max_lr, n)
            recorder = SweepRecorder(schedule)
            loop = Loop(LoopSpec(SoloStep(network), optimizer, schedule, loss, train, None,
                                 math.ceil(n / steps_per_epoch), batch_size, clipping, [recorder],
                                 _repeat_generator(generator, k)))
            state = loop.run()
            if state.diverged and recorder.diverged_lr is None:  # the loop's own NaN check ended it first
                recorder.diverged_lr = schedule(state.step - 1)
            curves.append(recorder)
    seconds = time.perf_counter() - started
    per_repeat, clear = [], []
    centered_curves = [centered(recorder.losses) for recorder in curves]
    for recorder, curve in zip(curves, centered_curves, strict=True):
        values, is_clear = suggest(recorder.lrs, curve)
        per_repeat.append(values)
        clear.append(is_clear)
    suggestions, band, recommended = combine(per_repeat, clear, for_schedule)
    result = LRFindResult(
        lrs=[r.lrs for r in curves], losses=[r.losses for r in curves], smoothed=centered_curves,
        suggestions=suggestions, recommended=recommended, band=band, per_repeat=per_repeat,
        diverged_lr=[r.diverged_lr for r in curves], min_lr=min_lr, max_lr=max_lr, steps=n,
        batch_size=batch_size, seconds=seconds)
    result.warnings = _warnings(result)
    return result


def _warnings(result: LRFindResult) -> list[str]:
    out = []
    early = [lr for lr in result.diverged_lr if lr is not None and lr <= result.min_lr * (
        result.max_lr / result.min_lr) ** SKIP_START]
    if early:
        out.append(f"the loss diverged within the first {SKIP_START:.0%} of the sweep (at lr {min(early):.3g}); "
                   f"lower --min-lr")
    for smoothed, diverged in zip(result.smoothed, result.diverged_lr, strict=True):
        tail = max(2, len(smoothed) // 20)
        if diverged is None and len(smoothed) >= MIN_STEPS and int(np.argmin(smoothed)) >= len(smoothed) - tail:
            out.append("the loss was still falling at the end of the sweep; raise --max-lr to see where it climbs")
            break
    return out


def lr_find(config: Any, *, min_lr: float = 1e-6, max_lr: float = 10.0, steps: int | None = None,
            repeats: int = 1) -> LRFindResult:
    """The range test on the network, optimizer, data and batch size that `config` builds (as `train` does).

    Building seeds the process's generators from `config.seed`, as `train` does; they are put back as the
    caller had them when this returns.
    """
    check_options(min_lr, max_lr, steps, repeats)
    rng = _ProcessRNG.save()
    try:
        return _lr_find(config, min_lr, max_lr, steps, repeats)
    finally:
        rng.restore()


def _lr_find(config: Any, min_lr: float, max_lr: float, steps: int | None, repeats: int) -> LRFindResult:
    apply_threads(config.training.threads)  # the cores free now, unless the user chose (train/threads.py)
    device = setup.pick_device(config.training.device)
    dataset = load_data(config.data)
    config = setup.resolve_with_data(config, dataset)
    setup.seed_everything(config.seed)
    network = setup.make_network(config, dataset.normalization).to(device)  # raw inputs in
    splits = setup.to_splits(dataset, device)
    optimizer, clipping = setup.make_optimizer(config, network)
    generator = torch.Generator().manual_seed(config.seed + setup.SHUFFLE_STREAM)
    result = sweep(network, optimizer, splits.train, config.loss, batch_size=config.training.batch_size,
                   generator=generator, clipping=clipping, min_lr=min_lr, max_lr=max_lr, steps=steps,
                   repeats=repeats, for_schedule=schedule_name(config))
    result.config = config
    return result


def schedule_name(config: Any) -> str | None:
    """The name of `config`'s schedule (a spec is a name or a mapping with `name`)."""
    schedule = config.schedule
    return schedule if isinstance(schedule, str) else (schedule or {}).get("name")
