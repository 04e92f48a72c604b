"""Learning-rate schedules: pure functions of the optimizer step t (0 at the first step).

The loop asks `schedule(t)` before each step and writes the value into the optimizer; η₀ is the
optimizer's `learning_rate`. Formulas (the note's section 4, Keras's classes):
- constant: η(t) = η₀
- power: η(t) = η₀ / (1 + decay_rate·t/decay_steps)^power  (Keras InverseTimeDecay is power = 1;
  the note's η₀/(1 + t/s)^c is decay_rate = 1, decay_steps = s, power = c); staircase floors t/s.
- exponential: η(t) = η₀ · decay_rate^(t/decay_steps)  (Keras ExponentialDecay; the note: 0.1^(t/s)).
- piecewise_constant: values[i] while boundaries[i-1] < t ≤ boundaries[i] (Keras PiecewiseConstantDecay).
- cosine: η₀·[(1 − alpha)·½(1 + cos(π·min(t, s)/s)) + alpha] (Keras CosineDecay); with `warmup_target`,
  η rises linearly from η₀ to warmup_target over `warmup_steps`, then decays from warmup_target.
  `initial_learning_rate` is Keras's argument of that name and replaces η₀ for this schedule (null: the
  optimizer's learning_rate); 0 is allowed with a warmup_target, so Keras's own example
  `CosineDecay(initial_learning_rate=0, decay_steps=…, warmup_target=…, warmup_steps=…)` is
  `{name: cosine, initial_learning_rate: 0, decay_steps: …, warmup_target: …, warmup_steps: …}`.
- one_cycle: the note's OneCycleScheduler: start_lr → max_lr linearly over the first half of the
  cycle, back to start_lr over the second, then down to last_lr over the last iterations; momentum
  (when the optimizer has one) goes max_momentum → min_momentum → max_momentum.
- performance: η(t) = η₀ · s(t), where s(t) is the multiplier in force at step t: 1 at first, then
  max(η·λ, min_lr)/η₀ from the step after each plateau (Keras ReduceLROnPlateau, so λ^k after k plateaus
  until min_lr binds). The plateaus are decided at epoch ends by a listener (train.callbacks.ReduceOnPlateau)
  that records each as (first step, multiplier) in `Reductions`; `Performance` only reads that record,
  so η is a pure function of t and the record, and the record is what a checkpoint saves.
Every schedule is the learning rate: the loop writes group["lr"] = η(t) · group's `lr_factor` (1 unless
freezing gave the unfrozen layers their own) before each step, and nothing else writes it.
Any step count can instead be given in epochs (`decay_epochs`, `boundaries_epochs`), converted with the
number of steps per epoch.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, model_validator

from dnnconf.errors import ConfigError
from dnnconf.registry import Params, Registry

SCHEDULES = Registry("schedules")


class Schedule:
    """Base: `__call__(step) -> lr`; `momentum(step)` is None unless the schedule cycles momentum."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def momentum(self, step: int) -> float | None:
        return None


@dataclass
class Constant(Schedule):
    base_lr: float

    def __call__(self, step: int) -> float:
        return self.base_lr


class DecayParams(Params):
    decay_steps: int | None = Field(None, ge=1)
    decay_epochs: float | None = Field(None, gt=0)
    staircase: bool = False

    @model_validator(mode="after")
    def _one_unit(self) -> DecayParams:
        if (self.decay_steps is None) == (self.decay_epochs is None):
            raise ValueError("give exactly one of decay_steps or decay_epochs")
        return self


def _steps(steps: int | None, epochs: float | None, steps_per_epoch: int) -> float:
    return float(steps) if steps is not None else max(1.0, (epochs or 0) * steps_per_epoch)


class PowerParams(DecayParams):
    decay_rate: float = Field(1.0, gt=0)
    power: float = Field(1.0, gt=0)


@dataclass
class Power(Schedule):
    base_lr: float
    decay_steps: float
    decay_rate: float
    power: float
    staircase: bool

    def __call__(self, step: int) -> float:
        ratio = step / self.decay_steps
        if self.staircase:
            ratio = math.floor(ratio)
        return self.base_lr / (1.0 + self.decay_rate * ratio) ** self.power


class ExponentialParams(DecayParams):
    decay_rate: float = Field(0.1, gt=0)


@dataclass
class Exponential(Schedule):
    base_lr: float
    decay_steps: float
    decay_rate: float
    staircase: bool

    def __call__(self, step: int) -> float:
        ratio = step / self.decay_steps
        if self.staircase:
            ratio = math.floor(ratio)
        return self.base_lr * self.decay_rate**ratio


class PiecewiseParams(Params):
    boundaries: list[int] | None = None
    boundaries_epochs: list[float] | None = None
    values: list[float]

    @model_validator(mode="after")
    def _shapes(self) -> PiecewiseParams:
        bounds = self.boundaries if self.boundaries is not None else self.boundaries_epochs
        if (self.boundaries is None) == (self.boundaries_epochs is None):
            raise ValueError("give exactly one of boundaries or boundaries_epochs")
        if len(self.values) != len(bounds or []) + 1:
            raise ValueError(f"values needs one more entry than boundaries ({len(bounds or [])} + 1)")
        if list(bounds or []) != sorted(bounds or []):
            raise ValueError("boundaries must increase")
        if any(v <= 0 for v in self.values):
            raise ValueError("every value must be > 0")
        return self


@dataclass
class Piecewise(Schedule):
    boundaries: list[float]
    values: list[float]

    def __call__(self, step: int) -> float:
        for boundary, value in zip(self.boundaries, self.values, strict=False):
            if step <= boundary:
                return value
        return self.values[-1]


class CosineParams(DecayParams):
    initial_learning_rate: float | None = Field(
        None, ge=0, allow_inf_nan=False,
        description="the rate at step 0 (Keras's name); null: the optimizer's learning_rate; 0: a warmup from zero")
    alpha: float = Field(0.0, ge=0, le=1, description="final rate as a share of the starting one")
    warmup_target: float | None = Field(None, gt=0, description="rate reached by a linear warmup")
    warmup_steps: int = Field(0, ge=0)
    warmup_epochs: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _zero_needs_a_warmup(self) -> CosineParams:
        if self.initial_learning_rate == 0 and (
                self.warmup_target is None or (self.warmup_steps == 0 and self.warmup_epochs is None)):
            raise ValueError("initial_learning_rate: 0 needs a warmup (warmup_target and warmup_steps or "
                             "warmup_epochs), else the rate stays 0")
        return self


@dataclass
class Cosine(Schedule):
    base_lr: float
    decay_steps: float
    alpha: float
    warmup_target: float | None
    warmup_steps: float

    def _decay(self, step: float, start_lr: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return start_lr * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step: int) -> float:
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.base_lr)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            return self.base_lr + (self.warmup_target - self.base_lr) * step / self.warmup_steps
        return self._decay(step - self.warmup_steps, self.warmup_target)


class OneCycleParams(Params):
    max_lr: float | None = Field(None, gt=0, description="null: the optimizer's learning_rate")
    start_lr: float | None = Field(None, gt=0, description="null: max_lr / 10")
    last_iterations: int | None = Field(None, ge=1, description="null: iterations // 10 + 1")
    last_lr: float | None = Field(None, gt=0, description="null: start_lr / 1000")
    max_momentum: float = Field(0.95, ge=0, lt=1)
    min_momentum: float = Field(0.85, ge=0, lt=1)


@dataclass
class OneCycle(Schedule):
    iterations: int
    max_lr: float
    start_lr: float
    last_iterations: int
    last_lr: float
    max_momentum: float
    min_momentum: float
    half: int = field(init=False)

    def __post_init__(self) -> None:
        self.half = (self.iterations - self.last_iterations) // 2

    @staticmethod
    def _interpolate(step: int, start: int, end: int, a: float, b: float) -> float:
        return a if end <= start else (b - a) * (step - start) / (end - start) + a

    def __call__(self, step: int) -> float:
        if step < self.half:
            return self._interpolate(step, 0, self.half, self.start_lr, self.max_lr)
        if step < 2 * self.half:
            return self._interpolate(step, self.half, 2 * self.half, self.max_lr, self.start_lr)
        return self._interpolate(min(step, self.iterations), 2 * self.half, self.iterations,
                                 self.start_lr, self.last_lr)

    def momentum(self, step: int) -> float | None:
        if step < self.half:
            return self._interpolate(step, 0, self.half, self.max_momentum, self.min_momentum)
        if step < 2 * self.half:
            return self._interpolate(step, self.half, 2 * self.half, self.min_momentum, self.max_momentum)
        return self.max_momentum


class PerformanceParams(Params):
    monitor: str = "val_loss"
    mode: Literal["auto", "min", "max"] = "auto"
    factor: float = Field(0.1, gt=0, lt=1)
    patience: int = Field(10, ge=0)
    min_delta: float = Field(1e-4, ge=0)
    cooldown: int = Field(0, ge=0)
    min_lr: float = Field(0.0, ge=0)


@dataclass
class Reductions:
    """The multipliers a plateau listener decided, each with the first step it applies to.

    scale(t) = scales[i] for the last i with steps[i] ≤ t, and 1 before the first. Written only by
    `train.callbacks.ReduceOnPlateau` (one `add` per plateau, at an epoch end) and saved in its checkpoint
    state; `Performance` reads it.
    """

    steps: list[int] = field(default_factory=list)
    scales: list[float] = field(default_factory=list)

    def scale(self, step: int) -> float:
        if not self.steps:
            return 1.0
        if step >= self.steps[-1]:  # the common case: the last reduction is in force
            return self.scales[-1]
        index = bisect.bisect_right(self.steps, step) - 1
        return self.scales[index] if index >= 0 else 1.0

    @property
    def last(self) -> float:
        """The multiplier in force after the last reduction (1 before any)."""
        return self.scales[-1] if self.scales else 1.0

    def add(self, step: int, scale: float) -> None:
        if self.steps and step < self.steps[-1]:
            raise ValueError(f"a reduction at step {step} comes after one at step {self.steps[-1]}")
        self.steps.append(step)
        self.scales.append(scale)

    def to_plain(self) -> list[list[float]]:
        return [[step, scale] for step, scale in zip(self.steps, self.scales, strict=True)]

    @classmethod
    def from_plain(cls, pairs: Any) -> Reductions:
        """From `to_plain`'s [[step, scale], …]: whole steps ≥ 0 in order, positive finite scales;
        TypeError or ValueError otherwise (a damaged checkpoint)."""
        if not isinstance(pairs, list):
            raise TypeError(f"reductions must be a list, found {str(pairs)[:20]!r}")
        record = cls()
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise TypeError(f"each reduction must be [step, scale], found {str(pair)[:20]!r}")
            step, scale = pair
            if isinstance(step, bool) or not isinstance(step, int) or step < 0:
                raise TypeError(f"a reduction's step must be a whole number ≥ 0, found {str(step)[:20]!r}")
            if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 < scale < math.inf:
                raise TypeError(f"a reduction's scale must be a positive number, found {str(scale)[:20]!r}")
            record.add(step, float(scale))
        return record


@dataclass
class Performance(Schedule):
    """Performance scheduling: η(t) = inner(t) · reductions.scale(t) (see `Reductions`).

    `inner` is the schedule the plateaus scale (the config's `performance` is a constant η₀); `settings`
    are the plateau listener's (monitor, mode, factor, patience, min_delta, cooldown, min_lr), which
    `train.callbacks.schedule_listener` hands it.
    """

    inner: Schedule
    settings: dict[str, Any]
    reductions: Reductions = field(default_factory=Reductions)

    def __call__(self, step: int) -> float:
        return self.inner(step) * self.reductions.scale(step)

    def momentum(self, step: int) -> float | None:
        return self.inner.momentum(step)

    @property
    def scale(self) -> float:
        """The multiplier from the last plateau on (1 before any): η(t)/inner(t) at the current step."""
        return self.reductions.last


@SCHEDULES.register("constant", "η(t) = η₀")
def constant(base_lr: float, steps_per_epoch: int, total_steps: int) -> Schedule:
    return Constant(base_lr)


@SCHEDULES.register("power", "η₀ / (1 + decay_rate·t/decay_steps)^power (Keras InverseTimeDecay)", PowerParams)
def power(base_lr: float, steps_per_epoch: int, total_steps: int, decay_steps: int | None,
          decay_epochs: float | None, staircase: bool, decay_rate: float, power: float) -> Schedule:
    return Power(base_lr, _steps(decay_steps, decay_epochs, steps_per_epoch), decay_rate, power, staircase)


@SCHEDULES.register("exponential", "η₀ · decay_rate^(t/decay_steps) (Keras ExponentialDecay)",
                    ExponentialParams)
def exponential(base_lr: float, steps_per_epoch: int, total_steps: int, decay_steps: int | None,
                decay_epochs: float | None, staircase: bool, decay_rate: float) -> Schedule:
    return Exponential(base_lr, _steps(decay_steps, decay_epochs, steps_per_epoch), decay_rate, staircase)


@SCHEDULES.register("piecewise_constant", "values[i] between boundaries (Keras PiecewiseConstantDecay)",
                    PiecewiseParams)
def piecewise_constant(base_lr: float, steps_per_epoch: int, total_steps: int, boundaries: list[int] | None,
                       boundaries_epochs: list[float] | None, values: list[float]) -> Schedule:
    bounds = boundaries if boundaries is not None else [e * steps_per_epoch for e in boundaries_epochs or []]
    return Piecewise([float(b) for b in bounds], list(values))


@SCHEDULES.register("cosine", "cosine decay from η₀ (or after a linear warmup) to alpha·η (Keras CosineDecay)",
                    CosineParams)
def cosine(base_lr: float, steps_per_epoch: int, total_steps: int, decay_steps: int | None,
           decay_epochs: float | None, staircase: bool, initial_learning_rate: float | None, alpha: float,
           warmup_target: float | None, warmup_steps: int, warmup_epochs: float | None) -> Schedule:
    warmup = warmup_epochs * steps_per_epoch if warmup_epochs is not None else float(warmup_steps)
    start = base_lr if initial_learning_rate is None else initial_learning_rate
    return Cosine(start, _steps(decay_steps, decay_epochs, steps_per_epoch), alpha, warmup_target, warmup)


@SCHEDULES.register("one_cycle", "the note's 1cycle: up to max_lr, back down, then far below", OneCycleParams)
def one_cycle(base_lr: float, steps_per_epoch: int, total_steps: int, max_lr: float | None,
              start_lr: float | None, last_iterations: int | None, last_lr: float | None,
              max_momentum: float, min_momentum: float) -> Schedule:
    top = max_lr or base_lr
    start = start_lr or top / 10
    last = last_iterations or total_steps // 10 + 1
    if last >= total_steps:
        raise ConfigError(f"schedule.last_iterations: {last} must be below the run's {total_steps} steps")
    return OneCycle(total_steps, top, start, last, last_lr or start / 1000, max_momentum, min_momentum)


@SCHEDULES.register("performance", "multiply η by factor when the monitored metric plateaus "
                    "(Keras ReduceLROnPlateau)", PerformanceParams)
def performance(base_lr: float, steps_per_epoch: int, total_steps: int, **settings: Any) -> Schedule:
    return Performance(Constant(base_lr), settings)
