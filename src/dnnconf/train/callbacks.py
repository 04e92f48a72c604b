"""Listeners of the training loop. Each reacts to the loop's five events and keeps its own state.

Events, in order: `on_train_begin`, then per epoch `on_epoch_begin`, `on_batch_end` (every step,
so it must stay cheap: no host syncs), `on_epoch_end(logs)`; finally `on_train_end`. A listener may
set `loop.state.stop`. `state_dict`/`load_state_dict` let checkpoints resume a listener exactly.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from dnnconf.errors import ConfigError
from dnnconf.optim.schedules import Performance, Reductions, Schedule
from dnnconf.train.state import TrainState


class LoopView(Protocol):
    """What a listener may read and write on what it listens to: a `dnnconf.train.loop.Loop`, or a member of
    a stacked run (`dnnconf.train.stacked_step.Member`), whose own listeners see it as their loop. A protocol,
    not the class: the loop imports its listeners, so they must not import it, even for annotations."""

    state: TrainState
    network: Any  # has state_dict() and load_state_dict(): what early stopping keeps and restores


class Listener:
    def on_train_begin(self, loop: LoopView) -> None: ...

    def on_epoch_begin(self, loop: LoopView) -> None: ...

    def on_batch_end(self, loop: LoopView) -> None: ...

    def on_epoch_end(self, loop: LoopView, logs: dict[str, float]) -> None: ...

    def on_train_end(self, loop: LoopView) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def _is_better(mode: str, monitor: str, current: float, best: float, min_delta: float) -> bool:
    """Keras's rule: an improvement beats the best by more than min_delta in the monitored direction."""
    if mode == "auto":
        mode = "max" if ("acc" in monitor or monitor.startswith("fmeasure")) else "min"
    return current > best + min_delta if mode == "max" else current < best - min_delta


def _initial_best(mode: str, monitor: str) -> float:
    maximize = mode == "max" or (mode == "auto" and "acc" in monitor)
    return -math.inf if maximize else math.inf


def _monitored(logs: dict[str, float], monitor: str) -> float:
    if monitor not in logs:
        known = ", ".join(k for k in logs if k not in ("epoch", "time"))
        raise ConfigError(f"monitor: {monitor!r} is not a logged metric; available: {known}")
    return logs[monitor]


def saved_number(state: dict[str, Any], key: str, whole: bool = False) -> Any:
    """`state[key]` from a checkpoint, checked: a number (a whole one if `whole`); TypeError otherwise."""
    value = state[key]
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError(f"{key!r} must be {'a whole number' if whole else 'a number'}, found {str(value)[:20]!r}")
    return value


class EarlyStopping(Listener):
    """Keras's EarlyStopping: stop after `patience` epochs with no improvement larger than `min_delta`.

    With `restore_best_weights`, the best epoch's weights are restored at the end of training, also
    when training ran all its epochs (Keras 2 restored only after an early stop).
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", min_delta: float = 0.0,
                 patience: int = 10, restore_best_weights: bool = True):
        self.monitor, self.mode, self.min_delta = monitor, mode, min_delta
        self.patience, self.restore_best_weights = patience, restore_best_weights
        self.best = _initial_best(mode, monitor)
        self.best_epoch = 0
        self.wait = 0
        self.best_weights: dict[str, Any] | None = None

    def on_epoch_end(self, loop: LoopView, logs: dict[str, float]) -> None:
        current = _monitored(logs, self.monitor)
        missing = self.restore_best_weights and self.best_weights is None  # e.g. resumed without them
        if _is_better(self.mode, self.monitor, current, self.best, self.min_delta) or missing:
            self.best, self.best_epoch, self.wait = current, loop.state.epoch, 0
            if self.restore_best_weights:
                self.best_weights = {k: v.detach().clone() for k, v in loop.network.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            loop.state.stop = True
            loop.state.stop_reason = (
                f"early stopping: {self.monitor} did not improve for {self.patience} epochs "
                f"(best {self.best:.4f} at epoch {self.best_epoch})"
            )

    def on_train_end(self, loop: LoopView) -> None:
        if self.restore_best_weights and self.best_weights is not None and not loop.state.diverged:
            loop.network.load_state_dict(self.best_weights)
            loop.state.restored_epoch = self.best_epoch

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = saved_number(state, "best")
        self.best_epoch, self.wait = saved_number(state, "best_epoch", True), saved_number(state, "wait", True)


class ReduceOnPlateau(Listener):
    """Performance scheduling's decisions (Keras ReduceLROnPlateau): after `patience` epochs without an
    improvement larger than `min_delta`, η ← max(η·factor, min_lr) from the next step on, then `cooldown`
    epochs before counting again.

    It writes no rate and changes no schedule: each decision goes into `reductions` as (next step,
    multiplier s = max(η·factor, min_lr)/inner(t)), where η = inner(t)·s_old is the rate in force and t the
    next step; the `Performance` schedule reads that record (η(t) = inner(t)·s(t)) and the loop writes the
    rate. So a resumed run, given the saved record, has the same rates at every step.
    Checkpoint state: best, wait, cooldown_left, the multiplier in force (`scale`) and `reductions`
    ([[step, scale], …]). An older checkpoint has `scale` only: it is taken as in force from step 0, which
    is exact for every step after the checkpoint (the earlier ones are in history.csv's `lr`).
    """

    def __init__(self, reductions: Reductions, inner: Schedule, monitor: str, mode: str, factor: float,
                 patience: int, min_delta: float, cooldown: int, min_lr: float):
        self.reductions, self.inner = reductions, inner
        self.monitor, self.mode, self.factor, self.patience = monitor, mode, factor, patience
        self.min_delta, self.cooldown, self.min_lr = min_delta, cooldown, min_lr
        self.best = _initial_best(mode, monitor)
        self.wait = 0
        self.cooldown_left = 0

    def on_epoch_end(self, loop: LoopView, logs: dict[str, float]) -> None:
        current = _monitored(logs, self.monitor)
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.wait = 0
        if _is_better(self.mode, self.monitor, current, self.best, self.min_delta):
            self.best, self.wait = current, 0
        elif self.cooldown_left <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(loop.state.step)
                self.cooldown_left, self.wait = self.cooldown, 0

    def _reduce(self, step: int) -> None:
        base, scale = self.inner(step), self.reductions.last
        new_lr = max(base * scale * self.factor, self.min_lr)
        new_scale = new_lr / base if base > 0 else scale * self.factor
        if new_scale != scale:  # at min_lr already: nothing to record
            self.reductions.add(step, new_scale)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait, "cooldown_left": self.cooldown_left,
                "scale": self.reductions.last, "reductions": self.reductions.to_plain()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.wait = saved_number(state, "best"), saved_number(state, "wait", True)
        self.cooldown_left = saved_number(state, "cooldown_left", True)
        if "reductions" in state:
            saved = Reductions.from_plain(state["reductions"])
        else:  # an older checkpoint: the multiplier in force, from step 0
            scale = saved_number(state, "scale")
            if not 0 < scale < math.inf:
                raise ValueError(f"'scale' must be a positive number, found {str(scale)[:20]!r}")
            saved = Reductions([0], [float(scale)]) if scale != 1.0 else Reductions()
        self.reductions.steps[:], self.reductions.scales[:] = saved.steps, saved.scales  # the record the schedule reads


def schedule_listener(schedule: Schedule) -> Listener | None:
    """The listener a schedule needs to run: ReduceOnPlateau for performance scheduling, else none."""
    if isinstance(schedule, Performance):
        return ReduceOnPlateau(schedule.reductions, schedule.inner, **schedule.settings)
    return None
